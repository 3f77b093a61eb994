"""The lab's progress from what the workflow wrote: each training's state and the time left.

:func:`lab_status` reads, for every training of the plan (cnnlab.plan.plan), only files the
workflow writes: the training's outputs (record.json, history.csv), its heartbeat
(cnnlab.store.heartbeat) and its run's resume state (cnnlab.train.checkpoints). Nothing is locked
or written, so it may run while Snakemake runs, after a kill, and on another host of a
cluster that sees the same file system. It imports neither TensorFlow nor pandas.

A training's state
    done / diverged: its history.csv and record.json are there (the record says which);
    training: its heartbeat says it trains and its process lives (cnnlab.store.heartbeat);
    stopped: its process ended without finishing (killed, a lost node): the next
    ``snakemake`` resumes it from the epochs its resume state holds;
    failed: it ended with an error (see its log), or its outputs cannot be read;
    waiting: nothing of it has run yet. The trainings of a task planned after a
    selection (6E, 6F) are unknown until the selection exists: one row per such task
    says so.

Time left
    A running training: its remaining epochs at the mean speed this process measured.
    Any other: the job's start-up (the median measured by finished trainings: the
    interpreter, TensorFlow, the data) plus cnnlab.plan.scheduling's estimate of its remaining
    epochs, scaled by how far the measured epochs of this lab are from cnnlab.plan.scheduling's
    estimate of them (cnnlab.plan.scheduling is fitted on another CPU and ignores small images'
    overheads). The trainings planned after a selection are estimated as if it chose its
    first candidate. The lab's time left schedules those jobs on ``cores`` cores, longest
    first as the workflow does (rules/common.smk), then the figures and selections, then
    the report (``OTHER_JOB_SECONDS`` each, a concept figure ``CONCEPT_JOB_SECONDS``).
    Where the workflow runs more threads than this machine has cores, the trainings share
    them: every measured speed is turned into the speed alone, and the schedule shares the
    machine's cores again (cnnlab.watch.sharing).
"""

from __future__ import annotations

import os
import socket
import statistics
import textwrap
from dataclasses import dataclass
from pathlib import Path

from cnnlab.durations import duration_text
from cnnlab.errors import CnnlabError
from cnnlab.plan import concept_models
from cnnlab.plan.complete_plan import complete_plan, guessed_plans
from cnnlab.plan.plan import Plan
from cnnlab.plan.runs import Training
from cnnlab.plan.scheduling import estimated_seconds, training_priority
from cnnlab.store import heartbeat, layout
from cnnlab.store.files import read_manifest, read_record
from cnnlab.store.history import read_column
from cnnlab.train import checkpoints
from cnnlab.watch.sharing import (
    Span,
    machine_cores,
    most_threads_at_once,
    schedule,
    slowdowns,
)

DEFAULT_JOB_SECONDS = 15.0  # a training job's start-up before any has been measured
SNAKEMAKE_JOB_SECONDS = 1.0  # Snakemake's own work per job: starting it, checking its outputs
# a figure, selection or report job: an interpreter, pandas, matplotlib, a figure
# (Snakemake's start and end times of the small lab's jobs on a busy 2-core machine:
# plot_task 2-4.4 s, select_setup 3 s, report 2.2 s); a concept figure loads Keras
# and a model too (11.5 s)
OTHER_JOB_SECONDS = 3.5
CONCEPT_JOB_SECONDS = 10.0
WAITING, TRAINING, STOPPED, DONE, FAILED, DIVERGED = (
    "waiting", "training", "stopped", "done", "failed", "diverged")


@dataclass
class TrainingState:
    """One training (or, with ``training`` None, the unknown runs of a task that waits for
    its selection) as :func:`lab_status` found it."""

    name: str  # the run id, or what waits for a selection
    tasks: list[str]
    state: str
    epoch: int
    epochs: int
    val_accuracy: float | None = None
    seconds_per_epoch: float | None = None
    seconds_left: float | None = None
    threads: int = 1
    priority: float = 0.0
    note: str | None = None
    training: Training | None = None
    overhead: float | None = None  # measured start-up and writing of a finished job
    measured: tuple[float, int] | None = None  # (seconds, epochs) this job trained
    ran: tuple[float, float] | None = None  # (start, end) of its job, from its heartbeat
    host: str | None = None  # where its job ran, from its heartbeat
    slowdown: float = 1.0  # its measured time / its time alone (cnnlab.watch.sharing)


