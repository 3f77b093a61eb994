"""Diagnostics of crafted learning curves: each shape is found, and only where it is.

`crafted_history` is shared with test_answers.py and test_report.py.
"""

import math

import numpy as np
import pandas as pd
import pytest

from cnnlab.analysis import diagnostics
from cnnlab.analysis.noise import noise_sd, smoothing_window
from cnnlab.analysis.seeds import curve_bands

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


def test_curve_bands_mean_and_sd_over_seeds():
    histories = [crafted_history("settled", epochs=10, seed=seed) for seed in range(3)]
    bands = curve_bands(histories)
    stacked = np.stack([h["val_loss"].to_numpy() for h in histories])
    assert np.allclose(bands["val_loss_mean"], stacked.mean(axis=0))
    assert np.allclose(bands["val_loss_sd"], stacked.std(axis=0, ddof=1))
    assert (curve_bands(histories[:1])["val_loss_sd"] == 0).all()


def test_no_better_than_baseline():
    assert diagnostics.no_better_than_baseline(0.61, 0.60)
    assert not diagnostics.no_better_than_baseline(0.70, 0.60)
    assert not diagnostics.no_better_than_baseline(0.61, None)


# -- thresholds from the validation set's size ----------------------------------------------


def rise_then_wander(n_test: int, epochs: int = 120, gain_after: float = 0.0, wander: int = 1,
                     seed: int = 0):
    """Val accuracy that rises from 50% to 85% over 30 epochs, then gains `gain_after` more
    (linearly, to the end) and wanders by up to `wander` of `n_test` images."""
    rng = np.random.default_rng(seed)
    history = crafted_history("settled", epochs, seed)
    t = history["epoch"].to_numpy(dtype=float)
    level = np.where(t <= 30, 0.50 + 0.35 * t / 30, 0.85 + gain_after * (t - 30) / (epochs - 30))
    history["val_accuracy"] = np.round(level * n_test + rng.integers(-wander, wander + 1,
                                                                     epochs)) / n_test
    return history


def with_noisy_val_loss(history, sd: float, seed: int, flat: bool = False):
    """The history with Gaussian noise of `sd` added to its val loss (flat: 0.5 plus noise)."""
    noise = np.random.default_rng(seed + 1000).normal(0, sd, len(history))
    history["val_loss"] = (0.5 if flat else history["val_loss"]) + noise
    return history


def test_accuracy_tolerance_is_one_binomial_standard_error_and_at_least_one_image():
    assert diagnostics.THRESHOLDS.accuracy_tolerance(103, 0.8) == pytest.approx(
        math.sqrt(0.8 * 0.2 / 103))
    assert diagnostics.THRESHOLDS.accuracy_tolerance(10_000, 0.8) == pytest.approx(0.004)
    assert diagnostics.THRESHOLDS.accuracy_tolerance(103, 1.0) == pytest.approx(1 / 103)


@pytest.mark.parametrize("seed", range(5))
def test_plateau_on_103_images_is_where_the_rise_ends_not_in_the_wander(seed):
    history = rise_then_wander(103, seed=seed)
    found = diagnostics.plateau(history, n_test=103)
    assert abs(found.epoch - 30) <= 5
    assert found.tolerance == pytest.approx(
        diagnostics.THRESHOLDS.accuracy_tolerance(103, found.level))
    assert found.smooth_window == diagnostics.THRESHOLDS.smooth_window and found.n_test == 103
    # a slow drift of three images over the next 90 epochs is noise on 103 images ...
    drifting = rise_then_wander(103, gain_after=3 / 103, seed=seed)
    assert abs(diagnostics.plateau_epoch(drifting, n_test=103) - 30) <= 5
    # ... which the fixed tolerance of 1 point (about one image) takes for improvement
    assert diagnostics.plateau_epoch(drifting) > 50


@pytest.mark.parametrize("seed", range(5))
def test_half_a_point_gained_after_epoch_30_is_a_gain_on_10000_images_only(seed):
    gaining = rise_then_wander(10_000, gain_after=0.005, seed=seed)
    found = diagnostics.plateau(gaining, n_test=10_000)
    assert found.tolerance < 0.005
    assert found.epoch is None or found.epoch > 40
    # the same curve measured on 103 images: half a point is half an image, noise
    assert abs(diagnostics.plateau_epoch(rise_then_wander(103, gain_after=0.005, seed=seed),
                                         n_test=103) - 30) <= 5
    flat = rise_then_wander(10_000, seed=seed)
    assert abs(diagnostics.plateau_epoch(flat, n_test=10_000) - 30) <= 5


