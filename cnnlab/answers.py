"""The answers of the report: sentences assembled from this run's diagnostics and values.

Nothing here states a result that is not computed from the numbers handed in, so an
answer changes when the results change. The inputs are :class:`~cnnlab.results.Group` (the
seeds of one set-up at one epoch count) and :class:`~cnnlab.results.Comparison` (two groups
that differ in named factors), built by :mod:`cnnlab.results` and :mod:`cnnlab.comparisons`.
"""

from __future__ import annotations

import numpy as np

from cnnlab import diagnostics, statistics
from cnnlab.diagnostics import THRESHOLDS, Thresholds
from cnnlab.formatting import epochs_text, format_param, number, percent, points
from cnnlab.results import Comparison, Group

FACTOR_NAMES = {
    "model": "the architecture",
    "n_base": "n_base (feature maps of the first convolution)",
    "dense": "the hidden dense widths",
    "dropout": "dropout",
    "optimizer": "the optimizer",
    "lr": "the learning rate",
    "batch_size": "the batch size",
    "loss": "the loss",
    "epochs": "more epochs",
    "threads": "the thread count",
    "precision": "the numeric precision",
}


# -- numbers as words -------------------------------------------------------------------


def with_spread(group: Group, key: str, formatter=percent) -> str:
    """'81.5%' for one seed, '81.5% ± 1.2% over 3 seeds' (mean ± sd) for several."""
    values = group.spread(key)
    if values.n < 2:
        return formatter(values.mean)
    return f"{formatter(values.mean)} ± {formatter(values.sd)} over {values.n} seeds"


def interval_text(interval: statistics.Interval) -> str:
    return f"95% CI {100 * interval.low:.1f}-{100 * interval.high:.1f}%"


def value_with_interval(accuracy: float, n: int | None) -> str:
    """'81.0% (95% CI 72.3-87.5%)', an accuracy on n validation images."""
    if n is None:
        return percent(accuracy)
    return f"{percent(accuracy)} ({interval_text(statistics.accuracy_interval(accuracy, n))})"


def accuracy_text(group: Group, key: str = "final_val_accuracy") -> str:
    """A validation accuracy with its Wilson interval: '58.3% (95% CI 48.6-67.7%)' for one
    seed; over several, the mean ± sd and the interval of all seeds' calls pooled."""
    if group.seeds < 2:
        return f"{percent(group.mean(key))} ({interval_text(group.runs[0].interval(key))})"
    calls = sum(run.n_test for run in group.runs)
    return (f"{with_spread(group, key)} ({interval_text(group.pooled_interval(key))} of the "
            f"{calls} pooled calls)")


def _count(items: list, n: int) -> str:
    """'it' phrasing for one run, 'k of n seeds' for several."""
    return "" if n == 1 else f" in {len(items)} of {n} seeds"


# -- one group -------------------------------------------------------------------------


