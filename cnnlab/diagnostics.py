"""What a learning curve says: pure functions over history DataFrames.

A history is a DataFrame with the columns of ``history.csv``
(``epoch, loss, accuracy, val_loss, val_accuracy, seconds``), one row per epoch,
epoch counted from 1. Every function here reads numbers and returns numbers; the
sentences built from them live in :mod:`cnnlab.answers`.

The thresholds are named in :class:`Thresholds` so that the report can state them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from cnnlab.errors import CnnlabError

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
REQUIRED_COLUMNS = ("epoch", *METRICS)


@dataclass(frozen=True)
class Thresholds:
    """The tolerances behind the diagnostics, stated in the report."""

    #: val accuracy must beat its best so far by more than this to count as improving
    plateau_tolerance: float = 0.01
    #: val loss must end this fraction above its minimum to count as a rise
    rise_fraction: float = 0.10
    #: a loss this many times its first-epoch value (or not finite) has exploded
    explode_factor: float = 10.0
    #: the end of a curve: this fraction of the epochs (at least `min_window` epochs)
    window_fraction: float = 0.2
    min_window: int = 3
    #: a loss still falls when it drops by more than this fraction over the end window
    improving_fraction: float = 0.02
    #: an accuracy within this of the majority-class baseline learned nothing
    baseline_margin: float = 0.02
    #: two-sided significance level of Welch's t-test
    alpha: float = 0.05


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Overfitting:
    epoch: int  # epoch of the val loss minimum, after which it rises
    val_loss_min: float
    val_loss_end: float
    train_loss_at_onset: float
    train_loss_end: float

    @property
    def val_rise(self) -> float:
        """Relative rise of the val loss from its minimum to the end."""
        return (self.val_loss_end - self.val_loss_min) / abs(self.val_loss_min or 1.0)


@dataclass(frozen=True)
class Divergence:
    epoch: int | None  # first epoch with a non-finite or exploding loss, if any
    reason: str


@dataclass(frozen=True)
class UnderTraining:
    still_improving: bool  # both losses still falling over the end window
    window: int
    train_drop: float  # relative drop of the train loss over the window
    val_drop: float


@dataclass(frozen=True)
class Diagnosis:
    best_epoch: int | None
    overfitting: Overfitting | None
    plateau_epoch: int | None
    divergence: Divergence | None
    under_training: UnderTraining

    def to_dict(self) -> dict:
        return asdict(self)


def check_history(history: pd.DataFrame, source: str = "history") -> pd.DataFrame:
    """Raise a CnnlabError naming `source` unless the history has the columns needed."""
    missing = [column for column in REQUIRED_COLUMNS if column not in history.columns]
    if missing:
        raise CnnlabError(
            f"{source}: lacks the column(s) {', '.join(missing)}; "
            "delete the training folder and run the workflow again."
        )
    if history.empty:
        raise CnnlabError(f"{source}: has no epochs; delete it and run the workflow again.")
    return history


def prefix(history: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """The first `epochs` epochs of a longer training: what a shorter task shows."""
    return history[history["epoch"] <= epochs].reset_index(drop=True)


def _finite(values: pd.Series) -> np.ndarray:
    return np.isfinite(values.to_numpy(dtype=float))


def best_epoch(history: pd.DataFrame) -> int | None:
    """The epoch with the lowest validation loss (the first one on ties); None if none is finite."""
    val_loss = history["val_loss"].to_numpy(dtype=float)
    finite = np.isfinite(val_loss)
    if not finite.any():
        return None
    index = int(np.argmin(np.where(finite, val_loss, np.inf)))
    return int(history["epoch"].iloc[index])


def end_window(epochs: int, thresholds: Thresholds = THRESHOLDS) -> int:
    """How many final epochs count as 'the end' of a curve of `epochs` epochs."""
    return max(thresholds.min_window, math.ceil(thresholds.window_fraction * epochs))


def run_values(history: pd.DataFrame) -> dict:
    """Final and best values of one run's history (NaN where the run produced none)."""
    last = history.iloc[-1]
    best = best_epoch(history)
    best_row = history[history["epoch"] == best].iloc[0] if best is not None else None
    val_accuracy = history["val_accuracy"].to_numpy(dtype=float)
    has_accuracy = np.isfinite(val_accuracy).any()
    max_index = int(np.nanargmax(val_accuracy)) if has_accuracy else None
    seconds = history["seconds"].sum() if "seconds" in history.columns else float("nan")
    return {
        "epochs": int(last["epoch"]),
        "final_loss": float(last["loss"]),
        "final_accuracy": float(last["accuracy"]),
        "final_val_loss": float(last["val_loss"]),
        "final_val_accuracy": float(last["val_accuracy"]),
        "gap": float(last["accuracy"] - last["val_accuracy"]),
        "best_epoch": best,
        "best_val_loss": float(best_row["val_loss"]) if best_row is not None else float("nan"),
        "best_val_accuracy": (
            float(best_row["val_accuracy"]) if best_row is not None else float("nan")
        ),
        "max_val_accuracy": float(val_accuracy[max_index]) if has_accuracy else float("nan"),
        "max_val_accuracy_epoch": (
            int(history["epoch"].iloc[max_index]) if has_accuracy else None
        ),
        "seconds": float(seconds),
    }


