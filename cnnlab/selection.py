"""6E's optimum: the rule in config.yaml applied to the results of 6A-6D, and the chosen
run's lead over the runner-up, tested against the noise of the validation split.

The rule compares every candidate run at the epoch count its task asked for, using
the values of that epoch (not the best epoch: a model is judged as it was handed in).
A candidate's balanced accuracy and its lead are computed from the model's outputs for
each validation image after that epoch (predictions.npz, beside history.csv).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cnnlab.errors import CnnlabError
from cnnlab.files import read_predictions, read_selection, write_selection
from cnnlab.grid import Entry, Plan, Training
from cnnlab.history import read_history

RULES = {
    "best_val_accuracy_within_gap": (
        "the highest final validation accuracy among runs whose final train - validation "
        "accuracy gap is at most {max_gap:g} (not overfitted)"
    ),
    "best_balanced_accuracy_within_gap": (
        "the highest final balanced accuracy among runs whose final train - validation "
        "accuracy gap is at most {max_gap:g} (not overfitted)"
    ),
    "best_val_accuracy": "the highest final validation accuracy",
    "lowest_val_loss": "the lowest final validation loss",
}
# the candidate value each rule ranks by (the lead's measure)
MEASURES = {
    "best_val_accuracy_within_gap": "final_val_accuracy",
    "best_balanced_accuracy_within_gap": "final_balanced_accuracy",
    "best_val_accuracy": "final_val_accuracy",
    "lowest_val_loss": "final_val_loss",
}
WITHIN_GAP = ("best_val_accuracy_within_gap", "best_balanced_accuracy_within_gap")
LOWER_IS_BETTER = ("lowest_val_loss",)
CHOSEN_VALUES = ("final_accuracy", "final_val_accuracy", "final_val_loss", "gap",
                 "final_balanced_accuracy", "final_sensitivity")
LEAD_TEST = "exact McNemar"
PREDICTIONS_FILE = "predictions.npz"


def predictions_npz(training: Training) -> str:
    """A training's predictions.npz (written by cnnlab.training beside history.csv)."""
    return f"{training.directory}/{PREDICTIONS_FILE}"


def candidate_entries(plan: Plan, task_id: str) -> list[tuple[str, Entry]]:
    """(candidate task, entry) for each distinct (run, epochs) the rule compares."""
    entries, seen = [], set()
    for candidate_task in plan.tasks[task_id].optimum["candidates"]:
        for entry in plan.tasks[candidate_task].entries:
            if (entry.spec.run_id, entry.epochs) not in seen:
                seen.add((entry.spec.run_id, entry.epochs))
                entries.append((candidate_task, entry))
    return entries


def candidate_files(plan: Plan, task_id: str) -> list[str]:
    """What a selection reads: each candidate training's history.csv and predictions.npz."""
    return sorted({path for _, entry in candidate_entries(plan, task_id)
                   for path in (entry.training.history_csv, predictions_npz(entry.training))})


@dataclass(frozen=True)
class Judged:
    """A candidate's outputs for the validation images after the epoch it is judged."""

    path: str  # its predictions.npz, for messages
    labels: np.ndarray
    outputs: np.ndarray
    loss: str

    def correct(self) -> np.ndarray:
        from cnnlab import statistics  # SciPy and scikit-learn only when selecting, not planning

        return statistics.correct(self.outputs, self.labels, self.loss)

    def clinical_values(self) -> dict[str, float]:
        from cnnlab import statistics

        if not np.isfinite(self.outputs).all():
            # a diverged model's outputs: no ranking (the AUC refuses NaN), like its losses
            return {"final_balanced_accuracy": math.nan, "final_sensitivity": math.nan}
        clinical = statistics.clinical(self.outputs, self.labels, self.loss)
        return {"final_balanced_accuracy": float(clinical.balanced_accuracy),
                "final_sensitivity": float(clinical.sensitivity)}


def judged_predictions(training: Training, epoch: int) -> Judged:
    path = predictions_npz(training)
    predictions = read_predictions(path)
    if not 1 <= epoch <= predictions.epochs:
        raise CnnlabError(f"{path}: the predictions hold epochs 1-{predictions.epochs}, but "
                          f"{training.history_csv} reaches epoch {epoch}; delete the training "
                          "folder and run the workflow again.")
    return Judged(path, predictions.labels, predictions.at(epoch), training.spec.loss)


def candidate_rows(plan: Plan, task_id: str) -> tuple[list[dict], dict[tuple[str, int], Judged]]:
    """One row per candidate (run, epochs) with the values the rule looks at, and each
    candidate's predictions at the epoch it is judged, by (run id, epochs)."""
    rows, judged = [], {}
    for candidate_task, entry in candidate_entries(plan, task_id):
        history = read_prefix(entry.training.history_csv, entry.epochs)
        final = history.iloc[-1]
        finite = all(math.isfinite(final[c]) for c in ("loss", "val_loss"))
        key = (entry.spec.run_id, entry.epochs)
        judged[key] = judged_predictions(entry.training, int(final["epoch"]))
        rows.append({
            "task": candidate_task,
            "run_id": entry.spec.run_id,
            "variant": entry.spec.variant,
            "epochs": entry.epochs,
            "epochs_reached": int(final["epoch"]),
            "params": entry.spec.to_dict(),
            "final_accuracy": float(final["accuracy"]),
            "final_val_accuracy": float(final["val_accuracy"]),
            "final_val_loss": float(final["val_loss"]),
            "gap": float(final["accuracy"] - final["val_accuracy"]),
            **judged[key].clinical_values(),
            "finished": finite and int(final["epoch"]) == entry.epochs,
        })
    return rows, judged


