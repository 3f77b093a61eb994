"""The report's statistics, each a named standard method from a well-kept library: Wilson
intervals, the exact McNemar test, Holm's correction, Welch's t-test, and the clinical view
of a melanoma classifier (confusion matrix, sensitivity and specificity with their Wilson
intervals, balanced accuracy, ROC AUC with its stratified BCa bootstrap interval).

Labels follow the prepared arrays: 0 = Mel, 1 = Nev. A model's output is a score for Nev
(the sigmoid's probability for BCE, the raw margin for hinge); it calls an image Nev when
the score is above its threshold (0.5, or 0 for hinge), as Keras' accuracy does. Melanoma
is the positive class of the clinical view: sensitivity is the share of melanomas found.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn import metrics
from statsmodels.stats.multitest import multipletests

CONFIDENCE = 0.95
ALPHA = 0.05
MEL, NEV = 0, 1
CLASS_NAMES = {MEL: "Mel", NEV: "Nev"}  # by label, as the prepared arrays hold them
THRESHOLDS = {"bce": 0.5, "hinge": 0.0}  # the output above which an image is called Nev


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson_interval(correct: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """The Wilson score interval for a proportion of `correct` out of `n`
    (scipy.stats.binomtest(...).proportion_ci(method="wilson"))."""
    if n <= 0:
        return Interval(math.nan, math.nan)
    ci = stats.binomtest(int(correct), int(n)).proportion_ci(confidence, method="wilson")
    return Interval(float(ci.low), float(ci.high))


def accuracy_interval(accuracy: float, n: int, confidence: float = CONFIDENCE) -> Interval:
    """The Wilson interval of an accuracy measured on `n` images (accuracy * n of them
    correct, rounded: Keras' float32 mean is within a rounding error of the count)."""
    if not math.isfinite(accuracy) or n <= 0:
        return Interval(math.nan, math.nan)
    return wilson_interval(round(accuracy * n), n, confidence)


@dataclass(frozen=True)
class McNemar:
    """The exact McNemar test of two classifiers on the same images: of the images on which
    they disagree, `only_a` does model A get right and `only_b` model B."""

    only_a: int
    only_b: int
    n: int
    p: float

    @property
    def difference(self) -> float:
        """Accuracy of A minus accuracy of B on these images."""
        return (self.only_a - self.only_b) / self.n if self.n else math.nan


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """Two-sided exact McNemar test: a binomial test of the discordant pairs against 1/2
    (scipy.stats.binomtest); p = 1 when the models never disagree."""
    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"the two models were scored on {correct_a.size} and "
                         f"{correct_b.size} images; a paired test needs the same images")
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    discordant = only_a + only_b
    p = float(stats.binomtest(only_a, discordant, 0.5).pvalue) if discordant else 1.0
    return McNemar(only_a, only_b, int(correct_a.size), p)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values for a family of tests
    (statsmodels.stats.multitest.multipletests(method="holm"))."""
    if len(p_values) < 2:
        return [float(p) for p in p_values]
    return [float(p) for p in multipletests(p_values, alpha=ALPHA, method="holm")[1]]


@dataclass(frozen=True)
class WelchTest:
    difference: float  # mean(a) - mean(b)
    t: float
    df: float
    p: float
    significant: bool


def welch_t_test(a: list[float], b: list[float], alpha: float = ALPHA) -> WelchTest | None:
    """Welch's two-sided two-sample t-test (unequal variances;
    scipy.stats.ttest_ind(equal_var=False)); None with fewer than 2 values on a side."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return None
    difference = float(a.mean() - b.mean())
    if a.var(ddof=1) + b.var(ddof=1) == 0:
        # no spread at all (SciPy gives nan): any difference exceeds it, none is a tie
        p = 1.0 if difference == 0 else 0.0
        return WelchTest(difference, math.copysign(math.inf, difference), math.inf, p, p < alpha)
    result = stats.ttest_ind(a, b, equal_var=False)
    p = float(result.pvalue)
    return WelchTest(difference, float(result.statistic), float(result.df), p, p < alpha)


# -- the clinical view ----------------------------------------------------------------------