@dataclass
class LabStatus:
    dataset: str
    trainings: list[TrainingState]
    other_jobs: int  # figures, selections and the report still to make
    cores: int
    seconds_left: float | None
    speed_factor: float  # measured time / cnnlab.plan.scheduling's estimate
    machine_cores: int | None = None  # this machine's, where the trainings share them

    def count(self, *states: str) -> int:
        return sum(1 for row in self.trainings if row.state in states and row.training)

    @property
    def finished(self) -> bool:
        return (all(row.state in (DONE, DIVERGED) for row in self.trainings)
                and self.other_jobs == 0)


# -- the plan ---------------------------------------------------------------------------


def task_uses(plan: Plan) -> dict[str, list[str]]:
    uses: dict[str, list[str]] = {}
    for task_id, task in plan.tasks.items():
        for entry in task.entries:
            names = uses.setdefault(entry.training.directory, [])
            if task_id not in names:
                names.append(task_id)
    return uses


# -- one training -----------------------------------------------------------------------


def _last_val_accuracy(history_csv: Path) -> float | None:
    """The last epoch's validation accuracy (:func:`cnnlab.store.history.read_column`)."""
    try:
        return read_column(history_csv, "val_accuracy")[-1]
    except (OSError, UnicodeDecodeError, IndexError, ValueError):
        return None


def training_state(training: Training, tasks: list[str], root: Path) -> TrainingState:
    row = TrainingState(training.run_id, tasks, WAITING, 0, training.epochs,
                        threads=max(1, training.spec.threads), training=training)
    beat = heartbeat.read_heartbeat(root / layout.progress_json(training.state_directory,
                                                                training.epochs))
    if beat is not None:
        row.ran, row.host = (beat.started, max(beat.beat, beat.modified)), beat.host
    if (root / training.history_csv).exists():
        try:
            record = read_record(root / layout.record_json(training.directory))
        except CnnlabError as error:
            row.state, row.note = FAILED, str(error)
            return row
        row.state = DIVERGED if record["status"] == "diverged" else DONE
        row.epoch = int(record["epochs_trained"])
        row.val_accuracy = _last_val_accuracy(root / training.history_csv)
        trained = row.epoch - int(record["resumed_from_epoch"])
        seconds = float(record["training_seconds"])
        if trained > 0:
            row.seconds_per_epoch = seconds / trained
            row.measured = (seconds, trained)
        if record.get("process_seconds") is not None:
            row.overhead = max(0.0, float(record["process_seconds"]) - seconds)
        row.seconds_left = 0.0
        return row
    saved = checkpoints.read_latest(root / training.state_directory)
    saved_epoch = min(saved[0].epoch, training.epochs) if saved else 0
    if saved:
        history = saved[0].history[:saved_epoch]
        row.val_accuracy = float(history[-1]["val_accuracy"]) if history else None
    row.epoch = saved_epoch
    if beat is not None and heartbeat.is_running(beat):
        row.state = TRAINING
        if beat.epoch >= saved_epoch:  # else it is starting and will resume from the state
            row.epoch, row.val_accuracy = beat.epoch, beat.val_accuracy
        row.seconds_per_epoch = beat.seconds_per_epoch
        if len(beat.epoch_seconds) > 2:  # the first epoch traces the model: slower
            row.seconds_per_epoch = statistics.median(beat.epoch_seconds[1:])
        if beat.epoch_seconds:
            row.measured = (sum(beat.epoch_seconds), len(beat.epoch_seconds))
    elif beat is not None and beat.status == heartbeat.FAILED:
        row.state, row.note = FAILED, f"{training.run_id}: ended with an error; see its log"
    elif saved_epoch or (beat is not None and beat.status == heartbeat.RUNNING):
        row.state = STOPPED
    return row


# -- the estimate -----------------------------------------------------------------------


def _n_train(config: dict, plan: Plan, root: Path) -> int:
    manifest = root / layout.manifest_json(plan.dataset)
    if manifest.exists():
        try:
            return max(1, sum(read_manifest(manifest).counts["train"].values()))
        except (CnnlabError, KeyError):
            pass
    return int(config["datasets"][plan.dataset].get("n_train", 1000))


