"""What a trained model's layers and output hold on the test images, as numbers: pure
functions of arrays (no Keras), each a named method of scikit-learn, SciPy or statsmodels.

- :func:`separability`: how linearly separable the classes are in a representation (raw
  pixels, flattened conv features, dense features), the cross-validated accuracy of a
  logistic regression (stratified k-fold), and :func:`projection`, its 2-D PCA.
- :func:`class_difference`: which feature-map channels differ between the classes on
  average (Welch's t-test per channel, Holm-adjusted, Cohen's d).
- :func:`output_distribution`: the output layer's values per class against the decision
  threshold and, for a sigmoid, its calibration (reliability curve, Brier score), with
  :func:`calibration_intervals`, their percentile bootstrap intervals.

Labels follow the prepared arrays: 0 = Mel, 1 = Nev. Every result is plain JSON data.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.multitest import multipletests

from cnnlab.analysis.statistics import ALPHA, CLASS_NAMES, MEL, NEV, THRESHOLDS, mcnemar_exact

FOLDS = 5


def _flat(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    return features.reshape(len(features), -1)


def projection(features: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """The images' first two principal components (sklearn.decomposition.PCA) and the
    share of the variance each explains; fewer than two where the data has fewer."""
    flat = _flat(features)
    components = max(1, min(2, *flat.shape))
    pca = PCA(n_components=components, random_state=0)
    points = pca.fit_transform(flat)
    if components < 2:
        points = np.column_stack([points, np.zeros(len(points))])
    return points, [float(share) for share in pca.explained_variance_ratio_]


def separability(features: dict[str, np.ndarray], labels: np.ndarray, folds: int = FOLDS,
                 seed: int = 0) -> dict:
    """Each representation's linear separability: the accuracy of a logistic regression
    (standardised features, L2, scikit-learn's defaults) under stratified k-fold
    cross-validation, shuffled with `seed`; k is `folds` or the smaller class's size. Every
    representation uses the same folds, so each image gets one out-of-fold call per
    representation, and each representation is tested against the one before it by the exact
    McNemar test on those calls (:func:`cnnlab.analysis.statistics.mcnemar_exact`).

    Returns {"method", "folds", "n", "baseline", "representations": [{"name",
    "dimensions", "accuracy", "fold_sd", "fold_min", "fold_max", "explained"}], "tests":
    [{"a", "b", "only_a", "only_b", "n", "p"}]}; accuracy is None where a class has fewer
    than two images.
    """
    labels = np.asarray(labels).astype(int)
    counts = np.bincount(labels, minlength=2)
    k = int(min(folds, counts.min()))
    result = {"method": f"logistic regression, stratified {k}-fold cross-validation",
              "folds": k, "n": int(labels.size),
              "baseline": float(counts.max() / labels.size) if labels.size else math.nan,
              "representations": [], "tests": []}
    calls: dict[str, np.ndarray] = {}
    for name, values in features.items():
        flat = _flat(values)
        finite = bool(np.isfinite(flat).all())  # a diverged model's features are NaN
        row = {"name": name, "dimensions": int(flat.shape[1]), "accuracy": None,
               "fold_sd": None, "fold_min": None, "fold_max": None,
               "explained": projection(flat)[1] if finite else []}
        if k >= 2 and finite:
            calls[name], scores = out_of_fold_calls(flat, labels, k, seed)
            row.update(accuracy=float(scores.mean()), fold_sd=float(scores.std(ddof=1)),
                       fold_min=float(scores.min()), fold_max=float(scores.max()))
        result["representations"].append(row)
    names = list(calls)
    for before, after in itertools.pairwise(names):
        test = mcnemar_exact(calls[after], calls[before])
        result["tests"].append({"a": after, "b": before, "only_a": test.only_a,
                                "only_b": test.only_b, "n": test.n, "p": test.p})
    return result


def out_of_fold_calls(flat: np.ndarray, labels: np.ndarray, k: int,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Whether each image's out-of-fold prediction is right, and each fold's accuracy."""
    splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    right = np.zeros(len(labels), dtype=bool)
    scores = []
    for train, test in splits.split(flat, labels):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
        with warnings.catch_warnings():
            # a representation the classes separate perfectly need not converge
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(flat[train], labels[train])
        right[test] = model.predict(flat[test]) == labels[test]
        scores.append(right[test].mean())
    return right, np.asarray(scores)


def cohen_d(a: np.ndarray, b: np.ndarray) -> float:
    """(mean b - mean a) over the pooled standard deviation; 0 where neither varies."""
    pooled = math.sqrt(((len(a) - 1) * np.var(a, ddof=1) + (len(b) - 1) * np.var(b, ddof=1))
                       / max(1, len(a) + len(b) - 2))
    difference = float(np.mean(b) - np.mean(a))
    return difference / pooled if pooled > 0 else 0.0


def class_difference(channel_means: np.ndarray, labels: np.ndarray, alpha: float = ALPHA) -> dict:
    """Which channels' mean activation (`channel_means`: images x channels, each the
    spatial mean of one feature map) differs between Mel and Nev: Welch's t-test per channel
    (scipy.stats.ttest_ind, equal_var=False), p adjusted by Holm over the channels
    (statsmodels), Cohen's d as the effect (positive: higher for Nev).

    Returns {"channels", "differing", "alpha", "order" (channels by |d|, largest first),
    "effects" (d per channel), "strongest": {"channel", "d", "p_holm", "mel_mean",
    "nev_mean"} or None}."""
    values = np.asarray(channel_means, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    mel, nev = values[labels == MEL], values[labels == NEV]
    channels = values.shape[1]
    if len(mel) < 2 or len(nev) < 2:
        return {"channels": channels, "differing": 0, "alpha": alpha, "order": [],
                "effects": [], "strongest": None}
    with np.errstate(invalid="ignore", divide="ignore"):
        p = stats.ttest_ind(nev, mel, equal_var=False).pvalue
    p = np.where(np.isfinite(p), p, 1.0)  # a channel that never varies differs in nothing
    p_holm = multipletests(p, alpha=alpha, method="holm")[1]
    d = np.array([cohen_d(mel[:, channel], nev[:, channel]) for channel in range(channels)])
    order = [int(channel) for channel in np.argsort(-np.abs(d), kind="stable")]
    top = order[0]
    return {"channels": channels, "differing": int((p_holm < alpha).sum()), "alpha": alpha,
            "order": order, "effects": [float(effect) for effect in d],
            "strongest": {"channel": top, "d": float(d[top]), "p_holm": float(p_holm[top]),
                          "mel_mean": float(mel[:, top].mean()),
                          "nev_mean": float(nev[:, top].mean())}}


def calibration_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int) -> dict:
    """The reliability curve (sklearn.calibration.calibration_curve, uniform bins): per
    non-empty bin the mean predicted probability of Nev, the observed share of Nev and the
    number of images; the expected calibration error is their count-weighted gap."""
    is_nev = np.asarray(labels) == NEV
    observed, predicted = calibration_curve(is_nev, probabilities, n_bins=bins,
                                            strategy="uniform")
    # the same bin of each image as calibration_curve's (bins of equal width on [0, 1])
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], probabilities), minlength=bins)
    counts = counts[counts > 0]
    gaps = np.abs(observed - predicted)
    return {"predicted": predicted.tolist(), "observed": observed.tolist(),
            "counts": counts.tolist(),
            "expected_calibration_error": float((counts * gaps).sum() / counts.sum()),
            "largest_gap": float(gaps.max())}


