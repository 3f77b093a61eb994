"""Damaged outputs found when the workflow starts, moved aside so that the run makes them
again: a finished training or a selection whose files fail their check, a report behind a
lost selection; and a selection of an older layout, said.

Snakemake reruns a job whose outputs are missing, never one whose outputs exist but are
damaged (a history.csv cut mid-row by a full disk or a broken copy, a record.json cut
short). Every reader refuses such a training (cnnlab.store.history.checked_training), so
without this the lab could never finish on its own. At start-up, before Snakemake plans
the jobs, each finished training (all its declared outputs there) is checked as its
readers check it; a damaged one is moved, whole, to ``results/damaged/`` with one line
saying what moved where and why. Snakemake then trains it again, resuming from the
run's saved state (results/state, which holds the finished epochs), and everything
that read it (6E's selection, the figures, the report) is made again from the complete
files.

The report is moved aside with them, and a report whose lab needs a selection that is
missing (a selection job failed, and Snakemake removed its output): Snakemake takes a
missing file whose readers are all up to date for a deleted intermediate (and looks at a
checkpoint again only for a job it has to run), so it would find "nothing to be done";
with the report gone, the report's job needs every training and selection again.

Nothing is moved in a dry run (it says what a real run would move), nor while another
Snakemake holds the folder's lock, nor while a training of the run holds its state's
lock (it is running right now).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.plan.selection_check import read_checked_selection
from cnnlab.store import layout
from cnnlab.store.files import read_split_labels, read_summary
from cnnlab.store.history import checked_training, redo_advice
from cnnlab.store.selection_file import read_selection
from cnnlab.train.checkpoints import lock_unless_held


@dataclass(frozen=True)
class Damage:
    """One output to move aside: ``path`` (a training folder or the report) and why."""

    path: str
    reason: str


def training_problem(directory: str, root: Path, split_labels=None) -> str | None:
    """What is wrong with the finished training in ``directory`` (relative to ``root``),
    as its readers would say it, or None; None too for a training that is not finished
    (some declared output missing: Snakemake trains it again by itself). ``split_labels``:
    the validation split's labels of its data set, where they can be read."""
    folder = root / directory
    if not folder.is_dir():  # Snakemake could not even remove it to train it again
        return f"{directory} is a file, not a training folder"
    if not all((folder / name).is_file() for name in layout.TRAINING_FILES):
        return None
    if not (root / layout.weights_directory(directory)).is_dir():
        return None
    try:
        record = checked_training(directory, root=root, split_labels=split_labels).record
        read_summary(root / layout.summary_csv(directory))
    except CnnlabError as error:
        # the readers' advice (a command that redoes the training) is this run's to do
        message = str(error).removesuffix(f"; {redo_advice(directory)}.")
        return message.removesuffix("; delete the training folder and run the workflow again.")
    # Snakemake sees the weights folder, not the files in it (5D's figure reads one)
    missing = [name for name in record.get("weights", []) if not (folder / name).is_file()]
    if missing:
        return f"{directory}/{missing[0]}: missing, though its record.json lists it"
    return None


def training_folders(root: Path) -> Iterator[str]:
    """Every ``results/runs/<dataset>/<run_id>/e<E>`` folder, relative to ``root``."""
    runs = root / layout.RUNS_ROOT
    if not runs.is_dir():
        return
    for folder in sorted(runs.glob("*/*/e*")):
        if layout.training_epochs(folder) is not None:
            yield folder.relative_to(root).as_posix()


def _unless_training(directory: str, root: Path):
    """Hold the run's state lock (cnnlab.train.checkpoints) while the folder is checked and
    moved; yield False, holding nothing, where a training of the run holds it now."""
    dataset, run_id = Path(directory).parts[2:4]
    return lock_unless_held(root / layout.state_lock(layout.state_directory(dataset, run_id)))


def selection_problem(path: str, root: Path, plan=None) -> str | None:
    """What is wrong with an existing selection file (cut short, another version, a choice
    that is not one of ``plan``'s candidates), or None."""
    if not (root / path).is_file():
        return None
    tasks = {} if plan is None else {task.selection["file"]: task_id
                                     for task_id, task in plan.tasks.items()
                                     if task.selection and task.selection["file"]}
    try:
        if path in tasks:
            read_checked_selection(root / path, plan, tasks[path])
        else:
            read_selection(root / path)
    except CnnlabError as error:
        return str(error).removesuffix("; delete it and run the workflow again.")
    return None


