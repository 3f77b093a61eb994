"""A training's heartbeat file: what it has reached, written by the training, read by status.

A running training (cnnlab.train.training) keeps ``progress-e<E>.json`` in its run's state
folder (cnnlab.store.layout.progress_json): the epoch it has finished, its last validation
accuracy, the seconds of the epochs this process trained, when it started, and who
trains it (host, process id and that process's start time). The file is rewritten,
atomically (cnnlab.store.files), after every epoch and every ``BEAT_SECONDS`` by a
background thread, and once more with the final state (completed, diverged or failed)
when the training ends.

Whether a training still runs (:func:`is_running`)
    A training that ends normally, or with an error, says so in the file. One that is
    killed (SIGKILL, a lost node, a job's time limit) cannot: its file still says
    "training". On the host that trained it, the process id decides: the process must
    exist and have the recorded start time (a process id can be reused). On another
    host (a cluster's login node reading the shared file system) no process can be
    looked at, so the heartbeat decides: a file older than ``STALE_SECONDS`` belongs to
    a training that no longer beats. Snakemake's own ``.snakemake/incomplete`` markers
    were not used: they say a job started and has not finished, not whether its
    process still lives (a killed workflow leaves them behind), and their names are
    Snakemake's internals.

The file lies in the state folder, not among the training's outputs, so that Snakemake
(which deletes a failed job's outputs) leaves it be, and so that a reader never opens
a file Snakemake tracks.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from cnnlab.errors import CnnlabError
from cnnlab.store import layout
from cnnlab.store.files import process_start_time, write_json

HEARTBEAT_FORMAT = 1
BEAT_SECONDS = 10.0
STALE_SECONDS = 60.0  # six missed beats: a training on another host has stopped
RUNNING, COMPLETED, DIVERGED, FAILED = "training", "completed", "diverged", "failed"


@dataclass
class Heartbeat:
    """The writer: ``with Heartbeat(...) as beat:``, ``beat.epoch_done(...)`` after each
    epoch, ``beat.finish(status)`` at the end (an exception leaves it "failed")."""

    path: Path
    run_id: str
    directory: str
    epochs: int
    epoch: int = 0
    resumed_from_epoch: int = 0
    val_accuracy: float | None = None
    epoch_seconds: list[float] = field(default_factory=list)
    status: str = RUNNING
    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _pid_started: float | None = field(default=None, repr=False)

    @classmethod
    def of_job(cls, run_id: str, epochs: int, out_dir: str | os.PathLike,
               state_dir: str | os.PathLike) -> Heartbeat:
        """The heartbeat of the training of ``run_id`` to ``epochs`` (cnnlab.train.training)."""
        return cls(Path(layout.progress_json(str(state_dir), epochs)), run_id, str(out_dir),
                   epochs)

    def announce(self) -> None:
        """Say that the job has started (it imports TensorFlow next, for seconds): without
        it, a starting job would look like one that waits."""
        self._pid_started = process_start_time(os.getpid())
        self._write()

    def __enter__(self) -> Self:
        self.announce()
        self._thread = threading.Thread(target=self._beat, name="cnnlab-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.status == RUNNING:
            self.status = FAILED if kind is not None else COMPLETED
        self._write()

    def resumed(self, epoch: int, val_accuracy: float | None) -> None:
        with self._lock:
            self.epoch = self.resumed_from_epoch = epoch
            self.val_accuracy = val_accuracy
        self._write()

    def epoch_done(self, epoch: int, val_accuracy: float, seconds: float) -> float:
        """Record a finished epoch; return the seconds the remaining epochs should take
        at this process's mean speed."""
        with self._lock:
            self.epoch, self.val_accuracy = epoch, float(val_accuracy)
            self.epoch_seconds.append(float(seconds))
        self._write()
        return (self.epochs - epoch) * sum(self.epoch_seconds) / len(self.epoch_seconds)

    def finish(self, status: str) -> None:
        self.status = status

    def _beat(self) -> None:
        while not self._stop.wait(BEAT_SECONDS):
            self._write()

    def _write(self) -> None:
        with self._lock:
            data = {
                "format": HEARTBEAT_FORMAT, "run_id": self.run_id, "directory": self.directory,
                "epochs": self.epochs, "epoch": self.epoch,
                "resumed_from_epoch": self.resumed_from_epoch,
                "val_accuracy": self.val_accuracy, "epoch_seconds": list(self.epoch_seconds),
                "status": self.status, "started": self.started, "beat": time.time(),
                "host": socket.gethostname(), "pid": os.getpid(),
                "pid_started": self._pid_started,
            }
            try:
                write_json(self.path, data)
            except (OSError, CnnlabError):
                # a full (CnnlabError, from the atomic writer) or lost disk: the training's
                # own outputs will say so; a heartbeat
                # that cannot be written never fails a training (status then shows it
                # stopped, or waiting)
                pass


