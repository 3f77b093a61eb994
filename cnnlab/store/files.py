"""The project's own files on disk: one atomic writer for all of them, and a checked reader
beside the writer of each format (data manifest, record, concept figure numbers, summary,
predictions; the selection's in cnnlab.store.selection_file).

Every output is written to a temporary file beside its target, fsynced and renamed onto it
(:func:`atomic_open`): a reader sees the old file or the new one, never half of one. Each
reader turns a missing, unreadable or wrongly shaped file into one CnnlabError naming the
file and what to do, instead of a ``KeyError`` deep in the report.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import os
import re
import secrets
import threading
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import psutil

from cnnlab.errors import CnnlabError
from cnnlab.store.write_failures import (
    NOT_WRITABLE_ERRNOS,
    close_hdf5_left_open,
    disk_full,
    disk_full_message,
    not_writable_message,
)

SPLITS = ("train", "test")


# -- writing ----------------------------------------------------------------------------


def temporary_name(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A fresh name beside ``path`` (``.<name>.<pid>.<random><suffix>``) that no other
    writer uses, so two processes writing the same target never share a temporary file."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


def process_start_time(pid: int) -> float | None:
    """When the process with ``pid`` on this machine started (psutil), or None where there
    is none: how a file's writer is told from a later process that got its pid."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _writer_gone(pid: int, last_written: float) -> bool:
    """Whether the process that wrote a temporary file last modified at ``last_written``
    is gone: no process has that pid, or the one that has it started later (a reused pid)."""
    started = process_start_time(pid)
    return started is None or started > last_written + 1


def remove_stale_temporaries(path: str | os.PathLike, suffix: str = ".tmp") -> None:
    """Remove the temporary files of ``path`` (:func:`temporary_name`) left by writers that
    were killed (SIGKILL, a lost node) before they could clean up, so that a rerun leaves
    none behind. Each target has one writer at a time (one Snakemake job per output); the
    pid check is a second guard, for a writer still running on this machine."""
    path = Path(path)
    name = re.compile(re.escape(f".{path.name}.") + r"(\d+)\.[0-9a-f]{8}" + re.escape(suffix))
    with contextlib.suppress(OSError):
        for leftover in path.parent.glob(glob.escape(f".{path.name}.") + "*" + glob.escape(suffix)):
            match = name.fullmatch(leftover.name)
            if not match or int(match.group(1)) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if _writer_gone(int(match.group(1)), leftover.lstat().st_mtime):
                    leftover.unlink()


# held while a file is written, so that a job stopping on its own (its Snakemake is gone:
# cnnlab.workflow.snakemake_process) waits for the file and leaves no temporary one behind
WRITING = threading.RLock()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """For writers that need a file name, not a stream (Keras' ``save_weights``): yield a
    temporary path beside ``path`` whose name ends in ``suffix``, rename it onto ``path``
    when the block succeeds, remove it when it fails. A full disk is one CnnlabError
    naming ``path`` (no retry can succeed before space is freed)."""
    path = Path(path)
    temporary = temporary_name(path, suffix)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path, suffix)
        with WRITING:
            yield temporary
            with open(temporary, "rb+") as stream:
                os.fsync(stream.fileno())
            os.replace(temporary, path)
    except (OSError, RuntimeError, ValueError) as error:
        # ValueError, RuntimeError: h5py's and zipfile's wrappings of a failed write
        close_hdf5_left_open(temporary)
        if disk_full(error):
            raise CnnlabError(disk_full_message(path)) from None
        if isinstance(error, OSError) and error.errno in NOT_WRITABLE_ERRNOS:
            raise CnnlabError(not_writable_message(path, error)) from None
        raise
    finally:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, PermissionError):
            os.unlink(temporary)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, binary: bool = False) -> Iterator[IO]:
    """Write ``path`` atomically: yield a stream on a new temporary file beside it, then
    fsync and rename it onto ``path``; on an error remove it and leave ``path`` be.

    The parent folder is created. The temporary file gets the usual permissions (0666
    less the umask).
    """
    options = {"mode": "xb"} if binary else {"mode": "x", "newline": "", "encoding": "utf-8"}
    with atomic_path(path) as temporary, open(temporary, **options) as stream:
        yield stream


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_open(path) as stream:
        stream.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, data: Mapping[str, Any]) -> Path:
    """JSON with two-space indent and a final newline, keys in the order given."""
    return write_text(path, json.dumps(data, indent=2) + "\n")


# -- reading ----------------------------------------------------------------------------