@dataclass(frozen=True)
class Clinical:
    """A classifier on the validation images, melanoma the positive class."""

    mel_found: int  # true positives: melanomas called Mel
    mel_missed: int  # false negatives: melanomas called Nev
    nev_flagged: int  # false positives: nevi called Mel
    nev_cleared: int  # true negatives: nevi called Nev
    auc: float  # ROC AUC of the melanoma score; nan with one class only
    auc_interval: Interval = Interval(math.nan, math.nan)  # see auc_bootstrap_interval

    @property
    def n(self) -> int:
        return self.mel_found + self.mel_missed + self.nev_flagged + self.nev_cleared

    @property
    def accuracy(self) -> float:
        return (self.mel_found + self.nev_cleared) / self.n if self.n else math.nan

    @property
    def sensitivity(self) -> float:
        """Recall of Mel: the share of melanomas the model finds."""
        melanomas = self.mel_found + self.mel_missed
        return self.mel_found / melanomas if melanomas else math.nan

    @property
    def specificity(self) -> float:
        """The share of nevi the model calls nevi."""
        nevi = self.nev_flagged + self.nev_cleared
        return self.nev_cleared / nevi if nevi else math.nan

    @property
    def balanced_accuracy(self) -> float:
        return (self.sensitivity + self.specificity) / 2

    @property
    def sensitivity_interval(self) -> Interval:
        """The Wilson 95 % interval of the sensitivity, on the melanomas alone."""
        return wilson_interval(self.mel_found, self.mel_found + self.mel_missed)

    @property
    def specificity_interval(self) -> Interval:
        """The Wilson 95 % interval of the specificity, on the nevi alone."""
        return wilson_interval(self.nev_cleared, self.nev_flagged + self.nev_cleared)


def called_nev(outputs: np.ndarray, loss: str) -> np.ndarray:
    return np.asarray(outputs, dtype=float) > THRESHOLDS[loss]


def correct(outputs: np.ndarray, labels: np.ndarray, loss: str) -> np.ndarray:
    """Per image: did the model call it right?"""
    return called_nev(outputs, loss) == (np.asarray(labels) == NEV)


def clinical(outputs: np.ndarray, labels: np.ndarray, loss: str) -> Clinical:
    """Confusion matrix (sklearn.metrics.confusion_matrix) and ROC AUC
    (sklearn.metrics.roc_auc_score) with melanoma as the positive class."""
    is_mel = np.asarray(labels) == MEL
    called_mel = ~called_nev(outputs, loss)
    (found, missed), (flagged, cleared) = metrics.confusion_matrix(
        is_mel, called_mel, labels=[True, False])
    return Clinical(int(found), int(missed), int(flagged), int(cleared), roc_auc(outputs, labels),
                    auc_bootstrap_interval(outputs, labels))


def melanoma_score(outputs: np.ndarray) -> np.ndarray:
    """Higher for melanoma: the Nev score turned round."""
    return -np.asarray(outputs, dtype=float)


def roc_auc(outputs: np.ndarray, labels: np.ndarray) -> float:
    is_mel = np.asarray(labels) == MEL
    if is_mel.all() or not is_mel.any():
        return math.nan
    return float(metrics.roc_auc_score(is_mel, melanoma_score(outputs)))


AUC_RESAMPLES = 2000
AUC_BOOTSTRAP_SEED = 0  # fixed: the same outputs give the same interval in every report


def _auc_of_samples(mel_scores: np.ndarray, nev_scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """The ROC AUC of two samples of melanoma scores, along ``axis``: the Mann-Whitney U of
    the melanomas over n_mel * n_nev (ties count half), as sklearn's roc_auc_score gives."""
    n_mel, n_nev = mel_scores.shape[axis], nev_scores.shape[axis]
    ranks = stats.rankdata(np.concatenate([mel_scores, nev_scores], axis=axis), axis=axis)
    mel_rank_sum = np.take(ranks, np.arange(n_mel), axis=axis).sum(axis=axis)
    return (mel_rank_sum - n_mel * (n_mel + 1) / 2) / (n_mel * n_nev)


def auc_bootstrap_interval(outputs: np.ndarray, labels: np.ndarray,
                           confidence: float = CONFIDENCE) -> Interval:
    """The 95 % interval of the ROC AUC by the stratified bootstrap (scipy.stats.bootstrap,
    BCa, 2000 resamples): melanomas and nevi are resampled separately, so each resample keeps
    the class counts of the validation set, as pROC's default does. nan where it is
    undefined: fewer than two images of a class, non-finite outputs, or every resample
    giving one value (an AUC of 1 in each: a perfect ranking has no bootstrap interval)."""
    scores, is_mel = melanoma_score(outputs), np.asarray(labels) == MEL
    mel_scores, nev_scores = scores[is_mel], scores[~is_mel]
    if min(mel_scores.size, nev_scores.size) < 2 or not np.isfinite(scores).all():
        return Interval(math.nan, math.nan)
    with warnings.catch_warnings():  # a degenerate bootstrap is said by the nan it gives
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.bootstrap((mel_scores, nev_scores), _auc_of_samples, vectorized=True,
                             paired=False, confidence_level=confidence, method="BCa",
                             n_resamples=AUC_RESAMPLES,
                             rng=np.random.default_rng(AUC_BOOTSTRAP_SEED)).confidence_interval
    return Interval(float(ci.low), float(ci.high))


def roc_curve(outputs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates of the melanoma score over all thresholds
    (sklearn.metrics.roc_curve)."""
    false_positive, true_positive, _ = metrics.roc_curve(np.asarray(labels) == MEL,
                                                         melanoma_score(outputs))
    return false_positive, true_positive
