"""Reading and writing a training's history.csv, and checking a training's outputs together.

One row per epoch, epoch counted from 1, with the fixed columns
``epoch,loss,accuracy,val_loss,val_accuracy,seconds``. Floats are written with
``repr`` (the shortest text that reads back as the same float), so a history read back
with :func:`read_history` holds exactly the numbers that training produced, and two
trainings with the same numbers give byte-identical metric columns. ``seconds`` (the
wall time of the epoch, training and validation) is the last column because it is the
only one that differs between otherwise identical trainings.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cnnlab.errors import CnnlabError
from cnnlab.store import layout
from cnnlab.store.files import Predictions, atomic_open, read_predictions, read_record
from cnnlab.store.layout import REPORT_HTML

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
METRIC_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy")
ACCURACY_COLUMNS = ("accuracy", "val_accuracy")


def format_float(value: float) -> str:
    """The shortest text that reads back as exactly ``value`` (``nan``, ``inf`` too)."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    return repr(value)  # 'inf', '-inf' or the shortest round-tripping decimal


def write_history_csv(rows: Iterable[Mapping[str, float]], path: str | os.PathLike) -> Path:
    """Write history rows (mappings with the HISTORY_COLUMNS keys) to ``path`` atomically.

    Rows must be numbered 1, 2, 3, ... in order. Returns the path written.
    """
    path = Path(path)
    rows = list(rows)
    for expected_epoch, row in enumerate(rows, start=1):
        missing = [column for column in HISTORY_COLUMNS if column not in row]
        if missing:
            raise ValueError(f"history row for epoch {expected_epoch} lacks {missing}")
        if int(row["epoch"]) != expected_epoch:
            raise ValueError(
                f"history rows must be numbered 1, 2, ...; row {expected_epoch} "
                f"says epoch {row['epoch']}"
            )
    with atomic_open(path) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(HISTORY_COLUMNS)
        for row in rows:
            writer.writerow(
                [str(int(row["epoch"]))]
                + [format_float(row[column]) for column in HISTORY_COLUMNS[1:]]
            )
    return path


def read_column(path: str | os.PathLike, column: str) -> list[float]:
    """One column of a history.csv as floats, read with the csv module for the readers that
    must stay light (the planner's epoch times, `cnnlab status`); empty cells are left out.
    A file that cannot be read or lacks the column raises OSError or ValueError."""
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        if column not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no {column} column")
        return [float(row[column]) for row in reader if row.get(column)]


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    """Read a history.csv into a DataFrame (epoch int, the other columns float64).

    The floats are parsed with round-trip precision, so they equal the values written.
    """
    path = Path(path)
    # pandas 3 parses floats exactly by default (and deprecates the option)
    options = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    frame = pd.read_csv(path, **options)
    if tuple(frame.columns) != HISTORY_COLUMNS:
        raise ValueError(
            f"{path}: expected columns {','.join(HISTORY_COLUMNS)}, "
            f"found {','.join(map(str, frame.columns))}"
        )
    frame["epoch"] = frame["epoch"].astype("int64")
    for column in HISTORY_COLUMNS[1:]:
        frame[column] = frame[column].astype("float64")
    return frame


# -- a training's outputs, checked together ---------------------------------------------
# Snakemake retrains nothing whose outputs exist, so a damaged output is never rerun on
# its own: every reader checks a training's files against each other here, and a
# mismatch names the command that redoes the training. The resume state lives outside
# the outputs (results/state), so removing the folder retrains from where the state is.
# The report goes too: a selection that failed on the damage lost its output, and with
# a 6E.json missing behind an existing report Snakemake finds "nothing to be done" (its
# checkpoints are looked at again only for a job that has to run).

REDO_COMMAND = "rm -rf {directory} {report} && snakemake --cores 4"
# the endings of cnnlab.store.files' messages, replaced by the command that redoes the training
_READER_ADVICE = (
    "delete it and run the workflow again",
    "delete the training folder and run the workflow again",
    "run the workflow to create it",
)


@dataclass(frozen=True)
class TrainingOutputs:
    """A training's history, record (None where it was not required and is absent) and
    predictions, checked against each other by :func:`checked_training`."""

    history: pd.DataFrame
    record: dict | None
    predictions: Predictions


def redo_advice(directory: str | os.PathLike) -> str:
    """The sentence that tells how to train the run in ``directory`` again."""
    command = REDO_COMMAND.format(directory=Path(directory).as_posix(), report=REPORT_HTML)
    return (f"to train it again, run `{command}` in the workflow's folder, with the same "
            "options as before (--configfile ...)")


def damaged(path, problem: str, directory) -> CnnlabError:
    return CnnlabError(f"{path}: {problem}; {redo_advice(directory)}.")


