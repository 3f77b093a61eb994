"""The numbers behind the concept answers (cnnlab.analysis.representations) and their wording
(cnnlab.report.answers: dense_layers, conv_layers, output_layer), from activations drawn here: no Keras."""

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from cnnlab.analysis import representations
from cnnlab.report.answers import conv_layers, dense_layers, output_layer

LABELS = np.repeat([0, 1], 40)  # 40 Mel, 40 Nev


def separated(rng, dimensions=30, distance=4.0):
    """Two classes whose means lie `distance` apart along every axis."""
    return np.concatenate([rng.normal(0, 1, (40, dimensions)),
                           rng.normal(distance, 1, (40, dimensions))])


def overlapping(rng, dimensions=30):
    """Two classes drawn from one distribution."""
    return rng.normal(0, 1, (80, dimensions))


def separability_words(stats: dict) -> str:
    """5E's words on separability: the evidence, the sentence and the glance's few words."""
    found = dense_layers.separability(stats)
    return " ".join(dense_layers.separability_evidence(stats) + (list(found) if found else []))


def test_separability_follows_how_far_apart_the_classes_are():
    rng = np.random.default_rng(0)
    stats = representations.separability(
        {"raw pixels": overlapping(rng), "conv features": overlapping(rng),
         "dense1 features": separated(rng)}, LABELS)
    assert stats["folds"] == 5 and stats["n"] == 80 and stats["baseline"] == 0.5
    assert stats["method"] == "logistic regression, stratified 5-fold cross-validation"
    raw, conv, dense = stats["representations"]
    assert dense["accuracy"] > 0.95 and dense["fold_min"] > 0.8
    assert 0.25 < raw["accuracy"] < 0.75 and 0.25 < conv["accuracy"] < 0.75
    assert conv["dimensions"] == 30 and len(dense["explained"]) == 2
    # well-separated classes lie along the first principal component
    assert dense["explained"][0] > 0.5 > conv["explained"][0]
    words = separability_words(stats)
    assert f"dense1 features (30 values) {100 * dense['accuracy']:.1f}%" in words
    assert "points better than the conv features (exact McNemar p < 0.001)" in words
    assert "majority baseline is 50.0%" in words
    # the paired test of each representation against the one before, on the same folds
    (raw_conv, conv_dense) = stats["tests"]
    assert (conv_dense["a"], conv_dense["b"], conv_dense["n"]) == ("dense1 features",
                                                                   "conv features", 80)
    assert conv_dense["only_a"] > 20 > conv_dense["only_b"] and conv_dense["p"] < 0.001
    assert raw_conv["p"] > 0.05


def test_overlapping_classes_are_worded_as_no_better_than_the_baseline():
    rng = np.random.default_rng(1)
    stats = representations.separability(
        {"raw pixels": overlapping(rng), "conv features": separated(rng),
         "dense1 features": overlapping(rng)}, LABELS)
    conv, dense = stats["representations"][1:]
    assert conv["accuracy"] > 0.95 and dense["accuracy"] < 0.75
    words = separability_words(stats)
    assert "no better than the majority baseline" in words
    assert "separate the classes no better than the baseline" in words


def test_equally_separable_representations_are_not_called_different():
    rng = np.random.default_rng(2)
    stats = representations.separability(
        {"conv features": separated(rng, distance=0.5), "dense1 features":
         separated(rng, distance=0.5)}, LABELS)
    words = separability_words(stats)
    assert "no different by the exact McNemar" in words and "without adding separability" in words
    assert stats["tests"][0]["p"] > 0.05


def test_folds_shrink_to_the_smaller_class_and_one_image_a_class_is_not_measured():
    rng = np.random.default_rng(3)
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    assert representations.separability({"x": rng.normal(size=(8, 3))}, labels)["folds"] == 3
    lone = representations.separability({"x": rng.normal(size=(4, 3)),
                                         "y": rng.normal(size=(4, 3))}, np.array([0, 1, 1, 1]))
    assert lone["representations"][0]["accuracy"] is None
    assert "not measured" in dense_layers.separability_evidence(lone)[0]
    assert dense_layers.separability(lone) is None


def test_class_difference_finds_the_one_channel_that_differs():
    rng = np.random.default_rng(4)
    means = rng.normal(1, 0.2, (80, 8))
    means[40:, 5] += 1.0  # channel 5 is stronger for Nev
    means[:, 7] = 0.0  # a dead channel
    result = representations.class_difference(means, LABELS)
    assert result["differing"] == 1 and result["order"][0] == 5
    assert result["strongest"]["channel"] == 5 and result["strongest"]["d"] > 3
    assert result["strongest"]["nev_mean"] == pytest.approx(2.0, abs=0.15)
    assert result["effects"][7] == 0.0
    words = conv_layers.answer_class_difference([("conv1", result)], {"Mel": 40, "Nev": 40})
    assert "1 of conv1's 8 channels differ" in words and "The clearest is conv1:5" in words
    same = representations.class_difference(rng.normal(1, 0.2, (80, 8)), LABELS)
    assert same["differing"] == 0
    words = conv_layers.answer_class_difference([("conv1", same)], {"Mel": 40, "Nev": 40})
    assert "0 of conv1's 8 channels" in words and "do not tell the classes apart" in words


