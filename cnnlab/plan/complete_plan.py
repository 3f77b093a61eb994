"""The complete plan of a lab folder: its checked config planned with every selection made
so far; the one builder the rules, the selection script, ``cnnlab status`` and the partial
report share.

:func:`cnnlab.plan.plan.plan_lab` plans a config with given choices; this module finds the
choices of a lab folder, in its selection files (cnnlab.store.layout.selection_json). The
plan before any selection is ``plan_lab(config)``: what Snakemake knows when it starts.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.plan.plan import Plan, plan_lab
from cnnlab.plan.runs import Training
from cnnlab.plan.selection_check import read_checked_choices
from cnnlab.store import layout


def complete_plan(config: dict, root: str | os.PathLike = ".", *,
                  skip_unreadable: bool = False, stand_in: bool = False) -> Plan:
    """The plan of the lab in ``root`` from its checked config (cnnlab.plan.config) and the
    selections made so far, each checked against the plan (cnnlab.plan.selection_check). A selection
    file that cannot be read or does not belong to this plan stops it with its reader's
    CnnlabError; with ``skip_unreadable`` (a reader that only watches: the workflow moves a
    damaged one aside and selects again) it counts as not made yet; with ``stand_in`` (a
    dry run, which moves nothing) it counts as having chosen its first candidate."""
    before = plan_lab(config)
    choices = {}
    for task_id in before.selections_needed:
        path = Path(root) / layout.selection_json(before.dataset, task_id)
        if not path.exists():
            continue
        try:
            choices.update(read_checked_choices(before, {task_id: path}, stand_in=stand_in))
        except CnnlabError:
            if not skip_unreadable:
                raise
    return plan_lab(config, choices) if choices else before


def guessed_plans(plan: Plan) -> dict[str, Plan]:
    """For each selection still to be made in ``plan`` (a complete plan), the plan as if it
    chose its first candidate: what the time left is estimated from (cnnlab.watch.status)."""
    guesses = {}
    for task_id in plan.selections_needed:
        candidates = [entry for candidate in plan.tasks[task_id].selection["candidates"]
                      for entry in plan.tasks[candidate].entries]
        if candidates:
            guesses[task_id] = plan_lab(plan.config, {**plan.choices,
                                                      task_id: candidates[0].spec.to_dict()})
    return guesses


def possible_trainings(plan: Plan) -> dict[str, Training]:
    """Every training that ``plan`` (the plan before the selections) holds, or would hold
    whatever each selection still to be made chooses among its candidates."""
    trainings = dict(plan.trainings)
    for task_id in plan.selections_needed:
        for candidate in plan.tasks[task_id].selection["candidates"]:
            for entry in plan.tasks[candidate].entries:
                chosen = plan_lab(plan.config, {**plan.choices, task_id: entry.spec.to_dict()})
                trainings.update(chosen.trainings)
    return trainings


def unplanned_training(trainings: Mapping[str, Training], dataset: str, run_id: str,
                       epochs: str) -> str | None:
    """Why the training ``dataset/run_id/e<epochs>`` is no target of a plan whose possible
    trainings are ``trainings`` (:func:`possible_trainings`), naming the nearest planned
    training of that run (or of the run id most like it); None when it is planned."""
    key = layout.training_key(dataset, run_id, epochs)
    if key in trainings:
        return None
    head = (f"{layout.training_directory(dataset, run_id, epochs)} is not a training of this "
            "lab's plan")
    same_run = [t for t in trainings.values() if t.spec.dataset == dataset and t.run_id == run_id]
    if same_run:
        nearest = min(same_run, key=lambda t: (abs(t.epochs - int(epochs)), t.epochs))
        counts = ", ".join(str(t.epochs) for t in sorted(same_run, key=lambda t: t.epochs))
        return (f"{head}: run {run_id} is trained to {counts} epochs here (another "
                "epoch_divisor, or another config, planned this one); ask for the nearest, "
                f"{nearest.directory}, or run without a target.")
    ids = sorted({t.run_id for t in trainings.values() if t.spec.dataset == dataset})
    like = difflib.get_close_matches(run_id, ids, n=1, cutoff=0.6)
    if like:
        nearest = min((t for t in trainings.values()
                       if t.spec.dataset == dataset and t.run_id == like[0]),
                      key=lambda t: abs(t.epochs - int(epochs)))
        return (f"{head}: no run {run_id} is planned; the nearest is {nearest.directory}. "
                "Check the run id, or run without a target.")
    where = f"data set {dataset}" if any(t.spec.dataset == dataset for t in trainings.values()) \
        else f"data set {dataset}, which this lab does not train (its data set is {_datasets(trainings)})"
    return f"{head}: no run {run_id} is planned for the {where}. Run without a target, or " \
           "see `cnnlab status` for the lab's trainings."


def unplanned_target(plan: Plan, dataset: str, run_id: str, epochs: str,
                     root: str | os.PathLike = ".") -> str | None:
    """Why a training target is none of ``plan``'s (the plan before the selections) while a
    selection is still to be made, in one line; None where the plan has it, or where every
    selection is made (the selected plan then judges it: :func:`unplanned_training`)."""
    if layout.training_key(dataset, run_id, epochs) in plan.trainings:
        return None
    missing = [path for path in (layout.selection_json(plan.dataset, task_id)
                                 for task_id in plan.selections_needed)
               if not (Path(root) / path).exists()]
    if not missing:
        return None
    problem = unplanned_training(possible_trainings(plan), dataset, run_id, epochs)
    # where no problem is found, whether the selection plans it is not known before it is made
    return problem or (
        f"{layout.training_directory(dataset, run_id, epochs)} is planned only if the "
        f"selection chooses its run, and {missing[0]} is not made yet: run without a target, "
        f"or ask for {missing[0]} first.")


def _datasets(trainings: Mapping[str, Training]) -> str:
    return ", ".join(sorted({t.spec.dataset for t in trainings.values()})) or "none"
