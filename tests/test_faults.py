"""The real workflow survives the kills a machine or a cluster deals out.

A training job SIGKILLed (as the OOM killer or a node failure would) is retried by
Snakemake with more memory and resumes from its last finished epoch; a whole Snakemake
SIGKILLed (as a wall-time limit would) is rerun and resumes the same way; either way the
history equals an uninterrupted run's. A preparation or a report killed half-way leaves
nothing that passes for done, and a rerun completes them. A run that diverges is
recorded as such and the rest of the lab and its report still complete. A finished
training's file damaged afterwards is moved aside when the workflow starts, and one
rerun trains it again and restores the lab; a report behind a lost selection is
rendered again.

The kills land at a random moment within a window that the test watches for (an epoch
count, a number of generated images, a running render); the seed is in each message.
(cnnlab.train.training's own SIGKILL test, tests/test_training.py, kills a bare training
process; these go through snakemake.)
"""

import json
import random
import re

import numpy as np
import pytest
import yaml

from cnnlab.data.prepare import prepare_dataset
from cnnlab.plan.complete_plan import complete_plan
from cnnlab.plan.plan import plan_lab
from cnnlab.plan.selection import candidate_files
from tests.conftest import merged_config
from tests.interrupt_helpers import (
    comparable_report_text,
    finish,
    first_difference,
    metric_columns,
    saved_epoch,
    start_snakemake,
    wait_until,
)
from tests.workflow_helpers import SMALL_CONFIG, copy_workflow, job_counts, run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

# the small lab with 5x fewer epochs than the real one instead of 50x: its longest
# training (6C's, 70 epochs) runs long enough to be killed in the middle
LONGER = {"epoch_divisor": 5}
# a data set that takes seconds to generate, so that a kill lands while it is generated
BIGGER_DATA = {"datasets": {"tiny": {"n_train": 800, "n_test": 200, "image_size": 128}}}


def write_override(workdir, name, override):
    path = workdir / "tests" / "configs" / name
    path.write_text(yaml.safe_dump(override))
    return str(path.relative_to(workdir))


def longest_training(workdir, override_file):
    plan = plan_lab(merged_config(workdir / SMALL_CONFIG, workdir / override_file))
    return max(plan.trainings.values(), key=lambda training: training.epochs)


