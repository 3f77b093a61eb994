"""Hostile inputs met by the real workflow on the small lab: two seeds judged as one set-up,
a damaged predictions.npz and a selection that names no candidate (one line in a dry run,
redone by one real run), another data set's lab in the same folder, and a partial report
whose figure folder is a file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cnnlab.plan.plan import plan_lab
from cnnlab.plan.selection_check import read_checked_choices
from cnnlab.store import layout
from tests.conftest import merged_config
from tests.workflow_helpers import SMALL_CONFIG, copy_workflow, job_counts, run_snakemake

pytestmark = [pytest.mark.workflow]

CNNLAB = [sys.executable, "-m", "cnnlab"]
SELECTION = layout.selection_json("tiny", "6E")


def cnnlab(workdir, *args):
    return subprocess.run([*CNNLAB, *args], cwd=workdir, capture_output=True, text=True,
                          timeout=300, check=False)


def no_traceback(output: str) -> None:
    assert "Traceback" not in output and "Error in" not in output.split("cnnlab:")[0], \
        output[-4000:]


def test_two_seeds_are_one_set_up_and_the_best_mean_is_chosen(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    (workdir / "two-seeds.yaml").write_text("seeds: [1, 2]\n")
    result = run_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG,
                           "two-seeds.yaml", timeout=2400)
    assert result.returncode == 0, result.stdout[-6000:]
    selection = json.loads((workdir / SELECTION).read_text())
    ids = [row["setup_id"] for row in selection["candidates"]]
    assert len(ids) == len(set(ids))  # one candidate per set-up
    assert all(not row_id.endswith(("-s1", "-s2")) for row_id in ids)
    assert all([seed["seed"] for seed in row["seeds"]] == [1, 2]
               for row in selection["candidates"])
    for row in selection["candidates"]:
        assert row["final_val_accuracy"] == pytest.approx(
            np.mean([seed["final_val_accuracy"] for seed in row["seeds"]]))
    eligible = [row for row in selection["candidates"] if row["eligible"]]
    pool = eligible or selection["candidates"]
    chosen = next(row for row in pool if row["setup_id"] == selection["chosen"]["setup_id"])
    if eligible:  # the rule's measure: the highest mean over the seeds
        measure = selection["lead"]["measure"] if selection["lead"] else "final_val_accuracy"
        assert chosen[measure] == max(row[measure] for row in eligible)
    # 6E and 6F train the chosen set-up with every seed
    config = merged_config(workdir / SMALL_CONFIG, workdir / "two-seeds.yaml")
    plan = plan_lab(config, read_checked_choices(plan_lab(config), {"6E": workdir / SELECTION}))
    for task_id in ("6E", "6F"):
        seeds = {entry.spec.seed for entry in plan.tasks[task_id].entries}
        assert seeds == {1, 2}
        assert all((workdir / entry.training.history_csv).is_file()
                   for entry in plan.tasks[task_id].entries)


def finished_trainings(workdir):
    config = merged_config(workdir / SMALL_CONFIG)
    first = plan_lab(config)
    return first, plan_lab(config, read_checked_choices(first, {"6E": workdir / SELECTION}))


def test_damaged_predictions_and_selection_are_one_line_and_redone(copy_of_small_lab):
    workdir = copy_of_small_lab
    _, plan = finished_trainings(workdir)
    victim = plan.tasks["5B"].entries[0].training
    npz = workdir / victim.predictions_npz
    with np.load(npz) as stored:
        outputs = stored["outputs"]
    with open(npz, "wb") as stream:  # labels as text, as a careless export writes them
        np.savez(stream, labels=np.array(["Nev"] * outputs.shape[1]), outputs=outputs)
    selection = json.loads((workdir / SELECTION).read_text())
    selection["chosen"]["params"]["batch_size"] = -8
    (workdir / SELECTION).write_text(json.dumps(selection))

    dry = run_snakemake(workdir, "-n", "--cores", "2", "--configfile", SMALL_CONFIG)
    assert dry.returncode == 0, dry.stdout[-6000:]
    no_traceback(dry.stdout)
    lines = [line for line in dry.stdout.splitlines() if line.startswith("cnnlab:")]
    assert any(victim.predictions_npz in line and "labels of type" in line for line in lines)
    assert any(SELECTION in line and "batch_size: -8 must be at least 1" in line for line in lines)
    assert npz.exists() and (workdir / SELECTION).exists()  # a dry run moves nothing

    status = cnnlab(workdir, "status", "--configfile", SMALL_CONFIG)
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr

    real = run_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG, timeout=1500)
    assert real.returncode == 0, real.stdout[-6000:]
    assert f"moved {victim.directory}" in real.stdout and f"moved {SELECTION}" in real.stdout
    with np.load(npz) as stored:
        assert stored["labels"].dtype.kind == "i"
    again = json.loads((workdir / SELECTION).read_text())
    assert again["chosen"]["params"]["batch_size"] > 0
    assert (workdir / layout.REPORT_HTML).is_file()


def test_another_data_sets_lab_plans_its_own_selection(copy_of_small_lab):
    workdir = copy_of_small_lab
    (workdir / "other.yaml").write_text(
        "dataset: other\ndatasets:\n  other: {kind: synthetic, n_train: 40, n_test: 20, "
        "seed: 3, image_size: 32}\n")
    dry = run_snakemake(workdir, "-n", "--cores", "2", "--configfile", SMALL_CONFIG,
                        "other.yaml")
    assert dry.returncode == 0, dry.stdout[-6000:]
    assert "results/selection/other/6E.json" in dry.stdout
    assert "select_setup" in dry.stdout
    # cnnlab status without the lab's config file: config.yaml's data set has nothing here
    status = cnnlab(workdir, "status")
    assert status.returncode == 0, status.stderr
    [note] = [line for line in status.stderr.splitlines() if "note:" in line]
    assert "data set tiny" in note and "--configfile" in note
    partial = cnnlab(workdir, "report", "--partial", "--configfile", SMALL_CONFIG, "other.yaml")
    assert "data set tiny" in partial.stderr and "Traceback" not in partial.stderr


def test_a_partial_report_whose_figure_folder_is_a_file_is_one_line(copy_of_small_lab):
    workdir = copy_of_small_lab
    figures = workdir / layout.PARTIAL_FIGURES
    shutil.rmtree(figures, ignore_errors=True)
    figures.parent.mkdir(parents=True, exist_ok=True)
    figures.write_text("a file where the figures' folder should be")
    result = cnnlab(workdir, "report", "--partial", "--configfile", SMALL_CONFIG)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert str(layout.PARTIAL_FIGURES) in line and "is a file, not a folder" in line


def test_a_target_outside_the_plan_is_one_line_naming_the_nearest(tmp_path):
    """Another epoch_divisor's training, a mistyped run id and a training that only the
    selection to come could plan: each target stops `snakemake -n` with one line."""
    from cnnlab.plan.complete_plan import possible_trainings

    workdir = copy_workflow(tmp_path / "lab")
    plan = plan_lab(merged_config(workdir / SMALL_CONFIG))
    training = next(iter(plan.trainings.values()))
    after = next(t for key, t in possible_trainings(plan).items() if key not in plan.trainings)
    longest = max((t for t in plan.trainings.values() if t.run_id == training.run_id),
                  key=lambda t: t.epochs)
    mistyped = training.run_id.replace("adam", "adma")
    cases = {
        layout.training_directory("tiny", training.run_id, 400):
            f"ask for the nearest, {longest.directory}",
        layout.training_directory("tiny", mistyped, training.epochs):
            f"no run {mistyped} is planned; the nearest is {training.directory}",
        after.directory: "is planned only if the selection chooses its run, and "
                         f"{SELECTION} is not made yet",
    }
    for target, expected in cases.items():
        dry = run_snakemake(workdir, f"{target}/history.csv", "-n", "--cores", "1",
                            "--configfile", SMALL_CONFIG, timeout=120)
        assert dry.returncode == 1, dry.stdout[-3000:]
        no_traceback(dry.stdout)
        assert "Priority function" not in dry.stdout and "NoneType" not in dry.stdout
        [line] = [line for line in dry.stdout.splitlines() if line.startswith("cnnlab:")]
        assert line.startswith(f"cnnlab: {target} is ") and expected in line, line


def test_a_selection_of_the_older_layout_is_said_with_what_to_do(tmp_path):
    """results/selection/6E.json, from before the selections per data set: one line
    naming it, where this lab reads its selection and how to keep its choice."""
    workdir = copy_workflow(tmp_path / "lab")
    old = workdir / "results/selection/6E.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"chosen": {"params": {}}}))
    dry = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", SMALL_CONFIG, timeout=120)
    assert dry.returncode == 0, dry.stdout[-3000:]
    no_traceback(dry.stdout)
    [line] = [line for line in dry.stdout.splitlines() if "results/selection/6E.json" in line]
    assert line.startswith("cnnlab: results/selection/6E.json is a selection of an older cnnlab")
    assert f"this lab reads {SELECTION}" in line and f"mv results/selection/6E.json {SELECTION}" in line
    assert old.exists()  # said, not moved: it may be another data set's choice


def test_an_edited_question_redraws_and_rerenders_in_short_lines(copy_of_small_lab):
    """An edited question changes the plan its figure and report jobs get: they run again
    (their params' digest changed), and Snakemake's reason is a line, not the plan."""
    workdir = copy_of_small_lab
    (workdir / "question.yaml").write_text("tasks:\n  5A:\n    question: What now, after all?\n")
    dry = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", SMALL_CONFIG,
                        "question.yaml", timeout=300)
    assert dry.returncode == 0, dry.stdout[-3000:]
    counts = job_counts(dry.stdout)
    assert counts.get("report") == 1 and counts.get("plot_task", 0) >= 1, counts
    assert "train" not in counts
    changed = [line for line in dry.stdout.splitlines() if "Params have changed" in line]
    assert changed and max(map(len, changed)) < 300, max(changed, key=len)[:500]
    assert len(dry.stdout) < 20_000
