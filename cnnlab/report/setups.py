"""A lab's results loaded for the report: each task's runs as :class:`Run`, the seeds of
one set-up as a :class:`SetUp`, two set-ups to compare as a :class:`Comparison`.

Everything is read from the training folders the plan (:class:`cnnlab.plan.plan.Plan`) names,
through the readers of their formats (:mod:`cnnlab.store.history`, :mod:`cnnlab.store.files`), each
file once (:class:`Results`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cnnlab.analysis import diagnostics, seeds, statistics
from cnnlab.analysis.diagnostics import Diagnosis
from cnnlab.analysis.seeds import Spread
from cnnlab.errors import CnnlabError
from cnnlab.plan.plan import Plan
from cnnlab.plan.runs import Entry
from cnnlab.report.formatting import setup_label
from cnnlab.store import layout
from cnnlab.store.files import Predictions, read_summary
from cnnlab.store.history import TrainingOutputs, checked_training

# the status of a training still under way, read by cnnlab.watch.partial up to its last epoch
PARTIAL = "partial"


@dataclass
class Run:
    """One run of a task at the task's epoch count (a prefix of its training if shorter),
    with the model's outputs on the validation images at its final and best epochs."""

    run_id: str
    seed: int
    history: pd.DataFrame
    values: dict
    diagnosis: Diagnosis
    status: str
    training: str
    trained_epochs: int
    loss: str
    labels: np.ndarray  # of the validation images: 0 = Mel, 1 = Nev
    final_outputs: np.ndarray
    best_outputs: np.ndarray | None  # None when no epoch has a finite validation loss
    # clinical views by "final"/"best": each holds a bootstrap, and the report asks often
    _clinical: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_test(self) -> int:
        return len(self.labels)

    @property
    def final_epoch(self) -> int:
        """The last epoch read: the task's, or earlier where the training diverged."""
        return int(self.history["epoch"].iloc[-1])

    def correct(self, at: str = "final") -> np.ndarray:
        """Per validation image: did the model call it right (at "final" or "best")?"""
        outputs = self.final_outputs if at == "final" else self.best_outputs
        return statistics.correct(outputs, self.labels, self.loss)

    def clinical(self, at: str = "final") -> statistics.Clinical | None:
        if at not in self._clinical:
            outputs = self.final_outputs if at == "final" else self.best_outputs
            self._clinical[at] = (None if outputs is None else
                                  statistics.clinical(outputs, self.labels, self.loss))
        return self._clinical[at]

    def interval(self, key: str) -> statistics.Interval:
        """The Wilson 95 % interval of a validation accuracy of this run."""
        return statistics.accuracy_interval(self.values[key], self.n_test)


@dataclass
class SetUp:
    """The seeds of one set-up at one epoch count, as one task shows them."""

    task: str
    setup_id: str
    epochs: int
    params: dict
    label: str
    runs: list[Run] = field(default_factory=list)

    def spread(self, key: str) -> Spread:
        return seeds.spread([run.values[key] for run in self.runs])

    def mean(self, key: str) -> float:
        return self.spread(key).mean

    def pooled_interval(self, key: str) -> statistics.Interval:
        """The Wilson 95 % interval of a validation accuracy over all seeds' images."""
        n = sum(run.n_test for run in self.runs)
        correct = sum(round(run.values[key] * run.n_test) for run in self.runs)
        return statistics.wilson_interval(correct, n)

    @property
    def seeds(self) -> int:
        return len(self.runs)


@dataclass
class Comparison:
    """Two set-ups that differ in `factors` (parameter names, or 'epochs'), at equal epochs
    unless epochs is the factor. `reference` names the task of `b` when it is another task.

    Its tests (:func:`cnnlab.report.comparisons.add_significance_tests`): `mcnemar`, the exact McNemar
    test of the final validation calls, pooled over seed-matched runs (it covers the
    sampling of the test images); `welch`, Welch's t-test of the per-seed final validation
    accuracies (the training's randomness; None with one seed a side); `holm_p`, McNemar's
    p adjusted by Holm over the task's `family` comparisons (None for a family of one)."""

    a: SetUp
    b: SetUp
    factors: list[str]
    reference: str | None = None
    mcnemar: statistics.McNemar | None = None
    welch: statistics.WelchTest | None = None
    holm_p: float | None = None
    family: int = 1
    asked: bool = True  # the task's question asks about it: said in the answer, else evidence