def read_json(path: str | os.PathLike, what: str) -> dict:
    """A JSON object from ``path``; ``what`` names the file for the message ("the data
    manifest"). Missing, unreadable and non-object files are one clear error each."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CnnlabError(f"{path}: {what} is missing; run the workflow to create it.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CnnlabError(f"{path}: {what} is not valid JSON ({error}); delete it and run the "
                          "workflow again.") from None
    except OSError as error:
        raise CnnlabError(f"{path}: cannot read {what} ({error.strerror}).") from None
    if not isinstance(data, dict):
        raise CnnlabError(f"{path}: {what} is not a JSON object; delete it and run the workflow "
                          "again.")
    return data


def require(data: Mapping, shape: Mapping[str, type | tuple[type, ...]], path, what: str) -> None:
    """Check that ``data`` has each key of ``shape`` with a value of its type(s)."""
    for key, expected in shape.items():
        if key not in data:
            raise CnnlabError(f"{path}: {what} has no {key!r}; it was written by another "
                              "version or damaged: delete it and run the workflow again.")
        if not isinstance(data[key], expected) or isinstance(data[key], bool) and bool not in (
            expected if isinstance(expected, tuple) else (expected,)
        ):
            raise CnnlabError(f"{path}: {what} has {key!r} of the wrong type "
                              f"({type(data[key]).__name__}); delete it and run the workflow "
                              "again.")


def write_checked_json(path: str | os.PathLike, data: Mapping[str, Any], shape: Mapping,
                       what: str) -> Path:
    """``data`` as JSON once it has the keys and types of ``shape`` (a writer never leaves a
    file its reader would refuse)."""
    require(data, shape, path, what)
    return write_json(path, data)


def read_checked_json(path: str | os.PathLike, shape: Mapping, what: str) -> dict:
    """The JSON object at ``path``, with the keys and types of ``shape``."""
    data = read_json(path, what)
    require(data, shape, path, what)
    return data


# -- a concept figure's numbers (written by cnnlab.report.concept_figures) -----------------

CONCEPT_STATS_SHAPE = {"kind": str}


def write_concept_stats(path: str | os.PathLike, stats: Mapping[str, Any]) -> Path:
    return write_checked_json(path, stats, CONCEPT_STATS_SHAPE, "the concept figure's numbers")


def read_concept_stats(path: str | os.PathLike) -> dict:
    """A concept figure's numbers, which the report's answer of that kind words."""
    return read_checked_json(path, CONCEPT_STATS_SHAPE, "the concept figure's numbers")


# -- the data manifest (written by cnnlab.data.prepare) --------------------------------------

MANIFEST_SHAPE = {"dataset": str, "counts": dict, "majority_baseline": dict,
                  "arrays_sha256": str, "skipped": list, "duplicates": list}


@dataclass(frozen=True)
class Manifest:
    """What the report reads of ``manifest.json``; ``data`` keeps the whole file."""

    dataset: str
    counts: dict[str, dict[str, int]]  # {split: {class name: images}}, no "total"
    baselines: dict[str, float]  # {split: accuracy of always answering the majority class}
    arrays_sha256: str
    skipped: list[dict]  # {"file": ..., "reason": ...}
    duplicates: list
    data: dict


def write_manifest(path: str | os.PathLike, manifest: Mapping[str, Any]) -> Path:
    return write_checked_json(path, manifest, MANIFEST_SHAPE, "the data manifest")


def read_manifest(path: str | os.PathLike) -> Manifest:
    data = read_checked_json(path, MANIFEST_SHAPE, "the data manifest")
    for table in ("counts", "majority_baseline"):
        missing = [split for split in SPLITS if not isinstance(data[table].get(split), dict)]
        if missing:
            raise CnnlabError(f"{path}: the data manifest's {table!r} has no {missing[0]!r} split; "
                              "delete it and run the workflow again.")
    try:
        counts = {split: {str(name): int(count) for name, count in data["counts"][split].items()
                          if name != "total"} for split in SPLITS}
        baselines = {split: float(data["majority_baseline"][split]["fraction"])
                     for split in SPLITS}
    except (KeyError, TypeError, ValueError) as error:
        raise CnnlabError(f"{path}: the data manifest's counts or baselines are damaged "
                          f"({error!r}); delete it and run the workflow again.") from None
    return Manifest(dataset=data["dataset"], counts=counts, baselines=baselines,
                    arrays_sha256=data["arrays_sha256"], skipped=data["skipped"],
                    duplicates=data["duplicates"], data=data)


# -- a training's record.json (written by cnnlab.train.training) ------------------------------

RECORD_SHAPE = {"run_id": str, "status": str, "diverged_reason": (str, type(None)),
                "epochs_trained": int, "resumed_from_epoch": int,
                "wall_seconds": (int, float), "peak_memory_mb": (int, float), "device": dict,
                "threads": int, "versions": dict, "params": dict}
RECORD_STATUSES = ("completed", "diverged")


def write_record(path: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    return write_checked_json(path, record, RECORD_SHAPE, "the training record")


def read_record(path: str | os.PathLike) -> dict:
    """A training's record (see docs/architecture.md for its keys), checked."""
    record = read_checked_json(path, RECORD_SHAPE, "the training record")
    if record["status"] not in RECORD_STATUSES:
        raise CnnlabError(f"{path}: the training record's status {record['status']!r} is none of "
                          f"{', '.join(RECORD_STATUSES)}; delete the training folder and run the "
                          "workflow again.")
    if not 0 <= record["resumed_from_epoch"] <= record["epochs_trained"] or not (
            0 <= record["wall_seconds"] < float("inf")):
        raise CnnlabError(f"{path}: the training record's epochs or seconds are out of range "
                          f"(epochs_trained {record['epochs_trained']}, resumed_from_epoch "
                          f"{record['resumed_from_epoch']}, wall_seconds "
                          f"{record['wall_seconds']}); delete the training folder and run the "
                          "workflow again.")
    return record


