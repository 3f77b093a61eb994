"""Train one run to E epochs: resume it, fit its epochs, record them (deterministic).

``train(training, arrays_path, out_dir, state_dir)`` trains the planned training (a
cnnlab.plan.runs.Training, which scripts/train.py reads from its job spec) into ``out_dir``:
history.csv (written last, so its presence means the others are there), record.json,
summary.csv, predictions.npz and weights/. Its phases, one function each: make the job, load
the arrays, build the model, resume from a checkpoint, build the input pipelines, fit the
epochs (saving a checkpoint after each), write the record. docs/training.md says what each
file holds and why a training is deterministic, resumable and fast.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnnlab.analysis.diagnostics import diverged_reason
from cnnlab.data.arrays import TrainingArrays, load_training_arrays
from cnnlab.durations import duration_text
from cnnlab.plan.runs import Training
from cnnlab.store import heartbeat, layout
from cnnlab.train import checkpoints, runtime
from cnnlab.train.checkpoints import Checkpoint
from cnnlab.train.job import (
    STEPS_PER_EXECUTION,
    Environment,
    Job,
    Progress,
    save_weights,
    write_outputs,
)
from cnnlab.train.pipelines import Pipelines, build_pipelines, epoch_order, labels_for_loss

TRAINING_COLUMNS = ("loss", "accuracy")  # fit's running means; the val_ columns are ours


def default_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train(
    training: Training,
    arrays_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    state_dir: str | os.PathLike,
    log: Callable[[str], None] | None = None,
    beat: heartbeat.Heartbeat | None = None,
) -> dict:
    """Train ``training`` on the arrays in ``arrays_path``; write outputs; return the record.

    ``training`` is the plan's (its save epochs lie in 1..E, its parameters passed the
    config's check: nothing of it is checked again). ``beat``: the job's
    heartbeat where the job announced itself before TensorFlow was imported
    (scripts/train.py), so that its start time counts that too.
    """
    started = time.perf_counter()
    log = log or default_log
    job = Job.of(training, Path(out_dir), Path(state_dir))
    settings = runtime.training_settings(job.threads, job.params.get("onednn", "auto"))
    data = load_training_arrays(arrays_path)
    environment = _environment(job, settings, data)
    job.state_dir.mkdir(parents=True, exist_ok=True)
    Path(layout.weights_directory(job.out_dir)).mkdir(parents=True, exist_ok=True)
    # the heartbeat (cnnlab.store.heartbeat) tells `cnnlab status` what this training has reached
    beat = beat or heartbeat.Heartbeat.of_job(training.run_id, training.epochs,
                                               job.out_dir, job.state_dir)
    with checkpoints.exclusive_lock(Path(layout.state_lock(str(job.state_dir))), log), beat:
        _remove_leftover_weights(job)
        model = _compiled_model(job, data.image_shape, environment.precision)
        progress = _resume(model, job, environment, log)
        if progress.history:
            beat.resumed(len(progress.history), progress.history[-1]["val_accuracy"])
        pipelines = build_pipelines(data, job.params["batch_size"], job.params["loss"],
                                    job.threads)
        del data  # the pipelines hold the images as tensors: drop the NumPy copy
        log(_start_line(job, environment, progress, pipelines, model.count_params()))
        _fit_epochs(model, job, environment, progress, pipelines, log, beat)
        record = write_outputs(model, job, environment, progress, pipelines.test_labels,
                               pipelines.images_in_memory, started)
        beat.finish(record["status"])
    log(
        f"{job.run_id}: {record['status']} after {record['epochs_trained']} epochs, "
        f"{record['wall_seconds']:.1f} s, peak memory {record['peak_memory_mb']:.0f} MB"
    )
    return record


# --- the phases -------------------------------------------------------------------


def _environment(job: Job, settings: dict, data: TrainingArrays) -> Environment:
    versions = runtime.library_versions()
    device = runtime.training_device()
    precision = runtime.resolve_precision(job.params.get("precision", "float32"))
    # a state trained in one precision never resumes in the other
    state_hash = checkpoints.state_hash({**job.params, "precision": precision}, data.sha256,
                                        versions, device)
    return Environment(settings, versions, device, data.sha256, state_hash, precision)


def _remove_leftover_weights(job: Job) -> None:
    """Temporary weight files of a killed job (cnnlab.store.files names each one afresh, so
    none is ever overwritten); call it holding the lock."""
    for leftover in Path(layout.weights_directory(job.out_dir)).glob(f".*{layout.WEIGHTS_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def _compiled_model(job: Job, image_shape: tuple[int, ...], precision: str):
    """The run's model in ``precision``, seeded, compiled, its optimizer built."""
    from cnnlab.train.models import build_model, compile_model

    runtime.seed_everything(job.seed)
    model = build_model({**job.params, "precision": precision}, image_shape)
    compile_model(model, job.params, STEPS_PER_EXECUTION)
    return model


