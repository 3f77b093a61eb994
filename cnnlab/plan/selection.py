"""6E's selection: the rule in config.yaml applied to the results of 6A-6D, and the chosen
set-up's lead over the runner-up, tested against the noise of the validation split.

The candidates are set-ups, not runs: the seeds of one set-up are trained alike, so a
set-up is ranked by the mean of its seeds and must be eligible in every seed
(cnnlab.plan.selection_seeds), and is never chosen for its luckiest seed.

The rule judges every candidate run at the epoch count 6E trains, using the values of that
epoch (not the best epoch: a model is judged as it would be handed in): prefix sharing
keeps every epoch of a longer training, so a candidate trained at least that long is read
at that epoch, and a shorter one cannot show it and is not eligible. A candidate trained
with parameters that 6E does not copy and trains otherwise (dropout, say) is not eligible
either: its numbers would not describe what 6E trains. A candidate's balanced accuracy and
its lead are computed from the model's outputs for each validation image after the epoch
it is judged at (predictions.npz, beside history.csv).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cnnlab.errors import CnnlabError
from cnnlab.plan.plan import Plan
from cnnlab.plan.runs import RunSpec, Training, format_number
from cnnlab.plan.selection_seeds import lead, lead_line, setup_refusal, setup_rows
from cnnlab.store.files import Predictions
from cnnlab.store.history import checked_training
from cnnlab.store.selection_file import write_selection

_CONDITION = ("whose train - validation accuracy gap there is at most {max_gap:g} and that "
              "do not overfit by then (validation loss rising, or the accuracy gap growing, "
              "beyond its noise)")
_AT = "of the first {epochs} epochs (as many as {task} trains)"
RULES = {
    "best_val_accuracy_within_gap": (
        f"the highest final validation accuracy {_AT} among runs {_CONDITION}"
    ),
    "best_balanced_accuracy_within_gap": (
        f"the highest final balanced accuracy {_AT} among runs {_CONDITION}"
    ),
    "best_val_accuracy": f"the highest final validation accuracy {_AT}",
    "lowest_val_loss": f"the lowest final validation loss {_AT}",
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
# what a candidate may differ in from the task without its numbers ceasing to describe it:
# the copied parameters come with it, the seeds are a set-up's, the data set is the lab's
NOT_COMPARED = ("dataset", "seed")


@dataclass
class Candidate:
    """One run the candidate tasks list, read from its longest training among theirs."""

    spec: RunSpec
    training: Training
    asked_by: list[tuple[str, int]] = field(default_factory=list)  # (task, epochs)

    def listed_as(self, target_epochs: int) -> tuple[str, int]:
        """The (task, epochs) the row names: the shortest curve that holds the judged epoch,
        else the longest one (the judged epoch is then that curve's end)."""
        holding = [item for item in self.asked_by if item[1] >= target_epochs]
        if holding:
            return min(holding, key=lambda item: item[1])
        return max(self.asked_by, key=lambda item: item[1])


def candidates(plan: Plan, task_id: str) -> list[Candidate]:
    """One candidate per distinct run of the candidate tasks, in the order they list them.

    Every epoch count a run is asked for is a prefix of its longest training, and each is
    judged at the same epoch, so they are one candidate, not several equal ones."""
    by_run: dict[str, Candidate] = {}
    for candidate_task in plan.tasks[task_id].selection["candidates"]:
        for entry in plan.tasks[candidate_task].entries:
            found = by_run.setdefault(entry.spec.run_id, Candidate(entry.spec, entry.training))
            if entry.training.epochs > found.training.epochs:  # share_prefixes: false
                found.training = entry.training
            if (candidate_task, entry.epochs) not in found.asked_by:
                found.asked_by.append((candidate_task, entry.epochs))
    return list(by_run.values())


def candidate_files(plan: Plan, task_id: str) -> list[str]:
    """What a selection reads: each candidate run's longest training's history.csv and
    predictions.npz."""
    return sorted({path for candidate in candidates(plan, task_id)
                   for path in (candidate.training.history_csv,
                                candidate.training.predictions_npz)})


@dataclass(frozen=True)
class Target:
    """What the selecting task trains besides what it copies: the epoch count its
    candidates are judged at and the parameters all its runs share."""

    task: str
    epochs: int
    params: dict


def target(plan: Plan, task_id: str) -> Target:
    selection = plan.tasks[task_id].selection
    entries = plan.entries_before_selection(task_id)
    if not entries:
        raise CnnlabError(f"config: tasks.{task_id}: lists no runs, so its selection has "
                          "nothing to be judged for.")
    rows = [entry.spec.to_dict() for entry in entries]
    skipped = set(selection["copy"]) | set(NOT_COMPARED)
    # a parameter the task varies itself (6E's optimizers) is its own comparison, not a
    # difference; several epoch counts: a candidate must hold up through the longest
    params = {name: value for name, value in rows[0].items()
              if name not in skipped and all(row[name] == value for row in rows)}
    return Target(task_id, max(entry.epochs for entry in entries), params)


@dataclass(frozen=True)
class Judged:
    """A candidate's outputs for the validation images after the epoch it is judged."""

    path: str  # its predictions.npz, for messages
    labels: np.ndarray
    outputs: np.ndarray
    loss: str

    def correct(self) -> np.ndarray:
        from cnnlab.analysis import (
            statistics,  # SciPy and scikit-learn only when selecting, not planning
        )

        return statistics.correct(self.outputs, self.labels, self.loss)

    def clinical_values(self) -> dict[str, float]:
        from cnnlab.analysis import statistics

        if not np.isfinite(self.outputs).all():
            # a diverged model's outputs: no ranking (the AUC refuses NaN), like its losses
            return {"final_balanced_accuracy": math.nan, "final_sensitivity": math.nan}
        clinical = statistics.clinical(self.outputs, self.labels, self.loss)
        return {"final_balanced_accuracy": float(clinical.balanced_accuracy),
                "final_sensitivity": float(clinical.sensitivity)}


def judged_predictions(training: Training, epoch: int, predictions: Predictions) -> Judged:
    """The outputs of a checked training (cnnlab.store.history.checked_training: its predictions
    span its history) at the epoch it is judged."""
    return Judged(training.predictions_npz, predictions.labels, predictions.at(epoch),
                  training.spec.loss)


def overfitting_epoch(history: pd.DataFrame, n_test: int) -> int | None:
    """The report's own verdict on the curve up to the judged epoch: the epoch from which it
    overfits (:func:`cnnlab.analysis.verdicts.overfitting_from`), or None."""
    from cnnlab.analysis import diagnostics, verdicts  # the report's rule, so both say the same

    history = history.reset_index(drop=True)
    diagnosis = diagnostics.diagnose(history, "completed", n_test=n_test)
    found = verdicts.overfitting_from(history, diagnosis, n_test)
    return None if found is None else int(found.epoch)


def judged_curve(history: pd.DataFrame, epochs: int, n_test: int, max_gap: float) -> dict:
    """What 6E's condition reads of a run's curve up to the epoch it is judged at (the last
    of `history`; `epochs` where the training reaches them): that epoch, whether the run got
    there with finite losses, its train - validation accuracy gap there, the epoch it
    overfits from and whether it is overfitted (:func:`overfitting_refusal`)."""
    final = history.iloc[-1]
    judged_epoch = int(final["epoch"])
    gap = float(final["accuracy"] - final["val_accuracy"])
    onset = overfitting_epoch(history, n_test)
    return {
        "judged_epoch": judged_epoch,
        "finished": (all(math.isfinite(final[column]) for column in ("loss", "val_loss"))
                     and judged_epoch == epochs),
        "gap": gap,
        "overfitting_epoch": onset,
        "overfitted": bool(overfitting_refusal(onset, gap, max_gap)),
    }


def overfitting_refusal(onset: int | None, gap: float, max_gap: float) -> str:
    """Why a run judged at an epoch is overfitted ('' if it is not): its curve overfits by
    then, or its train - validation accuracy gap there is wider than `max_gap`. The one
    rule of 6E's condition: the selection's eligibility and the report's condition on 6E's
    own set-ups both ask it."""
    if onset is not None:
        return f"overfits from epoch {onset}"
    if gap > max_gap:
        return f"gap {gap:.3f} > {max_gap:g}"
    return ""


def not_overfitted(seed_curves: list[dict]) -> bool:
    """6E's condition on a set-up, from its seeds' :func:`judged_curve`: every seed got to
    the epoch judged without diverging, and none is overfitted."""
    return all(curve["finished"] and not curve["overfitted"] for curve in seed_curves)


def differences(spec: RunSpec, target: Target) -> list[str]:
    """'dropout 0.4' for each parameter in which the candidate differs from the task."""
    params = spec.to_dict()
    return [f"{name} {describe(params[name])}" for name, value in target.params.items()
            if params[name] != value]


def describe(value) -> str:
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, list):
        return "x".join(str(item) for item in value)
    return str(value)


