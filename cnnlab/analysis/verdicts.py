"""A learning curve's verdict in the lab's vocabulary, with the numbers that decide it.

The vocabulary (:data:`VERDICTS`, most telling first) reads the whole curve, both splits:

- *diverged*: a loss became non-finite or exploded (:func:`diagnostics.divergence`);
- *overfitting from epoch E*: after E, the validation loss rises beyond its noise while the
  training loss falls, or the train - validation accuracy gap grows by more than the 95 %
  interval of the validation accuracy while the validation loss stays above its minimum
  (:func:`overfitting_from`: the one place that decides it, for 6E's selection too);
- *still learning*: the lowest validation loss lies in the last tenth of the epochs (the curve
  has not shown its minimum yet), or both losses still fall beyond their noise;
- *ranks, not above the baseline*: the accuracy is within the noise of always answering the
  majority class, yet the ROC AUC's interval lies above 0.5: the scores order the images, the
  threshold is not there yet;
- *not learning*: at the baseline, with a training loss that does not fall;
- *plateau*: above the baseline, neither falling nor overfitting.

The accuracy the baseline is judged by is the end of the smoothed curve, so one noisy last
epoch does not decide it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnnlab.analysis.diagnostics import (
    THRESHOLDS,
    Diagnosis,
    Thresholds,
    no_better_than_baseline,
)
from cnnlab.analysis.noise import smoothed, smoothing_window

VERDICTS = ("diverged", "overfitting", "still learning", "ranks, not above the baseline",
            "not learning", "plateau")
#: the two-sided 95 % normal quantile: the half-width of an accuracy's interval in standard errors
Z95 = 1.959963984540054
#: the end of a curve where its lowest validation loss means it is still learning
LAST_FRACTION = 0.1


@dataclass(frozen=True)
class Onset:
    """Where overfitting starts and what shows it."""

    epoch: int  # of the validation loss minimum (smoothed for a rise, raw for a gap)
    by: str  # "val_loss": it rises beyond its noise; "gap": the accuracy gap grows
    gap_at_onset: float  # train - validation accuracy there (smoothed)
    gap_end: float  # the same at the end
    gap_noise: float  # the 95 % half-width of the validation accuracy


@dataclass(frozen=True)
class CurveVerdict:
    """A curve's verdict and its evidence (losses and accuracies as read from the history)."""

    name: str  # one of VERDICTS
    epochs: int  # the epochs read
    best_epoch: int | None  # the lowest validation loss (raw), None if no loss is finite
    val_loss_best: float
    val_loss_end: float
    train_loss_first: float
    train_loss_end: float
    gap_end: float  # final train - validation accuracy
    onset: Onset | None = None  # overfitting's
    diverged_at: int | None = None
    plateau_from: int | None = None
    auc: float = float("nan")
    auc_low: float = float("nan")
    auc_high: float = float("nan")
    end_accuracy: float = float("nan")  # the smoothed validation accuracy at the end
    at_baseline: bool = False  # that accuracy within the noise of the majority baseline

    @property
    def learning(self) -> bool:
        return self.name == "still learning"


def last_tenth(epochs: int) -> int:
    """The first epoch of a curve's last tenth (at least its last epoch)."""
    return epochs - max(1, math.ceil(LAST_FRACTION * epochs)) + 1


def end_accuracy(history: pd.DataFrame, thresholds: Thresholds = THRESHOLDS) -> float:
    """The validation accuracy at the end of its moving average: one noisy epoch does not
    decide whether a model is above the baseline."""
    accuracy = history["val_accuracy"].to_numpy(dtype=float)
    return _last_finite(smoothed(accuracy, smoothing_window(len(accuracy),
                                                            thresholds.smooth_window)))


