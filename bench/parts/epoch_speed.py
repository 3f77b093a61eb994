"""Part 1: seconds per epoch of four of the lab's set-ups, cnnlab against the notebook way,
and the share of the machine's measured limit (bench.limit) each reaches."""

from __future__ import annotations

import statistics

from bench import limit
from bench.common import Context, check_row, say, slug, table
from bench.jobs import cnnlab_jobs, notebook_epochs, timed
from cnnlab.plan.runs import RunSpec
from cnnlab.plan.scheduling import epoch_flops

EPOCH_RATIO_TARGET = 1.0
LIMIT_SHARE_TARGET = 0.50  # of the lab's float32 limit, for the set-ups that do the most work
LIMIT_SHARE_SETUPS = ("LeNet b8", "AlexNet n_base 32 b8")
SHARE_CEILING = 1.0  # a share above it is a measurement error, not a speed

# the four set-ups, as the lab's tasks set them (on top of config.yaml's defaults)
EPOCH_SETUPS = [
    (
        "LeNet b8",
        "5A",
        {"model": "lenet", "n_base": 32, "dense": [64], "batch_size": 8, "lr": 1e-5},
    ),
    (
        "AlexNet n_base 32 b8",
        "6A",
        {"model": "alexnet", "n_base": 32, "dense": [64, 64], "batch_size": 8, "lr": 1e-4},
    ),
    (
        "AlexNet n_base 8 b2",
        "6D",
        {"model": "alexnet", "n_base": 8, "dense": [64, 64], "batch_size": 2, "lr": 1e-5},
    ),
    (
        "AlexNet n_base 8 b8",
        "6C",
        {"model": "alexnet", "n_base": 8, "dense": [64, 64], "batch_size": 8, "lr": 1e-5},
    ),
]


def measure(ctx: Context) -> dict:
    """Per set-up: the notebook way, one cnnlab job alone, and the cores filled with jobs;
    the jobs are kept in ``ctx.part1_jobs`` for part 4."""
    epochs = 1 + ctx.repeats
    at_once = ctx.jobs_at_once
    ctx.limit = ctx.limit or limit.measure(ctx)
    rows = []
    for label, task, changes in EPOCH_SETUPS:
        params = {**ctx.base_params(), **changes}
        name = slug(label)
        say(f"part 1: {label}: the notebook way, {epochs} epochs")
        notebook = notebook_epochs(ctx, params, epochs, name)
        say(f"part 1: {label}: cnnlab, one job alone")
        alone = cnnlab_jobs(ctx, params, epochs, 1, f"{name}-alone")
        filled = alone
        if at_once > 1:
            say(f"part 1: {label}: cnnlab, {at_once} jobs at once")
            filled = cnnlab_jobs(ctx, params, epochs, at_once, f"{name}-x{at_once}")
        ctx.part1_jobs += [dict(job, setup=label, kind="one job alone") for job in alone]
        if filled is not alone:
            ctx.part1_jobs += [
                dict(job, setup=label, kind=f"{at_once} jobs at once") for job in filled
            ]
        rows.append(speed_row(ctx, label, task, notebook, alone, filled))
    return {"epochs_per_process": epochs, "train_images": ctx.train_count, "rows": rows,
            "limit": ctx.limit}


def speed_row(
    ctx: Context, label: str, task: str, notebook: dict, alone: list[dict], filled: list[dict]
) -> dict:
    """One set-up's figures; cnnlab's seconds per epoch of the machine are its total images
    per second turned back into seconds per epoch."""
    notebook_seconds = statistics.median(timed(notebook["epoch_seconds"]))
    alone_seconds = statistics.median(timed(alone[0]["epoch_seconds"]))
    per_job = [statistics.median(timed(job["epoch_seconds"])) for job in filled]
    images_per_second = sum(ctx.train_count / seconds for seconds in per_job)
    machine_seconds = ctx.train_count / images_per_second
    flops = setup_flops(ctx, label)
    precision = ctx.base_params()["precision"]
    return {
        "gflop_per_epoch": flops / 1e9,
        "notebook_share": flops / notebook_seconds / 1e9 / limit.limit(
            ctx.limit, precision, ctx.cores),
        "alone_share": flops / alone_seconds / 1e9 / limit.limit(
            ctx.limit, precision, int(ctx.base_params()["threads"])),
        "lab_gflops": flops / machine_seconds / 1e9,
        # of the lab's own limit: its jobs' one-thread matmuls side by side, summed
        "lab_share": flops / machine_seconds / 1e9 / limit.limit(ctx.limit, precision, "lab"),
        "setup": label,
        "task": task,
        "notebook_seconds": notebook_seconds,
        "notebook_images_per_second": ctx.train_count / notebook_seconds,
        "alone_seconds": alone_seconds,
        "alone_ratio": alone_seconds / notebook_seconds,
        "jobs_at_once": len(filled),
        "per_job_seconds": statistics.median(per_job),
        "images_per_second": images_per_second,
        "machine_seconds": machine_seconds,
        "ratio": machine_seconds / notebook_seconds,
        "timed_epochs": len(timed(notebook["epoch_seconds"])),
    }


