"""Part 2: the whole lab's wall time, cnnlab's Snakemake run against the notebook way's."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

import yaml

from bench.common import (
    BENCH,
    BenchError,
    Context,
    check_row,
    run_processes,
    say,
    table,
)
from bench.jobs import lab_config, lab_override, lab_records
from cnnlab.durations import duration_text
from cnnlab.store import layout
from tests.workflow_helpers import copy_workflow

LAB_RATIO_TARGET = 0.5


def measure(ctx: Context) -> dict:
    """cnnlab's lab between the two parts of the notebook way's (A, cnnlab, B): a drift
    of the machine's speed over the half hour then weighs on both sides alike. The last
    lab's folder is kept in ``ctx.lab`` for parts 3 and 4."""
    override = lab_override(ctx)
    arrays_target = layout.arrays_npz(lab_config(override)["dataset"])
    arrays = prepare_lab_arrays(ctx, override, arrays_target)
    runs = []
    for repeat in range(ctx.arguments.lab_repeats):
        workdir = lab_copy(ctx, f"lab-{repeat + 1}", override)
        runs.append(both_labs(ctx, workdir, arrays, workdir / arrays_target))
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


def both_labs(ctx: Context, workdir: Path, arrays: Path, lab_arrays: Path) -> dict:
    """One repeat in ``workdir``: the notebook way's first part, cnnlab's lab, its second."""
    say("part 2: the notebook way, first part")
    first = notebook_lab(workdir, "first", arrays)
    say(f"part 2: the notebook way's first part took {first['seconds']:.0f} s")
    command = lab_command(ctx)
    say(f"part 2: cnnlab's whole lab ({' '.join(command[1:])}) in {workdir}")
    (cnnlab_seconds,) = run_processes([command], [workdir / "snakemake.log"], cwd=workdir)
    say(f"part 2: cnnlab took {cnnlab_seconds:.0f} s; now the notebook way's second part")
    if not same_arrays(arrays, lab_arrays):
        raise BenchError(
            f"the arrays the notebook way's first part trained on ({arrays}) differ "
            f"from those cnnlab's lab prepared ({lab_arrays})"
        )
    second = notebook_lab(workdir, "second", arrays)
    # one notebook kernel would not start twice: the second process's set-up
    # (interpreter, imports, data) is not counted
    after_seconds = second["seconds"] - (second["setup_seconds"] or 0.0)
    notebook_seconds = first["seconds"] + after_seconds
    say(
        f"part 2: the notebook way took {notebook_seconds:.0f} s "
        f"({first['seconds']:.0f} s before cnnlab's lab, {after_seconds:.0f} s after)"
    )
    return {
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


def snakemake_executable() -> str:
    beside = Path(sys.executable).with_name("snakemake")
    return str(beside) if beside.exists() else (shutil.which("snakemake") or "snakemake")


def lab_command(ctx: Context, *targets: str, configfiles: tuple[str, ...] = ("bench.yaml",)
                ) -> list[str]:
    """The snakemake command of a lab copy (:func:`lab_copy`), a GPU per training where the
    machine has them."""
    # targets first: --configfile takes every word that follows it
    command = [snakemake_executable(), *targets, "--cores", str(ctx.cores)]
    command += ["--configfile", *configfiles]
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


def notebook_lab(workdir: Path, part: str, arrays: Path) -> dict:
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


def render(ctx: Context, result: dict) -> str:
    repeats = len(result["runs"])
    explanation = (
        f"cnnlab: `{result['command']}` in a fresh copy of the workflow, bench.yaml = "
        f"`{json.dumps(result['override'])}`, from nothing to the report "
        f"({result['trainings']} training jobs, data preparation, selection, figures and "
        "report included). The notebook way: bench/notebook_way.py, the "
        f"{result['notebook_runs']} runs the tasks list, one after another, from the prepared "
        "arrays (preparation, figures and report not counted), in two parts: the first "
        "before cnnlab's lab (the runs that wait for no selection, up to half of their "
        "estimated cost), the second after it (the rest, 6E's runs from the selection cnnlab's "
        "lab chose), so that a drift of the machine's speed weighs on both sides alike; the "
        "second process's set-up (interpreter, imports, data), which one notebook kernel "
        "would not pay twice, is not counted. "
        + (
            "Measured once (`--lab-repeats 1`, the default: it is the long part)."
            if repeats == 1
            else f"Median of {repeats} runs."
        )
    )
    rows = [
        ["cnnlab", duration_text(result["cnnlab_seconds"])],
        ["notebook way", duration_text(result["notebook_seconds"])],
    ]
    if repeats == 1:
        rows += [
            [
                "notebook way: its part before cnnlab's lab / after",
                " / ".join(duration_text(run[f"notebook_{part}_seconds"])
                           for part in ("before", "after")),
            ]
            for run in result["runs"]
        ]
    rows.append(["**ratio cnnlab / notebook**", f"**{result['ratio']:.2f}**"])
    cores_used = (
        f"cnnlab's training jobs (last run) used {result['training_core_seconds']:.0f} "
        f"core-seconds from process start to exit: {100 * result['training_core_share']:.0f} % "
        f"of its wall time x {ctx.cores} cores; the rest went to Snakemake, preparation, "
        "figures, the report and idle cores."
    )
    out = ["## 2. The whole lab", "", explanation, "", table(["", "wall time"], rows), ""]
    return "\n".join([*out, cores_used, ""])


def checks(ctx: Context, result: dict) -> list[list]:
    return [
        check_row(
            "whole lab, cnnlab / notebook",
            f"<= {LAB_RATIO_TARGET}",
            f"{result['ratio']:.2f}",
            result["ratio"] <= LAB_RATIO_TARGET,
            ctx.quick,
        )
    ]