def describe_group(
    group: Group, baselines: dict, thresholds: Thresholds = THRESHOLDS
) -> list[str]:
    """What one set-up's curves show, in sentences built from its values and diagnoses."""
    n = group.seeds
    sentences = [
        (f"{group.label}: after {_epochs_reached(group)}, training accuracy is "
        f"{with_spread(group, 'final_accuracy')} against a majority-class baseline of "
        f"{percent(baselines['train'])}, validation accuracy "
        f"{accuracy_text(group)} against "
        f"{percent(baselines['test'])}; the validation loss was lowest at "
        f"{_best_epochs(group)}: {with_spread(group, 'best_val_loss', number)}.")
    ]
    sentences += clinical_sentences(group)
    diverged = [run for run in group.runs if run.diagnosis.divergence]
    if diverged:
        first = diverged[0].diagnosis.divergence
        where = f" at epoch {first.epoch}" if first.epoch else ""
        sentences.append(
            f"It diverged{_count(diverged, n)}: {first.reason}{where}; "
            "its values after that carry no information."
        )
    if diagnostics.no_better_than_baseline(group.mean("final_val_accuracy"), baselines["test"],
                                           thresholds):
        sentences.append(
            "Its validation accuracy is no better than always predicting the majority class: "
            "it has learned nothing that generalises."
        )
    overfit = [run for run in group.runs if run.diagnosis.overfitting]
    if overfit:
        onset = overfit[0].diagnosis.overfitting
        epochs = ", ".join(str(run.diagnosis.overfitting.epoch) for run in overfit)
        sentences.append(
            f"It overfits{_count(overfit, n)} from epoch {epochs}: the validation loss rose "
            f"from {number(onset.val_loss_min)} to {number(onset.val_loss_end)} "
            f"(+{100 * onset.val_rise:.0f}%) while the training loss kept falling "
            f"({number(onset.train_loss_at_onset)} to {number(onset.train_loss_end)}); "
            f"the final train-validation accuracy gap is {_gap(group)}."
        )
    under = [run for run in group.runs if run.diagnosis.under_training.still_improving]
    if under:
        first = under[0].diagnosis.under_training
        sentences.append(
            f"It is under-trained{_count(under, n)}: over the last {first.window} epochs the "
            f"training loss still fell by {100 * first.train_drop:.0f}% and the validation "
            f"loss by {100 * first.val_drop:.0f}%, so more epochs would still help."
        )
    plateaued = [run for run in group.runs if run.diagnosis.plateau_epoch is not None]
    if plateaued:
        epochs = ", ".join(str(run.diagnosis.plateau_epoch) for run in plateaued)
        sentences.append(
            f"Validation accuracy stopped improving by more than "
            f"{_points_word(thresholds.plateau_tolerance)} after epoch {epochs}"
            f"{_count(plateaued, n)}."
        )
    if not (diverged or overfit or under) and group.mean("gap") > 2 * thresholds.baseline_margin:
        sentences.append(
            f"It does not overfit by the validation loss, but training accuracy ends "
            f"{_gap(group)} above validation accuracy."
        )
    return sentences


FEW_MELANOMAS = 0.5  # a sensitivity below this finds fewer than half of the melanomas


def clinical_sentences(group: Group) -> list[str]:
    """What the model does with melanomas and nevi at its final epoch (first seed's counts,
    the seeds' means), and a warning when it finds few melanomas."""
    views = [run.clinical("final") for run in group.runs]
    first = views[0]
    mean = {name: float(np.mean([getattr(view, name) for view in views]))
            for name in ("sensitivity", "specificity", "balanced_accuracy", "auc")}
    over = f" (means over {len(views)} seeds)" if len(views) > 1 else ""
    melanomas = first.mel_found + first.mel_missed
    nevi = first.nev_flagged + first.nev_cleared
    found = (f"it finds {first.mel_found} of the {melanomas} melanomas and clears "
             f"{first.nev_cleared} of the {nevi} nevi" if len(views) == 1 else
             f"seed {group.runs[0].seed} finds {first.mel_found} of the {melanomas} "
             f"melanomas and clears {first.nev_cleared} of the {nevi} nevi")
    sentences = [(
        f"Melanoma as the positive class, {found}: sensitivity {percent(mean['sensitivity'])}, "
        f"specificity {percent(mean['specificity'])}, balanced accuracy "
        f"{percent(mean['balanced_accuracy'])}, ROC AUC {number(mean['auc'])}{over}."
    )]
    if mean["sensitivity"] < FEW_MELANOMAS:
        sentences.append(
            f"It finds few melanomas, however good its accuracy looks: it misses "
            f"{percent(1 - mean['sensitivity'])} of them, and its balanced accuracy of "
            f"{percent(mean['balanced_accuracy'])} is what its accuracy would be if melanomas "
            "and nevi were equally common.")
    return sentences


def _points_word(value: float) -> str:
    amount = 100 * value
    return f"{amount:g} percentage point{'' if amount == 1 else 's'}"


def _epochs_reached(group: Group) -> str:
    """The epochs the values come from: a diverged run stopped before the epochs asked."""
    reached = [int(run.history["epoch"].iloc[-1]) for run in group.runs]
    stopped = sorted(epoch for epoch in reached if epoch < group.epochs)
    if not stopped:
        return epochs_text(group.epochs)
    if len(group.runs) == 1:
        return f"{stopped[0]} of the {epochs_text(group.epochs)} asked (it stopped there)"
    listed = ", ".join(str(epoch) for epoch in stopped)
    return (f"{epochs_text(group.epochs)} ({len(stopped)} of {len(group.runs)} seeds stopped "
            f"early, at epoch{'s' if len(stopped) > 1 else ''} {listed})")