def lab_with_longer_training(workdir):
    override = write_override(workdir, "longer.yaml", LONGER)
    training = longest_training(workdir, override)
    assert training.epochs >= 40, training.epochs
    args = (str(training.history_csv), "--cores", "1", "--configfile", SMALL_CONFIG, override)
    return training, args


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The longest training of the LONGER lab, run by snakemake without interruption."""
    workdir = copy_workflow(tmp_path_factory.mktemp("uninterrupted"))
    training, args = lab_with_longer_training(workdir)
    result = run_snakemake(workdir, *args, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:]
    return workdir / training.history_csv


def train_job_resources(output):
    """(mem_mb, runtime) of every train job snakemake started, in order."""
    found = []
    for block in re.split(r"\n(?=\[|rule |localrule )", output):
        if re.match(r"(local)?rule train:", block.strip()):
            resources = re.search(r"resources: (.*)", block).group(1)
            values = dict(re.findall(r"(\w+)=([^,]+)", resources))
            found.append((int(values["mem_mb"]), int(values["runtime"])))
    return found


def unlock(workdir):
    """What a user runs after a killed snakemake (its lock files stay behind)."""
    result = run_snakemake(workdir, "--unlock", timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]


def start_and_wait_for_a_random_epoch(tmp_path):
    """The longer training's lab, started in the background and left running once the
    training has saved a random epoch between 2 and 20."""
    workdir = copy_workflow(tmp_path)
    training, args = lab_with_longer_training(workdir)
    kill_after = random.randint(2, 20)
    snakemake = start_snakemake(workdir, *args)
    state_dir = workdir / training.state_directory
    wait_until(lambda: saved_epoch(state_dir) >= kill_after, 300, f"epoch {kill_after}", snakemake)
    return workdir, training, args, kill_after, snakemake


def test_killed_training_job_is_retried_with_more_memory_and_resumes(tmp_path, uninterrupted):
    workdir, training, _args, kill_after, snakemake = start_and_wait_for_a_random_epoch(tmp_path)
    jobs = snakemake.descendants("train.py")
    assert jobs, snakemake.output()[-3000:]
    for job in jobs:  # the training only, as the OOM killer would: snakemake lives on
        job.kill()
    result = finish(snakemake, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:]
    assert "Trying to restart job" in result.stdout, result.stdout[-5000:]

    (first_mem, first_runtime), (retry_mem, retry_runtime) = train_job_resources(result.stdout)
    assert (retry_mem, retry_runtime) == (2 * first_mem, 2 * first_runtime)

    record = json.loads((workdir / training.directory / "record.json").read_text())
    killed_at = record["resumed_from_epoch"]
    message = f"killed after epoch {kill_after}, resumed from {killed_at}"
    assert kill_after <= killed_at < training.epochs, message
    assert record["status"] == "completed" and record["epochs_trained"] == training.epochs
    assert metric_columns(workdir / training.history_csv) == metric_columns(uninterrupted), message


def test_killed_workflow_resumes_training_on_rerun(tmp_path, uninterrupted):
    workdir, training, args, kill_after, snakemake = start_and_wait_for_a_random_epoch(tmp_path)
    snakemake.kill_group()  # snakemake and its job, as a wall-time limit would
    killed_at = saved_epoch(workdir / training.state_directory)
    message = f"killed after epoch {kill_after} (saved: {killed_at})"
    assert kill_after <= killed_at < training.epochs, message
    assert not (workdir / training.history_csv).exists(), message

    unlock(workdir)
    rerun = run_snakemake(workdir, *args, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-5000:]
    record = json.loads((workdir / training.directory / "record.json").read_text())
    assert record["resumed_from_epoch"] == killed_at, message
    assert record["status"] == "completed" and record["epochs_trained"] == training.epochs
    assert metric_columns(workdir / training.history_csv) == metric_columns(uninterrupted), message
    # the epochs before the kill keep the seconds they took then
    history_rows = (workdir / training.history_csv).read_text().splitlines()
    assert len(history_rows) == training.epochs + 1


def test_killed_preparation_leaves_nothing_taken_as_done(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    override = write_override(workdir, "bigger.yaml", BIGGER_DATA)
    data_dir = workdir / "results/data/tiny"
    args = ("results/data/tiny/arrays.npz", "--cores", "1", "--configfile", SMALL_CONFIG, override)
    kill_after = random.randint(20, 400)

    def images_generated():
        return sum(1 for staging in data_dir.glob(".images-*.tmp") for _ in staging.rglob("*.png"))

    snakemake = start_snakemake(workdir, *args)
    wait_until(lambda: images_generated() >= kill_after, 300, f"{kill_after} images", snakemake)
    snakemake.kill_group()
    message = f"killed after {kill_after} generated images"
    assert not (data_dir / "arrays.npz").exists(), message
    assert not (data_dir / "manifest.json").exists(), message

    unlock(workdir)
    rerun = run_snakemake(workdir, *args, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-5000:]
    assert not list(data_dir.glob(".images-*.tmp")), "the killed run's staging folder is left"
    manifest = json.loads((data_dir / "manifest.json").read_text())

    # the same preparation, uninterrupted, outside snakemake
    config = merged_config(workdir / SMALL_CONFIG, workdir / override)["datasets"]["tiny"]
    reference = tmp_path / "reference"
    expected = prepare_dataset(
        config, reference / "arrays.npz", reference / "manifest.json", config["image_size"]
    )
    assert manifest["arrays_sha256"] == expected["arrays_sha256"], message
    assert manifest["counts"] == expected["counts"]
    with np.load(data_dir / "arrays.npz") as got, np.load(reference / "arrays.npz") as want:
        assert sorted(got.files) == sorted(want.files)
        for key in want.files:
            assert np.array_equal(got[key], want[key]), key


def test_killed_report_rendering_is_redone(copy_of_small_lab):
    workdir = copy_of_small_lab
    report = workdir / "results/report/index.html"
    before = comparable_report_text(report)
    report.unlink()
    args = ("--cores", "1", "--configfile", SMALL_CONFIG)
    snakemake = start_snakemake(workdir, *args)
    wait_until(lambda: snakemake.descendants("render_report"), 300, "report job", snakemake)
    # somewhere in the rendering, which takes a few seconds
    delay = random.uniform(0, 2)
    try:
        wait_until(lambda: report.exists(), delay, "report")
    except AssertionError:
        pass
    snakemake.kill_group()
    message = f"killed {delay:.2f} s into the report job"

    unlock(workdir)
    dry = run_snakemake(workdir, "-n", *args[2:], timeout=300)
    if not report.exists():
        assert job_counts(dry.stdout) == {"report": 1, "all": 1}, message + dry.stdout[-3000:]
    rerun = run_snakemake(workdir, *args, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-5000:]
    after = comparable_report_text(report)
    assert after == before, message + ": " + first_difference(before, after)
    assert not list(report.parent.glob(".*.tmp")), message


def test_a_diverging_run_is_recorded_and_reported_and_the_lab_completes(copy_of_small_lab):
    """5F's MLP with SGD at learning rate 1000, in the finished small lab: only that run is
    trained (it diverges); the figures and the report are made again."""
    workdir = copy_of_small_lab
    config_file = workdir / "config.yaml"
    mlp_run = "- {model: mlp, dense: [64]}"  # 5F's second run
    assert config_file.read_text().count(mlp_run) == 1
    config_file.write_text(
        config_file.read_text().replace(
            mlp_run, "- {model: mlp, dense: [64], optimizer: sgd, lr: 1000.0}"
        )
    )
    dry = run_snakemake(workdir, "-n", "--configfile", SMALL_CONFIG, timeout=300)
    counts = job_counts(dry.stdout)  # figures and report are drawn again, nothing retrained
    assert counts["train"] == 1 and "select_setup" not in counts, dry.stdout[-3000:]
    result = run_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG, timeout=900)
    assert result.returncode == 0, result.stdout[-8000:]

    config = merged_config(workdir / SMALL_CONFIG)
    assert config["tasks"]["5F"]["runs"][1] == {"model": "mlp", "dense": [64]}
    config["tasks"]["5F"]["runs"][1].update(optimizer="sgd", lr=1000.0)
    plan = complete_plan(config, workdir)
    assert not plan.pending_tasks
    diverged = {}
    for training in plan.trainings.values():
        record = json.loads((workdir / training.directory / "record.json").read_text())
        if record["status"] != "completed":
            diverged[training.run_id] = record
    assert list(diverged) == ["mlp-lr1000-bs8-sgd-bce-s1"], diverged
    record = diverged["mlp-lr1000-bs8-sgd-bce-s1"]
    assert record["status"] == "diverged" and record["diverged_reason"]

    page = (workdir / "results/report/index.html").read_text()
    rows = [
        row
        for row in re.findall(r"<tr\b.*?</tr>", page, flags=re.DOTALL)
        if "mlp-lr1000-bs8-sgd-bce-s1" in row
    ]
    assert rows, "the diverged run is not in the report"
    assert any(re.search(r"diverg|loss .* &gt; |non-finite", row, re.IGNORECASE) for row in rows), (
        rows
    )
    section = re.search(r'<section[^>]*id="task-5F"(.*?)</section>', page, re.DOTALL).group(1)
    assert re.search(r"diverge", section, re.IGNORECASE), (
        "5F's answer does not mention the divergence"
    )


def test_a_cut_history_and_record_are_set_aside_and_one_rerun_restores_the_lab(copy_of_small_lab):
    """A finished 6D training's history.csv cut mid-row and another training's record.json
    cut short (a disk full, a copy broken off): Snakemake retrains nothing whose outputs
    exist, so the workflow checks them when it starts. A dry run and a locked folder move
    nothing; one rerun of the same command moves both aside (saying where), trains them
    again from their saved state, makes 6E's selection from the complete histories and
    restores the lab exactly, without retraining 6E's or 6F's runs."""
    workdir = copy_of_small_lab
    selection_json = workdir / "results/selection/tiny/6E.json"
    plan = complete_plan(merged_config(workdir / SMALL_CONFIG), workdir)
    after_selection = {entry.training.history_csv for task in ("6E", "6F")
                       for entry in plan.tasks[task].entries}
    damaged = next(entry.training for entry in plan.tasks["6D"].entries
                   if entry.training.history_csv not in after_selection)
    assert damaged.history_csv in candidate_files(plan, "6E")
    cut_record = next(training for training in plan.trainings.values()
                      if training.history_csv not in after_selection | {damaged.history_csv})
    histories = {t.history_csv: (workdir / t.history_csv).read_bytes()
                 for t in plan.trainings.values()}
    selection = selection_json.read_bytes()
    report = comparable_report_text(workdir / "results/report/index.html")
    text = histories[damaged.history_csv].decode()
    last_row = text.rstrip("\n").rsplit("\n", 1)[1]
    cut = text[: len(text) - 1 - len(last_row) // 2]
    (workdir / damaged.history_csv).write_text(cut)
    record_json = workdir / cut_record.directory / "record.json"
    record_json.write_text(record_json.read_text()[:200])
    args = ("--cores", "2", "--configfile", SMALL_CONFIG)

    dry = run_snakemake(workdir, "-n", *args, timeout=300)
    assert dry.returncode == 0, dry.stdout[-5000:]
    assert f"a real run moves {damaged.directory} to results/damaged/" in dry.stdout
    assert f"a real run moves {cut_record.directory} to results/damaged/" in dry.stdout
    assert (workdir / damaged.history_csv).read_text() == cut
    assert not (workdir / "results/damaged").exists()

    # a lock left by a killed Snakemake: nothing is moved, the message says what to run
    locks = workdir / ".snakemake/locks"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "0.output.lock").write_text("results/report/index.html\n")
    locked = run_snakemake(workdir, *args, timeout=300)
    assert locked.returncode != 0, locked.stdout[-5000:]
    assert "run `snakemake --unlock` here" in locked.stdout, locked.stdout[-5000:]
    assert (workdir / damaged.history_csv).read_text() == cut
    assert not (workdir / "results/damaged").exists()
    unlock(workdir)
    assert (workdir / damaged.history_csv).read_text() == cut  # --unlock moves nothing

    result = run_snakemake(workdir, *args, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:]
    assert "Traceback" not in result.stdout
    for training, file in ((damaged, "history.csv: its last row ("),
                           (cut_record, "record.json: the training record is not valid JSON")):
        [line] = [line for line in result.stdout.splitlines()
                  if line.startswith(f"cnnlab: {training.directory}/{file}")]
        moved_to = re.search(rf"moved {training.directory} to (results/damaged/\S+):", line)
        assert moved_to, line
        assert (workdir / moved_to.group(1) / "record.json").exists()
    assert len(re.findall(r"^(?:local)?rule train:", result.stdout, re.MULTILINE)) == 2
    # 6E chosen from the complete histories as before; every history as it was
    assert selection_json.read_bytes() == selection
    for path, before in histories.items():
        assert (workdir / path).read_bytes() == before, path
    # the same numbers; the provenance says the two trainings were resumed, as they were
    after = comparable_report_text(workdir / "results/report/index.html")
    resumed = sorted(line for line in after if "resumed from epoch" in line)
    notes = sorted(f"{t.directory} resumed from epoch {t.epochs} of the run's saved state"
                   for t in (damaged, cut_record))
    assert resumed == notes, resumed
    after = [line for line in after if line not in resumed]
    assert after == report, first_difference(report, after)
    again = run_snakemake(workdir, *args, timeout=300)
    assert "Nothing to be done" in again.stdout and "cnnlab:" not in again.stdout


def test_a_report_behind_a_lost_selection_is_rendered_again(copy_of_small_lab):
    """A failed selection job's output is removed by Snakemake; with the report still
    there, Snakemake alone would find nothing to be done."""
    workdir = copy_of_small_lab
    selection_json = workdir / "results/selection/tiny/6E.json"
    selection = selection_json.read_bytes()
    report = comparable_report_text(workdir / "results/report/index.html")
    selection_json.unlink()
    result = run_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:]
    assert "cnnlab: results/selection/tiny/6E.json is missing" in result.stdout
    assert "moved results/report/index.html to results/damaged/report/" in result.stdout
    assert not re.search(r"^(?:local)?rule train:", result.stdout, re.MULTILINE)
    assert selection_json.read_bytes() == selection
    assert comparable_report_text(workdir / "results/report/index.html") == report
