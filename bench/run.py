#!/usr/bin/env python3
"""cnnlab against the notebook way: the lab's speed, measured in one run on one machine.

    .venv/bin/python bench/run.py             # parts 1-4 (about 35-45 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick     # tiny sizes: a smoke test of the benchmark

Parts (``--parts``, default 1,2,3,4; 5 on request):

1. Seconds per epoch and images per second of four of the lab's set-ups (LeNet b8,
   AlexNet n_base 32 b8, n_base 8 b2, n_base 8 b8) on the prepared synthetic data:
   cnnlab's training path (cnnlab.training.train in its own process, configured as a
   Snakemake ``train`` job is: the run's ``threads``) against the notebook way (plain
   ``model.fit`` on NumPy arrays, TensorFlow's default threads, bench/notebook_way.py).
   cnnlab is measured twice: one job alone, and as the lab runs it, with the cores filled
   (``--cores`` / ``threads`` jobs at once); ratio = cnnlab's seconds per epoch of the
   machine (images per second turned back into seconds per epoch) / the notebook's.
   Each figure is the median of ``--repeats`` epochs after a first, warm-up epoch.
2. The whole lab's wall time: ``snakemake --cores N --configfile bench.yaml`` (bench.yaml
   sets ``epoch_divisor``) in a fresh temporary copy of the workflow, from nothing to the
   report, against bench/notebook_way.py training the same runs (the runs each task lists,
   6E's from the optimum cnnlab's run chose) one after another, from the prepared arrays
   (data preparation, figures and report are not counted for the notebook). The notebook
   way runs in two parts, one before cnnlab's lab and one after it, so that a drift of
   the machine's speed weighs on both sides alike; the second process's set-up is not
   counted. Once by default (``--lab-repeats``): it is the long part.
3. Epochs trained by cnnlab (its trainings, prefix sharing and deduplication) against
   the epochs the tasks ask for (what the notebook trains).
4. Per-training-job overhead (process start to first epoch; process time outside the
   epochs and the state saving) and peak memory (record.json ``peak_memory_mb``), from
   the jobs of parts 1 and 2 (or jobs of its own when those parts do not run).
5. (optional) ``precision: mixed_bfloat16`` against float32: seconds per epoch and the
   accuracy reached after ``--bf16-epochs`` epochs, same run otherwise.

The results go to bench/results/latest.md (and .json); ``--quick`` writes quick.md.
Timings on a machine that is busy with other work are distorted: the machine facts
include the load average before and after.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml

from cnnlab.grid import plan_lab
from cnnlab.runtime import cpu_model

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
WORKFLOW_FILES = (
    "Snakefile",
    "config.yaml",
    "rules",
    "scripts",
    "schemas",
    "report",
    "profiles",
    "envs",
)
MEMORY_LIMIT_MB = 1000
OVERHEAD_LIMIT_SECONDS = 5.0
LAB_RATIO_TARGET = 0.5
EPOCH_RATIO_TARGET = 1.0

# the four set-ups of part 1, as the lab's tasks set them (on top of config.yaml's defaults)
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
# part 5: two set-ups that learn within a few epochs
BF16_SETUPS = [
    (
        "AlexNet n_base 8 b8, lr 1e-4",
        {"model": "alexnet", "n_base": 8, "dense": [64, 64], "batch_size": 8, "lr": 1e-4},
    ),
    (
        "LeNet b8, lr 1e-4",
        {"model": "lenet", "n_base": 32, "dense": [64], "batch_size": 8, "lr": 1e-4},
    ),
]
QUICK_DATA = {"kind": "synthetic", "n_train": 96, "n_test": 24, "seed": 0, "image_size": 32}
QUICK_LAB = {
    "dataset": "benchtiny",
    "datasets": {
        "benchtiny": {"kind": "synthetic", "n_train": 48, "n_test": 24, "seed": 0, "image_size": 32}
    },
    "epoch_divisor": 50,
}


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and where its log is."""


