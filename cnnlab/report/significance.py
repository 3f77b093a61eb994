"""The sentences that state what a test found: the exact McNemar test of two set-ups on the
same validation images (with Holm's correction), Welch's t-test over seeds, what both
together say, and 6E's lead over its runner-up. Each names its test, its counts and p."""

from __future__ import annotations

from cnnlab.analysis import statistics
from cnnlab.analysis.diagnostics import THRESHOLDS, Thresholds
from cnnlab.report.formatting import number, percent, points, value_with_interval
from cnnlab.report.results import Comparison, Group


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


def significance(a: Group, b: Group, thresholds: Thresholds = THRESHOLDS) -> str:
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
    if all(min(c.a.seeds, c.b.seeds) < 2 for c in tested):
        text += (" With one seed per set-up this covers the sampling of the validation images "
                 "only, not the training's randomness (another initialisation can move the "
                 "accuracy by several points); run with seeds: [1, 2, 3] (seeds.yaml) to add "
                 "Welch's t-test over seeds.")
    else:
        text += (" With several seeds, the t-test over seeds above covers the training's randomness "
                 "as well.")
    return text


MEASURES = {"final_val_accuracy": ("validation accuracy", percent),
            "final_balanced_accuracy": ("balanced accuracy", percent),
            "final_val_loss": ("validation loss", number)}


def images_compared(lead: dict) -> str:
    """'the same 103 validation images', or, over seeds, the seed-matched pairs pooled."""
    seeds = lead.get("seeds", 1)
    if seeds < 2:
        return f"the same {lead['n']} validation images"
    return (f"the {lead['images']} validation images of each of {seeds} seeds, seed against "
            f"seed ({lead['n']} pairs)")


def welch_clause(lead: dict) -> str:
    """Over several seeds a side, what Welch's t-test on the seeds' values says too."""
    welch = lead.get("welch")
    if not welch:
        return ""
    return (f"; over the seeds, Welch's t-test ({p_text(welch['p'])}) finds it "
            f"{'beyond' if welch['significant'] else 'within'} the noise between seeds")


def lead_sentence(selection: dict) -> str:
    """How far the chosen set-up is ahead of the runner-up, and whether that is beyond noise."""
    runner, lead = selection["runner_up"], selection["lead"]
    if runner is None or lead is None:
        return "No other candidate was eligible, so there is no runner-up to measure its lead by."
    name, formatter = MEASURES[lead["measure"]]
    difference = (points(lead["difference"]).lstrip("+") if formatter is percent
                  else number(lead["difference"]))
    # over seeds, beyond_noise needs Welch too: the images' verdict is McNemar's own
    beyond = lead["p"] < statistics.ALPHA if lead.get("welch") else lead["beyond_noise"]
    verdict = "beyond" if beyond else "within"
    value = (value_with_interval(runner["value"], lead["n"]) if formatter is percent
             else formatter(runner["value"]))
    return (f"Its lead over the runner-up, {runner['run_id']} from task {runner['task']} at "
            f"{runner['epochs']} epochs ({name} {value}), is {difference} "
            f"of {name}; on {images_compared(lead)} the exact McNemar test finds "
            f"{images_text(lead['only_chosen'])} that only the chosen model gets right and "
            f"{lead['only_runner_up']} that only the runner-up does, {p_text(lead['p'])}: the "
            f"lead is {verdict} the noise of the validation images{welch_clause(lead)}.")
