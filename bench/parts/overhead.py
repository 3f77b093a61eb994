"""Part 4: each training job's time outside its epochs, and its peak memory."""

from __future__ import annotations

import statistics

from bench.common import Context, check_row, say, slug, table
from bench.jobs import cnnlab_jobs, lab_records
from bench.parts.epoch_speed import EPOCH_SETUPS

MEMORY_LIMIT_MB = 1000
OVERHEAD_LIMIT_SECONDS = 5.0
MEASURES = (
    "startup_seconds",
    "overhead_seconds",
    "spawn_to_exit_overhead_seconds",
    "state_seconds_per_epoch",
    "peak_memory_mb",
)


def measure(ctx: Context) -> dict:
    """Per set of jobs (part 1's, the lab's of part 2, or jobs of its own when neither
    ran): the median, largest and count of each of MEASURES, and the heaviest job."""
    job_sets = {}
    own_jobs = not ctx.part1_jobs and not ctx.lab
    if own_jobs:
        run_own_jobs(ctx)
    if ctx.part1_jobs:
        job_sets["part 4's own jobs, one at a time" if own_jobs else "part 1's jobs"] = [
            job_overheads(job["record"], job["external_seconds"]) for job in ctx.part1_jobs
        ]
    if ctx.lab:
        job_sets[f"the lab's training jobs (part 2, --cores {ctx.cores})"] = [
            job_overheads(record) for record in lab_records(ctx.lab["workdir"])
        ]
    summary = {}
    for name, jobs in job_sets.items():
        summary[name] = {key: summarize([job[key] for job in jobs]) for key in MEASURES}
        heaviest = max(jobs, key=lambda job: job["peak_memory_mb"])
        summary[name]["heaviest_job"] = heaviest["run_id"]
    return summary


def run_own_jobs(ctx: Context) -> None:
    """Two epochs of part 1's first and last set-ups, ``--repeats`` jobs each, one at a time,
    into ``ctx.part1_jobs``."""
    epochs = 2
    for label, _task, changes in (EPOCH_SETUPS[0], EPOCH_SETUPS[3]):
        params = {**ctx.base_params(), **changes}
        for repeat in range(ctx.repeats):
            say(f"part 4: {label}, job {repeat + 1} of {ctx.repeats}")
            ctx.part1_jobs += [
                dict(job, setup=label, kind="one job alone")
                for job in cnnlab_jobs(ctx, params, epochs, 1, f"{slug(label)}-r{repeat}")
            ]


def job_overheads(record: dict, external_seconds: float | None = None) -> dict:
    training = float(record["training_seconds"])
    state = float(record["state_seconds"])
    epochs = max(1, int(record["epochs_trained"]) - int(record["resumed_from_epoch"]))
    process = record["process_seconds"]  # None where the process's start is unknown
    return {
        "startup_seconds": record["startup_seconds"],
        "overhead_seconds": None if process is None else process - training - state,
        "spawn_to_exit_overhead_seconds": None
        if external_seconds is None
        else external_seconds - training - state,
        "state_seconds_per_epoch": state / epochs,
        "peak_memory_mb": float(record["peak_memory_mb"]),
        "run_id": record["run_id"],
    }


def summarize(values: list) -> dict | None:
    values = [value for value in values if value is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "max": max(values), "count": len(values)}


HEADERS = [
    "jobs",
    "count",
    "startup, median / max",
    "overhead, median / max",
    "spawn to exit overhead",
    "state saving per epoch",
    "peak memory, median / max (heaviest)",
]


def median_and_max(stats: dict, key: str, unit: str, digits: int) -> str:
    value = stats.get(key)
    if not value:
        return "-"
    return f"{value['median']:.{digits}f} / {value['max']:.{digits}f}{unit}"


def render(ctx: Context, result: dict) -> str:
    explanation = (
        "Per training job: *startup* = process start to the first epoch (interpreter, "
        "TensorFlow import, data, model); *overhead* = the process's time outside its epochs "
        "and outside the per-epoch saving of the resume state (record.json `process_seconds - "
        "training_seconds - state_seconds`); *spawn to exit* the same, timed from outside "
        "(part 1's jobs); *state saving* per epoch; *peak memory* = record.json "
        "`peak_memory_mb` (peak resident set)."
    )
    rows = [
        [
            job_set,
            stats["startup_seconds"]["count"] if stats["startup_seconds"] else "-",
            median_and_max(stats, "startup_seconds", " s", 2),
            median_and_max(stats, "overhead_seconds", " s", 2),
            median_and_max(stats, "spawn_to_exit_overhead_seconds", " s", 2),
            median_and_max(stats, "state_seconds_per_epoch", " s", 3),
            median_and_max(stats, "peak_memory_mb", " MB", 0) + f" ({stats['heaviest_job']})",
        ]
        for job_set, stats in result.items()
    ]
    out = ["## 4. Per-job overhead and memory", "", explanation, ""]
    return "\n".join(out + [table(HEADERS, rows), ""])


def checks(ctx: Context, result: dict) -> list[list]:
    """The overhead of the lab's jobs (else of the first set) and the peak memory of all."""
    rows = []
    job_set = next((name for name in result if name.startswith("the lab")), next(iter(result)))
    overhead = result[job_set]["overhead_seconds"]
    if overhead:
        rows.append(
            check_row(
                f"per-job overhead, median of {job_set}",
                f"<= {OVERHEAD_LIMIT_SECONDS:g} s",
                f"{overhead['median']:.2f} s (max {overhead['max']:.2f} s)",
                overhead["median"] <= OVERHEAD_LIMIT_SECONDS,
                ctx.quick,
            )
        )
    memory = max(stats["peak_memory_mb"]["max"] for stats in result.values())
    rows.append(
        check_row(
            "peak memory of any training job",
            f"<= {MEMORY_LIMIT_MB} MB",
            f"{memory:.0f} MB",
            memory <= MEMORY_LIMIT_MB,
            ctx.quick,
        )
    )
    return rows
