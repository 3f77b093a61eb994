"""6E's selection file (results/selection/<dataset>/<task>.json): its writer and its reader,
which checks the file's shape (cnnlab.plan.selection_check checks it against the plan)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cnnlab.store.files import read_checked_json, require, write_json

# runner_up and lead are None when no other candidate was eligible

SELECTION_SHAPE = {"task": str, "rule": str, "rule_text": str, "chosen": dict,
                   "runner_up": (dict, type(None)), "lead": (dict, type(None)),
                   "candidates": list, "fallback": bool,
                   "target_epochs": int, "meets_condition": bool}
CHOSEN_SHAPE = {"setup_id": str, "task": str, "epochs": int, "params": dict, "values": dict}
CHOSEN_VALUES = ("final_val_accuracy", "final_balanced_accuracy", "gap")  # what the report says
CANDIDATE_SHAPE = {"setup_id": str, "task": str, "epochs": int, "eligible": bool, "reason": str}


def write_selection(path: str | os.PathLike, selection: Mapping[str, Any]) -> Path:
    require(selection, SELECTION_SHAPE, path, "the selection")
    require(selection["chosen"], CHOSEN_SHAPE, path, "the selection's chosen set-up")
    return write_json(path, selection)


def read_selection(path: str | os.PathLike) -> dict:
    """The selection, its shape checked (cnnlab.plan.selection_check checks it against the plan)."""
    selection = read_checked_json(path, SELECTION_SHAPE, "the selection")
    require(selection["chosen"], CHOSEN_SHAPE, path, "the selection's chosen set-up")
    require(selection["chosen"]["values"], dict.fromkeys(CHOSEN_VALUES, (int, float)), path,
            "the selection's chosen values")
    for row in selection["candidates"]:
        require(row if isinstance(row, dict) else {}, CANDIDATE_SHAPE, path,
                "a candidate of the selection")
    return selection


def read_choices(selection_files: Mapping[str, str | os.PathLike]) -> dict[str, dict]:
    """{task: selection json path} -> {task: chosen parameters} for the plan."""
    return {task_id: read_selection(path)["chosen"]["params"]
            for task_id, path in selection_files.items()}
