"""A curve's noise: its centred moving average and the spread of its residuals around it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


def smoothing_window(epochs: int, longest: int) -> int:
    """`longest` (the thresholds' `smooth_window`), or on a curve shorter than twice that the largest odd number up to half
    its epochs (at least 1): an average never spans most of a short curve."""
    if epochs >= 2 * longest:
        return longest
    half = max(1, epochs // 2)
    return half if half % 2 else half - 1


def smoothed(values: np.ndarray, window: int) -> np.ndarray:
    """The centred (so it does not lag) moving average over `window` epochs of the finite values,
    fewer at the ends; NaN where the value itself is not finite (a diverged epoch stays one)."""
    finite = np.where(np.isfinite(values), values, np.nan)
    average = pd.Series(finite).rolling(window, center=True, min_periods=1).mean().to_numpy()
    return np.where(np.isfinite(finite), average, np.nan)


def noise_sd(values: np.ndarray, window: int) -> float:
    """A curve's per-epoch noise from the curve itself (NaN if it cannot be): the normal-consistent
    median absolute deviation (1.4826 x MAD, robust to the curve's bends and spikes) of its
    residuals around the moving average, times sqrt(w / (w - 1)) for the 1/w of each epoch's
    noise variance that a w-epoch average absorbs."""
    finite = np.isfinite(values)
    if window < 2 or finite.sum() < 3:
        return float("nan")
    residuals = (values - smoothed(values, window))[finite]
    mad = stats.median_abs_deviation(residuals, scale="normal")
    return float(mad * math.sqrt(window / (window - 1)))


@dataclass(frozen=True)
class NoiseComparison:
    sd_a: float  # each curve's per-epoch noise (:func:`noise_sd`)
    sd_b: float
    p: float  # Brown-Forsythe test of equal spread of the residuals


def noise_comparison(a: np.ndarray, b: np.ndarray, longest: int = 5) -> NoiseComparison | None:
    """Whether two curves are equally noisy from epoch to epoch: the Brown-Forsythe test
    (scipy.stats.levene, centred on the median) of their residuals around their moving
    averages; None where a curve is too short to know its noise."""
    residuals, sds = [], []
    for values in (np.asarray(a, dtype=float), np.asarray(b, dtype=float)):
        window = smoothing_window(len(values), longest)
        sd = noise_sd(values, window)
        finite = np.isfinite(values)
        if not math.isfinite(sd) or finite.sum() < 3:
            return None
        residuals.append((values - smoothed(values, window))[finite])
        sds.append(sd)
    p = float(stats.levene(*residuals, center="median").pvalue)
    return NoiseComparison(sds[0], sds[1], p if math.isfinite(p) else 1.0)