def _best_epochs(group: Group) -> str:
    epochs = [run.values["best_epoch"] for run in group.runs]
    listed = ", ".join("none" if epoch is None else str(epoch) for epoch in epochs)
    return f"epoch{'s' if len(epochs) > 1 else ''} {listed}"


def _gap(group: Group) -> str:
    return with_spread(group, "gap", lambda value: points(value).lstrip("+"))


# -- two groups ------------------------------------------------------------------------


def factor_phrase(factors: list[str]) -> str:
    return " and ".join(FACTOR_NAMES.get(name, name) for name in factors)


def compare(comparison: Comparison, baselines: dict | None = None,
            thresholds: Thresholds = THRESHOLDS) -> list[str]:
    """The effect of the factors that set two groups apart, from their values."""
    a, b = comparison.a, comparison.b
    baseline = f" (baseline {percent((baselines or {}).get('test'))})" if baselines else ""
    where = f" (from task {comparison.reference})" if comparison.reference else ""
    difference = a.mean("final_val_accuracy") - b.mean("final_val_accuracy")
    if comparison.factors == ["epochs"]:
        head = (
            f"Effect of more epochs: training on from {b.epochs} to {epochs_text(a.epochs)}"
            f"{where} changes the validation accuracy from {accuracy_text(b)}"
            f" to {accuracy_text(a)} ({points(difference)}){baseline} and the "
            f"train-validation gap from {_gap(b)} to {_gap(a)}."
        )
    else:
        head = (
            f"Effect of {factor_phrase(comparison.factors)}, at {epochs_text(a.epochs)}: "
            f"{a.label} reaches a validation accuracy of {accuracy_text(a)}"
            f" against {accuracy_text(b)} for {b.label}{where} "
            f"({points(difference)}){baseline}; the train-validation gap is {_gap(a)} against "
            f"{_gap(b)}, "
            f"the lowest validation loss {number(a.mean('best_val_loss'))} against "
            f"{number(b.mean('best_val_loss'))}."
        )
    sentences = [head, _behaviour_contrast(a, b)]
    if comparison.mcnemar is not None:
        sentences.append(paired_test_sentence(comparison, thresholds))
    if comparison.welch is not None:
        sentences.append(significance(a, b, thresholds))
        if comparison.mcnemar is not None:
            sentences.append(both_tests_sentence(comparison, thresholds))
    return sentences


def _images(count: int) -> str:
    return f"{count} image{'' if count == 1 else 's'}"


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def paired_test_sentence(comparison: Comparison, thresholds: Thresholds = THRESHOLDS) -> str:
    """The exact McNemar test of the two set-ups' calls on the same validation images."""
    a, b, test = comparison.a, comparison.b, comparison.mcnemar
    pooled = (f" (the {test.n // comparison.a.runs[0].n_test} seed-matched pairs pooled)"
              if test.n > comparison.a.runs[0].n_test else "")
    adjusted = (f", Holm-adjusted over the task's {comparison.family} comparisons "
                f"{_p_text(comparison.holm_p)}" if comparison.holm_p is not None else "")
    p = comparison.holm_p if comparison.holm_p is not None else test.p
    verdict = ("beyond the noise of the validation images" if p < thresholds.alpha else
               "within the noise of the validation images")
    return (f"Exact McNemar test on the {test.n} validation calls{pooled}: {a.label} is right "
            f"where {b.label} is wrong on {_images(test.only_a)}, the reverse on {test.only_b}, "
            f"{_p_text(test.p)}{adjusted}: the difference is {verdict} (two-sided, alpha = "
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


def _behaviour(group: Group) -> str:
    runs = group.runs
    if any(run.diagnosis.divergence for run in runs):
        return "diverges"
    if any(run.diagnosis.overfitting for run in runs):
        return "overfits"
    if any(run.diagnosis.under_training.still_improving for run in runs):
        return "is still improving at the end"
    return "has settled"


PLURAL = {
    "diverges": "diverge",
    "overfits": "overfit",
    "is still improving at the end": "are still improving at the end",
    "has settled": "have settled",
}


def _behaviour_contrast(a: Group, b: Group) -> str:
    behaviour_a, behaviour_b = _behaviour(a), _behaviour(b)
    if behaviour_a == behaviour_b:
        return f"Both {PLURAL[behaviour_a]}."
    return f"{a.label} {behaviour_a}, {b.label} {behaviour_b}."


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


# -- the task as a whole -----------------------------------------------------------------


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
        f"{_p_text(c.holm_p if c.holm_p is not None else c.mcnemar.p)}" for c in tested)
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


