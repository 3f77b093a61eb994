"""Part 5, the accuracies: the lab's trained tasks (5A-5C, 6A-6D) on the real images, two
seeds in float32 and two in mixed_bfloat16, so that the difference bfloat16 makes can be
set against the seed-to-seed spread.

Each precision's lab runs in a fresh copy of the workflow with ``--configfile
config-real.yaml bench.yaml`` (bench.yaml: the seeds, the divisor, the precision and the
images' absolute path) and asks Snakemake for the trainings of those tasks only (6E's and
6F's wait for a selection and would double the time). A task's run is read at the task's
own epoch count (a 20-epoch task reads the first 20 epochs of a longer training).
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
from pathlib import Path

from bench.common import ROOT, BenchError, Context, say, table
from bench.jobs import QUICK_LAB
from bench.parts.whole_lab import lab_command, lab_copy
from cnnlab.plan.config import checked_config, read_config_files
from cnnlab.plan.plan import plan_lab
from cnnlab.store.history import read_history

TASKS = ("5A", "5B", "5C", "6A", "6B", "6C", "6D")
SEEDS = [1, 2]
PRECISIONS = ("float32", "mixed_bfloat16")
REAL_IMAGES = ROOT.parent / "shared" / "data" / "skin-real"


def override(ctx: Context, precision: str) -> dict:
    if ctx.quick:
        return {**QUICK_LAB, "seeds": SEEDS, "defaults": {"precision": precision}}
    return {"epoch_divisor": int(ctx.arguments.bf16_divisor), "seeds": SEEDS,
            "defaults": {"precision": precision},
            "datasets": {"skin-real": {"path": str(REAL_IMAGES)}}}


def config_files(ctx: Context) -> tuple[str, ...]:
    return ("bench.yaml",) if ctx.quick else ("config-real.yaml", "bench.yaml")


def lab_entries(ctx: Context, workdir: Path) -> list[tuple[str, object]]:
    """(task, entry) of every run the tasks show, planned as the workflow plans them."""
    files = [workdir / "config.yaml", *(workdir / name for name in config_files(ctx))]
    plan = plan_lab(checked_config(read_config_files(*files)))
    return [(task, entry) for task in TASKS if task in plan.tasks
            for entry in plan.tasks[task].entries]


def run_lab(ctx: Context, precision: str) -> dict:
    """One precision's lab: {(task, setup_id, epochs): {seed: (final, highest)}}, the final
    and the highest validation accuracy of each run at its task's epochs."""
    workdir = lab_copy(ctx, f"bf16-lab-{precision}", override(ctx, precision))
    entries = lab_entries(ctx, workdir)
    targets = sorted({entry.training.history_csv for _, entry in entries})
    command = lab_command(ctx, *targets, configfiles=config_files(ctx))
    say(f"part 5: the lab's tasks {', '.join(TASKS)} in {precision}, seeds {SEEDS} "
        f"({len(targets)} trainings)")
    log = workdir / "snakemake.log"
    with open(log, "w") as handle:
        if subprocess.call(command, cwd=workdir, stdout=handle, stderr=subprocess.STDOUT):
            raise BenchError(f"part 5: the {precision} lab failed; log {log}")
    accuracies: dict = {}
    for task, entry in entries:
        history = read_history(workdir / entry.training.history_csv).head(entry.epochs)
        values = (float(history["val_accuracy"].iloc[-1]), float(history["val_accuracy"].max()))
        # keyed by the float32 run's name, so the two precisions' runs meet
        setup_id = dataclasses.replace(entry.spec, precision="float32").setup_id
        accuracies.setdefault((task, setup_id, entry.epochs), {})[entry.spec.seed] = values
    return accuracies


def measure(ctx: Context) -> dict:
    labs = {precision: run_lab(ctx, precision) for precision in PRECISIONS}
    rows = []
    for key in labs["float32"]:
        task, setup_id, epochs = key
        f32, bf16 = labs["float32"][key], labs["mixed_bfloat16"].get(key, {})
        rows.append({"task": task, "setup_id": setup_id, "epochs": epochs,
                     "float32": {str(seed): list(value) for seed, value in f32.items()},
                     "bf16": {str(seed): list(value) for seed, value in bf16.items()}})
    return {"seeds": SEEDS, "rows": rows, "summary": summary(rows)}


def summary(rows: list[dict]) -> dict:
    """Mean absolute differences of the final and the highest validation accuracy (not the
    report's "best", the epoch of the lowest validation loss): bfloat16
    against float32 with the same seed, and seed 1 against seed 2 in each precision."""
    def mean(values):
        return statistics.fmean(values) if values else float("nan")

    result = {}
    for index, name in ((0, "final"), (1, "highest")):
        precision_gaps, seed_gaps = [], []
        for row in rows:
            for seed in row["float32"]:
                if seed in row["bf16"]:
                    precision_gaps.append(abs(row["bf16"][seed][index]
                                              - row["float32"][seed][index]))
            for values in (row["float32"], row["bf16"]):
                if len(values) == 2:
                    first, second = values.values()
                    seed_gaps.append(abs(first[index] - second[index]))
        result[name] = {"bf16_vs_float32": mean(precision_gaps),
                        "seed_to_seed": mean(seed_gaps)}
    return result


def render(result: dict) -> str:
    def cell(values: dict, index: int) -> str:
        return " / ".join(f"{values[str(seed)][index]:.3f}" for seed in result["seeds"]
                          if str(seed) in values)

    rows = [[row["task"], row["setup_id"], row["epochs"], cell(row["float32"], 0),
             cell(row["bf16"], 0), cell(row["float32"], 1), cell(row["bf16"], 1)]
            for row in result["rows"]]
    final, highest = result["summary"]["final"], result["summary"]["highest"]
    verdict = (
        f"Mean |bfloat16 - float32| at the same seed: final {final['bf16_vs_float32']:.3f}, "
        f"highest {highest['bf16_vs_float32']:.3f}; mean |seed 1 - seed 2| within a "
        f"precision: final {final['seed_to_seed']:.3f}, highest {highest['seed_to_seed']:.3f}.")
    return "\n".join([
        "### The lab's accuracies in both precisions", "",
        (f"Tasks {', '.join(TASKS)} on the real images, seeds "
        f"{' and '.join(map(str, result['seeds']))} (values per seed, in that order), each "
        "run read at its task's epochs."), "",
        table(["task", "run", "epochs", "final val acc float32", "final bf16",
               "highest float32", "highest bf16"], rows), "", verdict, ""])
