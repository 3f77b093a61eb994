"""What a learning curve says: pure functions over history DataFrames.

A history has the columns of ``history.csv`` (``epoch, loss, accuracy, val_loss,
val_accuracy, seconds``), one row per epoch from 1. Numbers in, numbers (and a one-word
curve verdict) out; sentences live in :mod:`cnnlab.report.answers`.

The report states the :class:`Thresholds`. Given ``n_test`` validation images the rules read
a moving average and derive their thresholds from the noise (of an accuracy on n images, of a
loss around its average); without it, fixed tolerances on the raw curve.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from cnnlab.analysis.noise import noise_sd, smoothed, smoothing_window

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
    #: an accuracy within this of the majority-class baseline shows nothing learned
    baseline_margin: float = 0.02
    #: two-sided significance level of Welch's t-test
    alpha: float = 0.05
    # -- with n_test known: thresholds derived from the noise --
    #: epochs of the centred moving average the rules read (odd; fewer at the curve's ends)
    smooth_window: int = 5
    #: an accuracy gain counts above this many binomial standard errors sqrt(p(1-p)/n); one
    #: standard error is the sampling noise of an accuracy on n images
    accuracy_se_factor: float = 1.0
    #: a val loss rise counts above this many standard errors of the noise, not 1.96: it rises
    #: from the lowest of many noisy epochs (3 calls ~5% of flat noisy 60-epoch curves, 4 ~1%)
    rise_z: float = 4.0
    #: a loss still falls when its fitted fall exceeds this many standard errors (the normal's
    #: 97.5% point: a one-sided z-test of the slope at 2.5%)
    trend_z: float = 1.96

    def accuracy_tolerance(self, n: int, level: float) -> float:
        """The noise of an accuracy `level` on `n` images: `accuracy_se_factor` binomial standard
        errors sqrt(p(1 - p) / n) at p = `level`; at least one image, 1 / n (p = 0 or 1)."""
        return max(self.accuracy_se_factor * math.sqrt(level * (1.0 - level) / n), 1.0 / n)


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Overfitting:
    epoch: int  # epoch of the (smoothed, with n_test) val loss minimum, after which it rises
    val_loss_min: float  # the smoothed minimum with n_test, the raw one without
    val_loss_end: float
    train_loss_at_onset: float
    train_loss_end: float
    required_rise: float = float("nan")  # the rise (in loss units) the end had to exceed
    val_loss_noise: float = float("nan")  # per-epoch noise sd of the val loss (with n_test)
    smooth_window: int = 1  # epochs of the moving average read (1: the raw curve)

    @property
    def val_rise(self) -> float:  # relative rise of the val loss from its minimum to the end
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
    train_required: float = float("nan")  # the relative drop each had to exceed
    val_required: float = float("nan")
    train_noise: float = float("nan")  # per-epoch noise sd of each loss (with n_test)
    val_noise: float = float("nan")
    train_beyond_noise: float = float("nan")  # the train loss's fall its noise explains not


@dataclass(frozen=True)
class Plateau:
    epoch: int | None  # after it val accuracy gains no more than `tolerance`; None: none
    tolerance: float  # the gain (as a fraction) that counts as an improvement
    level: float  # p of the tolerance: the best of the curve read (NaN if none is finite)
    smooth_window: int = 1  # epochs of the moving average read (1: the raw curve)
    n_test: int | None = None  # validation images the tolerance is the noise of


@dataclass(frozen=True)
class Diagnosis:
    best_epoch: int | None
    overfitting: Overfitting | None
    plateau_epoch: int | None
    divergence: Divergence | None
    under_training: UnderTraining
    plateau: Plateau | None = None  # the plateau with the tolerance it used
    n_test: int | None = None  # validation images; None: the fixed thresholds

    def to_dict(self) -> dict:
        return asdict(self)


def prefix(history: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """The first `epochs` epochs of a longer training: what a shorter task shows."""
    return history[history["epoch"] <= epochs].reset_index(drop=True)


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


def overfitting_onset(history: pd.DataFrame, thresholds: Thresholds = THRESHOLDS,
                      n_test: int | None = None) -> Overfitting | None:
    """The val loss minimum, if a sustained rise follows it while the training loss falls.

    Sustained: at least the end window of epochs follow the minimum, two thirds of them lie
    above it by half the required rise, the end window's mean by the whole. The training loss
    over the end window must be below its value at the minimum. Without `n_test`: the raw val
    loss, a rise of `rise_fraction` of the minimum. With it: the moving average, and the larger
    of that fraction (a rise that matters) and `rise_z` standard errors of the end mean minus
    the smoothed minimum, sigma * sqrt(1/w + 1/window), sigma its `noise_sd` (more than noise).
    """
    val_loss = history["val_loss"].to_numpy(dtype=float)
    window, smooth = end_window(len(history), thresholds), 1
    curve, noise = val_loss, float("nan")
    if n_test is not None:
        smooth = smoothing_window(len(history), thresholds.smooth_window)
        curve, noise = smoothed(val_loss, smooth), noise_sd(val_loss, smooth)
    if not np.isfinite(curve).any():
        return None
    index = int(np.argmin(np.where(np.isfinite(curve), curve, np.inf)))
    after = curve[index + 1 :]
    if len(after) < window:
        return None
    val_min = float(curve[index])
    required = thresholds.rise_fraction * (abs(val_min) or 1.0)
    if n_test is not None and math.isfinite(noise):
        required = max(required, thresholds.rise_z * noise * math.sqrt(1 / smooth + 1 / window))
    above = after > val_min + 0.5 * required
    val_end = float(np.mean(val_loss[-window:]))
    train_onset = float(history["loss"].iloc[index])
    train_end = float(history["loss"].iloc[-window:].mean())
    sustained = above.mean() >= 2 / 3 and val_end > val_min + required
    if not (sustained and train_end < train_onset and math.isfinite(train_end)):
        return None
    return Overfitting(int(history["epoch"].iloc[index]), val_min, val_end, train_onset,
                       train_end, required, noise, smooth)


def plateau(history: pd.DataFrame, thresholds: Thresholds = THRESHOLDS,
            n_test: int | None = None) -> Plateau:
    """The epoch after which val accuracy never beats its best so far by more than the tolerance.

    Its epoch is None inside the end window: the curve still improves. Without `n_test`: the
    raw val accuracy, `plateau_tolerance`; with it: the moving average, and the noise of an
    accuracy on `n_test` images at the average's best (`accuracy_tolerance`).
    """
    accuracy = history["val_accuracy"].to_numpy(dtype=float)
    smooth, tolerance = 1, thresholds.plateau_tolerance
    if n_test is not None:
        smooth = smoothing_window(len(accuracy), thresholds.smooth_window)
        accuracy = smoothed(accuracy, smooth)
    if not np.isfinite(accuracy).any():
        return Plateau(None, tolerance, float("nan"), smooth, n_test)
    level = float(np.nanmax(accuracy))  # p: an accuracy's noise depends on its level
    if n_test is not None:
        tolerance = thresholds.accuracy_tolerance(n_test, level)
    accuracy = np.where(np.isfinite(accuracy), accuracy, -np.inf)
    best_so_far = np.maximum.accumulate(accuracy)
    best_after = np.maximum.accumulate(accuracy[::-1])[::-1]  # max over epochs >= i
    for index in range(len(accuracy)):
        later = best_after[index + 1] if index + 1 < len(accuracy) else -np.inf
        if later <= best_so_far[index] + tolerance:
            break
    epoch = int(history["epoch"].iloc[index])
    if len(accuracy) - 1 - index < end_window(len(accuracy), thresholds):
        epoch = None
    return Plateau(epoch, tolerance, level, smooth, n_test)


def plateau_epoch(history: pd.DataFrame, thresholds: Thresholds = THRESHOLDS,
                  n_test: int | None = None) -> int | None:
    """The epoch of :func:`plateau`: None when the curve is still improving at its end."""
    return plateau(history, thresholds, n_test).epoch


# Diverged, in two places, on the same two losses: a training stops itself (diverged_reason);
# the report also calls a curve that exploded without stopping diverged (divergence).

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


def divergence(history: pd.DataFrame, status: str | None = None,
               thresholds: Thresholds = THRESHOLDS,
               recorded_reason: str | None = None) -> Divergence | None:
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


def under_training(history: pd.DataFrame, thresholds: Thresholds = THRESHOLDS,
                   n_test: int | None = None) -> UnderTraining:
    """Whether training and validation loss both still fall over the end window.

    Each loss's fall is the least-squares line's over the last window + 1 epochs, relative to
    their mean, and must exceed `improving_fraction`; with `n_test` also `trend_z` standard
    errors of that fall, sigma * window / sqrt(sum (x - mean x)^2), sigma the loss's
    `noise_sd` over the whole curve (the few epochs of a window estimate it badly).
    """
    window = end_window(len(history), thresholds)
    nothing = UnderTraining(False, window, float("nan"), float("nan"))
    drops, required, noises, beyond = [], [], [], []
    if len(history) < window + 1:
        return nothing
    for column in ("loss", "val_loss"):
        curve = history[column].to_numpy(dtype=float)
        values = curve[-window - 1 :]
        if not np.isfinite(values).all():
            return nothing
        x = np.arange(len(values))
        slope = np.polyfit(x, values, 1)[0]
        scale = abs(values.mean()) or 1.0
        drops.append(float(-slope * window / scale))
        need, noise = thresholds.improving_fraction, float("nan")
        if n_test is not None:
            noise = noise_sd(curve, smoothing_window(len(curve), thresholds.smooth_window))
            standard_error = noise * window / math.sqrt(((x - x.mean()) ** 2).sum())
            beyond.append(thresholds.trend_z * standard_error / scale)
            if math.isfinite(standard_error):
                need = max(need, beyond[-1])
        required.append(need)
        noises.append(noise)
    improving = all(drop > need for drop, need in zip(drops, required))
    return UnderTraining(improving, window, drops[0], drops[1], *required, *noises,
                         *beyond[:1])


def diagnose(history: pd.DataFrame, status: str | None = None,
             thresholds: Thresholds = THRESHOLDS, recorded_reason: str | None = None,
             n_test: int | None = None) -> Diagnosis:
    """All diagnostics of one run's history; `n_test`, the number of validation images,
    derives the thresholds from the curve's noise (None: the fixed ones, on the raw curve)."""
    if n_test is not None and n_test < 1:
        raise ValueError(f"n_test must be a positive number of images, not {n_test}")
    found = plateau(history, thresholds, n_test)
    return Diagnosis(
        best_epoch=best_epoch(history),
        overfitting=overfitting_onset(history, thresholds, n_test),
        plateau_epoch=found.epoch,
        divergence=divergence(history, status, thresholds, recorded_reason),
        under_training=under_training(history, thresholds, n_test),
        plateau=found,
        n_test=n_test,
    )


def no_better_than_baseline(accuracy: float, baseline: float | None,
                            thresholds: Thresholds = THRESHOLDS, n_test: int | None = None) -> bool:
    """Whether an accuracy is within the margin of always guessing the majority class: the
    fixed `baseline_margin`, or with `n_test` at least the noise of the baseline on n images."""
    if baseline is None or not math.isfinite(accuracy):
        return False
    margin = thresholds.baseline_margin
    if n_test is not None:
        margin = max(margin, thresholds.accuracy_tolerance(n_test, baseline))
    return accuracy <= baseline + margin


def _metric_name(column: str) -> str:
    return {"loss": "training loss", "val_loss": "validation loss"}.get(column, column)