def overfitting_onset(
    history: pd.DataFrame, thresholds: Thresholds = THRESHOLDS
) -> Overfitting | None:
    """The val loss minimum, if a sustained rise follows it while the training loss falls.

    Sustained: at least the end window of epochs follow the minimum, two thirds of them lie
    above the minimum by half the required rise, and the mean over the end window is above
    it by `rise_fraction`. The training loss over the end window must be below its value at
    the minimum.
    """
    onset = best_epoch(history)
    if onset is None:
        return None
    window = end_window(len(history), thresholds)
    index = int(np.flatnonzero(history["epoch"].to_numpy() == onset)[0])
    after = history.iloc[index + 1 :]
    if len(after) < window:
        return None
    val_min = float(history["val_loss"].iloc[index])
    scale = abs(val_min) or 1.0
    above = after["val_loss"].to_numpy(dtype=float) > val_min + 0.5 * thresholds.rise_fraction * scale
    val_end = float(history["val_loss"].iloc[-window:].mean())
    train_onset = float(history["loss"].iloc[index])
    train_end = float(history["loss"].iloc[-window:].mean())
    sustained = above.mean() >= 2 / 3 and val_end > val_min + thresholds.rise_fraction * scale
    if not (sustained and train_end < train_onset and math.isfinite(train_end)):
        return None
    return Overfitting(onset, val_min, val_end, train_onset, train_end)


def plateau_epoch(history: pd.DataFrame, thresholds: Thresholds = THRESHOLDS) -> int | None:
    """The epoch after which val accuracy never beats its best so far by more than the tolerance.

    None when that epoch lies inside the end window: the curve is still improving.
    """
    accuracy = history["val_accuracy"].to_numpy(dtype=float)
    if not np.isfinite(accuracy).any():
        return None
    accuracy = np.where(np.isfinite(accuracy), accuracy, -np.inf)
    best_so_far = np.maximum.accumulate(accuracy)
    best_after = np.maximum.accumulate(accuracy[::-1])[::-1]  # max over epochs >= i
    for index in range(len(accuracy)):
        later = best_after[index + 1] if index + 1 < len(accuracy) else -np.inf
        if later <= best_so_far[index] + thresholds.plateau_tolerance:
            break
    if len(accuracy) - 1 - index < end_window(len(accuracy), thresholds):
        return None
    return int(history["epoch"].iloc[index])


# Diverged, in two places: a training stops itself after an epoch (diverged_reason, the
# record's ``diverged_reason``); the report also calls a curve diverged that exploded
# without stopping (divergence, which states the training's own verdict where it has one).
# Both look at the same two losses, and a non-finite one has diverged in both.

DIVERGENCE_LOSSES = ("loss", "val_loss")
DIVERGENCE_FACTOR = 100.0
# the loss of a model that knows nothing: sigmoid 0.5 (BCE ln 2) or score 0 (hinge 1)
CHANCE_LOSS = {"bce": math.log(2.0), "hinge": 1.0}


def diverged_reason(row: dict, loss: str) -> str | None:
    """Why a training stops as diverged after the epoch of history ``row``, or None.

    Diverged: a non-finite loss or val_loss, or a training loss above DIVERGENCE_FACTOR
    times the loss of a model that knows nothing (CHANCE_LOSS of the ``loss`` kind). A
    working training's loss stays near or below that chance level; 100 times it means
    the scores have blown up (the first epoch's loss is no yardstick here: with a far
    too high learning rate it has already exploded).
    """
    for column in DIVERGENCE_LOSSES:
        if not math.isfinite(row[column]):
            return f"{column} is {row[column]}"
    limit = DIVERGENCE_FACTOR * CHANCE_LOSS[loss]
    if row["loss"] > limit:
        return f"loss {row['loss']:.4g} > {limit:.4g} ({DIVERGENCE_FACTOR:g} x chance level)"
    return None


