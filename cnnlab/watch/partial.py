"""The lab report of what exists now (``cnnlab report --partial``), while the lab still runs.

:func:`write_partial_report` renders the same report (cnnlab.report.page, the same templates)
into ``results/report/partial.html``, never the workflow's index.html:

- a finished training is read in full, as the report reads it (cnnlab.store.history);
- a training that runs, or was stopped, is read up to its last saved epoch from its
  run's resume state (cnnlab.train.checkpoints.read_latest: the history and the validation
  outputs of every epoch so far; the state is replaced atomically, so a file being
  written at this moment is never read half-way); its record says status ``partial``;
- a run with neither is left out: a task none of whose runs has started says so, one
  with some says which have not.

Each affected section says it is partial and which epochs it has reached, and so does
the top of the page. The learning curves are drawn from those epochs into
``results/report/partial-figures`` (the workflow's own figures are left be), and its
numbers go to the tidy tables (``results/tables/<dataset>/``, cnnlab.report.tidy), which
the report rule writes again, complete, when the lab ends. Nothing of
a training is written, and no Snakemake lock is taken: it can run while ``snakemake``
runs, or after it was killed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cnnlab.data.arrays import load_test_split
from cnnlab.errors import CnnlabError
from cnnlab.plan import concept_models
from cnnlab.plan.complete_plan import complete_plan
from cnnlab.plan.plan import Plan
from cnnlab.plan.runs import Training
from cnnlab.report import page
from cnnlab.report.setups import PARTIAL, Results
from cnnlab.store import layout
from cnnlab.store.files import Predictions, read_concept_stats, read_manifest
from cnnlab.store.history import HISTORY_COLUMNS, TrainingOutputs
from cnnlab.store.selection_file import read_selection
from cnnlab.train import checkpoints


@dataclass(frozen=True)
class Reached:
    """How far an unfinished training has come: ``epoch`` of ``epochs``."""

    run_id: str
    epoch: int
    epochs: int

    def text(self) -> str:
        return f"{self.run_id}: epoch {self.epoch} of {self.epochs}"


class PartialResults(Results):
    """The report's :class:`~cnnlab.report.setups.Results`, where a training without outputs is
    read from its run's resume state, up to its last saved epoch."""

    def __init__(self, root: Path, plan: Plan, labels: np.ndarray):
        super().__init__(root)
        self.trainings = {training.directory: training for training in plan.trainings.values()}
        self.labels = labels
        self.reached: dict[str, Reached] = {}
        self.problems: dict[str, str] = {}

    def available(self, directory: str) -> bool:
        """Whether the training has an epoch to show (reading it once)."""
        if directory in self._outputs:
            return True
        if directory in self.problems:
            return False
        try:
            if (self.root / layout.history_csv(directory)).exists():
                self.outputs(directory)
                return True
            outputs = self._from_state(self.trainings[directory])
        except CnnlabError as error:
            self.problems[directory] = str(error)
            return False
        if outputs is None:
            return False
        self._outputs[directory] = outputs
        return True

    def _from_state(self, training: Training) -> TrainingOutputs | None:
        saved = checkpoints.read_latest(self.root / training.state_directory,
                                        with_predictions=True)
        if saved is None or not saved[0].history:
            return None
        checkpoint, outputs = saved
        epoch = min(checkpoint.epoch, training.epochs)
        history = pd.DataFrame(checkpoint.history[:epoch], columns=list(HISTORY_COLUMNS))
        history["epoch"] = history["epoch"].astype("int64")
        outputs = np.asarray(outputs[:epoch], np.float32)
        if outputs.shape != (epoch, len(self.labels)):
            return None  # the state of other data: the next training discards it
        self.reached[training.directory] = Reached(training.run_id, epoch, training.epochs)
        diverged = checkpoint.diverged_reason is not None and epoch == checkpoint.epoch
        record = {"run_id": training.run_id, "status": "diverged" if diverged else PARTIAL,
                  "diverged_reason": checkpoint.diverged_reason if diverged else None,
                  "epochs_requested": training.epochs, "epochs_trained": epoch,
                  "resumed_from_epoch": 0, "versions": {}, "device": None,
                  "threads": training.spec.threads, "peak_memory_mb": 0.0}
        return TrainingOutputs(history, record, Predictions(self.labels, outputs))

    def summary(self, training: str) -> list[dict]:
        if not (self.root / layout.summary_csv(training)).exists():
            return []  # written when the training ends
        return super().summary(training)


