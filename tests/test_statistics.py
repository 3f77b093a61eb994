"""cnnlab.analysis.statistics pinned to values computed independently: closed forms, exact sums,
textbook examples, and the real test split."""

import math

import numpy as np
import pytest

from cnnlab.analysis import statistics
from cnnlab.data.image_file import IMAGE_EXTENSIONS
from tests.test_real_data import require_real_data


def test_exact_mcnemar_of_10_against_2_discordant_images():
    correct_a = np.array([True] * 10 + [False] * 2 + [True] * 50 + [False] * 5)
    correct_b = np.array([False] * 10 + [True] * 2 + [True] * 50 + [False] * 5)
    test = statistics.mcnemar_exact(correct_a, correct_b)
    assert (test.only_a, test.only_b, test.n) == (10, 2, 67)
    # two-sided exact: twice the binomial tail P(X <= 2), X ~ Bin(12, 1/2)
    tail = sum(math.comb(12, k) for k in range(3)) / 2**12
    assert test.p == pytest.approx(2 * tail) and round(test.p, 4) == 0.0386
    assert test.difference == pytest.approx(8 / 67)
    assert statistics.mcnemar_exact(correct_a, correct_a).p == 1.0
    with pytest.raises(ValueError, match="same images"):
        statistics.mcnemar_exact(correct_a, correct_b[:-1])


def wilson_closed_form(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize("k, n", [(60, 103), (0, 24), (24, 24), (7, 10)])
def test_wilson_interval_matches_its_closed_form(k, n):
    interval = statistics.wilson_interval(k, n)
    low, high = wilson_closed_form(k, n)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-9)


def test_wilson_interval_of_60_of_103():
    interval = statistics.accuracy_interval(60 / 103, 103)
    assert (round(interval.low, 3), round(interval.high, 3)) == (0.486, 0.673)
    assert math.isnan(statistics.accuracy_interval(float("nan"), 103).low)


def test_holm_adjusts_a_textbook_family():
    # sorted 0.01, 0.03, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.03), max(0.06, 1 * 0.04)
    assert statistics.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert statistics.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert statistics.holm([0.02]) == [0.02]


def test_welch_t_test_statistic_degrees_of_freedom_and_verdict():
    a, b = [0.80, 0.82, 0.81, 0.83], [0.70, 0.75, 0.72]
    test = statistics.welch_t_test(a, b)
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 3
    assert test.t == pytest.approx((np.mean(a) - np.mean(b)) / math.sqrt(va + vb))
    assert test.df == pytest.approx((va + vb) ** 2 / (va**2 / 3 + vb**2 / 2))
    assert test.significant and test.p < 0.05
    overlapping = statistics.welch_t_test([0.80, 0.70, 0.75], [0.78, 0.72, 0.74])
    assert not overlapping.significant
    assert statistics.welch_t_test([0.8], [0.7, 0.71]) is None
    identical = statistics.welch_t_test([0.8, 0.8], [0.8, 0.8])
    assert identical.p == 1.0 and not identical.significant


def test_welch_p_value_matches_students_closed_form_for_two_degrees_of_freedom():
    # equal variances and two values a side give df = 2, where P(|T| > t) = 1 - t / sqrt(2 + t^2)
    test = statistics.welch_t_test([0.0, 2.0], [5.0, 7.0])
    assert test.df == pytest.approx(2.0)
    t = abs(test.t)
    assert test.p == pytest.approx(1 - t / math.sqrt(2 + t * t))


def test_clinical_view_counts_melanoma_as_the_positive_class():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])  # 4 Mel, 6 Nev
    outputs = np.array([0.1, 0.2, 0.7, 0.9, 0.8, 0.6, 0.95, 0.3, 0.55, 0.51])
    view = statistics.clinical(outputs, labels, "bce")
    assert (view.mel_found, view.mel_missed, view.nev_flagged, view.nev_cleared) == (2, 2, 1, 5)
    assert view.sensitivity == 0.5 and view.specificity == pytest.approx(5 / 6)
    assert view.balanced_accuracy == pytest.approx((0.5 + 5 / 6) / 2)
    assert view.accuracy == pytest.approx(0.7)
    # AUC: the share of (melanoma, nevus) pairs in which the melanoma scores lower for Nev
    pairs = [(m, v) for m in outputs[labels == 0] for v in outputs[labels == 1]]
    assert view.auc == pytest.approx(sum(m < v for m, v in pairs) / len(pairs))
    hinge = statistics.clinical(outputs - 0.5, labels, "hinge")
    assert hinge == view
    assert statistics.correct(outputs, labels, "bce").sum() == 7


