"""Hostile inputs built on disk and read by the real code: damaged predictions, histories,
records, heartbeats and selections; command-line values; YAML alias bombs; a folder that
cannot take an output; a folder holding another configuration's results. Each is one line
naming the file or option, or a file ignored, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from cnnlab.errors import CnnlabError
from cnnlab.plan.config import read_config_files
from cnnlab.plan.plan import plan_lab
from cnnlab.plan.selection_check import read_checked_selection
from cnnlab.store import heartbeat, layout
from cnnlab.store.files import read_predictions, write_json, write_text
from cnnlab.store.history import checked_training
from cnnlab.watch.other_labs import other_configuration
from cnnlab.workflow.damaged import set_aside_damaged
from tests.test_damaged import SELECTIONS, finished_training
from tests.test_history import TRAINING

CNNLAB = [sys.executable, "-m", "cnnlab"]  # this checkout's, whatever the installed script
SPLIT_LABELS = np.array([0, 1, 1], dtype=np.int8)  # test_history's training's images


def prepared_split(root, labels=SPLIT_LABELS):
    """results/data/tiny/arrays.npz with the validation split's labels (images unused)."""
    path = root / layout.arrays_npz("tiny")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_test=np.zeros((labels.size, 2, 2, 1), np.float32), y_test=labels)


def overwrite_predictions(folder, labels, outputs):
    """A predictions.npz written behind the writer's back, as a broken copy leaves it."""
    with open(folder / "predictions.npz", "wb") as stream:
        np.savez(stream, labels=labels, outputs=outputs)


@pytest.mark.parametrize(("labels", "outputs", "reason"), [
    (np.array(["Mel", "Nev", "Nev"]), np.full((3, 3), 0.5), "labels of type"),
    (np.array([0, 2, 1]), np.full((3, 3), 0.5), "the label 2"),
    (np.array([0, 1, 1, 0, 1]), np.full((3, 5), 0.5), "holds 5 images, the validation split 3"),
    (np.array([1, 1, 0]), np.full((3, 3), 0.5), "not the validation split's"),
    (np.array([0, 1, 1]), np.full((3, 3), np.nan), "not finite"),
    (np.array([0, 1, 1]), np.array([["a", "b", "c"]] * 3), "outputs of type"),
])
def test_damaged_predictions_are_one_line_and_moved_aside(tmp_path, labels, outputs, reason):
    prepared_split(tmp_path)
    folder = finished_training(tmp_path)
    overwrite_predictions(folder, labels, outputs)
    [dry] = set_aside_damaged(SELECTIONS, dry_run=True, root=tmp_path)
    assert "predictions.npz" in dry and reason in dry and "\n" not in dry
    assert folder.is_dir()  # a dry run moves nothing
    [line] = set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path)
    assert reason in line and "moved" in line and not folder.exists()


def test_a_diverged_trainings_nan_outputs_are_its_own(tmp_path):
    prepared_split(tmp_path)
    folder = finished_training(tmp_path, status="diverged")
    overwrite_predictions(folder, SPLIT_LABELS, np.full((3, 3), np.nan))
    assert set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path) == []
    labels = np.load(tmp_path / layout.arrays_npz("tiny"))["y_test"]
    assert checked_training(TRAINING, root=tmp_path, split_labels=labels).record


def test_text_labels_are_refused_by_the_reader_itself(tmp_path):
    path = tmp_path / "predictions.npz"
    np.savez(path, labels=np.array(["x", "y"]), outputs=np.zeros((1, 2)))
    with pytest.raises(CnnlabError, match=r"predictions\.npz: the predictions hold labels"):
        read_predictions(path)


@pytest.mark.parametrize(("column", "value"), [(3, "1.25"), (5, "-0.5"), (3, "inf")])
def test_an_accuracy_out_of_range_damages_the_history(tmp_path, column, value):
    folder = finished_training(tmp_path)
    lines = (folder / "history.csv").read_text().split("\n")
    fields = lines[2].split(",")
    fields[column - 1] = value
    lines[2] = ",".join(fields)
    (folder / "history.csv").write_text("\n".join(lines))
    [line] = set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path)
    assert "history.csv" in line and "is not between 0 and 1" in line


