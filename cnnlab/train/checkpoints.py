"""A training's resume state: one checkpoint per saved epoch, its identity, saving it,
finding the usable ones, choosing where to resume and restoring it, under one lock.

A checkpoint (:class:`Checkpoint`) is one ``.npz`` file in a run's state folder: all model
variables (weights and the Dropout layers' seed-generator states, which ``save_weights``
leaves out), all optimizer variables (iteration count, moments), the epoch, the history
so far, the divergence verdict, if any, and the model's outputs for the validation images
after each epoch so far (member ``predictions``, float32 (epoch, n): what predictions.npz
holds, so that a resumed training writes the whole file). It is written atomically
(cnnlab.store.files) after every epoch: ``latest.state.npz`` is replaced each time;
``epochNNNN.state.npz`` is kept for the epochs the caller asks to keep (cnnlab.train.training
keeps every save epoch, the target epoch and an epoch that diverged) and linked to
``latest.state.npz``. A state of an older ``STATE_FORMAT`` is stale.

Each checkpoint carries a hash (:func:`state_hash`) of the params, the data, the library
versions and the pipeline settings that change the numbers; one with another hash is
stale and :func:`usable` deletes it. :func:`exclusive_lock` on ``state_dir/.lock``
keeps two jobs from training the same run at once (the second waits, then resumes from
the first one's checkpoint).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.store import files

STATE_FORMAT = 2  # 2: the validation outputs (predictions) are part of a state
LATEST_STATE = "latest.state.npz"
_EPOCH_STATE = re.compile(r"^epoch(\d{4,})\.state\.npz$")


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint holds beside the variables, and where it lies."""

    epoch: int
    history: list[dict]  # the history.csv rows of epochs 1..epoch
    diverged_reason: str | None = None
    path: Path | None = None  # None until it is saved or read


def state_hash(params: dict, data_sha256: str, versions: dict, device: dict | None = None) -> str:
    """The identity of a training's states: what makes its numbers what they are."""
    identity = {
        "format": STATE_FORMAT,
        "params": params,
        "data_sha256": data_sha256,
        "versions": {key: versions[key] for key in ("tensorflow", "keras", "numpy")},
        "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        # not steps_per_execution: 1, 4 and 16 give identical histories
    }
    if device and device.get("kind") != "CPU":
        # a GPU computes other numbers than the CPU: its states are its own
        # (CPU states keep the hash they had before devices were told apart)
        identity["device"] = device["name"]
    from cnnlab.train.optimizers import KERAS_UPDATE, update_kernel

    kernel = update_kernel(params["optimizer"])
    if kernel != KERAS_UPDATE:
        # another kernel rounds otherwise: its states are its own (the states of the
        # optimizers that keep Keras' update keep their hash)
        identity["update_kernel"] = kernel
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- saving -----------------------------------------------------------------------------


def save(model, state_dir: Path, checkpoint: Checkpoint, identity: str, keep: bool,
         predictions: np.ndarray) -> Checkpoint:
    """Write ``checkpoint`` with the variables of ``model`` (compiled, its optimizer
    built) and ``predictions`` (float32 (epoch, n): the validation outputs after each of
    its epochs) into ``state_dir``: as ``epochNNNN.state.npz`` and linked to ``latest``
    when ``keep``, else as ``latest`` alone. ``identity`` is its :func:`state_hash`."""
    variables = _state_variables(model)
    predictions = np.asarray(predictions, np.float32)
    if predictions.ndim != 2 or len(predictions) != checkpoint.epoch:
        raise ValueError(f"a state of epoch {checkpoint.epoch} needs the predictions of "
                         f"{checkpoint.epoch} epochs, got shape {predictions.shape}")
    meta = {
        "format": STATE_FORMAT,
        "state_hash": identity,
        "epoch": checkpoint.epoch,
        "history": checkpoint.history,
        "diverged_reason": checkpoint.diverged_reason,
        "variables": [[v.path, list(v.shape), str(v.dtype)] for v in variables],
    }
    target = state_dir / (f"epoch{checkpoint.epoch:04d}.state.npz" if keep else LATEST_STATE)
    # an .npz (a zip of .npy members) written one variable at a time, each straight from
    # its buffer, so that at most one variable's copy is in memory
    with (
        files.atomic_open(target, binary=True) as stream,
        zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive,
    ):
        members = [("meta", lambda: np.array(json.dumps(meta))),
                   ("predictions", lambda: predictions)] + [
            (f"v{index:05d}", variable.numpy) for index, variable in enumerate(variables)
        ]
        for name, value in members:
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                _write_npy(member, np.asarray(value()))
    if keep:
        link_or_copy(target, state_dir / LATEST_STATE)
    return Checkpoint(checkpoint.epoch, checkpoint.history, checkpoint.diverged_reason, target)


def _state_variables(model) -> list:
    return list(model.variables) + list(model.optimizer.variables)


