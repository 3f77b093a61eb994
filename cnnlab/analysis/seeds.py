"""The seeds of one set-up: curves averaged per epoch, values as mean and spread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnnlab.analysis.diagnostics import METRICS, REQUIRED_COLUMNS


def curve_bands(histories: list[pd.DataFrame]) -> pd.DataFrame:
    """Mean and standard deviation per epoch over the histories of a set-up's seeds.

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