@dataclass
class Context:
    arguments: argparse.Namespace
    temp: Path
    cores: int
    facts: dict
    config: dict
    arrays: Path | None = None
    train_count: int = 0
    part1_jobs: list = field(default_factory=list)
    lab: dict | None = None
    results: dict = field(default_factory=dict)

    @property
    def quick(self) -> bool:
        return self.arguments.quick

    @property
    def repeats(self) -> int:
        return self.arguments.repeats

    @property
    def jobs_at_once(self) -> int:
        """How many training jobs snakemake runs at once: one per GPU, else cores / threads."""
        if self.facts["device"]["kind"] == "GPU":
            return max(1, int(self.facts["device"]["count"]))
        return max(1, self.cores // int(self.config["defaults"].get("threads", 1)))

    def base_params(self) -> dict:
        defaults = self.config["defaults"]
        return {
            "dataset": "bench",
            "dropout": float(defaults.get("dropout", 0.0)),
            "optimizer": defaults.get("optimizer", "adam"),
            "loss": defaults.get("loss", "bce"),
            "seed": 1,
            "threads": int(defaults.get("threads", 1)),
            "precision": defaults.get("precision", "float32"),
        }


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------------


def run_processes(
    commands: list[list[str]], logs: list[Path], cwd: Path | None = None
) -> list[float]:
    """Start the commands at once; wait for all; each one's seconds from start to exit."""
    started, processes, handles = [], [], []
    try:
        for command, log in zip(commands, logs):
            log.parent.mkdir(parents=True, exist_ok=True)
            handle = open(log, "w")  # noqa: SIM115 - closed below
            handles.append(handle)
            started.append(time.perf_counter())
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=cwd,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        seconds = [0.0] * len(processes)
        waiting = set(range(len(processes)))
        while waiting:
            for index in list(waiting):
                if processes[index].poll() is not None:
                    seconds[index] = time.perf_counter() - started[index]
                    waiting.discard(index)
            time.sleep(0.02)
    except BaseException:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        raise
    finally:
        for handle in handles:
            handle.close()
    for process, log, command in zip(processes, logs, commands):
        if process.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise BenchError(
                f"{' '.join(map(str, command[:4]))} ... failed ({process.returncode}); log {log}:\n{tail}"
            )
    return seconds


def query_facts() -> dict:
    """Versions and the training device, from a child process (no TensorFlow in this one)."""
    code = (
        "import json, platform, sys; sys.path.insert(0, sys.argv[1]);"
        "from cnnlab import runtime; runtime.configure_environment(1);"
        "import tensorflow as tf, keras, numpy, snakemake;"
        "print(json.dumps({'python': platform.python_version(), 'tensorflow': tf.__version__,"
        "'keras': keras.__version__, 'numpy': numpy.__version__, 'snakemake': snakemake.__version__,"
        "'device': runtime.training_device()}))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True
    ).stdout
    facts = json.loads(output.strip().splitlines()[-1])
    facts["cpu"] = cpu_model()
    facts["logical_cores"] = os.cpu_count()
    facts["memory_gb"] = _memory_gb()
    facts["cpu_bf16"] = _cpu_flags({"avx512_bf16", "amx_bf16"})
    facts["load_before"] = [round(value, 2) for value in os.getloadavg()]
    facts["commit"] = _git_commit()
    facts["date"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return facts


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _cpu_flags(wanted: set[str]) -> list[str]:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return sorted(wanted & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return []


def _git_commit() -> str | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # untracked files (a lab run's logs, results) change no code: not "uncommitted"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return commit + (" (with uncommitted changes)" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


# --- data and jobs ------------------------------------------------------------------


def prepare_data(ctx: Context) -> None:
    """The synthetic data set of config.yaml (or a tiny one with --quick), prepared once."""
    from cnnlab.prepare import prepare_dataset

    dataset = ctx.config["datasets"][ctx.config["dataset"]]
    if ctx.quick:
        dataset = QUICK_DATA
    elif dataset.get("kind") != "synthetic":
        dataset = {
            "kind": "synthetic",
            "n_train": 1000,
            "n_test": 200,
            "seed": 0,
            "image_size": 128,
        }
    ctx.arrays = ctx.temp / "data" / "arrays.npz"
    say(
        f"preparing the synthetic data ({dataset['n_train']} + {dataset['n_test']} images of {dataset['image_size']} px)"
    )
    prepare_dataset(
        dataset,
        ctx.arrays,
        ctx.arrays.with_name("manifest.json"),
        int(dataset["image_size"]),
        name="bench",
    )
    ctx.train_count = int(dataset["n_train"])


def cnnlab_jobs(ctx: Context, params: dict, epochs: int, copies: int, name: str) -> list[dict]:
    """``copies`` cnnlab training jobs of ``params`` at once; per job its epochs' seconds,
    its record and its seconds from process start to exit."""
    commands, logs, outs = [], [], []
    for copy in range(copies):
        folder = ctx.temp / "jobs" / f"{name}-{copy}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        spec = {"run_id": name, "params": params, "epochs": epochs, "save_epochs": [epochs]}
        (folder / "spec.json").write_text(json.dumps(spec))
        commands.append(
            [
                sys.executable,
                str(BENCH / "cnnlab_job.py"),
                str(folder / "spec.json"),
                str(ctx.arrays),
                str(folder / "out"),
                str(folder / "state"),
            ]
        )
        logs.append(folder / "job.log")
        outs.append(folder / "out")
    seconds = run_processes(commands, logs)
    jobs = []
    for out, external in zip(outs, seconds):
        record = json.loads((out / "record.json").read_text())
        jobs.append(
            {
                "epoch_seconds": history_seconds(out / "history.csv"),
                "record": record,
                "external_seconds": external,
                "out": out,
            }
        )
    return jobs


def history_seconds(history_csv: Path) -> list[float]:
    with open(history_csv, newline="") as stream:
        return [float(row["seconds"]) for row in csv.DictReader(stream)]


def notebook_epochs(ctx: Context, params: dict, epochs: int, name: str) -> dict:
    folder = ctx.temp / "notebook" / name
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(BENCH / "notebook_way.py"),
        "epochs",
        str(ctx.arrays),
        "--params",
        json.dumps(params),
        "--epochs",
        str(epochs),
        "--json",
        str(folder / "result.json"),
    ]
    (external,) = run_processes([command], [folder / "notebook.log"])
    result = json.loads((folder / "result.json").read_text())
    result["external_seconds"] = external
    return result


def timed(epoch_seconds: list[float]) -> list[float]:
    """The epochs after the first (which also traces the model's functions)."""
    return epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds


# --- part 1 -------------------------------------------------------------------------


def part_epoch_speed(ctx: Context) -> dict:
    epochs = 1 + ctx.repeats
    at_once = ctx.jobs_at_once
    rows = []
    for label, task, changes in EPOCH_SETUPS:
        params = {**ctx.base_params(), **changes}
        slug = label.lower().replace(" ", "-")
        say(f"part 1: {label}: the notebook way, {epochs} epochs")
        notebook = notebook_epochs(ctx, params, epochs, slug)
        say(f"part 1: {label}: cnnlab, one job alone")
        alone = cnnlab_jobs(ctx, params, epochs, 1, f"{slug}-alone")
        filled = alone
        if at_once > 1:
            say(f"part 1: {label}: cnnlab, {at_once} jobs at once")
            filled = cnnlab_jobs(ctx, params, epochs, at_once, f"{slug}-x{at_once}")
        ctx.part1_jobs += [dict(job, setup=label, kind="one job alone") for job in alone]
        if filled is not alone:
            ctx.part1_jobs += [
                dict(job, setup=label, kind=f"{at_once} jobs at once") for job in filled
            ]
        notebook_seconds = statistics.median(timed(notebook["epoch_seconds"]))
        alone_seconds = statistics.median(timed(alone[0]["epoch_seconds"]))
        per_job = [statistics.median(timed(job["epoch_seconds"])) for job in filled]
        images_per_second = sum(ctx.train_count / seconds for seconds in per_job)
        machine_seconds = ctx.train_count / images_per_second
        rows.append(
            {
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
        )
    return {"epochs_per_process": epochs, "train_images": ctx.train_count, "rows": rows}


# --- part 2 -------------------------------------------------------------------------


def lab_override(ctx: Context) -> dict:
    if ctx.quick:
        return dict(QUICK_LAB)
    return {"epoch_divisor": int(ctx.arguments.epoch_divisor)}


def copy_workflow(destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / name)
    return destination


def snakemake_executable() -> str:
    beside = Path(sys.executable).with_name("snakemake")
    return str(beside) if beside.exists() else (shutil.which("snakemake") or "snakemake")


def lab_command(ctx: Context, *targets: str) -> list[str]:
    # targets first: --configfile takes every word that follows it
    command = [snakemake_executable(), *targets, "--cores", str(ctx.cores)]
    command += ["--configfile", "bench.yaml"]
    if ctx.facts["device"]["kind"] == "GPU":
        command += ["--resources", f"gpu={ctx.facts['device']['count']}"]
    return command


def lab_copy(ctx: Context, name: str, override: dict) -> Path:
    """A fresh copy of the workflow with bench.yaml = ``override``."""
    workdir = copy_workflow(ctx.temp / name)
    (workdir / "bench.yaml").write_text(yaml.safe_dump(override, sort_keys=False))
    return workdir


def prepare_lab_arrays(ctx: Context, override: dict, target: str) -> Path:
    """The lab's arrays (``target``), prepared by the workflow's own rule in a copy of its
    own (not timed), for the notebook way's first part, which runs before cnnlab's lab."""
    workdir = lab_copy(ctx, "lab-data", override)
    say(f"part 2: preparing the lab's data for the notebook way ({target})")
    run_processes([lab_command(ctx, target)], [workdir / "snakemake.log"], cwd=workdir)
    return workdir / target


def same_arrays(first: Path, second: Path) -> bool:
    import numpy as np

    with np.load(first) as one, np.load(second) as other:
        return sorted(one.files) == sorted(other.files) and all(
            np.array_equal(one[key], other[key]) for key in one.files
        )


def notebook_lab(ctx: Context, workdir: Path, part: str, arrays: Path) -> dict:
    """One part of the notebook way's lab: its JSON summary, with its seconds from spawn
    to exit."""
    summary_json = workdir / f"notebook_way-{part}.json"
    command = [
        sys.executable,
        str(BENCH / "notebook_way.py"),
        "lab",
        str(workdir),
        "--configfile",
        "bench.yaml",
        "--part",
        part,
        "--arrays",
        str(arrays),
        "--json",
        str(summary_json),
    ]
    (seconds,) = run_processes([command], [workdir / f"notebook_way-{part}.log"])
    return dict(json.loads(summary_json.read_text()), seconds=seconds)


def part_whole_lab(ctx: Context) -> dict:
    """cnnlab's lab between the two parts of the notebook way's (A, cnnlab, B): a drift
    of the machine's speed over the half hour then weighs on both sides alike."""
    override = lab_override(ctx)
    arrays_target = f"results/data/{merged_config(ctx.config, override)['dataset']}/arrays.npz"
    arrays = prepare_lab_arrays(ctx, override, arrays_target)
    runs = []
    for repeat in range(ctx.arguments.lab_repeats):
        workdir = lab_copy(ctx, f"lab-{repeat + 1}", override)
        say("part 2: the notebook way, first part")
        first = notebook_lab(ctx, workdir, "first", arrays)
        say(f"part 2: the notebook way's first part took {first['seconds']:.0f} s")
        command = lab_command(ctx)
        say(f"part 2: cnnlab's whole lab ({' '.join(command[1:])}) in {workdir}")
        (cnnlab_seconds,) = run_processes([command], [workdir / "snakemake.log"], cwd=workdir)
        say(f"part 2: cnnlab took {cnnlab_seconds:.0f} s; now the notebook way's second part")
        lab_arrays = workdir / arrays_target
        if not same_arrays(arrays, lab_arrays):
            raise BenchError(
                f"the arrays the notebook way's first part trained on ({arrays}) differ "
                f"from those cnnlab's lab prepared ({lab_arrays})"
            )
        second = notebook_lab(ctx, workdir, "second", arrays)
        # one notebook kernel would not start twice: the second process's set-up
        # (interpreter, imports, data) is not counted
        after_seconds = second["seconds"] - (second["setup_seconds"] or 0.0)
        notebook_seconds = first["seconds"] + after_seconds
        say(
            f"part 2: the notebook way took {notebook_seconds:.0f} s "
            f"({first['seconds']:.0f} s before cnnlab's lab, {after_seconds:.0f} s after)"
        )
        runs.append(
            {
                "workdir": workdir,
                "cnnlab_seconds": cnnlab_seconds,
                "notebook_seconds": notebook_seconds,
                "notebook_before_seconds": first["seconds"],
                "notebook_after_seconds": after_seconds,
                "notebook_after_setup_seconds": second["setup_seconds"],
                "notebook_runs": len(first["runs"]) + len(second["runs"]),
                "notebook_run_seconds": [
                    {key: run[key] for key in ("task", "run_id", "epochs", "seconds")}
                    for run in first["runs"] + second["runs"]
                ],
                "notebook_peak_memory_mb": max(first["peak_memory_mb"], second["peak_memory_mb"]),
                "ratio": cnnlab_seconds / notebook_seconds,
            }
        )
    ctx.lab = {"workdir": runs[-1]["workdir"], "override": override}
    records = lab_records(runs[-1]["workdir"])
    # how full the cores were: idle cores point at scheduling, full ones at the epochs
    training_core_seconds = sum(record["process_seconds"] for record in records)
    return {
        "training_core_seconds": training_core_seconds,
        "training_core_share": training_core_seconds / (runs[-1]["cnnlab_seconds"] * ctx.cores),
        "command": " ".join(["snakemake", *lab_command(ctx)[1:]]),
        "override": override,
        "runs": [{key: value for key, value in run.items() if key != "workdir"} for run in runs],
        "cnnlab_seconds": statistics.median(run["cnnlab_seconds"] for run in runs),
        "notebook_seconds": statistics.median(run["notebook_seconds"] for run in runs),
        "ratio": statistics.median(run["ratio"] for run in runs),
        "trainings": len(records),
        "notebook_runs": runs[-1]["notebook_runs"],
    }


def lab_records(workdir: Path) -> list[dict]:
    return [
        json.loads(path.read_text())
        for path in sorted((workdir / "results" / "runs").glob("*/*/e*/record.json"))
    ]


# --- part 3 -------------------------------------------------------------------------


def merged_config(base: dict, override: dict) -> dict:
    from copy import deepcopy

    from cnnlab.config import update_config

    config = deepcopy(base)
    update_config(config, override)
    return config


def part_epoch_count(ctx: Context) -> dict:
    from cnnlab.selection import read_optima

    override = ctx.lab["override"] if ctx.lab else lab_override(ctx)
    config = merged_config(ctx.config, override)
    first = plan_lab(config)
    if ctx.lab:
        selections = {
            task: str(ctx.lab["workdir"] / f"results/selection/{task}.json")
            for task in first.selections_needed
        }
        optima, stand_in = read_optima(selections), None
    else:  # no lab run: the first candidate run stands in for each selection
        optima, stand_in = {}, {}
        for task_id in first.selections_needed:
            optimum = first.tasks[task_id].optimum
            entry = first.tasks[optimum["candidates"][0]].entries[0]
            optima[task_id] = {name: entry.spec.to_dict()[name] for name in optimum["copy"]}
            stand_in[task_id] = optima[task_id]
    plan = plan_lab(config, optima)
    asked = sum(entry.epochs for task in plan.tasks.values() for entry in task.entries)
    # a longer training of a run resumes from the shorter one's state: the state folder's
    # longest training is what is trained for it
    longest: dict[str, int] = {}
    for training in plan.trainings.values():
        longest[training.state_directory] = max(
            longest.get(training.state_directory, 0), training.epochs
        )
    planned = sum(longest.values())
    result = {
        "epoch_divisor": plan.epoch_divisor,
        "runs_listed": plan.entries_listed(),
        "trainings": len(plan.trainings),
        "epochs_asked": asked,
        "epochs_planned": planned,
        "ratio": planned / asked if asked else None,
        "stand_in_selection": stand_in,
    }
    if ctx.lab:
        records = lab_records(ctx.lab["workdir"])
        result["epochs_trained"] = sum(
            int(r["epochs_trained"]) - int(r.get("resumed_from_epoch") or 0) for r in records
        )
    return result


# --- part 4 -------------------------------------------------------------------------


def job_overheads(record: dict, external_seconds: float | None = None) -> dict:
    training = float(record.get("training_seconds") or 0.0)
    state = float(record.get("state_seconds") or 0.0)
    epochs = max(1, int(record["epochs_trained"]) - int(record.get("resumed_from_epoch") or 0))
    process = record.get("process_seconds")
    return {
        "startup_seconds": record.get("startup_seconds"),
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


def part_overhead(ctx: Context) -> dict:
    groups = {}
    own_jobs = not ctx.part1_jobs and not ctx.lab
    if own_jobs:
        epochs = 2
        for label, _task, changes in (EPOCH_SETUPS[0], EPOCH_SETUPS[3]):
            params = {**ctx.base_params(), **changes}
            for repeat in range(ctx.repeats):
                say(f"part 4: {label}, job {repeat + 1} of {ctx.repeats}")
                slug = label.lower().replace(" ", "-")
                ctx.part1_jobs += [
                    dict(job, setup=label, kind="one job alone")
                    for job in cnnlab_jobs(ctx, params, epochs, 1, f"{slug}-r{repeat}")
                ]
    if ctx.part1_jobs:
        groups["part 4's own jobs, one at a time" if own_jobs else "part 1's jobs"] = [
            job_overheads(job["record"], job["external_seconds"]) for job in ctx.part1_jobs
        ]
    if ctx.lab:
        groups[f"the lab's training jobs (part 2, --cores {ctx.cores})"] = [
            job_overheads(record) for record in lab_records(ctx.lab["workdir"])
        ]
    summary = {}
    for name, jobs in groups.items():
        summary[name] = {
            key: summarize([job[key] for job in jobs])
            for key in (
                "startup_seconds",
                "overhead_seconds",
                "spawn_to_exit_overhead_seconds",
                "state_seconds_per_epoch",
                "peak_memory_mb",
            )
        }
        heaviest = max(jobs, key=lambda job: job["peak_memory_mb"])
        summary[name]["heaviest_job"] = heaviest["run_id"]
    return summary


# --- part 5 -------------------------------------------------------------------------


def part_bf16(ctx: Context) -> dict:
    epochs = max(2, int(ctx.arguments.bf16_epochs))
    rows = []
    for label, changes in BF16_SETUPS:
        results = {}
        for precision in ("float32", "mixed_bfloat16"):
            params = {**ctx.base_params(), **changes, "precision": precision}
            say(f"part 5: {label}, {precision}, {epochs} epochs")
            slug = label.split(",")[0].lower().replace(" ", "-")
            (job,) = cnnlab_jobs(ctx, params, epochs, 1, f"bf16-{slug}-{precision}")
            with open(job["out"] / "history.csv", newline="") as stream:
                history = list(csv.DictReader(stream))
            results[precision] = {
                "seconds": statistics.median(timed(job["epoch_seconds"])),
                "history": history,
            }
        f32, bf16 = results["float32"], results["mixed_bfloat16"]
        rows.append(
            {
                "setup": label,
                "epochs": epochs,
                "float32_seconds": f32["seconds"],
                "bf16_seconds": bf16["seconds"],
                "speed_ratio": bf16["seconds"] / f32["seconds"],
                "float32_val_accuracy": float(f32["history"][-1]["val_accuracy"]),
                "bf16_val_accuracy": float(bf16["history"][-1]["val_accuracy"]),
                "float32_val_loss": float(f32["history"][-1]["val_loss"]),
                "bf16_val_loss": float(bf16["history"][-1]["val_loss"]),
                "max_val_accuracy_difference": max(
                    abs(float(a["val_accuracy"]) - float(b["val_accuracy"]))
                    for a, b in zip(f32["history"], bf16["history"])
                ),
            }
        )
    return {"epochs": epochs, "rows": rows}


# --- the report ---------------------------------------------------------------------


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def seconds_text(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds:.0f} s ({seconds / 60:.1f} min)"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def check_row(name: str, target: str, measured: str, passed: bool | None, quick: bool) -> list:
    if quick:
        verdict = "not judged (quick run)"
    else:
        verdict = "n/a" if passed is None else ("pass" if passed else "FAIL")
    return [name, target, measured, verdict]


def render(ctx: Context, command: str) -> str:
    facts, results, quick = ctx.facts, ctx.results, ctx.quick
    out = ["# cnnlab speed benchmark", ""]
    if quick:
        out += [
            "**Quick run (`--quick`): tiny data and epochs, a smoke test of the benchmark. Its numbers say nothing about speed.**",
            "",
        ]
    device = facts["device"]
    out += [
        f"Command: `{command}`  ",
        f"Date: {facts['date']}; commit {facts['commit'] or 'unknown'}",
        "",
        "## Machine",
        "",
        table(
            ["", ""],
            [
                ["CPU", facts["cpu"]],
                [
                    "cores (logical)",
                    f"{facts['logical_cores']}; the benchmark used --cores {ctx.cores}",
                ],
                ["memory", f"{facts['memory_gb']} GB"],
                ["CPU bf16 support", ", ".join(facts["cpu_bf16"]) or "none"],
                [
                    "training device",
                    f"{device['kind']}: {device['name']}"
                    + (f" x {device['count']}" if device["kind"] == "GPU" else ""),
                ],
                [
                    "Python / TensorFlow / Keras / NumPy / Snakemake",
                    f"{facts['python']} / {facts['tensorflow']} / {facts['keras']} / {facts['numpy']} / {facts['snakemake']}",
                ],
                [
                    "threads per cnnlab job",
                    f"{ctx.config['defaults'].get('threads', 1)} (config `threads`); the notebook way: TensorFlow's default (all cores)",
                ],
                [
                    "load average (1, 5, 15 min) before / after",
                    f"{facts['load_before']} / {facts.get('load_after')}",
                ],
            ],
        ),
        "",
        "A load average well above zero before the run means other work shared the machine and distorted the timings.",
        "",
    ]
    checks = []
    if "1" in results:
        part = results["1"]
        out += [
            "## 1. Seconds per epoch",
            "",
            (
                f"{part['train_images']} training images per epoch, validation on the test split every epoch. Each figure is the "
                f"median of {part['rows'][0]['timed_epochs']} epoch(s) after a first, warm-up epoch (one process per measurement, "
                f"{part['epochs_per_process']} epochs each). *cnnlab, lab as it runs*: {ctx.jobs_at_once} jobs at once, as "
                f"`snakemake --cores {ctx.cores}` runs them; its seconds per epoch are the machine's (training images / total "
                "images per second). Ratio = cnnlab / notebook; below 1 means cnnlab is faster."
            ),
            "",
            table(
                [
                    "set-up (task)",
                    "notebook s/epoch",
                    "notebook img/s",
                    "cnnlab 1 job alone s/epoch (ratio)",
                    "cnnlab jobs at once",
                    "s/epoch per job",
                    "img/s, all jobs",
                    "cnnlab s/epoch of the machine",
                    "ratio",
                ],
                [
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
                    for row in part["rows"]
                ],
            ),
            "",
        ]
        worst = max(part["rows"], key=lambda row: row["ratio"])
        checks.append(
            check_row(
                "no per-set-up epoch ratio worse than 1.0 (lab as it runs)",
                f"<= {EPOCH_RATIO_TARGET}",
                f"worst {worst['ratio']:.2f} ({worst['setup']})",
                worst["ratio"] <= EPOCH_RATIO_TARGET,
                quick,
            )
        )
    if "2" in results:
        part = results["2"]
        repeats = len(part["runs"])
        out += [
            "## 2. The whole lab",
            "",
            f"cnnlab: `{part['command']}` in a fresh copy of the workflow, bench.yaml = `{json.dumps(part['override'])}`, "
            f"from nothing to the report ({part['trainings']} training jobs, data preparation, selection, figures and report "
            f"included). The notebook way: bench/notebook_way.py, the {part['notebook_runs']} runs the tasks list, one after "
            "another, from the prepared arrays (preparation, figures and report not counted), in two parts: the first "
            "before cnnlab's lab (the runs that wait for no selection, up to half of their estimated cost), the second "
            "after it (the rest, 6E's runs from the optimum cnnlab's lab chose), so that a drift of the machine's speed "
            "weighs on both sides alike; the second process's set-up (interpreter, imports, data), which one notebook "
            "kernel would not pay twice, is not counted. "
            + (
                "Measured once (`--lab-repeats 1`, the default: it is the long part)."
                if repeats == 1
                else f"Median of {repeats} runs."
            ),
            "",
            table(
                ["", "wall time"],
                [
                    ["cnnlab", seconds_text(part["cnnlab_seconds"])],
                    ["notebook way", seconds_text(part["notebook_seconds"])],
                    *(
                        [
                            [
                                "notebook way: its part before cnnlab's lab / after",
                                f"{run['notebook_before_seconds']:.0f} s / {run['notebook_after_seconds']:.0f} s",
                            ]
                            for run in part["runs"]
                        ]
                        if repeats == 1
                        else []
                    ),
                    ["**ratio cnnlab / notebook**", f"**{part['ratio']:.2f}**"],
                ],
            ),
            "",
            (
                f"cnnlab's training jobs (last run) used {part['training_core_seconds']:.0f} core-seconds "
                f"from process start to exit: {100 * part['training_core_share']:.0f} % of its wall time "
                f"x {ctx.cores} cores; the rest went to Snakemake, preparation, figures, the report "
                "and idle cores."
            ),
            "",
        ]
        checks.append(
            check_row(
                "whole lab, cnnlab / notebook",
                f"<= {LAB_RATIO_TARGET}",
                f"{part['ratio']:.2f}",
                part["ratio"] <= LAB_RATIO_TARGET,
                quick,
            )
        )
    if "3" in results:
        part = results["3"]
        rows = [
            ["runs the tasks list (the notebook trains each)", part["runs_listed"]],
            ["cnnlab training jobs", part["trainings"]],
            ["epochs the tasks ask for (the notebook trains them all)", part["epochs_asked"]],
            ["epochs cnnlab plans (one training per run, prefixes shared)", part["epochs_planned"]],
        ]
        if "epochs_trained" in part:
            rows.append(["epochs cnnlab trained (records of part 2)", part["epochs_trained"]])
        rows.append(["**ratio cnnlab / asked**", f"**{part['ratio']:.2f}**"])
        out += [
            "## 3. Epochs trained",
            "",
            f"Epoch divisor {part['epoch_divisor']}.",
            "",
            table(["", ""], rows),
            "",
        ]
        if part["stand_in_selection"]:
            out += [
                f"No lab ran (part 2): 6E's optimum is unknown, so the first candidate run stands in for it: `{json.dumps(part['stand_in_selection'])}`.",
                "",
            ]
    if "4" in results:
        part = results["4"]
        out += [
            "## 4. Per-job overhead and memory",
            "",
            (
                "Per training job: *startup* = process start to the first epoch (interpreter, TensorFlow import, data, model); "
                "*overhead* = the process's time outside its epochs and outside the per-epoch saving of the resume state "
                "(record.json `process_seconds - training_seconds - state_seconds`); *spawn to exit* the same, timed from outside "
                "(part 1's jobs); *state saving* per epoch; *peak memory* = record.json `peak_memory_mb` (peak resident set)."
            ),
            "",
        ]
        rows = []
        for group, stats in part.items():

            def cell(key, unit, digits, stats=stats):
                value = stats.get(key)
                if not value:
                    return "-"
                return f"{value['median']:.{digits}f} / {value['max']:.{digits}f}{unit}"

            rows.append(
                [
                    group,
                    stats["startup_seconds"]["count"] if stats["startup_seconds"] else "-",
                    cell("startup_seconds", " s", 2),
                    cell("overhead_seconds", " s", 2),
                    cell("spawn_to_exit_overhead_seconds", " s", 2),
                    cell("state_seconds_per_epoch", " s", 3),
                    cell("peak_memory_mb", " MB", 0) + f" ({stats['heaviest_job']})",
                ]
            )
        out += [
            table(
                [
                    "jobs",
                    "count",
                    "startup, median / max",
                    "overhead, median / max",
                    "spawn to exit overhead",
                    "state saving per epoch",
                    "peak memory, median / max (heaviest)",
                ],
                rows,
            ),
            "",
        ]
        group = next((name for name in part if name.startswith("the lab")), next(iter(part)))
        overhead = part[group]["overhead_seconds"]
        if overhead:
            checks.append(
                check_row(
                    f"per-job overhead, median of {group}",
                    f"<= {OVERHEAD_LIMIT_SECONDS:g} s",
                    f"{overhead['median']:.2f} s (max {overhead['max']:.2f} s)",
                    overhead["median"] <= OVERHEAD_LIMIT_SECONDS,
                    quick,
                )
            )
        memory = max(stats["peak_memory_mb"]["max"] for stats in part.values())
        checks.append(
            check_row(
                "peak memory of any training job",
                f"<= {MEMORY_LIMIT_MB} MB",
                f"{memory:.0f} MB",
                memory <= MEMORY_LIMIT_MB,
                quick,
            )
        )
    if "5" in results:
        part = results["5"]
        out += [
            "## 5. mixed_bfloat16 against float32",
            "",
            (
                f"The same run (cnnlab's training path, one job alone) in float32 and with `precision: mixed_bfloat16`, {part['epochs']} epochs; "
                "seconds per epoch are medians after the first epoch; accuracies are the last epoch's."
            ),
            "",
            table(
                [
                    "set-up",
                    "float32 s/epoch",
                    "bf16 s/epoch",
                    "bf16 / float32",
                    "val_accuracy float32 / bf16",
                    "val_loss float32 / bf16",
                    "largest val_accuracy difference over the epochs",
                ],
                [
                    [
                        row["setup"],
                        f"{row['float32_seconds']:.2f}",
                        f"{row['bf16_seconds']:.2f}",
                        f"**{row['speed_ratio']:.2f}**",
                        f"{row['float32_val_accuracy']:.3f} / {row['bf16_val_accuracy']:.3f}",
                        f"{row['float32_val_loss']:.4f} / {row['bf16_val_loss']:.4f}",
                        f"{row['max_val_accuracy_difference']:.3f}",
                    ]
                    for row in part["rows"]
                ],
            ),
            "",
        ]
    if checks:
        out += ["## Checks", "", table(["what", "target", "measured", "verdict"], checks), ""]
        out += [
            "That a history trained with `--cores 1` equals one trained with `--cores 2` (and 4) is a test: tests/test_speed_invariants.py.",
            "",
        ]
    return "\n".join(out)


def jsonable(value):
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="cnnlab against the notebook way, measured in one run on this machine.",
        epilog="Writes bench/results/latest.md and latest.json (--quick: quick.md and quick.json) and prints the markdown.",
    )
    parser.add_argument(
        "--parts",
        default="1,2,3,4",
        help="which parts to run, e.g. 1,2,3,4 (default) or 1,2,3,4,5; 5 = mixed_bfloat16",
    )
    parser.add_argument(
        "--epoch-divisor",
        type=int,
        default=10,
        help="the lab's epoch_divisor for part 2 (default 10)",
    )
    parser.add_argument(
        "--cores",
        type=int,
        default=None,
        help="cores for snakemake and jobs at once (default: all usable cores)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed epochs per measurement in part 1 (and jobs of part 4 when alone); default 3, --quick 1",
    )
    parser.add_argument(
        "--lab-repeats",
        type=int,
        default=1,
        help="how many times part 2 runs both labs (default 1: it is long)",
    )
    parser.add_argument(
        "--bf16-epochs",
        type=int,
        default=None,
        help="epochs of each part-5 run (default 10, --quick 2)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny data and epochs: a smoke test of the benchmark (a few minutes)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="markdown file to write (default bench/results/latest.md, --quick quick.md)",
    )
    parser.add_argument(
        "--keep-temp",
        action="store_true",
        help="keep the temporary folder (data, jobs, lab copies)",
    )
    arguments = parser.parse_args(argv)
    arguments.parts_list = sorted(
        {part.strip() for part in arguments.parts.split(",") if part.strip()}
    )
    unknown = [part for part in arguments.parts_list if part not in {"1", "2", "3", "4", "5"}]
    if unknown:
        parser.error(
            f"--parts: unknown part(s) {', '.join(unknown)}; the parts are 1, 2, 3, 4 and 5"
        )
    if arguments.repeats is None:
        arguments.repeats = 1 if arguments.quick else 3
    if arguments.bf16_epochs is None:
        arguments.bf16_epochs = 2 if arguments.quick else 10
    if arguments.repeats < 1 or arguments.lab_repeats < 1 or arguments.epoch_divisor < 1:
        parser.error("--repeats, --lab-repeats and --epoch-divisor must be at least 1")
    return arguments


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    if arguments.cores:
        cores = arguments.cores
    elif hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    command = "bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    output = (
        Path(arguments.output)
        if arguments.output
        else RESULTS / ("quick.md" if arguments.quick else "latest.md")
    )
    temp = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
    started = time.perf_counter()
    say(f"parts {','.join(arguments.parts_list)}; temporary folder {temp}")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    ctx = Context(arguments=arguments, temp=temp, cores=cores, facts=query_facts(), config=config)
    failed = False
    try:
        if {"1", "4", "5"} & set(arguments.parts_list):
            prepare_data(ctx)
        if "1" in arguments.parts_list:
            ctx.results["1"] = part_epoch_speed(ctx)
        if "2" in arguments.parts_list:
            ctx.results["2"] = part_whole_lab(ctx)
        if "3" in arguments.parts_list:
            ctx.results["3"] = part_epoch_count(ctx)
        if "4" in arguments.parts_list:
            ctx.results["4"] = part_overhead(ctx)
        if "5" in arguments.parts_list:
            ctx.results["5"] = part_bf16(ctx)
    except BenchError as error:
        failed = True
        print(f"bench: {error}", file=sys.stderr)
    finally:
        ctx.facts["load_after"] = [round(value, 2) for value in os.getloadavg()]
        ctx.facts["bench_seconds"] = round(time.perf_counter() - started, 1)
        if failed or arguments.keep_temp:
            say(f"the temporary folder stays: {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)
    if failed:
        return 1
    markdown = (
        render(ctx, command) + f"\nThe benchmark took {seconds_text(ctx.facts['bench_seconds'])}.\n"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown)
    output.with_suffix(".json").write_text(
        json.dumps(
            jsonable({"command": command, "facts": ctx.facts, "results": ctx.results}), indent=2
        )
        + "\n"
    )
    print(markdown)
    say(f"written to {output} and {output.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