def test_a_record_resumed_past_its_end_is_damaged(tmp_path):
    folder = finished_training(tmp_path)
    record = json.loads((folder / "record.json").read_text())
    (folder / "record.json").write_text(json.dumps({**record, "resumed_from_epoch": 9}))
    [line] = set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path)
    assert "record.json" in line and "out of range" in line


@pytest.mark.parametrize("change", [
    {"pid": -7}, {"pid": 0}, {"epoch": 9}, {"epochs": 0}, {"val_accuracy": 3.5},
    {"resumed_from_epoch": 4}, {"status": "sleeping"}, {"epoch_seconds": [-1.0]},
    {"started": float("inf")}, {"pid": 1e400}, {"run_id": ""},
])
def test_a_heartbeat_out_of_range_is_ignored(tmp_path, change):
    path = tmp_path / "progress-e5.json"
    beat = heartbeat.Heartbeat(path, "run", "results/runs/x/run/e5", 5)
    beat.resumed(2, 0.5)
    beat.epoch_done(3, 0.75, 0.5)
    assert heartbeat.read_heartbeat(path).epoch == 3
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, **change}))
    assert heartbeat.read_heartbeat(path) is None


@pytest.fixture
def selection_lab(small_config, tmp_path):
    """A sound selection of 6E in a folder, and the plan it belongs to."""
    plan = plan_lab(small_config)
    entry = plan.tasks["6D"].entries[0]
    selection = {"task": "6E", "rule": "best_val_accuracy", "rule_text": "the highest",
                 "fallback": False, "candidates": [], "runner_up": None,
                 "lead": None, "target_epochs": 2, "meets_condition": True,
                 "chosen": {"setup_id": entry.spec.setup_id, "task": "6D", "epochs": 3,
                            "params": {"batch_size": 8, "lr": 1e-5, "n_base": 8},
                            "values": {"final_val_accuracy": 0.7, "gap": 0.0,
                                       "final_balanced_accuracy": 0.6}}}
    path = tmp_path / layout.selection_json(plan.dataset, "6E")
    write_json(path, selection)
    assert read_checked_selection(path, plan, "6E")["chosen"] == selection["chosen"]
    return plan, path, selection


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda c: c.update(setup_id="lenet-nb99"), "none of this lab's candidate set-ups"),
    (lambda c: c["params"].update(batch_size=-3), "batch_size: -3 must be at least 1"),
    (lambda c: c["params"].update(lr="fast"), "lr: 'fast' has the wrong type"),
    (lambda c: c["params"].pop("n_base"), "lack n_base"),
    (lambda c: c.update(task="5A"), "not one of its candidate tasks"),
])
def test_a_selection_that_does_not_belong_to_the_plan_is_damaged(selection_lab, tmp_path,
                                                                  damage, reason):
    plan, path, selection = selection_lab
    damage(selection["chosen"])
    path.write_text(json.dumps(selection))
    with pytest.raises(CnnlabError, match=reason) as error:
        read_checked_selection(path, plan, "6E")
    assert str(error.value).startswith(str(path))
    relative = path.relative_to(tmp_path).as_posix()
    [line] = set_aside_damaged([relative], dry_run=False, root=tmp_path, plan=plan)
    assert reason.split(":")[0] in line and not path.exists()


@pytest.mark.parametrize("option", ["--watch -1", "--watch 0", "--watch 0.5", "--watch nan",
                                    "--watch inf", "--watch=-inf", "--watch soon"])
def test_a_bad_watch_interval_is_one_line_naming_the_option(tmp_path, option):
    value = option.split()[-1].removeprefix("--watch=")
    result = subprocess.run([*CNNLAB, "status", "-d", str(tmp_path), *option.split()],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if "error" in line]
    assert "argument --watch" in error and value in error


