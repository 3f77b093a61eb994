"""cnnlab.history: history.csv round-trips exactly and is written atomically."""

import math

import numpy as np
import pytest

from cnnlab.history import (
    HISTORY_COLUMNS,
    format_float,
    read_history,
    write_history_csv,
)


def awkward_rows():
    """Values as training produces them (float32 cast to float) and edge cases."""
    values = [
        float(np.float32(0.6931471805599453)),
        0.1,
        1e-300,
        float(np.float32(1) / np.float32(3)),
        123456789.123456789,
        float("nan"),
        float("inf"),
        5e-324,
    ]
    rows = []
    for index in range(len(values)):
        rows.append(
            {
                "epoch": index + 1,
                "loss": values[index],
                "accuracy": values[(index + 1) % len(values)],
                "val_loss": values[(index + 2) % len(values)],
                "val_accuracy": values[(index + 3) % len(values)],
                "seconds": 0.25 * index,
            }
        )
    return rows


def same_float(first: float, second: float) -> bool:
    return (math.isnan(first) and math.isnan(second)) or first == second


def test_history_round_trips_exactly(tmp_path):
    rows = awkward_rows()
    path = write_history_csv(rows, tmp_path / "history.csv")
    frame = read_history(path)
    assert tuple(frame.columns) == HISTORY_COLUMNS
    assert frame["epoch"].tolist() == list(range(1, len(rows) + 1))
    assert str(frame["epoch"].dtype) == "int64"
    for row, (_, read_row) in zip(rows, frame.iterrows(), strict=True):
        for column in HISTORY_COLUMNS[1:]:
            assert same_float(row[column], float(read_row[column])), (column, row[column])
    # writing what was read gives the same bytes
    again = write_history_csv(frame.to_dict("records"), tmp_path / "again.csv")
    assert again.read_bytes() == path.read_bytes()


def test_history_text_is_plain(tmp_path):
    path = write_history_csv(
        [
            {
                "epoch": 1,
                "loss": 0.5,
                "accuracy": 1.0,
                "val_loss": 0.25,
                "val_accuracy": 0.0,
                "seconds": 2.0,
            }
        ],
        tmp_path / "history.csv",
    )
    assert path.read_text() == (
        "epoch,loss,accuracy,val_loss,val_accuracy,seconds\n1,0.5,1.0,0.25,0.0,2.0\n"
    )
    assert format_float(float("nan")) == "nan"
    assert format_float(float("-inf")) == "-inf"


def test_history_rows_must_be_numbered_from_one(tmp_path):
    row = {column: 0.0 for column in HISTORY_COLUMNS}
    with pytest.raises(ValueError, match="numbered"):
        write_history_csv([dict(row, epoch=2)], tmp_path / "history.csv")
    with pytest.raises(ValueError, match="lacks"):
        write_history_csv([{"epoch": 1, "loss": 0.1}], tmp_path / "history.csv")


def test_read_history_names_unexpected_columns(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,acc\n1,0.5,0.5\n")
    with pytest.raises(ValueError, match="expected columns"):
        read_history(path)