def damaged_report(selections: Iterable[str], root: Path) -> Damage | None:
    """The report, where it exists but a selection its lab needs does not."""
    if not (root / layout.REPORT_HTML).is_file():
        return None
    missing = [path for path in selections if not (root / path).is_file()]
    if not missing:
        return None
    return Damage(layout.REPORT_HTML, f"{missing[0]} is missing (a selection job failed, or it was deleted), so "
                  "the report no longer shows this lab's results")


def older_selections(selections: Iterable[str], root: Path) -> list[str]:
    """A line for each selection where an older cnnlab wrote it (results/selection/6E.json,
    before the selections per data set), which nothing reads: said, not moved, as it may
    be another data set's choice."""
    lines = []
    for path in selections:
        current = Path(path)
        old = (current.parent.parent / current.name).as_posix()
        if (root / old).is_file():
            lines.append(
                f"cnnlab: {old} is a selection of an older cnnlab (before the selections per "
                f"data set); this lab reads {path}. If it was made on data set "
                f"{current.parent.name}, move it there (`mkdir -p {current.parent.as_posix()} "
                f"&& mv {old} {path}`) to keep its choice; else delete it (the selection is "
                "made again).")
    return lines


def destination(path: str, root: Path, stamp: str) -> str:
    """Where ``path`` (under results/) goes: results/damaged/<its path>.<stamp>[.n]."""
    relative = Path(path).relative_to("results")
    target = Path(layout.DAMAGED_ROOT) / relative.parent / f"{relative.name}.{stamp}"
    candidate, number = target, 1
    while (root / candidate).exists():
        number += 1
        candidate = target.with_name(f"{target.name}.{number}")
    return candidate.as_posix()


def set_aside_damaged(selections: Iterable[str], *, dry_run: bool, root: str | os.PathLike = ".",
                      plan=None) -> list[str]:
    """Check every finished training (and the report against ``selections``, the
    selection files the lab needs, each checked against ``plan`` where given); move each
    damaged one aside, unless ``dry_run``. Returns one line per damaged output, saying what
    was (or would be) moved where and why.
    """
    root = Path(root)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    lines = []
    labels: dict[str, object] = {}  # each data set's validation labels, read once
    for directory in training_folders(root):
        dataset = Path(directory).parts[2]
        if dataset not in labels:
            labels[dataset] = read_split_labels(root / layout.arrays_npz(dataset))
        with _unless_training(directory, root) as free:
            if not free:
                continue
            problem = training_problem(directory, root, labels[dataset])
            if problem is None:
                continue
            lines.append(_move(Damage(directory, problem), root, stamp, dry_run,
                               "this run trains it again (resuming from the run's saved "
                               "state where it holds the epochs)"))
    selections = list(selections)
    lines.extend(older_selections(selections, root))
    for path in selections:
        problem = selection_problem(path, root, plan)
        if problem is not None:
            lines.append(_move(Damage(path, problem), root, stamp, dry_run,
                               "this run makes the selection again"))
    report = damaged_report(selections, root)
    if report is None and lines and (root / layout.REPORT_HTML).is_file():
        # Snakemake takes a missing file whose readers are all up to date for a deleted
        # intermediate, and makes it again only for a job that has to run: the report
        report = Damage(layout.REPORT_HTML, f"{layout.REPORT_HTML} shows what was moved aside "
                        "above")
    if report is not None:
        lines.append(_move(report, root, stamp, dry_run, "this run renders it again"))
    return lines


def _move(damage: Damage, root: Path, stamp: str, dry_run: bool, what_follows: str) -> str:
    target = destination(damage.path, root, stamp)
    if dry_run:
        return (f"cnnlab: {damage.reason}; a real run moves {damage.path} to {target} and "
                f"{what_follows.removeprefix('this run ')} (this dry run moves nothing).")
    (root / target).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(root / damage.path, root / target)
    return f"cnnlab: {damage.reason}; moved {damage.path} to {target}: {what_follows}."