def verdict(groups: list[Group], seeds_said: bool = False) -> str:
    """Whether the task's set-up is enough to decide anything, and why (not)."""
    still = [group.label for group in groups if _behaviour(group) == "is still improving at the end"]
    diverged = [group.label for group in groups if _behaviour(group) == "diverges"]
    reasons = []
    if still:
        reasons.append(
            f"{', '.join(still)} {'was' if len(still) == 1 else 'were'} still improving when "
            "training stopped, so the final numbers say more about the epoch budget than about "
            "the model"
        )
    if diverged:
        reasons.append(f"{', '.join(diverged)} diverged")
    if min(group.seeds for group in groups) < 2:
        reasons.append(
            "each set-up ran with one seed, so the tests cover the validation images but not "
            "seed-to-seed variation" + (" (see the significance above)" if seeds_said else "")
        )
    if not reasons:
        return (
            "Can this set-up decide? Yes, within its limits: every set-up has settled and "
            "several seeds give a spread to judge differences by."
        )
    return "Can this set-up decide? Only partly: " + "; ".join(reasons) + "."


def answer_train_task(
    groups: list[Group],
    comparisons: list[Comparison],
    baselines: dict,
    thresholds: Thresholds = THRESHOLDS,
) -> list[str]:
    """Paragraphs answering a task that trains runs: each set-up, each comparison, a verdict."""
    paragraphs = [" ".join(describe_group(group, baselines, thresholds)) for group in groups]
    paragraphs += [" ".join(compare(comparison, baselines, thresholds))
                   for comparison in comparisons]
    summary = significance_summary(comparisons, thresholds)
    if summary:
        paragraphs.append(summary)
    paragraphs.append(verdict(groups, seeds_said=summary is not None))
    return paragraphs


# -- task-specific paragraphs ---------------------------------------------------------


def answer_selection(selection: dict, groups: list[Group], baselines: dict) -> list[str]:
    """6E: which run the selection rule picked and why, and how the chosen model scores."""
    chosen = selection["chosen"]
    params = ", ".join(f"{name} {format_param(name, value)}" for name, value in chosen["params"].items())
    if selection["pinned"]:
        paragraphs = [f"The set-up was pinned by hand in the config: {params}."]
    else:
        candidates = selection["candidates"]
        eligible = [row for row in candidates if row["eligible"]]
        rejected = [row for row in candidates if not row["eligible"]]
        values = chosen["values"]
        n_test = groups[0].runs[0].n_test if groups else None  # the candidates' images too
        text = (
            f"The selection rule, {selection['rule_text']}, compared "
            f"{len(candidates)} candidate runs; {len(eligible)} were eligible. It picked "
            f"{chosen['run_id']} from task {chosen['task']} at {chosen['epochs']} epochs "
            f"(validation accuracy {value_with_interval(values['final_val_accuracy'], n_test)} "
            "against a "
            f"majority-class baseline of {percent(baselines['test'])}, gap "
            f"{points(values['gap']).lstrip('+')}), so this task uses {params}."
        )
        text += " " + lead_sentence(selection)
        if rejected:
            reasons = "; ".join(f"{row['run_id']} at {row['epochs']} epochs: {row['reason']}"
                                for row in rejected[:6])
            more = f" and {len(rejected) - 6} more" if len(rejected) > 6 else ""
            text += f" Not eligible: {reasons}{more}."
        if selection["fallback"]:
            text += (" No candidate met the rule, so the one with the smallest gap was taken: "
                     "treat the choice as a fallback.")
        paragraphs = [text]
    if groups:
        best = max(groups, key=lambda group: group.mean("final_val_accuracy"))
        overfit = [group.label for group in groups if _behaviour(group) == "overfits"]
        paragraphs.append(
            f"Classification accuracy: the best of the three optimizers here is {best.label} "
            f"with {accuracy_text(best)} on the validation split "
            f"(majority-class baseline {percent(baselines['test'])}). "
            + (f"Overfitted by the diagnostics: {', '.join(overfit)}." if overfit
               else "None of them overfits by the diagnostics.")
        )
    return paragraphs


