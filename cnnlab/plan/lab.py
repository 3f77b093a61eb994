"""The complete plan of a lab folder: its checked config planned with every selection made
so far; the one builder the rules, the selection script, ``cnnlab status`` and the partial
report share.

:func:`cnnlab.plan.grid.plan_lab` plans a config with given optima; this module finds the
optima of a lab folder, in its selection files (cnnlab.store.layout.selection_json). The
plan before any selection is ``plan_lab(config)``: what Snakemake knows when it starts.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.plan.grid import Plan, plan_lab
from cnnlab.plan.optima import read_checked_optima
from cnnlab.store import layout


def complete_plan(config: dict, root: str | os.PathLike = ".", *,
                  skip_unreadable: bool = False, stand_in: bool = False) -> Plan:
    """The plan of the lab in ``root`` from its checked config (cnnlab.plan.config) and the
    selections made so far, each checked against the plan (cnnlab.plan.optima). A selection
    file that cannot be read or does not belong to this plan stops it with its reader's
    CnnlabError; with ``skip_unreadable`` (a reader that only watches: the workflow moves a
    damaged one aside and selects again) it counts as not made yet; with ``stand_in`` (a
    dry run, which moves nothing) it counts as having chosen its first candidate."""
    before = plan_lab(config)
    optima = {}
    for task_id in before.selections_needed:
        path = Path(root) / layout.selection_json(before.dataset, task_id)
        if not path.exists():
            continue
        try:
            optima.update(read_checked_optima(before, {task_id: path}, stand_in=stand_in))
        except CnnlabError:
            if not skip_unreadable:
                raise
    return plan_lab(config, optima) if optima else before


def guessed_plans(plan: Plan) -> dict[str, Plan]:
    """For each selection still to be made in ``plan`` (a complete plan), the plan as if it
    chose its first candidate: what the time left is estimated from (cnnlab.watch.status)."""
    guesses = {}
    for task_id in plan.selections_needed:
        candidates = [entry for candidate in plan.tasks[task_id].optimum["candidates"]
                      for entry in plan.tasks[candidate].entries]
        if candidates:
            guesses[task_id] = plan_lab(plan.config, {**plan.optima,
                                                      task_id: candidates[0].spec.to_dict()})
    return guesses