def available_plan(plan: Plan, results: PartialResults) -> tuple[Plan, dict[str, list[str]]]:
    """A copy of ``plan`` whose tasks keep the entries with an epoch to show, and, by task,
    the run ids left out because they have not started."""
    shown = Plan.from_dict(plan.to_dict())
    shown.config, shown.choices, shown.expansion = plan.config, plan.choices, plan.expansion
    missing: dict[str, list[str]] = {}
    for task_id, task in shown.tasks.items():
        kept = [entry for entry in task.entries if results.available(entry.training.directory)]
        left_out = sorted({entry.spec.run_id for entry in task.entries} -
                          {entry.spec.run_id for entry in kept})
        if left_out:
            missing[task_id] = left_out
        if task.entries and not kept:
            task.pending = True  # the report's own "not trained yet" section
        task.entries = kept
    for task in shown.tasks.values():
        if task.shows and not task.entries and not any(shown.tasks[other].entries
                                                       for other in task.shows):
            task.pending = True
            missing[task.task_id] = []
    return shown, missing


def draw_figures(plan: Plan, results: Results, baselines: dict, root: Path
                 ) -> tuple[dict[str, str], dict[str, str]]:
    """Learning curves and ROC curves of the tasks with runs, from the epochs so far."""
    from cnnlab.report import figures  # matplotlib: only now
    from cnnlab.report.setups import task_setups

    curves, rocs = {}, {}
    for task_id in layout.curve_tasks(plan):
        if plan.tasks[task_id].pending or not plan.tasks[task_id].entries:
            continue
        setups = task_setups(plan, task_id, results)
        title = f"{task_id}: {plan.tasks[task_id].title} (so far)"
        curves[task_id] = str(figures.save_png(figures.curves_figure(setups, baselines, title),
                                               root / layout.partial_figure(task_id)))
        rocs[task_id] = str(figures.save_png(figures.roc_figure(setups, title),
                                             root / layout.partial_roc_figure(task_id)))
    return curves, rocs


def mark_partial(context: dict, plan: Plan, shown: Plan, results: PartialResults,
                 missing: dict[str, list[str]]) -> None:
    """Say, at the top and in each affected section, what is partial and how far it got."""
    reached = results.reached
    for section in context["tasks"]:
        task_id = section["id"]
        notes = [reached[entry.training.directory].text()
                 for entry in shown.tasks[task_id].entries
                 if entry.training.directory in reached]
        notes = list(dict.fromkeys(notes))
        not_started = missing.get(task_id)
        if shown.tasks[task_id].pending and not plan.tasks[task_id].pending:
            waiting = ("Not started yet: none of this task's runs has finished an epoch."
                       if plan.tasks[task_id].entries else
                       "Not started yet: none of the runs it discusses has finished an epoch.")
            section["answer"], section["glance"] = [waiting], waiting
        elif not_started:
            notes.append("not started yet: " + ", ".join(not_started))
        section["partial"] = notes
    finished = [name for name in plan.trainings.values()
                if name.directory in results._outputs and name.directory not in reached]
    context["partial"] = {
        "finished": len(finished), "trainings": len(plan.trainings),
        "reached": [reached[key].text() for key in sorted(reached)],
        "problems": [results.problems[key] for key in sorted(results.problems)],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    context["title"] += " (partial)"


def write_partial_report(config: dict, root: str | Path = ".",
                         report_dir: str | Path | None = None) -> Path:
    """Render ``results/report/partial.html`` of the lab in ``root`` from what exists now.

    ``config`` is the lab's checked config (cnnlab.watch.command.lab_config); ``report_dir`` holds
    the templates, by default the lab's own ``report/`` folder, as the workflow uses.
    """
    root = Path(root)
    plan = complete_plan(config, root, skip_unreadable=True)
    manifest_json = root / layout.manifest_json(plan.dataset)
    if not manifest_json.exists():
        raise CnnlabError(f"{manifest_json}: missing: the data is not prepared yet, so no run "
                          "has started; run the workflow (snakemake) first.")
    manifest = read_manifest(manifest_json)
    labels = load_test_split(root / layout.arrays_npz(plan.dataset)).labels
    results = PartialResults(root, plan, labels)
    shown, missing = available_plan(plan, results)
    figures, rocs = draw_figures(shown, results, manifest.baselines, root)
    stats, concepts = {}, {}  # the concept figures drawn so far, with their numbers
    for task_id in concept_models.concept_tasks(plan):
        if (root / layout.concept_stats(task_id)).exists():
            stats[task_id] = read_concept_stats(root / layout.concept_stats(task_id))
            concepts[task_id] = str(root / layout.concept_figure(task_id))
    selections = {}
    for task_id in plan.choices:  # the selections current_plan found sound and planned
        selections[task_id] = read_selection(root / layout.selection_json(plan.dataset, task_id))
    context = page.build_context(shown, manifest, figures, stats, selections, config, root,
                                   rocs, concepts, results=results)
    mark_partial(context, plan, shown, results, missing)
    if report_dir is None:
        report_dir = root / "report" if (root / "report/templates").is_dir() else page.REPORT_DIR
    # the tables of what exists now, in the report's folder for them: the report rule
    # writes them again, complete, when the lab ends
    return page.write_report_and_tables(context, root / layout.PARTIAL_REPORT_HTML, root,
                                          report_dir)