MEASURES = {"final_val_accuracy": ("validation accuracy", percent),
            "final_balanced_accuracy": ("balanced accuracy", percent),
            "final_val_loss": ("validation loss", number)}


def lead_sentence(selection: dict) -> str:
    """How far the chosen set-up is ahead of the runner-up, and whether that is beyond noise."""
    runner, lead = selection["runner_up"], selection["lead"]
    if runner is None or lead is None:
        return "No other candidate was eligible, so there is no runner-up to measure its lead by."
    name, formatter = MEASURES[lead["measure"]]
    difference = (points(lead["difference"]).lstrip("+") if formatter is percent
                  else number(lead["difference"]))
    verdict = "beyond" if lead["beyond_noise"] else "within"
    value = (value_with_interval(runner["value"], lead["n"]) if formatter is percent
             else formatter(runner["value"]))
    return (f"Its lead over the runner-up, {runner['run_id']} from task {runner['task']} at "
            f"{runner['epochs']} epochs ({name} {value}), is {difference} "
            f"of {name}; on the same {lead['n']} validation images the exact McNemar test finds "
            f"{_images(lead['only_chosen'])} that only the chosen model gets right and "
            f"{lead['only_runner_up']} that only the runner-up does, {_p_text(lead['p'])}: the "
            f"lead is {verdict} the noise of the validation images.")


def answer_hinge(baselines: dict, class_shares: dict) -> str:
    """6F: why plain binary accuracy is wrong for hinge labels and what was computed instead."""
    nev = class_shares.get("test", {}).get("Nev")
    ceiling = f" ({percent(nev)} on this validation split)" if nev is not None else ""
    return (
        "Why plain binary accuracy is wrong here: hinge loss needs labels in {-1, 1}, so Mel "
        "is -1. Keras' binary accuracy rounds the prediction to 0 or 1 and compares it with "
        "the label, so a Mel image (-1) never matches and counts as wrong whatever the model "
        f"predicts; the metric can reach at most the share of Nev images{ceiling}. The hinge "
        "model's output is a linear score whose sign is the class (score > 0: Nev), so the "
        "accuracy shown for hinge runs is the real fraction of images whose sign matches the "
        "true class, counted the same way as the sigmoid > 0.5 rule of the BCE runs and "
        "comparable with them."
    )


def answer_filters(stats: dict) -> list[str]:
    """5D: what the first two convolutional layers do, backed by the learned filters."""
    layers = stats.get("layers", [])
    if len(layers) < 2:
        return ["The filter statistics of the trained LeNet are missing; run plot_filters."]
    first, second = layers[0], layers[1]
    text = [
        (f"From the trained LeNet {stats.get('run_id', '')} at {stats.get('epochs', '?')} epochs. "
        f"The first convolutional layer ({first['name']}) slides {first['filters']} filters of "
        f"{first['kernel']} over the image and sees {first['receptive_field']} × "
        f"{first['receptive_field']} pixels at a time: it detects local intensity changes. "
        f"{first['mixed_sign']} of its {first['filters']} filters have weights of both signs "
        f"(edge, spot or gradient detectors that respond to contrast) and "
        f"{first['filters'] - first['mixed_sign']} are of one sign (brightness detectors)."),
        (f"The second ({second['name']}, {second['filters']} filters) works on the pooled maps "
        f"of the first, so each output sees {second['receptive_field']} × "
        f"{second['receptive_field']} input pixels and combines edges into larger patterns: "
        "texture, border pieces and blobs of the lesion."),
    ]
    active = [layer.get("active_fraction", {}) for layer in (first, second)]
    if active[0]:
        parts = [
            f"{name}: {', '.join(f'{cls} {percent(share)}' for cls, share in fractions.items())}"
            for name, fractions in zip((first["name"], second["name"]), active)
        ]
        text.append(
            "Share of ReLU outputs that are active (non-zero) for the test images shown — "
            + "; ".join(parts)
            + ". The ReLU keeps only where a filter's pattern is present, so deeper maps are "
            "sparser and more selective."
        )
    return text


