"""The sentences that state what a test found: the exact McNemar test of two set-ups on the
same validation images (with Holm's correction), Welch's t-test over seeds, what both
together say, each naming its test, its counts and p (in a task's details)."""

from __future__ import annotations

from cnnlab.analysis import statistics
from cnnlab.analysis.diagnostics import THRESHOLDS, Thresholds
from cnnlab.report.formatting import points
from cnnlab.report.setups import Comparison, SetUp


def images_text(count: int) -> str:
    return f"{count} image{'' if count == 1 else 's'}"


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def paired_test_sentence(comparison: Comparison, thresholds: Thresholds = THRESHOLDS) -> str:
    """The exact McNemar test of the two set-ups' calls on the same validation images."""
    a, b, test = comparison.a, comparison.b, comparison.mcnemar
    pooled = (f" (the {test.n // comparison.a.runs[0].n_test} seed-matched pairs pooled)"
              if test.n > comparison.a.runs[0].n_test else "")
    adjusted = (f", Holm-adjusted over the task's {comparison.family} comparisons "
                f"{p_text(comparison.holm_p)}" if comparison.holm_p is not None else "")
    p = comparison.holm_p if comparison.holm_p is not None else test.p
    verdict = ("beyond the noise of the validation images" if p < thresholds.alpha else
               "within the noise of the validation images")
    return (f"Exact McNemar test on the {test.n} validation calls{pooled}: {a.label} is right "
            f"where {b.label} is wrong on {images_text(test.only_a)}, the reverse on {test.only_b}, "
            f"{p_text(test.p)}{adjusted}: the difference is {verdict} (two-sided, alpha = "
            f"{thresholds.alpha:g}).")


def both_tests_sentence(comparison: Comparison, thresholds: Thresholds = THRESHOLDS) -> str:
    """What follows from the two tests together: each covers one source of variation."""
    p = comparison.holm_p if comparison.holm_p is not None else comparison.mcnemar.p
    images, seeds = p < thresholds.alpha, comparison.welch.significant
    if images and seeds:
        return ("Both tests agree: the difference holds on these images and across seeds.")
    if images:
        return ("On these images the difference is real, but it is within the seed-to-seed "
                "spread: another initialisation could reverse it.")
    if seeds:
        return ("The difference is consistent across seeds but too small for this many "
                "validation images to separate from their sampling noise.")
    return "Neither test finds a difference beyond noise."


def significance(a: SetUp, b: SetUp, thresholds: Thresholds = THRESHOLDS) -> str:
    """Whether the difference in final validation accuracy exceeds the seed-to-seed spread
    (Welch's t-test over the seeds: it covers the training's randomness)."""
    test = statistics.welch_t_test(
        [run.values["final_val_accuracy"] for run in a.runs],
        [run.values["final_val_accuracy"] for run in b.runs],
        thresholds.alpha,
    )
    verdict = "exceeds" if test.significant else "does not exceed"
    return (
        f"Significance: Welch's t-test on the final validation accuracy of {a.seeds} and "
        f"{b.seeds} seeds gives t = {test.t:.2f}, df = {test.df:.1f}, p = {test.p:.3f}: the "
        f"difference of {points(test.difference)} {verdict} the seed-to-seed spread "
        f"(two-sided, alpha = {thresholds.alpha:g})."
    )


def significance_summary(comparisons: list[Comparison],
                         thresholds: Thresholds = THRESHOLDS) -> str | None:
    """One statement of which of a task's differences are significant, and what the tests
    cover: the exact McNemar test the validation images; with one seed, nothing covers the
    training's randomness."""
    tested = [c for c in comparisons if c.mcnemar is not None]
    if not tested:
        return None
    significant = [c for c in tested if (c.holm_p if c.holm_p is not None
                                         else c.mcnemar.p) < thresholds.alpha]
    adjusted = (f", Holm-adjusted over its {len(tested)} comparisons" if len(tested) > 1
                else "")
    listed = "; ".join(
        f"{c.a.label} against {c.b.label}: {points(c.mcnemar.difference)}, "
        f"{p_text(c.holm_p if c.holm_p is not None else c.mcnemar.p)}" for c in tested)
    if not significant:
        head = ("none of the differences is significant" if len(tested) > 1
                else "the difference is not significant")
    elif len(significant) == len(tested):
        head = ("all of the differences are significant" if len(tested) > 1
                else "the difference is significant")
    else:
        head = (f"{len(significant)} of the {len(tested)} differences "
                f"{'is' if len(significant) == 1 else 'are'} significant")
    text = (f"Significance (exact McNemar on the paired validation calls{adjusted}, alpha = "
            f"{thresholds.alpha:g}): {head} ({listed}).")
    return text