def test_noisy_but_flat_val_loss_on_103_images_is_not_overfitting():
    calls, fixed_calls = 0, 0
    for seed in range(20):
        history = with_noisy_val_loss(crafted_history("settled", 60, seed), 0.04, seed, True)
        calls += diagnostics.overfitting_onset(history, n_test=103) is not None
        fixed_calls += diagnostics.overfitting_onset(history) is not None
    assert calls == 0
    assert fixed_calls >= 15  # the fixed 10% rise above the noisy minimum fires on most


@pytest.mark.parametrize("seed", range(5))
def test_clear_u_shaped_val_loss_with_the_same_noise_is_overfitting(seed):
    history = with_noisy_val_loss(crafted_history("overfitting", 60, seed), 0.04, seed)
    onset = diagnostics.overfitting_onset(history, n_test=103)
    assert onset is not None and abs(onset.epoch - 20) <= 5
    assert onset.val_loss_noise == pytest.approx(0.04, rel=0.5)
    assert onset.required_rise >= diagnostics.THRESHOLDS.rise_z * onset.val_loss_noise * (
        math.sqrt(1 / 5 + 1 / 12)) - 1e-12
    assert onset.val_loss_end - onset.val_loss_min > onset.required_rise


def test_noisy_flat_val_loss_is_not_still_falling_a_clearly_falling_one_is():
    calls, fixed_calls = 0, 0
    for seed in range(20):
        history = with_noisy_val_loss(crafted_history("settled", 60, seed), 0.04, seed, True)
        history["loss"] = 0.6 - 0.003 * history["epoch"]  # the training loss still falls
        calls += diagnostics.under_training(history, n_test=103).still_improving
        fixed_calls += diagnostics.under_training(history).still_improving
    assert calls <= 1  # a two-sided 5% test of the slope: about one in 40 by chance
    assert fixed_calls >= 8
    for seed in range(5):
        history = crafted_history("settled", 60, seed)
        history["loss"] = 0.6 - 0.004 * history["epoch"]
        history["val_loss"] = 0.7 - 0.005 * history["epoch"]
        under = diagnostics.under_training(with_noisy_val_loss(history, 0.02, seed), n_test=103)
        assert under.still_improving and under.val_drop > under.val_required > 0.02


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_gets_its_own_loss_diagnosis_with_n_test_too(shape):
    diagnosis = diagnostics.diagnose(crafted_history(shape), None, n_test=200)
    assert (diagnosis.overfitting is not None) == (shape == "overfitting")
    assert diagnosis.under_training.still_improving == (shape == "under-trained")
    assert (diagnosis.divergence is not None) == (shape == "diverged")
    assert diagnosis.n_test == 200 and diagnosis.plateau.epoch == diagnosis.plateau_epoch
    assert diagnosis.plateau.tolerance > diagnostics.THRESHOLDS.plateau_tolerance


def test_without_n_test_the_fixed_thresholds_and_the_raw_curve_are_used():
    diagnosis = diagnostics.diagnose(crafted_history("overfitting"), "completed",
                                     diagnostics.THRESHOLDS, None)
    assert diagnosis.n_test is None and diagnosis.plateau.smooth_window == 1
    assert diagnosis.plateau.tolerance == diagnostics.THRESHOLDS.plateau_tolerance
    assert diagnosis.overfitting.smooth_window == 1
    assert diagnosis.under_training.val_required == diagnostics.THRESHOLDS.improving_fraction


def test_smoothing_window_fits_short_curves_and_noise_is_estimated_from_the_curve():
    assert smoothing_window(100, 5) == 5
    assert smoothing_window(8, 5) == 3 and smoothing_window(3, 5) == 1
    noise = np.random.default_rng(0).normal(0, 0.05, 400)
    curve = 1.0 + 0.5 * np.exp(-np.arange(400) / 50) + noise
    assert noise_sd(curve, 5) == pytest.approx(0.05, rel=0.15)
    assert math.isnan(noise_sd(curve, 1))


def test_baseline_margin_grows_to_the_noise_of_the_baseline_on_few_images():
    assert diagnostics.no_better_than_baseline(0.63, 0.60, n_test=103)
    assert not diagnostics.no_better_than_baseline(0.63, 0.60)
    assert not diagnostics.no_better_than_baseline(0.63, 0.60, n_test=10_000)
