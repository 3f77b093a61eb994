"""A bad override file stops the real `snakemake -n` with one line before it plans a job.

The two checks here need Snakemake's own loading: it has read the files (keeping the last
of a key given twice) and lists them in workflow.configfiles before rules/common.smk runs.
"""

import pytest

from cnnlab.plan.config import checked_config
from tests.workflow_helpers import SMALL_CONFIG, copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow


def dry_run(workdir, override: str):
    (workdir / "bad.yaml").write_text(override)
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", SMALL_CONFIG, "bad.yaml",
                           timeout=120)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stdout
    assert "Job stats" not in result.stdout  # stopped before planning any job
    assert not (workdir / "results").exists()
    return [line for line in result.stdout.splitlines() if line.startswith("cnnlab: ")]


def test_a_key_given_twice_in_an_override_is_named_with_both_lines(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    lines = dry_run(workdir, "defaults:\n  lr: 1.0e-5\n  batch_size: 8\n  lr: 1.0e-4\n")
    # Snakemake passes the command line's config files on as absolute paths
    expected = (f"cnnlab: {workdir / 'bad.yaml'}: key 'lr' is given twice in one mapping, "
                "at lines 2 and 4: keep one (YAML would keep the last silently).")
    assert lines == [expected]


def test_the_message_names_the_config_files_in_the_order_they_apply(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    lines = dry_run(workdir, "tasks: {5A: {runs: [{lr: .inf}]}}\n")
    expected = (f"cnnlab: config.yaml + {workdir / SMALL_CONFIG} + {workdir / 'bad.yaml'}: "
                "tasks.5A.runs[0].lr: .inf is not a finite number: give a finite value.")
    assert lines == [expected]


def test_an_unknown_answer_kind_stops_the_workflow_naming_the_key(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    lines = dry_run(workdir, "tasks: {5E: {answer: dense}}\n")
    assert len(lines) == 1 and lines[0].endswith(
        "tasks.5E.answer: 'dense' is not one of 'conv_layers', 'dense_layers', "
        "'architectures', 'output_layer'.")


def test_a_conv_answer_that_inspects_an_mlp_stops_the_workflow(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    lines = dry_run(workdir, "tasks:\n  MLP:\n    title: An MLP\n    question: Which?\n"
                             "    runs: [{model: mlp}]\n  5D: {inspects: MLP}\n")
    assert len(lines) == 1 and "tasks.5D.inspects: mlp-" in lines[0]
    assert "is an MLP, which has no convolutional layers" in lines[0]
def test_a_folder_data_sets_classes_are_checked_at_start_up(tmp_path):
    # two classes labelled 0 passed the schema and failed only when the data was prepared
    workdir = copy_workflow(tmp_path / "lab")
    lines = dry_run(workdir, "dataset: mine\ndatasets: {mine: {kind: folder, path: data, classes: "
                             "[{name: Mel, label: 0}, {name: Nev, label: 0}]}}\n")
    assert lines == [("cnnlab: datasets.mine.classes must name exactly two classes with labels 0 "
                      "and 1 (0 = Mel, 1 = Nev in the lab), got labels [0, 0].")]


def test_a_value_given_with_config_on_the_command_line_is_named_as_such(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", SMALL_CONFIG,
                           "--config", "epoch_divisor=-3", timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("cnnlab: ")]
    assert lines == [(f"cnnlab: config.yaml + {workdir / SMALL_CONFIG} + --config: "
                      "epoch_divisor: -3 must be at least 1.")]


def test_a_task_that_shows_itself_is_refused_in_one_line(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    lines = dry_run(workdir, "tasks: {5D: {shows: [5A, 5D]}}\n")
    assert len(lines) == 1 and lines[0].endswith(
        "tasks.5D.shows[1]: a task cannot show itself: name the tasks whose runs it discusses.")


def test_an_epoch_divisor_that_merges_two_epoch_counts_is_said_in_one_line(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    (workdir / "quick.yaml").write_text("epoch_divisor: 1000\n")
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", "quick.yaml",
                           timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    lines = [line for line in result.stdout.splitlines() if "epoch_divisor: 1000" in line]
    assert len(lines) == 1 and lines[0].startswith("cnnlab: warning: epoch_divisor: 1000 makes "
                                                    "5A (20 epochs) and 5B (200 epochs) one training")
    assert "Set epoch_divisor to 149" in lines[0]
    plain = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", SMALL_CONFIG, timeout=120)
    assert plain.returncode == 0 and "cnnlab: warning: epoch_divisor" not in plain.stdout


def test_a_task_an_override_adds_comes_after_the_labs_own(tmp_path):
    """Snakemake merges the command line's files into its config before config.yaml (and
    again after it): the added task would come first; the workflow puts it last."""
    from snakemake.common.configfile import load_configfile
    from snakemake.utils import update_config

    from cnnlab.plan.config import in_lab_order
    from cnnlab.plan.plan import plan_lab
    from tests.conftest import PROJECT_ROOT

    override = tmp_path / "seven.yaml"
    override.write_text("tasks:\n  7A:\n    title: One more\n    question: Which?\n"
                        "    runs: [{model: mlp}]\n")
    config = load_configfile(str(override))  # as Snakemake does
    update_config(config, load_configfile(str(PROJECT_ROOT / "config.yaml")))
    update_config(config, load_configfile(str(override)))
    assert next(iter(config["tasks"])) == "7A"
    in_lab_order(config, PROJECT_ROOT / "config.yaml", override)
    assert list(config["tasks"])[-2:] == ["6F", "7A"] and next(iter(config["tasks"])) == "5A"
    assert list(plan_lab(checked_config(config)).tasks)[-1] == "7A"
