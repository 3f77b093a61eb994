"""A training job's parts and what it writes: the job a planned training makes, its set-up,
its progress, and its outputs (summary.csv, record.json, predictions.npz, the weights of its
save epochs, history.csv last) with the record that states all of them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.plan.runs import Training
from cnnlab.store import files, layout
from cnnlab.store.history import write_history_csv
from cnnlab.train import runtime

STEPS_PER_EXECUTION = 16  # batches per call of the compiled step: 1, 4 and 16 give equal numbers


@dataclass(frozen=True)
class Job:
    """A planned training (cnnlab.plan.runs.Training, trusted as the plan made it) and the
    folders it writes: ``out_dir`` (the outputs) and ``state_dir`` (the run's checkpoints,
    shared by its trainings of any length)."""

    run_id: str
    params: dict  # the run's parameters as the plan wrote them (RunSpec.to_dict)
    epochs: int
    save_epochs: list[int]
    out_dir: Path
    state_dir: Path

    @classmethod
    def of(cls, training: Training, out_dir: Path, state_dir: Path) -> Job:
        return cls(training.run_id, training.spec.to_dict(), training.epochs,
                   list(training.save_epochs), out_dir, state_dir)

    @property
    def threads(self) -> int:
        return int(self.params["threads"])

    @property
    def seed(self) -> int:
        return int(self.params["seed"])


@dataclass(frozen=True)
class Environment:
    """What a training runs on and with, as its record states it."""

    settings: dict  # cnnlab.train.runtime's, applied to this process
    versions: dict
    device: dict
    data_sha256: str
    state_hash: str  # its checkpoints' identity (cnnlab.train.checkpoints.state_hash)
    precision: str  # the dtype policy trained in: `auto` resolved (runtime.resolve_precision)


@dataclass
class Progress:
    """What a training has done so far, the resumed epochs included."""

    history: list[dict] = field(default_factory=list)
    outputs: list[np.ndarray] = field(default_factory=list)  # per epoch, float32 (n,)
    diverged_reason: str | None = None
    resumed_from_epoch: int = 0
    weights: list[str] = field(default_factory=list)  # relative to the output folder
    state_seconds: float = 0.0
    first_epoch_started: float | None = None


def write_outputs(model, job: Job, environment: Environment, progress: Progress, test_labels: np.ndarray,
                  images_in_memory: str, started: float) -> dict:
    """summary.csv, record.json, predictions.npz, then history.csv (last: its presence
    means all are there); returns the record."""
    from cnnlab.train.models import write_summary_csv

    write_summary_csv(model, layout.summary_csv(job.out_dir))
    record = job_record(job, environment, progress, images_in_memory, started)
    files.write_record(layout.record_json(job.out_dir), record)
    files.write_predictions(layout.predictions_npz(job.out_dir), test_labels,
                            np.stack(progress.outputs))
    write_history_csv(progress.history, layout.history_csv(job.out_dir))
    return record


def save_weights(model, job: Job, epoch: int) -> str:
    """The model's weights at ``epoch``, written whole or not at all; their file's name
    relative to the output folder, as the record lists it."""
    relative = layout.weights_name(epoch)
    # Keras wants a file name ending in .weights.h5, not a stream
    with files.atomic_path(job.out_dir / relative, suffix=layout.WEIGHTS_SUFFIX) as temporary:
        model.save_weights(str(temporary), overwrite=True)
    return relative


def job_record(job: Job, environment: Environment, progress: Progress, images_in_memory: str,
               started: float) -> dict:
    """record.json: what was trained, how far, on what, in how much time and memory."""
    from cnnlab.train.optimizers import update_kernel

    process_started = runtime.process_started()
    history, resumed = progress.history, progress.resumed_from_epoch
    return {
        "run_id": job.run_id,
        "status": "diverged" if progress.diverged_reason else "completed",
        "diverged_reason": progress.diverged_reason,
        "epochs_requested": job.epochs,
        "epochs_trained": len(history),
        "save_epochs": job.save_epochs,
        "weights": sorted(progress.weights),
        "resumed_from_epoch": resumed,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "training_seconds": round(sum(row["seconds"] for row in history[resumed:]), 3),
        "state_seconds": round(progress.state_seconds, 3),
        "startup_seconds": _seconds_between(process_started, progress.first_epoch_started),
        "process_seconds": _seconds_between(process_started, time.perf_counter()),
        "peak_memory_mb": round(runtime.peak_memory_mb(), 1),
        "images_in_memory": images_in_memory,
        "device": environment.device,
        "precision": environment.precision,
        # Unix times of the process's start and of this record: a lab's measured schedule
        "started_at": round(time.time() - time.perf_counter() + (process_started or started), 3),
        "finished_at": round(time.time(), 3),
        "threads": environment.settings["threads"],
        "inter_op_threads": environment.settings["inter_op_threads"],
        # oneDNN's state in the training process (the run's `onednn` resolved: on, off) and
        # the variable that made it (None: TensorFlow's default for the CPU)
        "onednn": environment.settings["onednn"],
        "onednn_opts": environment.settings["TF_ENABLE_ONEDNN_OPTS"],
        "steps_per_execution": STEPS_PER_EXECUTION,
        "update_kernel": update_kernel(job.params["optimizer"]),
        "versions": environment.versions,
        "params": job.params,
        "data_sha256": environment.data_sha256,
        "state_hash": environment.state_hash,
    }


def _seconds_between(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(end - start, 3)