def estimate(rows: list[TrainingState], config: dict, plan: Plan, root: Path) -> float:
    """Fill in each row's time left; return the speed factor (measured / estimated)."""
    image_size = int(config["datasets"][plan.dataset]["image_size"])
    n_train = _n_train(config, plan, root)

    def cost(training: Training, epochs: int) -> float:
        return estimated_seconds(training.spec, epochs, image_size, n_train)

    # the speeds alone: a training that shared a core ran slower (cnnlab.watch.sharing)
    measured = [(seconds / row.slowdown, cost(row.training, epochs)) for row in rows
                if row.measured for seconds, epochs in [row.measured]]
    estimated = sum(cost_ for _, cost_ in measured)
    factor = sum(seconds for seconds, _ in measured) / estimated if estimated > 0 else 1.0
    overheads = [row.overhead / row.slowdown for row in rows if row.overhead is not None]
    startup = statistics.median(overheads) if overheads else DEFAULT_JOB_SECONDS
    for row in rows:
        if row.training is None:
            continue
        row.priority = training_priority(plan, row.training, image_size, n_train, root)
        if row.state in (DONE, DIVERGED):
            continue
        left = row.epochs - row.epoch
        if row.state == TRAINING and row.seconds_per_epoch is not None:
            row.seconds_left = left * row.seconds_per_epoch / row.slowdown
        elif row.state == TRAINING:
            row.seconds_left = factor * cost(row.training, left) + startup / 2
        else:
            row.seconds_left = SNAKEMAKE_JOB_SECONDS + startup + factor * cost(row.training, left)
    return factor


def other_jobs_left(plan: Plan, root: Path) -> list[float]:
    """The seconds of each figure and selection job not yet done (the report excluded)."""
    jobs = {}
    for task_id in layout.curve_tasks(plan):  # a task's curves and ROC curves: one job
        if not all((root / name).exists()
                   for name in (layout.task_figure(task_id), layout.roc_figure(task_id))):
            jobs[f"plot_task {task_id}"] = OTHER_JOB_SECONDS
    for task_id in concept_models.concept_tasks(plan):  # a concept figure loads a trained model
        if not (root / layout.concept_stats(task_id)).exists():
            jobs[f"plot_concept {task_id}"] = CONCEPT_JOB_SECONDS
    for task_id in plan.selections_needed:
        if not (root / layout.selection_json(plan.dataset, task_id)).exists():
            jobs[f"select_setup {task_id}"] = OTHER_JOB_SECONDS
    return list(jobs.values())


# -- the whole lab ----------------------------------------------------------------------


def lab_status(config: dict, root: str | os.PathLike = ".", cores: int | None = None,
               busy_cores_plus: int | None = None) -> LabStatus:
    """Every training of the lab's plan, its state and time left, and the lab's, on
    ``cores`` cores (all of this machine's by default); with ``busy_cores_plus``, on the
    cores the running trainings use plus that many (a training job does not know the
    workflow's --cores: it takes the cores in use as what the workflow was given)."""
    root = Path(root)
    plan = complete_plan(config, root, skip_unreadable=True)
    guesses = guessed_plans(plan)
    uses = task_uses(plan)
    rows = [training_state(training, uses.get(training.directory, []), root)
            for training in plan.trainings.values()]
    machine_cores = sharing_machine(rows)
    running_threads = sum(row.threads for row in rows if row.state == TRAINING)
    spans = [Span(*row.ran, row.threads) if row.ran and row.host == socket.gethostname()
             else None for row in rows]
    for row, slowdown in zip(rows, slowdowns(spans, machine_cores)):
        row.slowdown = slowdown
    if busy_cores_plus is not None:
        cores = max(busy_cores_plus + running_threads, most_threads_at_once(spans))
    # the workflow runs at least the threads that run now, whatever its --cores was said to be
    cores = max(1, int(cores or os.cpu_count() or 1), running_threads)
    guessed: list[TrainingState] = []
    for task_id, guess in guesses.items():
        waiting = [training for key, training in guess.trainings.items()
                   if key not in plan.trainings]
        guess_uses = task_uses(guess)
        guessed += [TrainingState(training.run_id, guess_uses.get(training.directory, []),
                                  WAITING, 0, training.epochs, training=training,
                                  threads=max(1, training.spec.threads))
                    for training in waiting]
        resolved = [other for other in plan.pending_tasks if not guess.tasks[other].pending]
        rows.append(TrainingState(f"runs that {task_id}'s selection chooses", resolved,
                                  WAITING, 0, len(waiting)))
    factor = estimate(rows + guessed, config, plan, root)
    pending = [row for row in rows if row.training is None]
    for row in pending:
        row.seconds_left = sum(other.seconds_left or 0 for other in guessed
                               if set(other.tasks) & set(row.tasks)) or None
    active = [row for row in rows + guessed if row.training and row.seconds_left]
    running = [(row.seconds_left, row.threads) for row in active if row.state == TRAINING]
    # the workflow's order (cnnlab.plan.scheduling.training_priority)
    queued = sorted(((row.seconds_left, row.threads, row.priority) for row in active
                     if row.state != TRAINING), key=lambda job: -job[2])
    others = other_jobs_left(plan, root)
    report_left = not (root / layout.REPORT_HTML).exists()
    left = schedule(running, [(seconds, threads) for seconds, threads, _ in queued]
                    + [(seconds, 1) for seconds in others], cores, machine_cores)
    if report_left:
        left += OTHER_JOB_SECONDS  # the report comes last, after everything
    return LabStatus(plan.dataset, rows, len(others) + report_left, cores, left, factor,
                     machine_cores)


