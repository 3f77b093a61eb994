"""Diagnostics of crafted learning curves: each shape is found, and only where it is.

`crafted_history` is shared with test_answers.py and test_report.py.
"""

import math

import numpy as np
import pandas as pd
import pytest

from cnnlab import diagnostics
from cnnlab.errors import CnnlabError

SHAPES = ("overfitting", "under-trained", "flat", "diverged", "settled")


def crafted_history(shape: str, epochs: int = 40, seed: int = 0, level: float = 0.0):
    """A history.csv-like DataFrame of a clear shape; `level` shifts val accuracy up."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1, dtype=float)
    noise = rng.normal(0, 0.003, epochs)
    if shape == "overfitting":
        loss = 0.69 * np.exp(-t / (epochs / 6)) + 0.02
        val_loss = 0.45 + 0.5 * ((t - epochs / 3) / epochs) ** 2 * 4 + noise
        accuracy = 1 - 0.45 * np.exp(-t / (epochs / 6))
        val_accuracy = 0.72 + level - 0.1 * np.clip((t - epochs / 3) / epochs, 0, None) + noise
    elif shape == "under-trained":  # slow: still falling after 200 epochs, not after 350
        slow = np.exp(-t / 60)
        loss = 0.3 + 0.39 * slow
        val_loss = 0.36 + 0.34 * slow + noise
        accuracy = 0.9 - 0.35 * slow
        val_accuracy = 0.86 + level - 0.3 * slow + noise
    elif shape == "flat":
        loss = 0.693 + noise
        val_loss = 0.693 + noise[::-1]
        accuracy = np.full(epochs, 0.60)
        val_accuracy = np.full(epochs, 0.60 + level)
    elif shape == "diverged":
        loss = 0.69 - 0.1 * t / epochs
        val_loss = 0.70 - 0.1 * t / epochs
        accuracy = np.full(epochs, 0.62)
        val_accuracy = np.full(epochs, 0.61 + level)
        broken = epochs // 2
        loss[broken:] = np.nan
        val_loss[broken:] = np.nan
    elif shape == "settled":
        loss = 0.3 + 0.39 * np.exp(-t / 4)
        val_loss = 0.35 + 0.35 * np.exp(-t / 4) + noise
        accuracy = 0.88 - 0.3 * np.exp(-t / 4)
        val_accuracy = 0.84 + level - 0.3 * np.exp(-t / 4) + noise
    else:
        raise ValueError(shape)
    return pd.DataFrame({"epoch": t.astype(int), "loss": loss, "accuracy": accuracy,
                         "val_loss": val_loss, "val_accuracy": val_accuracy,
                         "seconds": np.full(epochs, 2.5)})


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_gets_exactly_its_own_diagnosis(shape):
    diagnosis = diagnostics.diagnose(crafted_history(shape))
    assert (diagnosis.overfitting is not None) == (shape == "overfitting")
    assert diagnosis.under_training.still_improving == (shape == "under-trained")
    assert (diagnosis.divergence is not None) == (shape == "diverged")
    assert (diagnosis.plateau_epoch is not None) == (shape in ("settled", "flat", "diverged",
                                                               "overfitting"))


def test_overfitting_onset_is_the_val_loss_minimum_and_reports_the_rise():
    history = crafted_history("overfitting", epochs=60)
    onset = diagnostics.overfitting_onset(history)
    assert onset.epoch == diagnostics.best_epoch(history)
    assert abs(onset.epoch - 20) <= 3
    assert onset.val_loss_end > onset.val_loss_min
    assert onset.train_loss_end < onset.train_loss_at_onset
    assert onset.val_rise > diagnostics.THRESHOLDS.rise_fraction


def test_no_overfitting_when_training_loss_rises_too():
    history = crafted_history("overfitting")
    history["loss"] = history["loss"].iloc[::-1].to_numpy()  # training loss rising
    assert diagnostics.overfitting_onset(history) is None


def test_no_overfitting_when_the_minimum_is_at_the_end():
    assert diagnostics.overfitting_onset(crafted_history("under-trained")) is None


def test_plateau_ignores_improvements_within_the_tolerance():
    history = crafted_history("settled", epochs=50)
    history["val_accuracy"] = np.minimum(0.80, 0.6 + 0.02 * history["epoch"])  # 0.80 at 10
    history.loc[history["epoch"] == 40, "val_accuracy"] = 0.805  # inside the tolerance
    assert diagnostics.plateau_epoch(history) == 10
    history.loc[history["epoch"] == 40, "val_accuracy"] = 0.83  # a real improvement
    assert diagnostics.plateau_epoch(history) == 40


def test_divergence_finds_nan_explosion_and_recorded_status():
    diverged = diagnostics.divergence(crafted_history("diverged", epochs=40))
    assert diverged.epoch == 21 and "nan" in diverged.reason
    exploding = crafted_history("settled")
    exploding.loc[exploding["epoch"] == 30, "loss"] = 50.0
    assert diagnostics.divergence(exploding).epoch == 30
    recorded = diagnostics.divergence(crafted_history("settled"), status="diverged")
    assert recorded.epoch is None and "diverged" in recorded.reason
    assert diagnostics.divergence(crafted_history("settled"), status="completed") is None


def test_run_values_final_best_gap_and_time():
    history = crafted_history("overfitting", epochs=30)
    values = diagnostics.run_values(history)
    last = history.iloc[-1]
    assert values["epochs"] == 30
    assert values["final_val_accuracy"] == last["val_accuracy"]
    assert values["gap"] == pytest.approx(last["accuracy"] - last["val_accuracy"])
    assert values["best_val_loss"] == history["val_loss"].min()
    assert values["seconds"] == pytest.approx(75.0)


def test_best_epoch_skips_nan_and_is_none_when_all_are_nan():
    history = crafted_history("diverged", epochs=10)
    assert diagnostics.best_epoch(history) == 5
    history["val_loss"] = np.nan
    assert diagnostics.best_epoch(history) is None
    assert math.isnan(diagnostics.run_values(history)["best_val_loss"])


def test_prefix_is_the_first_epochs():
    history = crafted_history("settled", epochs=30)
    assert list(diagnostics.prefix(history, 12)["epoch"]) == list(range(1, 13))


def test_check_history_names_the_file_and_the_missing_column():
    with pytest.raises(CnnlabError, match=r"runs/x/history.csv.*val_loss"):
        diagnostics.check_history(pd.DataFrame({"epoch": [1], "loss": [1.0], "accuracy": [0.5],
                                                "val_accuracy": [0.5]}), "runs/x/history.csv")


def test_curve_bands_mean_and_sd_over_seeds():
    histories = [crafted_history("settled", epochs=10, seed=seed) for seed in range(3)]
    bands = diagnostics.curve_bands(histories)
    stacked = np.stack([h["val_loss"].to_numpy() for h in histories])
    assert np.allclose(bands["val_loss_mean"], stacked.mean(axis=0))
    assert np.allclose(bands["val_loss_sd"], stacked.std(axis=0, ddof=1))
    assert (diagnostics.curve_bands(histories[:1])["val_loss_sd"] == 0).all()


def test_no_better_than_baseline():
    assert diagnostics.no_better_than_baseline(0.61, 0.60)
    assert not diagnostics.no_better_than_baseline(0.70, 0.60)
    assert not diagnostics.no_better_than_baseline(0.61, None)