def setup_flops(ctx: Context, label: str) -> float:
    """One epoch's floating-point work of a set-up, by its layer shapes (cnnlab.plan.scheduling)."""
    changes = next(changes for name, _, changes in EPOCH_SETUPS if name == label)
    spec = RunSpec.from_params({**ctx.base_params(), **changes}, "bench", seed=1)
    return epoch_flops(spec, ctx.image_size, ctx.train_count, ctx.test_count)


LIMIT_HEADERS = [
    "set-up (task)",
    "GFLOP per epoch",
    "notebook: share of the limit (all cores)",
    "cnnlab 1 job alone: share (its threads)",
    "cnnlab, lab as it runs: GFLOP/s",
    "share of the lab's limit (its jobs side by side)",
]


def share_text(share: float) -> str:
    """A share of a limit; one above 100 % says it is a measurement error."""
    if share > SHARE_CEILING:
        return f"{share:.0%} (measurement error: above the limit)"
    return f"{share:.0%}"


def render_limit(result: dict) -> str:
    rows = [[f"{row['setup']} ({row['task']})", f"{row['gflop_per_epoch']:.1f}",
             share_text(row["notebook_share"]), share_text(row["alone_share"]),
             f"{row['lab_gflops']:.0f}", f"**{share_text(row['lab_share'])}**"]
            for row in result["rows"]]
    explanation = (
        "An epoch's work is counted from the layer shapes (cnnlab.plan.scheduling.epoch_flops: two "
        "operations per multiply-accumulate, forward and backward for each training image, "
        "forward for each validation image; element-wise work left out), and divided by the "
        "epoch's seconds above; the share is of the measured matmul limit of the same "
        "precision, with the threads the measurement used (the lab as it runs: its jobs' "
        "limit side by side). A share above 100 % is reported as a measurement error.")
    return "\n".join([limit.render(result["limit"]), explanation, "",
                      table(LIMIT_HEADERS, rows), ""])


HEADERS = [
    "set-up (task)",
    "notebook s/epoch",
    "notebook img/s",
    "cnnlab 1 job alone s/epoch (ratio)",
    "cnnlab jobs at once",
    "s/epoch per job",
    "img/s, all jobs",
    "cnnlab s/epoch of the machine",
    "ratio",
]


def render(ctx: Context, result: dict) -> str:
    explanation = (
        f"{result['train_images']} training images per epoch, validation on the test split "
        f"every epoch. Each figure is the median of {result['rows'][0]['timed_epochs']} "
        "epoch(s) after a first, warm-up epoch (one process per measurement, "
        f"{result['epochs_per_process']} epochs each). *cnnlab, lab as it runs*: "
        f"{ctx.jobs_at_once} jobs at once, as `snakemake --cores {ctx.cores}` runs them; its "
        "seconds per epoch are the machine's (training images / total images per second). "
        "Ratio = cnnlab / notebook; below 1 means cnnlab is faster."
    )
    rows = [
        [
            f"{row['setup']} ({row['task']})",
            f"{row['notebook_seconds']:.2f}",
            f"{row['notebook_images_per_second']:.0f}",
            f"{row['alone_seconds']:.2f} ({row['alone_ratio']:.2f})",
            row["jobs_at_once"],
            f"{row['per_job_seconds']:.2f}",
            f"{row['images_per_second']:.0f}",
            f"{row['machine_seconds']:.2f}",
            f"**{row['ratio']:.2f}**",
        ]
        for row in result["rows"]
    ]
    sections = ["## 1. Seconds per epoch", "", explanation, "", table(HEADERS, rows), ""]
    if "limit" in result:  # results from before the limit was measured have none
        sections.append(render_limit(result))
    return "\n".join(sections)


def checks(ctx: Context, result: dict) -> list[list]:
    worst = max(result["rows"], key=lambda row: row["ratio"])
    shares = [
        check_row(
            f"{row['setup']}, lab as it runs: share of the measured limit",
            f">= {LIMIT_SHARE_TARGET:.0%}",
            f"{row['lab_share']:.0%}",
            row["lab_share"] >= LIMIT_SHARE_TARGET,
            ctx.quick,
        )
        for row in result["rows"] if row["setup"] in LIMIT_SHARE_SETUPS and "lab_share" in row
    ]
    every = [share for row in result["rows"]
             for share in (row.get("notebook_share"), row.get("alone_share"), row.get("lab_share"))
             if share is not None]
    ceiling = [check_row(
        "every share of the limit (a share above it is a measurement error)",
        f"<= {SHARE_CEILING:.0%}", f"highest {max(every):.0%}", max(every) <= SHARE_CEILING,
        ctx.quick)] if every else []
    return shares + ceiling + [
        check_row(
            "no per-set-up epoch ratio worse than 1.0 (lab as it runs)",
            f"<= {EPOCH_RATIO_TARGET}",
            f"worst {worst['ratio']:.2f} ({worst['setup']})",
            worst["ratio"] <= EPOCH_RATIO_TARGET,
            ctx.quick,
        )
    ]