def _resume(model, job: Job, environment: Environment, log) -> Progress:
    """Restore the checkpoint to resume from, if any, after rewriting the weights of the
    save epochs it has passed from theirs; a fresh Progress where there is none."""
    usable = checkpoints.usable(job.state_dir, environment.state_hash, log)
    resume = checkpoints.choose_resume(usable, job.epochs, job.save_epochs)
    if resume is None:
        return Progress()
    weights = []
    for save_epoch in job.save_epochs:
        if save_epoch <= resume.epoch:
            checkpoints.restore(model, usable[save_epoch], environment.state_hash)
            weights.append(save_weights(model, job, save_epoch))
    predictions = checkpoints.restore(model, resume, environment.state_hash)
    log(
        f"{job.run_id}: resuming from the state at epoch {resume.epoch}"
        + (f" (diverged: {resume.diverged_reason})" if resume.diverged_reason else "")
    )
    return Progress(
        history=list(resume.history),
        outputs=list(predictions),
        diverged_reason=resume.diverged_reason,
        resumed_from_epoch=len(resume.history),
        weights=weights,
    )


def _start_line(job: Job, environment: Environment, progress: Progress, pipelines: Pipelines,
                parameters: int) -> str:
    return (
        f"{job.run_id}: {job.params['model']} with {parameters:,} parameters, "
        f"{pipelines.train_count} training and {pipelines.test_count} validation images "
        f"({pipelines.images_in_memory} in memory), epochs "
        f"{progress.resumed_from_epoch + 1}..{job.epochs}, {job.threads} thread(s), "
        f"{environment.device['name']}"
    )


def _fit_epochs(model, job: Job, environment: Environment, progress: Progress, pipelines: Pipelines,
                log, beat: heartbeat.Heartbeat) -> None:
    """Fit epoch after epoch, a checkpoint after each, up to the target or a divergence."""
    epoch = len(progress.history)
    while progress.diverged_reason is None and epoch < job.epochs:
        epoch += 1
        row = _fit_epoch(model, job, pipelines, epoch, progress)
        progress.history.append(row)
        progress.diverged_reason = diverged_reason(row, job.params["loss"])
        _save_epoch(model, job, environment, progress, epoch)
        seconds_left = beat.epoch_done(epoch, row["val_accuracy"], row["seconds"])
        eta = duration_text(seconds_left, unknown="?")
        log(
            f"{job.run_id} epoch {epoch}/{job.epochs}: loss {row['loss']:.4f} "
            f"accuracy {row['accuracy']:.4f} val_loss {row['val_loss']:.4f} "
            f"val_accuracy {row['val_accuracy']:.4f} ({row['seconds']:.1f} s, "
            f"ETA {eta})"
            + (f" DIVERGED: {progress.diverged_reason}" if progress.diverged_reason else "")
        )


def _fit_epoch(model, job: Job, pipelines: Pipelines, epoch: int, progress: Progress) -> dict:
    """Train ``epoch`` (its images in epoch_order) and validate; its history row (the
    validation outputs go to ``progress.outputs``)."""
    pipelines.train_order.assign(epoch_order(job.seed, epoch, pipelines.train_count))
    epoch_started = time.perf_counter()
    if progress.first_epoch_started is None:
        progress.first_epoch_started = epoch_started
    fitted = model.fit(
        pipelines.training,
        epochs=epoch,
        initial_epoch=epoch - 1,
        shuffle=False,  # the order is epoch_order's
        verbose=0,
    )
    outputs, scores = _validate(model, pipelines, job.params["loss"])
    seconds = time.perf_counter() - epoch_started
    progress.outputs.append(outputs)
    row = {"epoch": epoch}
    for column in TRAINING_COLUMNS:
        row[column] = float(fitted.history[column][-1])
    return {**row, **scores, "seconds": seconds}


def _validate(model, pipelines: Pipelines, loss: str) -> tuple[np.ndarray, dict]:
    """The model's outputs for the validation images, float32 (n,), from one predict
    (the only validation forward pass), and their val_loss (the compiled loss over the
    whole split) and val_accuracy (images called right / n, as the report calls them)."""
    from cnnlab.analysis.statistics import correct

    outputs = np.asarray(model.predict(pipelines.validation, verbose=0), np.float32)
    val_loss = model.loss(labels_for_loss(pipelines.test_labels, loss), outputs)
    right = int(np.count_nonzero(correct(outputs.reshape(-1), pipelines.test_labels, loss)))
    return outputs.reshape(-1), {"val_loss": float(val_loss),
                                 "val_accuracy": right / pipelines.test_count}


def _save_epoch(model, job: Job, environment: Environment, progress: Progress, epoch: int) -> None:
    """The checkpoint of ``epoch``, just fitted, and its weights if it is a save epoch."""
    saving_started = time.perf_counter()
    checkpoint = Checkpoint(epoch, progress.history, progress.diverged_reason)
    # kept: save epochs (their weights can be rewritten), the target (where a longer
    # training continues) and a divergence (the verdict stands)
    keep = epoch in job.save_epochs or epoch == job.epochs or progress.diverged_reason is not None
    checkpoints.save(model, job.state_dir, checkpoint, environment.state_hash, keep=keep,
                     predictions=np.stack(progress.outputs))
    if epoch in job.save_epochs:
        progress.weights.append(save_weights(model, job, epoch))
    progress.state_seconds += time.perf_counter() - saving_started
