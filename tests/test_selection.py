"""6E's selection rule over crafted histories of its candidate tasks."""

import json

import pandas as pd
import pytest

from cnnlab.grid import plan_lab
from cnnlab.selection import select_optimum


def write_history(path, accuracy, val_accuracy, epochs, val_loss=0.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"epoch": e, "loss": 0.6, "accuracy": accuracy, "val_loss": val_loss,
         "val_accuracy": val_accuracy, "seconds": 1.0}
        for e in range(1, epochs + 1)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)


@pytest.fixture
def lab(default_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = plan_lab(default_config)
    # every candidate overfits (gap 0.3) except two that generalise
    for training in plan.trainings.values():
        write_history(tmp_path / training.history_csv, 0.95, 0.65, training.epochs)
    return plan, tmp_path


def candidate(plan, task, **params):
    for entry in plan.tasks[task].entries:
        if all(getattr(entry.spec, k) == v for k, v in params.items()):
            return entry
    raise LookupError(params)


def test_the_best_run_within_the_gap_is_chosen(lab):
    plan, root = lab
    batch_4 = candidate(plan, "6D", batch_size=4)
    batch_2 = candidate(plan, "6D", batch_size=2)
    write_history(root / batch_4.training.history_csv, 0.80, 0.76, 150)
    write_history(root / batch_2.training.history_csv, 0.85, 0.74, 150)
    result = select_optimum(plan, "6E", root / "results/selection/6E.json")
    assert result["chosen"]["run_id"] == batch_4.spec.run_id
    assert result["chosen"]["params"] == {"batch_size": 4, "lr": 1e-5, "n_base": 8}
    assert not result["fallback"]
    stored = json.loads((root / "results/selection/6E.json").read_text())
    assert stored["chosen"] == result["chosen"]
    overfitted = [c for c in stored["candidates"] if not c["eligible"]]
    assert overfitted and all("gap" in c["reason"] for c in overfitted)


def test_a_wider_gap_admits_the_overfitted_runs(lab, default_config):
    plan, root = lab
    default_config["tasks"]["6E"]["optimum"]["max_gap"] = 0.5
    plan = plan_lab(default_config)
    six_a = candidate(plan, "6A")
    write_history(root / six_a.training.history_csv, 0.99, 0.90, 50)
    result = select_optimum(plan, "6E", root / "6E.json")
    assert result["chosen"]["run_id"] == six_a.spec.run_id


def test_when_every_run_overfits_the_smallest_gap_is_taken_and_said(lab):
    plan, root = lab
    six_a = candidate(plan, "6A")
    write_history(root / six_a.training.history_csv, 0.95, 0.70, 50)
    result = select_optimum(plan, "6E", root / "6E.json")
    assert result["fallback"] is True
    assert result["chosen"]["run_id"] == six_a.spec.run_id


def test_the_value_at_the_tasks_epoch_count_is_used_not_the_longer_training(lab):
    plan, root = lab
    # 6C asks for 150 and 350 epochs of one training: the 150-epoch prefix generalises
    six_c = candidate(plan, "6C")
    path = root / six_c.training.history_csv
    rows = [{"epoch": e, "loss": 0.5, "accuracy": 0.8 if e <= 150 else 0.99,
             "val_loss": 0.5, "val_accuracy": 0.78 if e <= 150 else 0.70, "seconds": 1}
            for e in range(1, 351)]
    pd.DataFrame(rows).to_csv(path, index=False)
    result = select_optimum(plan, "6E", root / "6E.json")
    assert result["chosen"]["run_id"] == six_c.spec.run_id
    assert result["chosen"]["epochs"] == 150
