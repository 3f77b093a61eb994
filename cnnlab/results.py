"""A lab's results loaded for the report: each task's runs as :class:`Run`, the seeds of
one set-up as a :class:`Group`, two groups to compare as a :class:`Comparison`.

Everything is read from the training folders the plan (:class:`cnnlab.grid.Plan`) names,
through the readers of their formats (:mod:`cnnlab.history`, :mod:`cnnlab.files`), each
file once (:class:`Results`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cnnlab import diagnostics
from cnnlab.diagnostics import Diagnosis, Spread
from cnnlab.errors import CnnlabError
from cnnlab.files import read_record, read_summary
from cnnlab.formatting import format_param
from cnnlab.grid import Entry, Plan
from cnnlab.history import read_history


@dataclass
class Run:
    """One run of a task at the task's epoch count (a prefix of its training if shorter)."""

    run_id: str
    seed: int
    history: pd.DataFrame
    values: dict
    diagnosis: Diagnosis
    status: str
    training: str
    trained_epochs: int


@dataclass
class Group:
    """The seeds of one set-up at one epoch count, as one task shows them."""

    task: str
    variant: str
    epochs: int
    params: dict
    label: str
    runs: list[Run] = field(default_factory=list)

    def spread(self, key: str) -> Spread:
        return diagnostics.spread([run.values[key] for run in self.runs])

    def mean(self, key: str) -> float:
        return self.spread(key).mean

    @property
    def seeds(self) -> int:
        return len(self.runs)


@dataclass
class Comparison:
    """Two groups that differ in `factors` (parameter names, or 'epochs'), at equal epochs
    unless epochs is the factor. `reference` names the task of `b` when it is another task."""

    a: Group
    b: Group
    factors: list[str]
    reference: str | None = None


class Results:
    """The training folders of a plan, read once each (paths relative to `root`)."""

    def __init__(self, root: str | Path = "."):
        self.root = Path(root)
        self._histories: dict[str, pd.DataFrame] = {}
        self._records: dict[str, dict] = {}
        self._summaries: dict[str, list[dict]] = {}

    def history(self, training: str) -> pd.DataFrame:
        if training not in self._histories:
            path = self.root / training / "history.csv"
            try:
                history = read_history(path)
            except FileNotFoundError:
                raise CnnlabError(f"{path}: missing; run the workflow to train it.") from None
            except (ValueError, pd.errors.ParserError) as error:
                raise CnnlabError(f"{path}: unreadable history ({error}); delete the training "
                                  "folder and run the workflow again.") from None
            self._histories[training] = diagnostics.check_history(history, str(path))
        return self._histories[training]

    def record(self, training: str) -> dict:
        if training not in self._records:
            self._records[training] = read_record(self.root / training / "record.json")
        return self._records[training]

    def summary(self, training: str) -> list[dict]:
        if training not in self._summaries:
            self._summaries[training] = read_summary(self.root / training / "summary.csv")
        return self._summaries[training]


def load_run(entry: Entry, results: Results, epochs: int | None = None) -> Run:
    """An entry of a task read at `epochs` (its own epoch count unless given)."""
    training = entry.training.directory
    epochs = int(entry.epochs if epochs is None else epochs)
    full = results.history(training)
    history = diagnostics.prefix(full, epochs)
    record = results.record(training)
    # a prefix that ends before a diverged training stopped has not diverged
    status = record["status"] if len(history) == len(full) else "completed"
    if int(history["epoch"].iloc[-1]) < epochs and status != "diverged":
        raise CnnlabError(f"{training}/history.csv: has {len(history)} epochs, the task asks "
                          f"for {epochs}; run the workflow again to finish the training.")
    return Run(run_id=entry.spec.run_id, seed=entry.spec.seed, history=history,
               values=diagnostics.run_values(history),
               diagnosis=diagnostics.diagnose(history, status,
                                              recorded_reason=record["diverged_reason"]),
               status=status, training=training, trained_epochs=entry.training.epochs)


def group_label(differs: list[str], params: dict, epochs: int, task_id: str) -> str:
    """What tells a task's set-ups apart: the parameters that differ between them."""
    parts = [f"{name} {format_param(name, params[name])}" for name in differs
             if name != "epochs"]
    if "epochs" in differs:
        parts.append(f"{epochs} epochs")
    return ", ".join(parts) if parts else f"{task_id} ({params['model']})"


def task_groups(plan: Plan, task_id: str, results: Results, epochs: int | None = None,
                variant: str | None = None) -> list[Group]:
    """The task's entries as groups of seeds, in the task's order.

    `epochs` reads every entry at that epoch count instead (a prefix), `variant` keeps one.
    """
    task = plan.tasks[task_id]
    differs = task.differs()
    groups: dict[tuple, Group] = {}
    for entry in task.entries:
        if variant is not None and entry.spec.variant != variant:
            continue
        at = int(entry.epochs if epochs is None else epochs)
        key = (entry.spec.variant, at)
        if key not in groups:
            params = entry.spec.to_dict()
            groups[key] = Group(task=task_id, variant=entry.spec.variant, epochs=at,
                                params=params, label=group_label(differs, params, at, task_id))
        if all(run.run_id != entry.spec.run_id for run in groups[key].runs):  # one prefix
            groups[key].runs.append(load_run(entry, results, at))
    return list(groups.values())
