"""cnnlab.store.files: outputs are written atomically, and each reader rejects a damaged file
with one message that names it."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cnnlab.errors import CnnlabError
from cnnlab.store.files import (
    atomic_open,
    atomic_path,
    read_json,
    read_manifest,
    read_predictions,
    read_record,
    write_json,
    write_predictions,
    write_record,
)
from cnnlab.store.selection_file import read_selection, write_selection


def test_atomic_open_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(path) as stream:
        stream.write("new, half written")
        raise RuntimeError("killed")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
    with atomic_open(path) as stream:
        stream.write("new\n")
    assert path.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "model.weights.h5"
    with atomic_path(target, suffix=".weights.h5") as temporary:
        assert temporary.name.endswith(".weights.h5") and temporary.parent == tmp_path
        temporary.write_bytes(b"weights")
    assert target.read_bytes() == b"weights"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.weights.h5"]


def test_a_rewrite_removes_the_temporaries_of_a_killed_writer_and_no_other(tmp_path):
    target = tmp_path / "index.html"
    half_write = (
        "import sys, time; from cnnlab.store.files import atomic_open\n"
        "with atomic_open(sys.argv[1]) as stream:\n"
        "    stream.write('half'); stream.flush(); print('writing', flush=True); time.sleep(60)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", half_write, str(target)],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    killed = [p.name for p in tmp_path.iterdir()]
    assert len(killed) == 1 and killed[0].startswith(".index.html.")
    # a temporary of a writer still running here, and one of another target
    still_running = subprocess.Popen(["sleep", "60"])
    running = tmp_path / f".index.html.{still_running.pid}.0123abcd.tmp"
    time.sleep(0.01)
    running.write_text("in progress")
    other = tmp_path / f".other.html.{writer.pid}.0123abcd.tmp"
    other.write_text("someone else's")
    try:
        write_json(target, {"complete": True})
    finally:
        still_running.kill()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["index.html", running.name, other.name])


def test_read_json_names_the_file_for_each_kind_of_damage(tmp_path):
    path = tmp_path / "thing.json"
    with pytest.raises(CnnlabError, match=r"thing\.json: the thing is missing"):
        read_json(path, "the thing")
    path.write_text('{"a": ')
    with pytest.raises(CnnlabError, match=r"thing\.json: the thing is not valid JSON"):
        read_json(path, "the thing")
    path.write_text("[1, 2]")
    with pytest.raises(CnnlabError, match=r"thing\.json: the thing is not a JSON object"):
        read_json(path, "the thing")
    write_json(path, {"b": 1, "a": 2})
    assert list(read_json(path, "the thing")) == ["b", "a"]


def manifest_data():
    return {
        "dataset": "skin",
        "counts": {"train": {"Mel": 3, "Nev": 5, "total": 8}, "test": {"Mel": 1, "Nev": 3,
                                                                       "total": 4}},
        "majority_baseline": {"train": {"class": "Nev", "label": 1, "fraction": 0.625},
                              "test": {"class": "Nev", "label": 1, "fraction": 0.75}},
        "arrays_sha256": "ab" * 32,
        "skipped": [{"file": "train/x.png", "reason": "not an image"}],
        "duplicates": [],
    }


def test_read_manifest_gives_counts_without_totals_and_the_baselines(tmp_path):
    path = write_json(tmp_path / "manifest.json", manifest_data())
    manifest = read_manifest(path)
    assert manifest.counts == {"train": {"Mel": 3, "Nev": 5}, "test": {"Mel": 1, "Nev": 3}}
    assert manifest.baselines == {"train": 0.625, "test": 0.75}
    assert manifest.skipped[0]["reason"] == "not an image"


@pytest.mark.parametrize("damage", [
    lambda m: m.pop("arrays_sha256"),
    lambda m: m["counts"].pop("test"),
    lambda m: m["majority_baseline"]["train"].pop("fraction"),
    lambda m: m.update(skipped="none"),
])
def test_read_manifest_rejects_a_manifest_of_the_wrong_shape(tmp_path, damage):
    data = manifest_data()
    damage(data)
    path = write_json(tmp_path / "manifest.json", data)
    with pytest.raises(CnnlabError, match=r"manifest\.json: the data manifest"):
        read_manifest(path)


def record_data():
    return {"run_id": "lenet-s1", "status": "completed", "diverged_reason": None,
            "epochs_trained": 3,
            "resumed_from_epoch": 0, "wall_seconds": 1.5, "peak_memory_mb": 700.0,
            "device": {"kind": "cpu"}, "threads": 1, "versions": {"keras": "3"}, "params": {}}


def test_record_round_trips_and_a_wrong_one_is_refused_on_both_sides(tmp_path):
    path = write_record(tmp_path / "record.json", record_data())
    assert read_record(path) == record_data()
    broken = dict(record_data(), epochs_trained="3")
    with pytest.raises(CnnlabError, match="'epochs_trained' of the wrong type"):
        write_record(tmp_path / "other.json", broken)
    assert not (tmp_path / "other.json").exists()
    path.write_text(json.dumps(dict(record_data(), status="running")))
    with pytest.raises(CnnlabError, match=r"record\.json: the training record's status"):
        read_record(path)


def test_selection_needs_its_chosen_set_up(tmp_path):
    selection = {"task": "6E", "rule": "best_val_accuracy", "rule_text": "the highest",
                 "fallback": False, "candidates": [],
                 "runner_up": None, "lead": None, "target_epochs": 5, "meets_condition": True,
                 "chosen": {"setup_id": "a", "task": "6B", "epochs": 5, "params": {"lr": 0.1},
                            "values": {"final_val_accuracy": 0.7, "gap": 0.01,
                                       "final_balanced_accuracy": 0.6}}}
    path = write_selection(tmp_path / "6E.json", selection)
    assert read_selection(path)["chosen"]["params"] == {"lr": 0.1}
    for damage, message in (
        (lambda s: s["chosen"].pop("epochs"), "chosen set-up has no 'epochs'"),
        (lambda s: s["chosen"]["values"].update(gap="small"), "chosen values has 'gap' of the"),
        (lambda s: s["candidates"].append({"setup_id": "b", "task": "6D", "epochs": 4}),
         "a candidate of the selection has no 'eligible'"),
        (lambda s: s["candidates"].append("b"), "a candidate of the selection has no"),
    ):
        damaged = json.loads(json.dumps(selection))
        damage(damaged)
        path.write_text(json.dumps(damaged))
        with pytest.raises(CnnlabError, match=message):
            read_selection(path)


def test_predictions_round_trip_by_epoch_and_refuse_a_wrong_shape(tmp_path):
    labels = np.array([0, 1, 1])
    outputs = np.array([[0.2, 0.6, 0.4], [0.1, 0.9, 0.7]], dtype=np.float32)
    path = write_predictions(tmp_path / "predictions.npz", labels, outputs)
    predictions = read_predictions(path)
    assert predictions.epochs == 2 and predictions.labels.tolist() == [0, 1, 1]
    assert predictions.at(2).tolist() == pytest.approx([0.1, 0.9, 0.7])
    with pytest.raises(CnnlabError, match="no predictions for epoch 3"):
        predictions.at(3)
    np.savez(path, labels=labels, outputs=outputs[:, :2])
    with pytest.raises(CnnlabError, match=r"predictions\.npz: the predictions hold outputs"):
        read_predictions(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(CnnlabError, match=r"predictions\.npz: the predictions are damaged"):
        read_predictions(path)