def run_row(candidate: Candidate, goal: Target, max_gap: float) -> tuple[dict, Judged]:
    """One candidate run's values at the epoch it is judged, and its predictions there."""
    training = candidate.training
    # never select from a damaged training: its files are checked to agree first. Its
    # record is checked where there is one: every training of the workflow writes one
    # (its absence reruns the training), a selection outside it may have none
    outputs = checked_training(training.directory, training.epochs, require_record=False)
    whole = outputs.history[outputs.history["epoch"] <= training.epochs]
    # at the target epoch where the training reaches it, else where it ends
    epochs = min(goal.epochs, training.epochs)
    history = whole[whole["epoch"] <= epochs]
    final = history.iloc[-1]
    curve = judged_curve(history, epochs, int(outputs.predictions.labels.size), max_gap)
    judged = judged_predictions(training, curve["judged_epoch"], outputs.predictions)
    listed_task, listed_epochs = candidate.listed_as(goal.epochs)
    return {
        "task": listed_task,
        "run_id": candidate.spec.run_id,
        "setup_id": candidate.spec.setup_id,
        "seed": candidate.spec.seed,
        "epochs": listed_epochs,
        "asked_by": [{"task": t, "epochs": e} for t, e in candidate.asked_by],
        "trained_epochs": training.epochs,
        "epochs_reached": int(whole["epoch"].iloc[-1]),
        "judged_epoch": curve["judged_epoch"],
        "params": candidate.spec.to_dict(),
        "final_accuracy": float(final["accuracy"]),
        "final_val_accuracy": float(final["val_accuracy"]),
        "final_val_loss": float(final["val_loss"]),
        "gap": curve["gap"],
        **judged.clinical_values(),
        "finished": curve["finished"],
        "overfitting_epoch": curve["overfitting_epoch"],
        "overfitted": curve["overfitted"],
        "not_carried": differences(candidate.spec, goal),
    }, judged


