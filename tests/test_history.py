"""cnnlab.store.history: history.csv round-trips exactly and is written atomically."""

import json
import math

import numpy as np
import pytest

from cnnlab.errors import CnnlabError
from cnnlab.store.files import write_predictions, write_record
from cnnlab.store.history import (
    ACCURACY_COLUMNS,
    HISTORY_COLUMNS,
    checked_training,
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


# -- checked_training: a training's outputs, checked to agree ------------------------------

TRAINING = "results/runs/tiny/run-a/e3"
REDO = f"`rm -rf {TRAINING} results/report/index.html && snakemake --cores 4`"


def write_training(root, epochs=3, status="completed", rows=None, prediction_epochs=None):
    """A training folder as cnnlab.train.training writes it: predictions, record, history."""
    rows = epochs if rows is None else rows
    folder = root / TRAINING
    write_predictions(folder / "predictions.npz", np.array([0, 1, 1], dtype=np.int8),
                      np.full((rows if prediction_epochs is None else prediction_epochs, 3), 0.5))
    write_record(folder / "record.json", {
        "run_id": "run-a", "status": status, "diverged_reason": None, "epochs_trained": rows,
        "resumed_from_epoch": 0, "wall_seconds": 1.0, "peak_memory_mb": 1.0, "device": {},
        "threads": 1, "versions": {}, "params": {}})
    write_history_csv([fractions_as_accuracies(row) for row in awkward_rows()[:rows]],
                      folder / "history.csv")
    return folder


def fractions_as_accuracies(row):
    """An awkward row whose accuracies are fractions, as a checked history's must be."""
    return {**row, **{column: value if math.isnan(value) or 0 <= value <= 1 else 0.625
                      for column, value in row.items() if column in ACCURACY_COLUMNS}}


def failure(root, **options) -> str:
    with pytest.raises(CnnlabError) as error:
        checked_training(TRAINING, root=root, **options)
    return str(error.value)


def test_a_whole_training_is_read_as_written(tmp_path):
    folder = write_training(tmp_path)
    outputs = checked_training(TRAINING, root=tmp_path)
    assert outputs.history.equals(read_history(folder / "history.csv"))
    assert outputs.record["epochs_trained"] == 3 and outputs.predictions.epochs == 3
    assert checked_training(TRAINING, 3, root=tmp_path).history.equals(outputs.history)


@pytest.mark.parametrize("cut", [1, 5, 12])
def test_a_history_cut_mid_row_names_the_file_and_the_command_that_redoes_it(tmp_path, cut):
    folder = write_training(tmp_path)
    text = (folder / "history.csv").read_text()
    (folder / "history.csv").write_text(text[:-cut])
    message = failure(tmp_path)
    assert message.startswith(f"{folder / 'history.csv'}: its last row (")
    assert "is cut off" in message and REDO in message
    assert "with the same options as before" in message


def test_a_history_cut_at_a_row_boundary_disagrees_with_its_record(tmp_path):
    folder = write_training(tmp_path)
    lines = (folder / "history.csv").read_text().splitlines(keepends=True)
    (folder / "history.csv").write_text("".join(lines[:-1]))
    message = failure(tmp_path)
    assert message.startswith(f"{folder / 'history.csv'}: has 2 epochs, its record.json says 3")
    assert REDO in message


@pytest.mark.parametrize("text, problem", [
    ("epoch,loss\n1,0.5\n", "expected columns"),
    ("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n", "has no epochs"),
    ("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n1,0.5,0.5,0.5\n", "row 1 has 4 columns"),
    ("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n2,0.5,0.5,0.5,0.5,1\n",
     "row 1 is numbered '2'"),
    ("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n1,0.5,x,0.5,0.5,1\n",
     "epoch 1's accuracy 'x' is not a number"),
])
def test_a_damaged_history_is_one_message(tmp_path, text, problem):
    folder = write_training(tmp_path)
    (folder / "history.csv").write_text(text)
    message = failure(tmp_path)
    assert message.startswith(f"{folder / 'history.csv'}: {problem}") and REDO in message


def test_a_truncated_record_names_itself_and_the_command(tmp_path):
    folder = write_training(tmp_path)
    text = (folder / "record.json").read_text()
    (folder / "record.json").write_text(text[: len(text) // 2])
    message = failure(tmp_path)
    assert message.startswith(f"{folder / 'record.json'}: the training record is not valid JSON")
    assert message.endswith(f"; to train it again, run {REDO} in the workflow's folder, with "
                            "the same options as before (--configfile ...).")
    assert "delete it" not in message  # the record alone: Snakemake would keep the history


def test_a_record_of_another_run_or_predictions_of_other_epochs_are_refused(tmp_path):
    folder = write_training(tmp_path, prediction_epochs=2)
    assert failure(tmp_path).startswith(
        f"{folder / 'predictions.npz'}: holds the outputs of 2 epochs, the history 3")
    write_training(tmp_path)
    record = json.loads((folder / "record.json").read_text())
    (folder / "record.json").write_text(json.dumps(dict(record, run_id="run-b")))
    assert failure(tmp_path).startswith(f"{folder / 'record.json'}: is the record of run 'run-b'")


def test_fewer_epochs_than_asked_only_when_the_record_says_diverged(tmp_path):
    write_training(tmp_path, rows=2, status="diverged")
    assert len(checked_training(TRAINING, root=tmp_path).history) == 2
    folder = write_training(tmp_path, rows=2)
    assert failure(tmp_path).startswith(
        f"{folder / 'history.csv'}: has 2 epochs of a completed training of 3")


def test_without_a_required_record_the_history_and_predictions_are_still_checked(tmp_path):
    folder = write_training(tmp_path)
    (folder / "record.json").unlink()
    assert "the training record is missing" in failure(tmp_path)
    assert len(checked_training(TRAINING, root=tmp_path, require_record=False).history) == 3
    (folder / "history.csv").write_text((folder / "history.csv").read_text()[:-3])
    assert "is cut off" in failure(tmp_path, require_record=False)
    (folder / "history.csv").unlink()
    assert failure(tmp_path) == f"{folder / 'history.csv'}: missing; run the workflow to train it."


def test_one_column_is_read_without_pandas_for_the_light_readers(tmp_path):
    """The planner's epoch times and `cnnlab status` read one column through the store."""
    from cnnlab.store.history import read_column
    path = tmp_path / "history.csv"
    write_history_csv([{"epoch": 1, "loss": 0.7, "accuracy": 0.5, "val_loss": 0.69,
                        "val_accuracy": 0.6, "seconds": 2.5},
                       {"epoch": 2, "loss": 0.6, "accuracy": 0.6, "val_loss": 0.68,
                        "val_accuracy": 0.65, "seconds": 2.0}], path)
    assert read_column(path, "seconds") == [2.5, 2.0]
    assert read_column(path, "val_accuracy")[-1] == 0.65
    with pytest.raises(ValueError, match="no speed column"):
        read_column(path, "speed")