def _write_npy(stream, array: np.ndarray) -> None:
    """``np.lib.format.write_array`` without its chunked copies: header, then the buffer."""
    if not array.flags.c_contiguous:
        array = array.copy(order="C")
    header = np.lib.format.header_data_from_array_1_0(array)
    np.lib.format.write_array_header_1_0(stream, header)
    stream.write(memoryview(array.reshape(-1).view(np.uint8)))


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to (or copy of) ``source``, atomically."""
    temporary = files.temporary_name(target)
    try:
        os.link(source, temporary)
    except OSError:
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


# -- resuming ---------------------------------------------------------------------------


def usable(state_dir: Path, identity: str, log: Callable[[str], None]) -> dict[int, Checkpoint]:
    """The checkpoints of ``state_dir`` with the state hash ``identity``, by epoch;
    deletes unreadable and stale ones. Call it holding :func:`exclusive_lock`."""
    for leftover in state_dir.glob(".*.tmp"):  # from a killed writer; we hold the lock
        leftover.unlink(missing_ok=True)
    checkpoints: dict[int, Checkpoint] = {}
    for path in sorted(state_dir.glob("*.state.npz")):
        if path.name != LATEST_STATE and not _EPOCH_STATE.match(path.name):
            continue
        try:
            meta = _read_meta(path)
        except Exception as error:  # noqa: BLE001 - an unreadable state is stale state
            log(f"discarding unreadable state {path.name}: {error}")
            path.unlink(missing_ok=True)
            continue
        if meta.get("format") != STATE_FORMAT or meta.get("state_hash") != identity:
            log(f"discarding stale state {path.name} (other params, data or versions)")
            path.unlink(missing_ok=True)
            continue
        epoch = int(meta["epoch"])
        # prefer the kept epochNNNN file over latest for the same epoch
        if epoch not in checkpoints or path.name != LATEST_STATE:
            checkpoints[epoch] = Checkpoint(
                epoch, meta["history"], meta.get("diverged_reason"), path
            )
    return checkpoints


def _read_meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as stored:
        return json.loads(str(stored["meta"]))


def read_latest(state_dir: Path, with_predictions: bool = False
                ) -> tuple[Checkpoint, np.ndarray | None] | None:
    """The newest checkpoint of ``state_dir`` (epoch, history, divergence) and, if asked,
    its predictions, for readers that only report progress (cnnlab status, the partial
    report): read without the lock (the file is replaced atomically, so an open one stays
    whole) and without checking its identity; None where there is none or it cannot be
    read (a reader of progress never fails on one run's state)."""
    path = Path(state_dir) / LATEST_STATE
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("format") != STATE_FORMAT:
                return None
            predictions = np.asarray(stored["predictions"]) if with_predictions else None
        checkpoint = Checkpoint(int(meta["epoch"]), list(meta["history"]),
                                meta.get("diverged_reason"), path)
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile):
        return None
    return checkpoint, predictions


def choose_resume(
    checkpoints: dict[int, Checkpoint], epochs: int, save_epochs: list[int]
) -> Checkpoint | None:
    """The newest checkpoint at or below ``epochs`` from which the weights of every
    save epoch it has passed can be rewritten (those epochs have checkpoints too)."""
    for epoch in sorted(checkpoints, reverse=True):
        if epoch > epochs:
            continue
        if all(save in checkpoints for save in save_epochs if save <= epoch):
            return checkpoints[epoch]
    return None


def restore(model, checkpoint: Checkpoint, identity: str) -> np.ndarray:
    """Assign the variables of ``checkpoint`` to ``model`` (built like the one saved);
    return its predictions (float32 (epoch, n), as :func:`save` took them)."""
    variables = _state_variables(model)
    with np.load(checkpoint.path, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        # compare shapes and dtypes: seed-generator paths carry a per-process counter
        expected = [[list(v.shape), str(v.dtype)] for v in variables]
        stored_layout = [[shape, dtype] for _path, shape, dtype in meta["variables"]]
        if meta["state_hash"] != identity or stored_layout != expected:
            raise RuntimeError(f"{checkpoint.path}: state does not match this model; delete it")
        predictions = stored["predictions"]
        if predictions.dtype != np.float32 or predictions.ndim != 2 \
                or len(predictions) != checkpoint.epoch:
            raise RuntimeError(f"{checkpoint.path}: its predictions are not those of "
                               f"{checkpoint.epoch} epochs; delete it")
        for index, variable in enumerate(variables):
            variable.assign(stored[f"v{index:05d}"])
    return predictions


@contextlib.contextmanager
def lock_unless_held(path: Path) -> Iterator[bool]:
    """Hold :func:`exclusive_lock`'s lock on ``path`` without waiting: yield True holding it
    (or where there is no lock file: nothing has trained there), False holding nothing
    where another process holds it now."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - held across the yield
    except FileNotFoundError:
        yield True
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive_lock(path: Path, log: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``path``; say so and wait while another holds it."""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another job that trains this run ({path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
