"""A selection file read back and checked against the plan it must belong to, before its
choice is planned as trainings: its task, its chosen set-up among the task's candidates,
and the chosen parameters valid as a config's run parameters.

cnnlab.store.selection_file.read_selection checks the file's shape; this checks its meaning, so that
a selection naming a run the lab never trained, or a batch size of -4, is refused as
damaged (moved aside and made again by the workflow, ignored by ``cnnlab status``) instead
of being planned.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cnnlab.errors import CnnlabError
from cnnlab.plan.config import run_params_problem
from cnnlab.plan.plan import Plan
from cnnlab.store.selection_file import read_selection

ADVICE = "delete it and run the workflow again"


def selection_problem(selection: dict, plan: Plan, task_id: str) -> str | None:
    """What makes ``selection`` not a selection of ``task_id`` in ``plan``, or None."""
    settings = plan.tasks[task_id].selection if task_id in plan.tasks else None
    if not settings:
        return f"the lab has no selection for task {task_id!r}"
    if selection["task"] != task_id:
        return f"it is the selection of task {selection['task']!r}, not of {task_id!r}"
    chosen = selection["chosen"]
    set_ups = {entry.spec.setup_id for candidate in settings["candidates"]
               for entry in plan.tasks[candidate].entries}
    if chosen["setup_id"] not in set_ups:
        return (f"the selection chose {chosen['setup_id']!r}, which is none of this lab's "
                f"candidate set-ups (of {', '.join(settings['candidates'])})")
    if chosen["task"] not in settings["candidates"]:
        return (f"the selection names task {chosen['task']!r}, which is not one of its "
                "candidate tasks")
    params = chosen["params"]
    missing = [name for name in settings["copy"] if name not in (params or {})]
    if isinstance(params, dict) and missing:
        return f"the selection's chosen parameters lack {', '.join(missing)}"
    problem = run_params_problem(params)
    if problem:
        return (f"the selection's chosen parameters are not valid run parameters "
                f"({problem.rstrip('.')})")
    return None


def read_checked_selection(path: str | os.PathLike, plan: Plan, task_id: str) -> dict:
    """The selection at ``path``, checked in shape and against ``plan``; one CnnlabError
    naming the file otherwise."""
    selection = read_selection(path)
    problem = selection_problem(selection, plan, task_id)
    if problem:
        raise CnnlabError(f"{path}: {problem}; {ADVICE}.")
    return selection


def read_checked_choices(plan: Plan, selection_files: Mapping[str, str | os.PathLike],
                        stand_in: bool = False) -> dict[str, dict]:
    """{task: selection path} -> {task: chosen parameters}, each file checked against
    ``plan`` (the plan before the selections). With ``stand_in`` a damaged file's task gets
    its first candidate's parameters instead of an error: a dry run leaves the file where
    it is (its start-up line says a real run makes it again) and plans the rest as if."""
    choices = {}
    for task_id, path in selection_files.items():
        try:
            choices[task_id] = read_checked_selection(path, plan, task_id)["chosen"]["params"]
        except CnnlabError:
            if not stand_in:
                raise
            first = plan.tasks[task_id].selection["candidates"][0]
            choices[task_id] = plan.tasks[first].entries[0].spec.to_dict()
    return choices