class Results:
    """The training folders of a plan, read once each (paths relative to `root`)."""

    def __init__(self, root: str | Path = "."):
        self.root = Path(root)
        self._outputs: dict[str, TrainingOutputs] = {}
        self._summaries: dict[str, list[dict]] = {}

    def outputs(self, training: str) -> TrainingOutputs:
        """History, record and predictions of a training, checked to agree (one message
        with the command that redoes the training if they do not)."""
        if training not in self._outputs:
            self._outputs[training] = checked_training(training, root=self.root)
        return self._outputs[training]

    def history(self, training: str) -> pd.DataFrame:
        return self.outputs(training).history

    def record(self, training: str) -> dict:
        return self.outputs(training).record

    def predictions(self, training: str) -> Predictions:
        return self.outputs(training).predictions

    def summary(self, training: str) -> list[dict]:
        if training not in self._summaries:
            self._summaries[training] = read_summary(self.root / layout.summary_csv(training))
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
    if int(history["epoch"].iloc[-1]) < epochs and status not in ("diverged", PARTIAL):
        raise CnnlabError(f"{training}/history.csv: has {len(history)} epochs, the task asks "
                          f"for {epochs}; run the workflow again to finish the training.")
    values = diagnostics.run_values(history)
    predictions = results.predictions(training)
    if predictions.epochs < len(history):
        raise CnnlabError(f"{training}/predictions.npz: holds {predictions.epochs} epochs, the "
                          f"history {len(history)}; delete the training folder and run the "
                          "workflow again.")
    best = values["best_epoch"]
    return Run(run_id=entry.spec.run_id, seed=entry.spec.seed, history=history, values=values,
               diagnosis=diagnostics.diagnose(history, status, n_test=len(predictions.labels),
                                              recorded_reason=record["diverged_reason"]),
               status=status, training=training, trained_epochs=entry.training.epochs,
               loss=entry.spec.loss, labels=predictions.labels,
               final_outputs=predictions.at(int(history["epoch"].iloc[-1])),
               best_outputs=predictions.at(best) if best is not None else None)


def task_setups(plan: Plan, task_id: str, results: Results, epochs: int | None = None,
                setup_id: str | None = None) -> list[SetUp]:
    """The task's entries as set-ups (each with its seeds), in the task's order.

    `epochs` reads every entry at that epoch count instead (a prefix), `setup_id` keeps one.
    """
    task = plan.tasks[task_id]
    differs = task.differs()
    setups: dict[tuple, SetUp] = {}
    shortest = min((entry.epochs for entry in task.entries), default=None)
    # one dropout rate in the task: 'dropout' names it, the tables give the rate
    rates = {entry.spec.to_dict().get("dropout") for entry in task.entries} - {0, None}
    for entry in task.entries:
        if setup_id is not None and entry.spec.setup_id != setup_id:
            continue
        at = int(entry.epochs if epochs is None else epochs)
        key = (entry.spec.setup_id, at)
        if key not in setups:
            params = entry.spec.to_dict()
            label = setup_label(params, differs, at, shortest)
            if len(rates) == 1:
                label = label.replace(f"dropout {float(next(iter(rates))):g}", "dropout")
            setups[key] = SetUp(task=task_id, setup_id=entry.spec.setup_id, epochs=at,
                                params=params, label=label)
        if all(run.run_id != entry.spec.run_id for run in setups[key].runs):  # one prefix
            setups[key].runs.append(load_run(entry, results, at))
    return list(setups.values())