def divergence(
    history: pd.DataFrame,
    status: str | None = None,
    thresholds: Thresholds = THRESHOLDS,
    recorded_reason: str | None = None,
) -> Divergence | None:
    """A non-finite or exploding loss, or a training that recorded itself as diverged
    (with the reason its record gives, if any: :func:`diverged_reason`'s)."""
    for column in DIVERGENCE_LOSSES:
        values = history[column].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            epoch = int(history["epoch"].iloc[bad[0]])
            return Divergence(epoch, f"the {_metric_name(column)} became {values[bad[0]]}")
        first = abs(values[0]) or 1.0
        exploded = np.flatnonzero(np.abs(values) > thresholds.explode_factor * first)
        if exploded.size:
            epoch = int(history["epoch"].iloc[exploded[0]])
            return Divergence(
                epoch,
                f"the {_metric_name(column)} exploded to {values[exploded[0]]:.3g}, more than "
                f"{thresholds.explode_factor:g} times its first-epoch value",
            )
    if status == "diverged":
        reason = f": {recorded_reason}" if recorded_reason else ""
        return Divergence(None, f"the training stopped itself as diverged{reason}")
    return None


def under_training(history: pd.DataFrame, thresholds: Thresholds = THRESHOLDS) -> UnderTraining:
    """Whether training and validation loss both still fall over the end window."""
    window = end_window(len(history), thresholds)
    if len(history) < window + 1:
        return UnderTraining(False, window, float("nan"), float("nan"))
    drops = []
    for column in ("loss", "val_loss"):
        values = history[column].to_numpy(dtype=float)[-window - 1 :]
        if not np.isfinite(values).all():
            return UnderTraining(False, window, float("nan"), float("nan"))
        slope = np.polyfit(np.arange(len(values)), values, 1)[0]
        drops.append(float(-slope * window / (abs(values.mean()) or 1.0)))
    improving = all(drop > thresholds.improving_fraction for drop in drops)
    return UnderTraining(improving, window, drops[0], drops[1])


def diagnose(
    history: pd.DataFrame,
    status: str | None = None,
    thresholds: Thresholds = THRESHOLDS,
    recorded_reason: str | None = None,
) -> Diagnosis:
    """All diagnostics of one run's history."""
    return Diagnosis(
        best_epoch=best_epoch(history),
        overfitting=overfitting_onset(history, thresholds),
        plateau_epoch=plateau_epoch(history, thresholds),
        divergence=divergence(history, status, thresholds, recorded_reason),
        under_training=under_training(history, thresholds),
    )


def no_better_than_baseline(
    accuracy: float, baseline: float | None, thresholds: Thresholds = THRESHOLDS
) -> bool:
    """Whether an accuracy is within the margin of always guessing the majority class."""
    if baseline is None or not math.isfinite(accuracy):
        return False
    return accuracy <= baseline + thresholds.baseline_margin


def _metric_name(column: str) -> str:
    return {"loss": "training loss", "val_loss": "validation loss"}.get(column, column)


# -- several seeds -------------------------------------------------------------------------


def curve_bands(histories: list[pd.DataFrame]) -> pd.DataFrame:
    """Mean and standard deviation per epoch over replicate histories (seeds).

    Columns: epoch, n, and <metric>_mean, <metric>_sd for each metric; sd is 0 for one seed.
    """
    stacked = pd.concat([h[list(REQUIRED_COLUMNS)] for h in histories], ignore_index=True)
    grouped = stacked.groupby("epoch")
    bands = pd.DataFrame({"n": grouped.size()})
    for metric in METRICS:
        bands[f"{metric}_mean"] = grouped[metric].mean()
        bands[f"{metric}_sd"] = grouped[metric].std(ddof=1).fillna(0.0)
    return bands.reset_index()


@dataclass(frozen=True)
class Spread:
    mean: float
    sd: float  # sample standard deviation; NaN for one value
    n: int


def spread(values: list[float]) -> Spread:
    array = np.asarray(values, dtype=float)
    sd = float(array.std(ddof=1)) if len(array) > 1 else float("nan")
    return Spread(float(array.mean()) if len(array) else float("nan"), sd, len(array))
