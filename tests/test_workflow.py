"""The real snakemake on the project: planning, linting, bad config, and a small lab end to end."""

import json
import re
import time
import zipfile

import pandas as pd
import pytest
import yaml

from cnnlab.plan.complete_plan import complete_plan
from cnnlab.plan.plan import plan_lab
from tests.conftest import merged_config
from tests.workflow_helpers import SMALL_CONFIG, copy_workflow, job_counts, run_snakemake

pytestmark = pytest.mark.workflow


def test_dry_run_plans_one_training_per_unique_run(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = run_snakemake(workdir, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stdout
    counts = job_counts(result.stdout)
    plan = plan_lab(merged_config())
    assert counts["train"] == len(plan.trainings) == 10
    assert counts["train"] < plan.entries_listed()
    assert counts["prepare_data"] == 1 and counts["select_setup"] == 1


def test_lint_reports_nothing(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = run_snakemake(workdir, "--lint")
    assert result.returncode == 0
    assert "Congratulations, your workflow is in a good condition!" in result.stdout
    assert "Lints for" not in result.stdout


@pytest.mark.parametrize(
    "original, replacement, expected",
    [
        ("seeds: [1]", "seeds: [1]\nsede: 3", "sede: unknown key 'sede'"),
        ("lr: 1.0e-5, epochs: 20}", "lr: -1, epochs: 20}", "tasks.5A.runs[0].lr: -1 must be greater than 0"),
    ],
    ids=["typo", "negative-lr"],
)
def test_bad_config_fails_fast_with_one_message(tmp_path, original, replacement, expected):
    workdir = copy_workflow(tmp_path)
    config = workdir / "config.yaml"
    assert original in config.read_text()
    config.write_text(config.read_text().replace(original, replacement, 1))
    started = time.monotonic()
    result = run_snakemake(workdir, "--cores", "1")
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    assert expected in result.stdout
    assert "Traceback" not in result.stdout
    assert not (workdir / "results").exists()


def test_small_lab_trains_every_run_to_its_epochs(small_lab):
    workdir, _ = small_lab
    config = merged_config(workdir / SMALL_CONFIG)
    plan = complete_plan(config, workdir)
    assert not plan.pending_tasks
    for training in plan.trainings.values():
        history = pd.read_csv(workdir / training.history_csv)
        assert list(history.columns) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
        assert history["epoch"].tolist() == list(range(1, training.epochs + 1))
        record = json.loads((workdir / training.directory / "record.json").read_text())
        assert record["status"] == "completed"
        for epoch in training.save_epochs:
            assert (workdir / training.directory / "weights" / f"epoch{epoch:04d}.weights.h5").exists()


def test_small_lab_selects_6e_from_6a_to_6d(small_lab):
    workdir, _ = small_lab
    selection = json.loads((workdir / "results/selection/tiny/6E.json").read_text())
    assert selection["chosen"]["task"] in {"6A", "6B", "6C", "6D"}
    assert set(selection["chosen"]["params"]) == {"batch_size", "lr", "n_base"}


def test_small_lab_report_answers_every_task_with_this_runs_numbers(small_lab):
    workdir, _ = small_lab
    html = (workdir / "results/report/index.html").read_text()
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    for task_id in config["tasks"]:
        match = re.search(rf'<section[^>]*id="task-{task_id}"(.*?)</section>', html, re.DOTALL)
        assert match, f"no section for task {task_id}"
    # the validation accuracy of 5C's run, as the history has it, appears in the page
    plan = plan_lab(merged_config(workdir / SMALL_CONFIG))
    (entry,) = plan.tasks["5C"].entries
    history = pd.read_csv(workdir / entry.training.history_csv)
    final = history[history["epoch"] == entry.epochs].iloc[0]
    assert f"{100 * final['val_accuracy']:.1f}" in html


def test_a_second_run_has_nothing_to_do(small_lab):
    workdir, _ = small_lab
    result = run_snakemake(workdir, "-n", "--configfile", SMALL_CONFIG)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout, result.stdout[-3000:]


def test_a_template_edit_re_renders_the_report_and_retrains_nothing(copy_of_small_lab):
    workdir = copy_of_small_lab
    template = next((workdir / "report/templates").glob("report.html.j2"))
    template.write_text(template.read_text().replace("</body>", "<!-- edited --></body>"))
    dry = run_snakemake(workdir, "-n", "--configfile", SMALL_CONFIG)
    assert job_counts(dry.stdout) == {"report": 1, "all": 1}, dry.stdout[-3000:]
    started = time.monotonic()
    result = run_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG)
    assert result.returncode == 0, result.stdout[-3000:]
    assert time.monotonic() - started < 60
    assert "<!-- edited -->" in (workdir / "results/report/index.html").read_text()


def test_changing_a_runs_history_changes_its_answer(copy_of_small_lab):
    workdir = copy_of_small_lab
    plan = plan_lab(merged_config(workdir / SMALL_CONFIG))
    (entry,) = plan.tasks["5A"].entries
    history_csv = workdir / entry.training.history_csv
    before = (workdir / "results/report/index.html").read_text()
    history = pd.read_csv(history_csv)
    history.loc[history["epoch"] == entry.epochs, "val_accuracy"] = 0.987654
    history.to_csv(history_csv, index=False)
    result = run_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG)
    assert result.returncode == 0, result.stdout[-3000:]
    after = (workdir / "results/report/index.html").read_text()
    section = re.search(r'id="task-5A"(.*?)</section>', after, re.DOTALL).group(1)
    assert "98.8" in section
    assert re.search(r'id="task-5A"(.*?)</section>', before, re.DOTALL).group(1) != section


def test_snakemakes_own_report_groups_the_figures_by_task(copy_of_small_lab):
    workdir = copy_of_small_lab
    result = run_snakemake(workdir, "--report", "snakemake-report.zip", "--configfile", SMALL_CONFIG)
    assert result.returncode == 0, result.stdout[-3000:]
    with zipfile.ZipFile(workdir / "snakemake-report.zip") as archive:
        names = archive.namelist()
    assert any(name.endswith("5A.png") for name in names)
    assert any(name.endswith("/index.html") for name in names)  # the lab report itself