def answer_dense(summary_rows: list[dict], groups: list[Group]) -> list[str]:
    """5E: what the last two dense layers do, from the parameter counts of the summary."""
    dense = [row for row in summary_rows if row["type"] == "Dense"]
    total = sum(int(row["parameters"]) for row in summary_rows)
    if len(dense) < 2 or total == 0:
        return ["The model summary lacks two dense layers; nothing to say from numbers."]
    hidden, output = dense[-2], dense[-1]
    share = (int(hidden["parameters"]) + int(output["parameters"])) / total
    text = [
        (f"The last two dense layers hold {int(hidden['parameters']) + int(output['parameters']):,}"
        f" of the model's {total:,} parameters ({100 * share:.1f}%). The hidden one "
        f"({hidden['layer']}, {int(hidden['parameters']):,} parameters, output "
        f"{hidden['output_shape']}) connects every feature of the flattened convolutional maps "
        "to each of its neurons: it combines local features from anywhere in the image into "
        f"whole-image evidence. The output one ({output['layer']}, "
        f"{int(output['parameters']):,} parameters: one weight per hidden neuron plus a bias) "
        "weighs that evidence into one score, the probability of Nev.")
    ]
    overfit = [group for group in groups if _behaviour(group) == "overfits"]
    if overfit:
        text.append(
            "Holding almost all the weights, they are where the model can memorise the "
            "training images: "
            + "; ".join(f"{_in_task(group)} overfits with a final gap of {_gap(group)}"
                        for group in overfit)
            + "."
        )
    elif groups:
        text.append(
            "None of the runs shown overfits by the diagnostics; their final train-validation "
            "gaps are "
            + ", ".join(f"{_gap(group)} ({group.task})" for group in groups)
            + "."
        )
    return text


def _in_task(group: Group) -> str:
    return group.label if group.label.startswith(group.task) else f"{group.label} in {group.task}"


def answer_architectures(summaries: dict[str, list[dict]]) -> str:
    """5F: LeNet against the MLP, from where their parameters lie."""
    def count(rows, kind):
        return sum(int(row["parameters"]) for row in rows if row["type"] == kind)

    parts = []
    for name, rows in summaries.items():
        total = sum(int(row["parameters"]) for row in rows)
        parts.append(
            f"{name} has {total:,} parameters, {count(rows, 'Conv2D'):,} of them in "
            f"convolutions and {count(rows, 'Dense'):,} in dense layers"
        )
    return (
        "; ".join(parts)
        + ". The MLP flattens the image first: every pixel gets its own weight in every hidden "
        "neuron, so it knows nothing of neighbourhoods and a lesion shifted by one pixel is a "
        "new input. LeNet's convolutions share one small filter over all positions, which "
        "builds in locality and translation equivariance and needs few weights for its feature "
        "extraction; pooling adds tolerance to small shifts."
    )


OUTPUT_LAYERS = (
    ("binary (this lab)", "1", "sigmoid", "binary cross-entropy; class = output > 0.5"),
    ("binary, hinge loss", "1", "linear", "hinge with labels -1/1; class = sign of the score"),
    ("multi-class, K classes", "K", "softmax", "categorical cross-entropy"),
    ("multi-label, K labels", "K", "sigmoid", "binary cross-entropy per label"),
    ("regression, d targets", "d", "linear", "mean squared (or absolute) error"),
)


def answer_output_layer(output_row: dict | None, losses: list[str]) -> str:
    """5G: how to choose the last layer, tied to what this model uses."""
    text = (
        "The last layer has one neuron per quantity the model must predict, and its "
        "activation maps the score to the range of that quantity; the loss must match both "
        "(table below)."
    )
    if output_row is not None:
        text += (
            f" This model's last layer, {output_row['layer']}, has output "
            f"{output_row['output_shape']} and {int(output_row['parameters']):,} parameters: "
            "one neuron for the one question Mel or Nev"
        )
        if "bce" in losses:
            text += ", with a sigmoid that gives the probability of Nev for binary cross-entropy"
        if "hinge" in losses:
            text += "; the hinge runs use a linear score instead"
        text += ". Two softmax neurons with categorical cross-entropy would be equivalent but " \
                "carry one redundant output."
    return text
