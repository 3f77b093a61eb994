"""cnnlab.workflow.damaged: a finished training whose files fail their check is moved aside whole,
with one line saying where and why; a whole one, an unfinished one and one a training
holds right now are left alone; a dry run moves nothing. (The real workflow's rerun that
follows is tested in tests/test_faults.py.)"""

import fcntl
import json

from cnnlab.store.files import write_record, write_summary
from cnnlab.workflow.damaged import set_aside_damaged
from tests.test_history import TRAINING, write_training

SELECTIONS = ["results/selection/tiny/6E.json"]


def finished_training(root, **options):
    folder = write_training(root, **options)
    write_summary(folder / "summary.csv", [{"layer": "dense", "type": "Dense",
                                            "output_shape": "(None, 1)", "parameters": 3}])
    (folder / "weights").mkdir()
    return folder


def cut_history(folder):
    text = (folder / "history.csv").read_text()
    (folder / "history.csv").write_text(text[:-7])
    return text[:-7]


def test_a_whole_training_is_left_alone(tmp_path):
    finished_training(tmp_path)
    assert set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path) == []
    assert (tmp_path / TRAINING / "history.csv").exists()


def test_a_cut_history_moves_the_training_aside_whole_in_one_line(tmp_path):
    folder = finished_training(tmp_path)
    cut = cut_history(folder)
    [line] = set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path)
    assert "\n" not in line
    # (the workflow's root is its folder: there the path is results/runs/...)
    assert line.startswith(f"cnnlab: {tmp_path / TRAINING}/history.csv: its last row (")
    assert "is cut off" in line and "rm -rf" not in line
    moved_to = line.split(f"moved {TRAINING} to ", 1)[1].split(":", 1)[0]
    assert moved_to.startswith("results/damaged/runs/tiny/run-a/e3.")
    assert not folder.exists()
    assert (tmp_path / moved_to / "history.csv").read_text() == cut
    assert sorted(p.name for p in (tmp_path / moved_to).iterdir()) == [
        "history.csv", "predictions.npz", "record.json", "summary.csv", "weights"]
    assert "trains it again" in line


def test_a_truncated_record_is_named_and_moved(tmp_path):
    folder = finished_training(tmp_path)
    text = (folder / "record.json").read_text()
    (folder / "record.json").write_text(text[: len(text) // 2])
    [line] = set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path)
    assert line.startswith(f"cnnlab: {tmp_path / TRAINING}/record.json: the training record is "
                           "not valid JSON")
    assert not folder.exists()


def test_a_dry_run_says_what_a_real_run_would_move_and_moves_nothing(tmp_path):
    folder = finished_training(tmp_path)
    cut = cut_history(folder)
    [line] = set_aside_damaged(SELECTIONS, dry_run=True, root=tmp_path)
    assert f"a real run moves {TRAINING} to results/damaged/" in line
    assert "this dry run moves nothing" in line
    assert (folder / "history.csv").read_text() == cut
    assert not (tmp_path / "results/damaged").exists()


def test_an_unfinished_training_is_snakemakes_to_redo(tmp_path):
    # a declared output missing: Snakemake reruns the job by itself
    folder = finished_training(tmp_path)
    cut_history(folder)
    (folder / "summary.csv").unlink()
    assert set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path) == []
    assert folder.exists()


def test_a_training_of_the_run_holding_its_state_lock_is_not_touched(tmp_path):
    folder = finished_training(tmp_path)
    cut_history(folder)
    lock = tmp_path / "results/state/tiny/run-a/.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "a+") as handle:  # as cnnlab.train.checkpoints.exclusive_lock holds it
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path) == []
        assert folder.exists()
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert len(set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path)) == 1
    assert not folder.exists()


def test_a_report_behind_a_missing_selection_is_moved_aside(tmp_path):
    assert set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path) == []  # a fresh lab
    report = tmp_path / "results/report/index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    assert set_aside_damaged([], dry_run=False, root=tmp_path) == []  # a lab without 6E
    [line] = set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path)
    assert line.startswith(f"cnnlab: {SELECTIONS[0]} is missing")
    assert "moved results/report/index.html to results/damaged/report/index.html." in line
    assert not report.exists()
    [moved] = (tmp_path / "results/damaged/report").iterdir()
    assert moved.read_text() == "<html></html>"


def test_a_cut_selection_and_the_report_behind_it_are_moved_aside(tmp_path):
    report = tmp_path / "results/report/index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    selection = tmp_path / SELECTIONS[0]
    selection.parent.mkdir(parents=True)
    selection.write_text('{"task": "6E", "ru')
    dry = set_aside_damaged(SELECTIONS, dry_run=True, root=tmp_path)
    assert len(dry) == 2 and "a real run moves results/selection/tiny/6E.json" in dry[0]
    assert "a real run moves results/report/index.html" in dry[1]
    first, second = set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path)
    assert "the selection is not valid JSON" in first and "delete it" not in first
    assert "moved results/selection/tiny/6E.json to results/damaged/selection/tiny/6E.json." in first
    assert "moved results/report/index.html" in second
    assert not selection.exists() and not report.exists()


def test_a_weights_file_its_record_lists_missing_or_a_file_for_the_folder_is_moved(tmp_path):
    folder = finished_training(tmp_path)
    record = json.loads((folder / "record.json").read_text())
    write_record(folder / "record.json", {**record, "weights": ["weights/epoch0003.weights.h5"]})
    [line] = set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path)
    assert line.startswith(f"cnnlab: {TRAINING}/weights/epoch0003.weights.h5: missing, though its "
                           "record.json lists it; moved")
    (tmp_path / TRAINING).write_text("not a folder")
    [line] = set_aside_damaged(SELECTIONS, dry_run=False, root=tmp_path)
    assert line.startswith(f"cnnlab: {TRAINING} is a file, not a training folder; moved")
    assert not (tmp_path / TRAINING).exists()


def test_the_report_goes_aside_with_a_damaged_training(tmp_path):
    # Snakemake would take the missing training for a deleted intermediate behind an
    # up-to-date report, and retrain nothing
    folder = finished_training(tmp_path)
    cut_history(folder)
    report = tmp_path / "results/report/index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    training, report_line = set_aside_damaged([], dry_run=False, root=tmp_path)
    assert f"moved {TRAINING} to" in training
    assert report_line.startswith("cnnlab: results/report/index.html shows what was moved aside "
                                  "above; moved results/report/index.html to results/damaged/")
    assert report_line.endswith(": this run renders it again.") and not report.exists()