def history_problem(text: str) -> str | None:
    """What is wrong with the text of a history.csv, or None: the header, rows numbered
    1..N with a number in every column, and no row cut off (the writer ends every row
    with a newline, so a file that does not end with one was cut mid-row)."""
    lines = text.split("\n")
    if lines[0] != ",".join(HISTORY_COLUMNS):
        return f"expected columns {','.join(HISTORY_COLUMNS)}, found {lines[0][:80]!r}"
    if lines[-1] != "":
        return (f"its last row ({lines[-1][:40]!r}) is cut off: the file ends in the middle of "
                "a row")
    rows = lines[1:-1]
    if not rows:
        return "has no epochs"
    for number, line in enumerate(rows, start=1):
        fields = line.split(",")
        if len(fields) != len(HISTORY_COLUMNS):
            return (f"row {number} has {len(fields)} columns, not {len(HISTORY_COLUMNS)} "
                    f"({line[:40]!r})")
        if fields[0] != str(number):
            return f"row {number} is numbered {fields[0]!r}, not {number}"
        for column, field in zip(HISTORY_COLUMNS[1:], fields[1:], strict=True):
            try:
                value = float(field)
            except ValueError:
                return f"epoch {number}'s {column} {field[:20]!r} is not a number"
            # a fraction of images (NaN only where a diverged model's metrics are)
            if column in ACCURACY_COLUMNS and not (0 <= value <= 1 or math.isnan(value)):
                return f"epoch {number}'s {column} {field[:20]} is not between 0 and 1"
    return None


def checked_training(directory: str | os.PathLike, epochs: int | None = None, *,
                     root: str | os.PathLike = ".", require_record: bool = True,
                     split_labels: np.ndarray | None = None) -> TrainingOutputs:
    """A training's history.csv, record.json and predictions.npz, read and checked to agree.

    ``directory`` is the training's folder as the plan names it (``results/runs/<dataset>/
    <run_id>/e<E>``, relative to ``root``); ``epochs`` the epochs it trains, by default the
    folder's E. The history must be whole, with the record's ``epochs_trained`` rows, all
    ``epochs`` of them unless the record says the training diverged; the predictions hold as
    many epochs as the history; the record names the folder's run. Anything else is one
    :class:`CnnlabError` naming the file, what is wrong and the command that redoes the
    training. Without ``require_record`` a missing record.json is let be (the history and
    predictions are still checked against each other). ``split_labels``, the validation
    split's labels (cnnlab.store.files.read_split_labels), where known: the predictions
    must hold exactly those; a completed training's outputs must be finite.
    """
    if epochs is None:
        epochs = layout.training_epochs(directory)
    history_csv = Path(root) / layout.history_csv(directory)
    try:
        text = history_csv.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CnnlabError(f"{history_csv}: missing; run the workflow to train it.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise damaged(history_csv, f"cannot be read ({error})", directory) from None
    problem = history_problem(text)
    if problem:
        raise damaged(history_csv, problem, directory)
    history = read_history(history_csv)
    record_json = Path(root) / layout.record_json(directory)
    record = None
    if require_record or record_json.exists():
        record = _reread(read_record, record_json, directory)
        problem = record_problem(record, Path(directory).parent.name, len(history), epochs)
        if problem:
            raise damaged(record_json if problem[0] == "record" else history_csv, problem[1],
                          directory)
    predictions_npz = Path(root) / layout.predictions_npz(directory)
    predictions = _reread(read_predictions, predictions_npz, directory)
    if predictions.epochs != len(history):
        raise damaged(predictions_npz, f"holds the outputs of {predictions.epochs} epochs, "
                      f"the history {len(history)}", directory)
    problem = predictions_against(predictions, record, split_labels)
    if problem:
        raise damaged(predictions_npz, problem, directory)
    return TrainingOutputs(history, record, predictions)


def predictions_against(predictions: Predictions, record: dict | None,
                        split_labels: np.ndarray | None) -> str | None:
    """What is wrong with the predictions given the record and the validation split's
    labels, or None: a diverged model's NaN outputs are its own, a completed one has none."""
    if split_labels is not None and predictions.labels.size != split_labels.size:
        return (f"holds {predictions.labels.size} images, the validation split "
                f"{split_labels.size}")
    if split_labels is not None and not np.array_equal(predictions.labels, split_labels):
        return "holds labels that are not the validation split's"
    if record is not None and record["status"] == "completed" and not np.isfinite(
            predictions.outputs).all():
        return "holds outputs that are not finite numbers (NaN), of a completed training"
    return None


def record_problem(record: dict, run_id: str, rows: int, epochs: int | None
                   ) -> tuple[str, str] | None:
    """Which file is wrong ("record" or "history") and how, or None; ``epochs`` None: the
    epochs the training was asked for are not known, only the record and history agree."""
    if record["run_id"] != run_id:
        return "record", f"is the record of run {record['run_id']!r}, not of {run_id!r}"
    if record["epochs_trained"] != rows:
        return "history", (f"has {rows} epochs, its record.json says {record['epochs_trained']} "
                           "were trained")
    if epochs is None:
        return None
    if record["status"] == "completed" and rows != epochs:
        return "history", f"has {rows} epochs of a completed training of {epochs}"
    if rows > epochs:
        return "history", f"has {rows} epochs, more than the {epochs} the training trains"
    return None


def _reread(reader, path: Path, directory):
    """``reader(path)``, its message's advice replaced by the command that redoes the
    training (deleting one file of a finished training would not redo the others)."""
    try:
        return reader(path)
    except CnnlabError as error:
        message = str(error).rstrip(".")
        for advice in _READER_ADVICE:
            if message.endswith(f"; {advice}"):
                message = message.removesuffix(f"; {advice}")
                break
        raise CnnlabError(f"{message}; {redo_advice(directory)}.") from None