@dataclass(frozen=True)
class Progress:
    """What a heartbeat file says, read back by :func:`read_heartbeat`."""

    run_id: str
    directory: str
    epochs: int
    epoch: int
    resumed_from_epoch: int
    val_accuracy: float | None
    epoch_seconds: list[float]
    status: str
    started: float
    beat: float
    host: str
    pid: int
    pid_started: float | None
    modified: float  # the file's own time (set by the file system that holds it)

    @property
    def seconds_per_epoch(self) -> float | None:
        if not self.epoch_seconds:
            return None
        return sum(self.epoch_seconds) / len(self.epoch_seconds)


def read_heartbeat(path: str | os.PathLike) -> Progress | None:
    """The heartbeat file at ``path``, or None where there is none, or it cannot be read,
    is not of this format or holds a value out of range (:func:`in_range`): a reader of
    status never fails on one training's file."""
    path = Path(path)
    try:
        modified = path.stat().st_mtime
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != HEARTBEAT_FORMAT:
            return None
        progress = Progress(
            run_id=str(data["run_id"]), directory=str(data["directory"]),
            epochs=int(data["epochs"]), epoch=int(data["epoch"]),
            resumed_from_epoch=int(data["resumed_from_epoch"]),
            val_accuracy=None if data["val_accuracy"] is None else float(data["val_accuracy"]),
            epoch_seconds=[float(value) for value in data["epoch_seconds"]],
            status=str(data["status"]), started=float(data["started"]),
            beat=float(data["beat"]), host=str(data["host"]), pid=int(data["pid"]),
            pid_started=None if data["pid_started"] is None else float(data["pid_started"]),
            modified=modified)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return None
    return progress if in_range(progress) else None


def in_range(progress: Progress) -> bool:
    """Whether every field of a heartbeat read back is one a training could have written
    (a pid of -1 or an epoch past the training's end is a damaged or foreign file)."""
    times = [progress.started, progress.beat, *progress.epoch_seconds]
    if progress.pid_started is not None:
        times.append(progress.pid_started)
    return (progress.pid > 0 and progress.epochs >= 1
            and 0 <= progress.resumed_from_epoch <= progress.epoch <= progress.epochs
            # NaN: the accuracy of a model that diverged
            and (progress.val_accuracy is None or math.isnan(progress.val_accuracy)
                 or 0 <= progress.val_accuracy <= 1)
            and all(math.isfinite(value) and value >= 0 for value in times)
            and progress.status in (RUNNING, COMPLETED, DIVERGED, FAILED)
            and bool(progress.run_id) and bool(progress.host))


def is_running(progress: Progress, now: float | None = None) -> bool:
    """Whether the training of ``progress`` still runs (see the module's text for how)."""
    if progress.status != RUNNING:
        return False
    if progress.host == socket.gethostname():
        started = process_start_time(progress.pid)
        if started is None:
            return False
        # the same start time, or another process has the id now
        return progress.pid_started is None or abs(started - progress.pid_started) <= 1.0
    now = time.time() if now is None else now
    return now - max(progress.modified, progress.beat) < STALE_SECONDS