@pytest.mark.parametrize("value", ["-5", "0", "two"])
def test_a_bad_core_count_is_one_line_naming_the_option(tmp_path, value):
    result = subprocess.run([*CNNLAB, "status", "-d", str(tmp_path), "--cores", value],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --cores" in result.stderr and value in result.stderr


def alias_bomb(levels: int, width: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + f"\nseeds: *l{levels - 1}\n"


@pytest.mark.parametrize(("levels", "width"), [(8, 12), (20, 3), (5, 50)])
def test_an_alias_bomb_is_refused_at_once(tmp_path, levels, width):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(levels, width))
    started = time.monotonic()
    with pytest.raises(CnnlabError, match="aliases .* expand to") as error:
        read_config_files(path)
    assert time.monotonic() - started < 1.0
    assert str(error.value).startswith(str(path))


def test_an_alias_bomb_given_to_cnnlab_status_is_one_line(tmp_path):
    (tmp_path / "config.yaml").write_text("seeds: [1]\n")
    (tmp_path / "bomb.yaml").write_text(alias_bomb(9, 10))
    started = time.monotonic()
    result = subprocess.run([*CNNLAB, "status", "-d", str(tmp_path), "--configfile",
                             str(tmp_path / "bomb.yaml")], capture_output=True, text=True,
                            timeout=60, check=False)
    assert time.monotonic() - started < 30  # the interpreter's start-up, not the file
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "bomb.yaml" in result.stderr


def test_a_recursive_alias_and_a_few_honest_aliases(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("datasets: &loop\n  again: *loop\n")
    with pytest.raises(CnnlabError, match="refers to a node that contains it"):
        read_config_files(path)
    path.write_text("defaults: &d {lr: 0.001}\ntasks:\n  a: *d\n  b: *d\n")
    assert read_config_files(path)["tasks"]["b"] == {"lr": 0.001}


@pytest.mark.parametrize("blocked", ["results", "results/report", "results/report/partial"])
def test_an_output_whose_folder_is_a_file_is_one_line_naming_the_folder(tmp_path, blocked):
    (tmp_path / blocked).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / blocked).write_text("not a folder")
    target = tmp_path / "results/report/partial/figure.png"
    with pytest.raises(CnnlabError) as error:
        write_text(target, "x")
    message = str(error.value)
    assert message.startswith(str(target.parent))
    assert f"{tmp_path / blocked} is a file, not a folder" in message
    assert "\n" not in message


def test_a_folder_with_another_data_sets_results_is_named(small_config, tmp_path):
    plan = plan_lab(small_config)
    assert other_configuration(plan, tmp_path) is None  # an empty folder: a fresh lab
    (tmp_path / "results/runs/lesions/alexnet-s1/e5").mkdir(parents=True)
    (tmp_path / "results/selection/lesions").mkdir(parents=True)
    line = other_configuration(plan, tmp_path)
    assert "data set lesions" in line and f"data set {plan.dataset}" in line
    assert "--configfile" in line and "\n" not in line
    (tmp_path / next(iter(plan.trainings.values())).directory).mkdir(parents=True)
    assert other_configuration(plan, tmp_path) is None  # its own lab is there too


def test_a_very_long_task_title_and_label_keep_every_figure_its_size(tmp_path, monkeypatch,
                                                                     small_config):
    """A 10,000-character task title (and a long legend label) is wrapped and cut in the
    curves and ROC figures: each PNG stays within a sane size, not 80,000 pixels wide."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from cnnlab.report import figures
    from tests.test_report import crafted_lab

    monkeypatch.chdir(tmp_path)
    small_config["tasks"]["5A"]["title"] = "very long title " * 625
    plan = crafted_lab(tmp_path, small_config)
    manifest = tmp_path / layout.manifest_json(plan["dataset"])
    drawn = figures.write_task_figures(plan, "5A", manifest, layout.task_figure("5A"),
                                       layout.roc_figure("5A"))
    figure, axis = plt.subplots(figsize=(5, 4))
    axis.plot([0, 1], [0, 1], label="a class name pasted from a spreadsheet " * 200)
    axis.legend()
    figure.suptitle("x" * 10_000)
    drawn = [*drawn, figures.save_png(figure, tmp_path / "legend.png")]
    for png in drawn:
        with Image.open(png) as image:
            assert image.width <= 2000 and image.height <= 1500, (png, image.size)
