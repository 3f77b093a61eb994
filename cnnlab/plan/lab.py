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
from cnnlab.store import layout
from cnnlab.store.files import read_optima


def complete_plan(config: dict, root: str | os.PathLike = ".", *,
                  skip_unreadable: bool = False) -> Plan:
    """The plan of the lab in ``root`` from its checked config (cnnlab.plan.config) and the
    selections made so far. A selection file that cannot be read stops it with its reader's
    CnnlabError, or, with ``skip_unreadable`` (a reader that only watches: the workflow
    moves a damaged one aside and selects again), counts as not made yet."""
    before = plan_lab(config)
    optima = {}
    for task_id in before.selections_needed:
        path = Path(root) / layout.selection_json(task_id)
        if not path.exists():
            continue
        try:
            optima.update(read_optima({task_id: path}))
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