# -- a training's summary.csv: the model's layers (rows from cnnlab.train.models) --------------

SUMMARY_COLUMNS = ("layer", "type", "output_shape", "parameters")


def write_summary(path: str | os.PathLike, rows: list[Mapping[str, Any]]) -> Path:
    with atomic_open(path) as stream:
        writer = csv.DictWriter(stream, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def read_summary(path: str | os.PathLike) -> list[dict]:
    """The layer rows, ``parameters`` as int."""
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            if tuple(reader.fieldnames or ()) != SUMMARY_COLUMNS:
                raise ValueError(f"columns {reader.fieldnames}, expected {SUMMARY_COLUMNS}")
            return [dict(row, parameters=int(row["parameters"])) for row in reader]
    except FileNotFoundError:
        raise CnnlabError(f"{path}: the model summary is missing; run the workflow to create "
                          "it.") from None
    except (ValueError, TypeError, csv.Error) as error:
        raise CnnlabError(f"{path}: the model summary is damaged ({error}); delete the training "
                          "folder and run the workflow again.") from None


# -- a training's predictions.npz: the model's output for every validation image ---------


@dataclass(frozen=True)
class Predictions:
    """``labels[i]``: image i of the test split (0 = Mel, 1 = Nev); ``outputs[e - 1, i]``:
    the model's output for it after epoch e (the sigmoid's probability of Nev for BCE,
    the raw margin for hinge)."""

    labels: np.ndarray  # int8 (n,)
    outputs: np.ndarray  # float32 (epochs, n)

    @property
    def epochs(self) -> int:
        return len(self.outputs)

    def at(self, epoch: int) -> np.ndarray:
        if not 1 <= epoch <= self.epochs:
            raise CnnlabError(f"no predictions for epoch {epoch}: the training saved epochs "
                              f"1-{self.epochs}.")
        return self.outputs[epoch - 1]


def write_predictions(path: str | os.PathLike, labels: np.ndarray, outputs: np.ndarray) -> Path:
    labels = np.asarray(labels, dtype=np.int8).reshape(-1)
    outputs = np.asarray(outputs, dtype=np.float32).reshape(-1, labels.size)
    with atomic_open(path, binary=True) as stream:
        np.savez(stream, labels=labels, outputs=outputs)
    return Path(path)


def read_predictions(path: str | os.PathLike) -> Predictions:
    advice = "delete the training folder and run the workflow again"
    try:
        with np.load(path, allow_pickle=False) as stored:
            labels, outputs = stored["labels"], stored["outputs"]
    except FileNotFoundError:
        raise CnnlabError(f"{path}: the predictions are missing; {advice}.") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise CnnlabError(f"{path}: the predictions are damaged ({error}); {advice}.") from None
    problem = predictions_problem(labels, outputs)
    if problem:
        raise CnnlabError(f"{path}: the predictions {problem}; {advice}.")
    return Predictions(labels=labels.astype(np.int8), outputs=outputs.astype(np.float32))


def predictions_problem(labels: np.ndarray, outputs: np.ndarray) -> str | None:
    """What is wrong with the arrays of a predictions.npz on their own, or None: integer
    labels of 0 (Mel) and 1 (Nev), float outputs of one row per epoch and one column per
    label (NaN is a diverged model's output: the record says whether it may be there)."""
    if labels.dtype.kind not in "iub":
        return f"hold labels of type {labels.dtype} (text?), not the integers 0 and 1"
    if outputs.dtype.kind not in "iuf":
        return f"hold outputs of type {outputs.dtype}, not numbers"
    if labels.ndim != 1 or outputs.ndim != 2 or outputs.shape[1] != labels.size:
        return f"hold outputs of shape {outputs.shape} for {labels.size} labels"
    strange = np.setdiff1d(np.unique(labels), [0, 1])
    if strange.size:
        return f"hold the label {strange[0]}, which is neither 0 (Mel) nor 1 (Nev)"
    return None


def read_split_labels(arrays_path: str | os.PathLike) -> np.ndarray | None:
    """The labels of the validation (test) split of a prepared data set's arrays.npz, read
    without its images, or None where they cannot be read (the data is prepared again)."""
    try:
        with np.load(arrays_path, allow_pickle=False) as stored:
            labels = np.asarray(stored["y_test"])
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    return labels.astype(np.int8) if labels.dtype.kind in "iub" and labels.ndim == 1 else None