def candidate_rows(plan: Plan, task_id: str, max_gap: float
                   ) -> tuple[Target, list[dict], dict[str, Judged]]:
    """The target, one row per candidate set-up (its seeds' rows under ``seeds``,
    cnnlab.plan.selection_seeds) with the values the rule looks at, and each candidate run's
    predictions at the epoch it is judged, by run id."""
    goal = target(plan, task_id)
    runs, judged = [], {}
    for candidate in candidates(plan, task_id):
        row, judged[candidate.spec.run_id] = run_row(candidate, goal, max_gap)
        runs.append(row)
    return goal, setup_rows(runs), judged


def comparable(row: dict, goal: Target) -> bool:
    """Whether the row's numbers describe what the task trains: read at its epoch count,
    from a run that did not diverge before it, with nothing it does not take."""
    return (row["judged_epoch"] == goal.epochs and row["finished"]
            and not row["not_carried"])


def refusal(row: dict, rule: str, max_gap: float, goal: Target) -> str:
    """Why a candidate is not eligible, or '' if it is."""
    if row["trained_epochs"] < goal.epochs:
        return (f"trained {row['trained_epochs']} epochs, fewer than the {goal.epochs} that "
                f"{goal.task} trains")
    if not row["finished"]:
        return f"did not finish (diverged before epoch {goal.epochs})"
    if row["not_carried"]:
        return (f"its {' and '.join(row['not_carried'])} would not be carried into "
                f"{goal.task}")
    if rule in WITHIN_GAP:
        return overfitting_refusal(row["overfitting_epoch"], row["gap"], max_gap)
    return ""