def test_sensitivity_and_specificity_carry_the_wilson_interval_of_their_own_class():
    labels = np.array([0] * 40 + [1] * 60)
    outputs = np.r_[np.full(30, 0.2), np.full(10, 0.8), np.full(51, 0.9), np.full(9, 0.1)]
    view = statistics.clinical(outputs, labels, "bce")
    assert (view.mel_found, view.nev_cleared) == (30, 51)
    sensitivity, specificity = view.sensitivity_interval, view.specificity_interval
    assert (sensitivity.low, sensitivity.high) == pytest.approx(wilson_closed_form(30, 40))
    assert (specificity.low, specificity.high) == pytest.approx(wilson_closed_form(51, 60))


def stratified_percentile_bootstrap(mel_scores, nev_scores, resamples, seed):
    """An independent stratified bootstrap of the AUC: each class resampled on its own,
    sklearn's AUC of each resample, the 2.5th and 97.5th percentiles."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    truth = np.r_[np.ones(mel_scores.size), np.zeros(nev_scores.size)]
    aucs = [roc_auc_score(truth, np.r_[rng.choice(mel_scores, mel_scores.size),
                                       rng.choice(nev_scores, nev_scores.size)])
            for _ in range(resamples)]
    return np.percentile(aucs, [2.5, 97.5])


def test_auc_interval_agrees_with_an_independent_bootstrap_and_the_hanley_mcneil_form():
    rng = np.random.default_rng(3)
    labels = np.r_[np.zeros(90, int), np.ones(110, int)]
    outputs = rng.normal(0, 1, 200) + 0.9 * labels  # Nev scores higher: AUC about 0.74
    view = statistics.clinical(outputs, labels, "hinge")
    interval = view.auc_interval
    assert interval.low < view.auc < interval.high
    low, high = stratified_percentile_bootstrap(-outputs[labels == 0], -outputs[labels == 1],
                                                3000, seed=11)
    assert interval.low == pytest.approx(low, abs=0.02)
    assert interval.high == pytest.approx(high, abs=0.02)
    # Hanley & McNeil (1982): the AUC's standard error from the AUC and the class counts
    a, n_mel, n_nev = view.auc, 90, 110
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt((a * (1 - a) + (n_mel - 1) * (q1 - a * a) + (n_nev - 1) * (q2 - a * a))
                   / (n_mel * n_nev))
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * se, rel=0.15)
    # the same outputs, the same interval: the bootstrap is seeded
    assert statistics.clinical(outputs, labels, "hinge").auc_interval == interval
    # four times the images, about half the width
    wide = np.tile(outputs, 4), np.tile(labels, 4)
    narrow = statistics.auc_bootstrap_interval(*wide)
    assert (narrow.high - narrow.low) / (interval.high - interval.low) == pytest.approx(0.5, abs=0.1)


def test_auc_interval_is_undefined_where_the_bootstrap_has_nothing_to_resample():
    labels = np.array([0, 0, 0, 1, 1, 1])
    perfect = statistics.auc_bootstrap_interval(labels.astype(float), labels)
    one_melanoma = statistics.auc_bootstrap_interval(np.array([0.1, 0.6, 0.9]), np.array([0, 1, 1]))
    diverged = statistics.auc_bootstrap_interval(np.array([0.1, np.nan, 0.6, 0.9]),
                                                 np.array([0, 0, 1, 1]))
    for interval in (perfect, one_melanoma, diverged):
        assert math.isnan(interval.low) and math.isnan(interval.high)


def real_test_labels() -> np.ndarray:
    """The labels of the real validation split, by file name as the course layout has them."""
    files = [path.name for path in (require_real_data() / "test").rglob("*")
             if path.suffix.lower() in IMAGE_EXTENSIONS]
    return np.array([0 if name.startswith("Mel") else 1 for name in files])


def test_an_all_nevus_predictor_on_the_real_test_split_finds_no_melanoma():
    labels = real_test_labels()
    assert len(labels) == 103
    view = statistics.clinical(np.full(len(labels), 0.9), labels, "bce")
    assert view.sensitivity == 0.0 and view.specificity == 1.0
    assert round(view.accuracy, 3) == 0.583 and view.balanced_accuracy == 0.5
    assert math.isnan(view.auc) is False and view.auc == 0.5  # every pair a tie