def _last_finite(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else float("nan")


def gap_growth(history: pd.DataFrame, n_test: int,
               thresholds: Thresholds = THRESHOLDS) -> Onset | None:
    """Overfitting by the accuracies: after the lowest validation loss (before the curve's
    last tenth) the training loss falls, the validation loss ends above that minimum, and the
    train - validation accuracy gap grows by more than the 95 % half-width of the validation
    accuracy on `n_test` images (the normal approximation at its end level). Gaps and the
    curves' ends are read from their moving averages, so one noisy epoch decides nothing."""
    epochs = len(history)
    raw_val_loss = history["val_loss"].to_numpy(dtype=float)
    if not np.isfinite(raw_val_loss).any():
        return None
    index = int(np.nanargmin(np.where(np.isfinite(raw_val_loss), raw_val_loss, np.nan)))
    if index + 1 >= last_tenth(epochs):
        return None
    window = smoothing_window(epochs, thresholds.smooth_window)
    gap = smoothed((history["accuracy"] - history["val_accuracy"]).to_numpy(dtype=float), window)
    train = smoothed(history["loss"].to_numpy(dtype=float), window)
    gap_end, train_end = _last_finite(gap), _last_finite(train)
    val_end = _last_finite(smoothed(raw_val_loss, window))
    level = end_accuracy(history, thresholds)
    if not all(map(math.isfinite, (gap_end, train_end, val_end, level, gap[index]))):
        return None
    noise = Z95 * math.sqrt(max(level * (1 - level), 1 / n_test) / n_test)
    grows = gap_end - float(gap[index]) > noise
    if grows and train_end < train[index] and val_end > raw_val_loss[index]:
        return Onset(int(history["epoch"].iloc[index]), "gap", float(gap[index]), gap_end,
                     noise)
    return None


def overfitting_from(history: pd.DataFrame, diagnosis: Diagnosis, n_test: int | None,
                     thresholds: Thresholds = THRESHOLDS) -> Onset | None:
    """Where the curve starts to overfit, by its validation loss or its accuracy gap; None
    if it does not. The report's verdict and 6E's selection both ask this."""
    rise = diagnosis.overfitting
    if rise is not None:
        gap = (history["accuracy"] - history["val_accuracy"]).to_numpy(dtype=float)
        at = int(np.flatnonzero(history["epoch"].to_numpy() == rise.epoch)[0])
        return Onset(rise.epoch, "val_loss", float(gap[at]), float(gap[-1]), float("nan"))
    return None if n_test is None else gap_growth(history, n_test, thresholds)


#: the least relative fall of a training loss, over the end window, that counts as a fall on
#: a curve too short to know its noise (a float's rounding is not a fall)
LEAST_FALL = 1e-4


def _train_loss_falls(diagnosis: Diagnosis) -> bool:
    """A training loss that falls beyond its noise over the end window (any real fall on a
    curve too short to know its noise)."""
    under = diagnosis.under_training
    beyond = under.train_beyond_noise
    return math.isfinite(under.train_drop) and under.train_drop > (
        beyond if math.isfinite(beyond) else LEAST_FALL)


def curve_verdict(history: pd.DataFrame, diagnosis: Diagnosis, baseline: float | None,
                  n_test: int | None, auc_interval: tuple[float, float, float] | None = None,
                  thresholds: Thresholds = THRESHOLDS) -> CurveVerdict:
    """The verdict of one run's curve (module docstring), with the numbers that decide it;
    `auc_interval` is its final ROC AUC and 95 % interval (auc, low, high)."""
    values = {
        "epochs": len(history),
        "best_epoch": diagnosis.best_epoch,
        "val_loss_best": (float(history.loc[history["epoch"] == diagnosis.best_epoch,
                                            "val_loss"].iloc[0])
                          if diagnosis.best_epoch is not None else float("nan")),
        "val_loss_end": float(history["val_loss"].iloc[-1]),
        "train_loss_first": float(history["loss"].iloc[0]),
        "train_loss_end": float(history["loss"].iloc[-1]),
        "gap_end": float(history["accuracy"].iloc[-1] - history["val_accuracy"].iloc[-1]),
        "end_accuracy": end_accuracy(history, thresholds),
        "plateau_from": diagnosis.plateau_epoch,
    }
    values.update(zip(("auc", "auc_low", "auc_high"),
                      map(float, auc_interval or (math.nan,) * 3)))
    values["at_baseline"] = no_better_than_baseline(values["end_accuracy"], baseline,
                                                    thresholds, n_test)
    if diagnosis.divergence:
        return CurveVerdict("diverged", diverged_at=diagnosis.divergence.epoch, **values)
    onset = overfitting_from(history, diagnosis, n_test, thresholds)
    if onset is not None:
        return CurveVerdict("overfitting", onset=onset, **values)
    best = diagnosis.best_epoch
    best_at_end = best is not None and best >= last_tenth(len(history))
    # both losses falling beyond their noise, or the lowest validation loss in the last
    # tenth: the curve has not shown its minimum yet, whatever the training loss's noise
    falling = diagnosis.under_training.still_improving or best_at_end
    if values["at_baseline"]:
        if math.isfinite(values["auc_low"]) and values["auc_low"] > 0.5:
            return CurveVerdict("ranks, not above the baseline", **values)
        if falling or _train_loss_falls(diagnosis):
            return CurveVerdict("still learning", **values)
        return CurveVerdict("not learning", **values)
    return CurveVerdict("still learning" if falling else "plateau", **values)


def most_telling(verdicts: list[CurveVerdict]) -> CurveVerdict:
    """Of several seeds' verdicts, the first in :data:`VERDICTS` order."""
    return min(verdicts, key=lambda verdict: VERDICTS.index(verdict.name))
