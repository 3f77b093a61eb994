"""6E's optimum: the rule in config.yaml applied to the results of 6A-6D.

The rule compares every candidate run at the epoch count its task asked for, using
the values of that epoch (not the best epoch: a model is judged as it was handed in).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from cnnlab.errors import CnnlabError
from cnnlab.files import read_selection, write_selection
from cnnlab.grid import Plan
from cnnlab.history import read_history

RULES = {
    "best_val_accuracy_within_gap": (
        "the highest final validation accuracy among runs whose final train - validation "
        "accuracy gap is at most {max_gap:g} (not overfitted)"
    ),
    "best_val_accuracy": "the highest final validation accuracy",
    "lowest_val_loss": "the lowest final validation loss",
}


def candidate_rows(plan: Plan, task_id: str) -> list[dict]:
    """One row per candidate (run, epochs) with the values the rule looks at."""
    optimum = plan.tasks[task_id].optimum
    rows, seen = [], set()
    for candidate_task in optimum["candidates"]:
        for entry in plan.tasks[candidate_task].entries:
            if (entry.spec.run_id, entry.epochs) in seen:
                continue
            seen.add((entry.spec.run_id, entry.epochs))
            history = read_prefix(entry.training.history_csv, entry.epochs)
            final = history.iloc[-1]
            finite = all(math.isfinite(final[c]) for c in ("loss", "val_loss"))
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
                "finished": finite and int(final["epoch"]) == entry.epochs,
            })
    return rows


def read_prefix(history_csv: str, epochs: int) -> pd.DataFrame:
    """The first ``epochs`` rows of a history.csv (cnnlab.history)."""
    history = read_history(history_csv)
    if history.empty:
        raise CnnlabError(f"{history_csv}: the history is empty; delete it and run the workflow again.")
    return history[history["epoch"] <= epochs]


def select(rows: list[dict], rule: str, max_gap: float) -> tuple[dict | None, list[dict]]:
    """Mark each row eligible or not (with a reason) and return the chosen one."""
    for row in rows:
        if not row["finished"]:
            row["eligible"], row["reason"] = False, "did not finish (diverged)"
        elif rule == "best_val_accuracy_within_gap" and row["gap"] > max_gap:
            row["eligible"], row["reason"] = False, f"gap {row['gap']:.3f} > {max_gap:g}"
        else:
            row["eligible"], row["reason"] = True, ""
    eligible = [row for row in rows if row["eligible"]]
    if not eligible:
        return None, rows
    if rule == "lowest_val_loss":
        ranked = sorted(eligible, key=lambda r: (r["final_val_loss"], r["run_id"], r["epochs"]))
    else:
        # ties go to the smaller gap, then to the shorter, cheaper run
        ranked = sorted(
            eligible, key=lambda r: (-r["final_val_accuracy"], r["gap"], r["epochs"], r["run_id"])
        )
    return ranked[0], rows


def select_optimum(plan: Plan, task_id: str, output_json: str | Path) -> dict:
    optimum = plan.tasks[task_id].optimum
    rule, max_gap = optimum["rule"], optimum["max_gap"]
    rows = candidate_rows(plan, task_id)
    chosen, rows = select(rows, rule, max_gap)
    fallback = False
    if chosen is None:
        # nothing qualifies (every candidate overfits): take the smallest gap and say so
        finished = [row for row in rows if row["finished"]] or rows
        chosen = min(finished, key=lambda r: (r["gap"], r["run_id"]))
        fallback = True
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
            "values": {
                key: chosen[key]
                for key in ("final_accuracy", "final_val_accuracy", "final_val_loss", "gap")
            },
        },
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