CALIBRATION_RESAMPLES = 2000
CALIBRATION_BOOTSTRAP_SEED = 0  # fixed: the same outputs give the same intervals


def _calibration_statistics(probabilities: np.ndarray, is_nev: np.ndarray, bins: int,
                            axis: int = -1) -> np.ndarray:
    """Brier score, Brier skill score against the share of Nev, and expected calibration
    error (equal-width bins: the sum over bins of |Nev observed - probabilities| / n), of
    the images along ``axis``; stacked on a new first axis, for scipy.stats.bootstrap."""
    probabilities = np.moveaxis(probabilities, axis, -1)
    is_nev = np.moveaxis(is_nev, axis, -1).astype(np.float64)
    n = probabilities.shape[-1]
    brier = ((probabilities - is_nev) ** 2).mean(axis=-1)
    share = is_nev.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        skill = 1 - brier / (share * (1 - share))
    in_bin = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], probabilities)[..., None] \
        == np.arange(bins)
    gap = np.abs(((is_nev - probabilities)[..., None] * in_bin).sum(axis=-2)).sum(axis=-1) / n
    return np.stack([brier, skill, gap])


def calibration_intervals(probabilities: np.ndarray, labels: np.ndarray, bins: int,
                          confidence: float = 0.95) -> dict[str, list[float]]:
    """95 % percentile bootstrap intervals (scipy.stats.bootstrap, the images resampled
    with their labels, 2000 resamples, seeded) of the Brier score, its skill score and the
    expected calibration error: they cover the sampling of the test images. A resample
    with one class only has no skill score and is left out of its interval."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    is_nev = np.asarray(labels) == NEV
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (probabilities, is_nev),
            lambda p, y, axis=-1: _calibration_statistics(p, y, bins, axis), paired=True,
            vectorized=True, method="percentile", confidence_level=confidence,
            n_resamples=CALIBRATION_RESAMPLES, rng=np.random.default_rng(CALIBRATION_BOOTSTRAP_SEED))
    low, high = result.confidence_interval
    return {name: [float(low[index]), float(high[index])]
            for index, name in enumerate(("brier", "brier_skill", "expected_calibration_error"))}


def output_distribution(outputs: np.ndarray, labels: np.ndarray, loss: str) -> dict:
    """The output layer's values per class against its threshold (0.5 for the sigmoid of
    BCE, 0 for hinge's margin): how many images of each class fall on the right side, their
    median, the 5th and 95th percentiles of all outputs (`spread`), and for hinge the share
    inside the margin (|score| < 1, where the loss still pushes); for BCE the reliability
    curve and the Brier score (sklearn), beside the Brier score of always answering the
    share of Nev and the skill score that compares them (1 - Brier / that one)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    threshold = THRESHOLDS[loss]
    finite = outputs[np.isfinite(outputs)]
    # how far apart the outputs lie: a model that answers about the same for every image
    # is calibrated without telling the images apart
    spread = [float(value) for value in np.percentile(finite, [5, 95])] if finite.size else []
    result = {"loss": loss, "threshold": threshold, "n": int(labels.size), "spread": spread,
              "classes": {}}
    for label, name in CLASS_NAMES.items():
        values = outputs[labels == label]
        right = values > threshold if label == NEV else values <= threshold
        entry = {"n": int(values.size),
                 "right_side": float(right.mean()) if values.size else math.nan,
                 "median": float(np.median(values)) if values.size else math.nan}
        if loss == "hinge":
            entry["inside_margin"] = float((np.abs(values) < 1).mean()) if values.size else math.nan
        result["classes"][name] = entry
    if loss == "bce" and np.isfinite(outputs).all() and labels.size:
        is_nev = labels == NEV
        share = float(is_nev.mean())
        result["brier"] = float(brier_score_loss(is_nev, np.clip(outputs, 0, 1)))
        result["brier_base_rate"] = share * (1 - share)
        result["brier_skill"] = (1 - result["brier"] / result["brier_base_rate"]
                                 if result["brier_base_rate"] > 0 else math.nan)
        bins = int(min(10, max(2, labels.size // 10)))
        probabilities = np.clip(outputs, 0, 1)
        result["calibration"] = calibration_bins(probabilities, labels, bins)
        result["intervals"] = calibration_intervals(probabilities, labels, bins)
    return result