def read_prefix(history_csv: str, epochs: int) -> pd.DataFrame:
    """The first ``epochs`` rows of a history.csv (cnnlab.history)."""
    history = read_history(history_csv)
    if history.empty:
        raise CnnlabError(f"{history_csv}: the history is empty; delete it and run the workflow again.")
    return history[history["epoch"] <= epochs]


def rank(rows: list[dict], rule: str, max_gap: float) -> list[dict]:
    """Mark each row eligible or not (with a reason); the eligible rows, best first."""
    for row in rows:
        if not row["finished"]:
            row["eligible"], row["reason"] = False, "did not finish (diverged)"
        elif rule in WITHIN_GAP and row["gap"] > max_gap:
            row["eligible"], row["reason"] = False, f"gap {row['gap']:.3f} > {max_gap:g}"
        else:
            row["eligible"], row["reason"] = True, ""
    eligible = [row for row in rows if row["eligible"]]
    if rule in LOWER_IS_BETTER:
        return sorted(eligible, key=lambda r: (r[MEASURES[rule]], r["run_id"], r["epochs"]))

    def higher_first(row: dict) -> tuple:
        value = row[MEASURES[rule]]
        # NaN (no melanoma among the images) sorts last instead of breaking the order;
        # ties go to the smaller gap, then to the shorter, cheaper run
        return (-value if math.isfinite(value) else math.inf, row["gap"], row["epochs"],
                row["run_id"])

    return sorted(eligible, key=higher_first)


def lead(rule: str, chosen: dict, runner_up: dict | None,
         judged: dict[tuple[str, int], Judged]) -> dict | None:
    """How far the chosen run is ahead of the runner-up in the rule's measure, and whether
    that is beyond noise: an exact McNemar test on the same validation images."""
    if runner_up is None:
        return None
    from cnnlab import statistics

    ours = judged[(chosen["run_id"], chosen["epochs"])]
    theirs = judged[(runner_up["run_id"], runner_up["epochs"])]
    if ours.labels.shape != theirs.labels.shape or not np.array_equal(ours.labels, theirs.labels):
        raise CnnlabError(f"{ours.path} and {theirs.path}: the predictions hold the labels of "
                          f"different validation images ({ours.labels.size} and "
                          f"{theirs.labels.size} images, not the same labels), so the two runs "
                          "cannot be compared image by image; delete both training folders and "
                          "run the workflow again on one data set.")
    test = statistics.mcnemar_exact(ours.correct(), theirs.correct())
    measure = MEASURES[rule]
    difference = chosen[measure] - runner_up[measure]
    return {
        "measure": measure,
        # positive: the chosen run is better, whichever way the measure runs
        "difference": float(-difference if rule in LOWER_IS_BETTER else difference),
        "test": LEAD_TEST,
        "only_chosen": test.only_a,
        "only_runner_up": test.only_b,
        "n": test.n,
        "p": test.p,
        "beyond_noise": bool(test.p < statistics.ALPHA),
    }


def select_optimum(plan: Plan, task_id: str, output_json: str | Path) -> dict:
    optimum = plan.tasks[task_id].optimum
    rule, max_gap = optimum["rule"], optimum["max_gap"]
    rows, judged = candidate_rows(plan, task_id)
    ranked = rank(rows, rule, max_gap)
    fallback = not ranked
    if fallback:
        # nothing qualifies (every candidate overfits): take the smallest gap and say so
        finished = [row for row in rows if row["finished"]] or rows
        chosen, runner_up = min(finished, key=lambda r: (r["gap"], r["run_id"])), None
    else:
        chosen, runner_up = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    result = {
        "task": task_id,
        "rule": rule,
        "rule_text": RULES[rule].format(max_gap=max_gap),
        "max_gap": max_gap,
        "copy": optimum["copy"],
        "fallback": fallback,
        "chosen": {
            "run_id": chosen["run_id"],
            "task": chosen["task"],
            "epochs": chosen["epochs"],
            "params": {name: chosen["params"][name] for name in optimum["copy"]},
            "values": {key: chosen[key] for key in CHOSEN_VALUES},
        },
        "runner_up": None if runner_up is None else {
            "run_id": runner_up["run_id"],
            "task": runner_up["task"],
            "epochs": runner_up["epochs"],
            "value": runner_up[MEASURES[rule]],
        },
        "lead": lead(rule, chosen, runner_up, judged),
        "candidates": rows,
        "pinned": False,
    }
    write_selection(output_json, result)
    return result


def read_optima(selection_files: dict[str, str]) -> dict[str, dict]:
    """{task: selection json path} -> {task: chosen parameters} for the plan."""
    optima = {}
    for task_id, path in selection_files.items():
        optima[task_id] = read_selection(path)["chosen"]["params"]
    return optima