def sharing_machine(rows: list[TrainingState]) -> int | None:
    """This machine's cores, where its trainings share them; None where a training of the
    lab ran on another host (a cluster: each job has cores of its own)."""
    if any(row.host is not None and row.host != socket.gethostname() for row in rows):
        return None
    return machine_cores()


def job_summary(config: dict, threads: int, root: str | os.PathLike = ".") -> str | None:
    """The one line a training job prints when it ends: the lab's progress and time left,
    on the cores in use (see :func:`lab_status`); None where the lab's files cannot be
    read (the training has succeeded all the same)."""
    try:
        return summary_line(lab_status(config, root, busy_cores_plus=threads))
    except (CnnlabError, OSError, KeyError, ValueError):
        return None


# -- as text ----------------------------------------------------------------------------

# val: the last epoch's validation accuracy; s/ep: seconds per epoch as measured
COLUMNS = (("tasks", 8, "<"), ("state", 8, "<"), ("epochs", 7, ">"), ("val", 5, ">"),
           ("s/ep", 5, ">"), ("left", 6, ">"))


def _cells(row: TrainingState) -> list[str]:
    tasks = ",".join(row.tasks)
    if len(tasks) > 8:
        tasks = tasks[:7] + "+"
    epochs = f"{row.epoch}/{row.epochs}" if row.training else f"{row.epochs} runs"
    accuracy = "" if row.val_accuracy is None else f"{row.val_accuracy:.3f}"
    speed = "" if row.seconds_per_epoch is None else f"{row.seconds_per_epoch:.3g}"
    left = "" if row.state in (DONE, DIVERGED) else duration_text(row.seconds_left, unknown="?")
    return [tasks, row.state, epochs, accuracy, speed, left]


def summary_line(status: LabStatus) -> str:
    total = status.count(WAITING, TRAINING, STOPPED, DONE, FAILED, DIVERGED)
    parts = [f"{status.count(DONE, DIVERGED)} of {total} trainings done"]
    for state in (TRAINING, STOPPED, FAILED, WAITING):
        if status.count(state):
            parts.append(f"{status.count(state)} {state}")
    waits = [row for row in status.trainings if row.training is None]
    if waits:
        parts.append(f"{sum(row.epochs for row in waits)} more after a selection")
    if status.finished:
        return "lab: " + ", ".join(parts) + "; finished"
    shared = (f" (sharing this machine's {status.machine_cores})"
              if status.machine_cores and status.machine_cores < status.cores else "")
    left = duration_text(status.seconds_left, unknown="?")
    return ("lab: " + ", ".join(parts) + f"; about {left}"
            f" left on {status.cores} core{'s' if status.cores != 1 else ''}{shared}")


def status_text(status: LabStatus, width: int = 80) -> str:
    """The status as a table that fits ``width`` columns: a run id too long for its column
    gets a line of its own, the numbers below it."""
    fixed = sum(size + 1 for _, size, _ in COLUMNS)
    name_width = max(12, width - fixed)
    header = f"{'run':<{name_width}}" + "".join(
        f" {title:{align}{size}}" for title, size, align in COLUMNS)
    lines = [header.rstrip(), "-" * min(width, len(header))]
    for row in status.trainings:
        cells = "".join(f" {text:{align}{size}}" for text, (_, size, align)
                        in zip(_cells(row), COLUMNS, strict=True))
        if len(row.name) > name_width:
            lines.append(row.name)
            lines.append((" " * name_width + cells).rstrip())
        else:
            lines.append((f"{row.name:<{name_width}}" + cells).rstrip())
    lines.append("")
    lines.append(textwrap.fill(summary_line(status), width, subsequent_indent="  "))
    if status.speed_factor != 1.0 and not status.finished:
        lines.append(textwrap.fill(
            f"(the epochs so far took {status.speed_factor:.2g} x cnnlab.plan.scheduling's estimate; the "
            "estimates of the others are scaled by it)", width))
    lines += [textwrap.fill(f"note: {row.note}", width, subsequent_indent="  ")
              for row in status.trainings if row.note]
    return "\n".join(lines)