def test_output_distribution_counts_each_side_of_the_threshold_and_calibration():
    rng = np.random.default_rng(5)
    probabilities = np.concatenate([rng.uniform(0.0, 0.4, 40), rng.uniform(0.3, 1.0, 40)])
    stats = representations.output_distribution(probabilities, LABELS, "bce")
    assert stats["threshold"] == 0.5 and stats["classes"]["Mel"]["right_side"] == 1.0
    nev_above = float((probabilities[40:] > 0.5).mean())
    assert stats["classes"]["Nev"]["right_side"] == nev_above < 1.0
    assert stats["brier"] < stats["brier_base_rate"] == 0.25
    assert sum(stats["calibration"]["counts"]) == 80
    margins = np.concatenate([rng.normal(-1.5, 1, 40), rng.normal(1.5, 1, 40)])
    hinge = representations.output_distribution(margins, LABELS, "hinge")
    assert hinge["threshold"] == 0.0 and "calibration" not in hinge
    assert hinge["classes"]["Mel"]["inside_margin"] == float((np.abs(margins[:40]) < 1).mean())
    words = " ".join(output_layer.answer_output_distribution({
        "bce": dict(stats, run_id="lenet-s1", epochs=200),
        "hinge": dict(hinge, run_id="alexnet-hinge-s1", epochs=100)}))
    assert f"{100 * nev_above:.1f}% of the Nev images above it" in words
    brier_low, brier_high = stats["intervals"]["brier"]
    assert (f"Brier score is {stats['brier']:.3f} (95% CI {brier_low:.3f} to {brier_high:.3f}), "
            "better than the 0.250") in words
    assert "alexnet-hinge-s1" in words and "inside the margin" in words
    assert "calls every test image" not in words  # its margins separate the classes
    # a hinge run whose margins are all positive answers Nev for every image, and says so
    all_nev = representations.output_distribution(np.abs(margins) + 0.1, LABELS, "hinge")
    words = " ".join(output_layer.answer_output_distribution({
        "hinge": dict(all_nev, run_id="alexnet-hinge-s1", epochs=100)}))
    assert "0.0% of the Mel images score at or below 0" in words
    assert "it calls every test image Nev" in words
    assert stats["brier_skill"] == pytest.approx(1 - stats["brier"] / 0.25)
    # an uninformative sigmoid, 0.5 for every image, is calibrated and tells nothing apart
    flat = representations.output_distribution(np.full(80, 0.5), LABELS, "bce")
    assert flat["spread"] == [0.5, 0.5] and flat["brier_skill"] == pytest.approx(0.0)
    words = " ".join(output_layer.answer_output_distribution({"bce": dict(flat, run_id="r",
                                                                      epochs=1)}))
    assert "not clearly better or worse than the 0.250" in words
    assert "the model hardly tells the images apart" in words


def test_calibration_intervals_bootstrap_the_same_statistics_sklearn_gives():
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, 120)
    probabilities = np.clip(0.5 + 0.3 * (labels - 0.5) + rng.normal(0, 0.15, 120), 0, 1)
    stats = representations.output_distribution(probabilities, labels, "bce")
    brier, skill, error = representations._calibration_statistics(probabilities, labels == 1, 10)
    assert brier == pytest.approx(brier_score_loss(labels == 1, probabilities))
    assert skill == pytest.approx(stats["brier_skill"])
    assert error == pytest.approx(stats["calibration"]["expected_calibration_error"])
    intervals = stats["intervals"]
    for name, value in (("brier", brier), ("brier_skill", skill)):
        assert intervals[name][0] < value < intervals[name][1], name
    # the Brier score is a mean of squared errors: its interval is about mean +- 1.96 SE
    se = np.std((probabilities - (labels == 1)) ** 2, ddof=1) / np.sqrt(labels.size)
    width = intervals["brier"][1] - intervals["brier"][0]
    assert width == pytest.approx(2 * 1.96 * se, rel=0.15)
    # seeded: the same outputs give the same intervals
    assert representations.output_distribution(probabilities, labels, "bce")["intervals"] == intervals


def test_the_calibration_verdict_says_where_its_interval_reaches_a_worse_kind():
    assert output_layer.calibration_quality(0.03, [0.01, 0.04]).startswith("well calibrated")
    assert "though" not in output_layer.calibration_quality(0.03, [0.01, 0.04])
    assert output_layer.calibration_quality(0.03, [0.01, 0.09]).endswith(
        "though the interval reaches 0.090, where they would be only roughly calibrated")
    assert output_layer.calibration_quality(0.10, [0.06, 0.21]) == (
        "roughly calibrated, though the interval reaches 0.210, where they would be poorly "
        "calibrated")
    assert output_layer.calibration_quality(0.10, [0.06, 0.12]) == "roughly calibrated"
    assert output_layer.calibration_quality(0.20, [0.12, 0.30]).startswith("poorly calibrated")