def rank(rows: list[dict], rule: str, max_gap: float, goal: Target) -> list[dict]:
    """Mark each row eligible or not (with a reason); the eligible rows, best first."""
    for row in rows:
        # every seed must be eligible: a set-up is not chosen for its luckiest seed
        row["reason"] = setup_refusal(row, lambda seed_row: refusal(seed_row, rule, max_gap, goal))
        row["eligible"] = not row["reason"]
    eligible = [row for row in rows if row["eligible"]]
    if rule in LOWER_IS_BETTER:
        return sorted(eligible, key=lambda r: (r[MEASURES[rule]], r["setup_id"], r["epochs"]))

    def higher_first(row: dict) -> tuple:
        value = row[MEASURES[rule]]
        # NaN (no melanoma among the images) sorts last instead of breaking the order;
        # ties go to the smaller gap, then to the shorter, cheaper run
        return (-value if math.isfinite(value) else math.inf, row["gap"], row["epochs"],
                row["setup_id"])

    return sorted(eligible, key=higher_first)


def select_setup(plan: Plan, task_id: str, output_json: str | Path) -> dict:
    selection = plan.tasks[task_id].selection
    rule, max_gap = selection["rule"], selection["max_gap"]
    goal, rows, judged = candidate_rows(plan, task_id, max_gap)
    ranked = rank(rows, rule, max_gap, goal)
    fallback = not ranked
    if fallback:
        # nothing qualifies (every candidate overfits): take the smallest gap and say so,
        # among the candidates whose numbers describe the task if there are any
        pool = ([row for row in rows if comparable(row, goal)]
                or [row for row in rows if row["finished"]] or rows)
        chosen, runner_up = min(pool, key=lambda r: (r["gap"], r["setup_id"])), None
    else:
        chosen, runner_up = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    result = {
        "task": task_id,
        "rule": rule,
        "rule_text": RULES[rule].format(max_gap=max_gap, epochs=goal.epochs, task=task_id),
        "max_gap": max_gap,
        "copy": selection["copy"],
        # the epoch count the candidates were judged at (the task's own), and what the task
        # trains besides the copied parameters: the report checks its result against both
        "target_epochs": goal.epochs,
        "target_params": goal.params,
        "fallback": fallback,
        # whether the chosen candidate is not overfitted as the task asks, judged like the
        # task: for the rules within the gap, whether any candidate was (false in a fallback)
        "meets_condition": comparable(chosen, goal) and not_overfitted(chosen["seeds"]),
        "chosen": {
            "setup_id": chosen["setup_id"],
            "task": chosen["task"],
            "epochs": chosen["epochs"],
            "judged_epoch": chosen["judged_epoch"],
            "params": {name: chosen["params"][name] for name in selection["copy"]},
            "values": {key: chosen[key] for key in CHOSEN_VALUES},
            # the seeds' own values, whose means are the values above
            "seeds": chosen["seeds"],
        },
        "runner_up": None if runner_up is None else {
            "setup_id": runner_up["setup_id"],
            "task": runner_up["task"],
            "epochs": runner_up["epochs"],
            "value": runner_up[MEASURES[rule]],
        },
        "lead": lead(MEASURES[rule], rule in LOWER_IS_BETTER, chosen, runner_up, judged),
        "candidates": rows,
    }
    write_selection(output_json, result)
    return result


def log_lines(result: dict) -> list[str]:
    """What the selection job logs of its result (:func:`select_setup`): the rule, the
    choice, each refused candidate with its reason, and the lead over the runner-up."""
    chosen = result["chosen"]
    lines = [f"rule: {result['rule_text']}",
             (f"chosen: {chosen['setup_id']} from {chosen['task']} at {chosen['epochs']} "
              f"epochs, judged at epoch {chosen['judged_epoch']} ({result['task']} trains "
              f"{result['target_epochs']})")]
    lines += [f"not eligible: {row['setup_id']}: {row['reason']}"
              for row in result["candidates"] if not row["eligible"]]
    if not result["meets_condition"]:
        lines.append("no candidate met the rule's condition (not overfitted): the choice is a "
                     "fallback")
    return lines + [lead_line(result["runner_up"], result["lead"])]
