"""Reading and writing a training's history.csv.

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
from pathlib import Path

import pandas as pd

from cnnlab.files import atomic_open

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
METRIC_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy")


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
