"""The answers of the report: sentences assembled from this run's diagnostics and values.

Nothing here states a result that is not computed from the numbers handed in, so an
answer changes when the results change. The inputs are :class:`~cnnlab.report.results.Group` (the
seeds of one set-up at one epoch count) and :class:`~cnnlab.report.results.Comparison` (two groups
that differ in named factors), built by :mod:`cnnlab.report.results` and :mod:`cnnlab.report.comparisons`.
"""

from __future__ import annotations

import math

import numpy as np

from cnnlab.analysis import diagnostics
from cnnlab.analysis.diagnostics import THRESHOLDS, Thresholds
from cnnlab.analysis.statistics import Clinical
from cnnlab.report.formatting import (
    auc_text,
    epochs_text,
    format_param,
    interval_text,
    number,
    percent,
    points,
    value_with_interval,
    with_interval,
)
from cnnlab.report.results import Comparison, Group
from cnnlab.report.significance import (
    both_tests_sentence,
    lead_sentence,
    paired_test_sentence,
    significance,
    significance_summary,
)

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
        (f"{group.label}: after {_epochs_reached(group)}, training accuracy "
         f"{with_spread(group, 'final_accuracy')}, validation accuracy {accuracy_text(group)}; "
         f"the validation loss was lowest at {_best_epochs(group)}: "
         f"{with_spread(group, 'best_val_loss', number)}.")
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
                                           thresholds, n_test=group.runs[0].n_test):
        views = [run.clinical("final") for run in group.runs]
        auc = float(np.mean([view.auc for view in views]))
        measured = (auc_text(views[0].auc, views[0].auc_interval) if len(views) == 1 else
                    f"{number(auc)} (mean over {len(views)} seeds)")
        noise = "Its validation accuracy is within the sampling noise of the baseline above"
        chance = [view for view in views if not ranks_beyond_chance(view)]
        if chance:
            # a view without an interval (one class, ties only) has no interval to cite
            reaching = [view for view in chance if math.isfinite(view.auc_interval.low)]
            why = ("" if not reaching else " (its interval reaches 0.5)" if len(views) == 1
                   else f" (the interval of {len(reaching)} of the {len(views)} seeds reaches 0.5)")
            sentences.append(
                f"{noise}, and its ROC AUC of {measured} does not rank melanomas above nevi "
                f"beyond chance either{why}: nothing here shows that it has learned what "
                "generalises.")
        elif auc >= RANKS_WELL:
            sentences.append(
                f"{noise}, though its ROC AUC of {measured} shows that its scores do rank "
                "melanomas above nevi more often than not, beyond chance: its decision "
                "threshold, not its ranking, is what fails.")
        else:
            sentences.append(
                f"{noise}; its ROC AUC of {measured} ranks melanomas above nevi beyond chance, "
                f"but below the {RANKS_WELL:g} from which a ranking is of use: it has learned "
                "little that generalises.")
    overfit = [run for run in group.runs if run.diagnosis.overfitting]
    if overfit:
        onset = overfit[0].diagnosis.overfitting
        epochs = ", ".join(str(run.diagnosis.overfitting.epoch) for run in overfit)
        run = overfit[0]
        sentences.append(
            f"It overfits{_count(overfit, n)} from epoch {epochs}: the validation loss rose "
            f"from its minimum, {number(onset.val_loss_min)} at epoch {onset.epoch}, to "
            f"{number(run.values['final_val_loss'])} at epoch {run.final_epoch}, while the "
            f"training loss fell to {number(run.values['final_loss'])}; the final "
            f"train-validation accuracy gap is {gap_text(group)}."
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
        plateau = plateaued[0].diagnosis.plateau
        noise = (f", the sampling noise of {plateau.n_test} validation images (smoothed over "
                 f"{epochs_text(plateau.smooth_window)})" if plateau.n_test else "")
        sentences.append(
            f"Validation accuracy stopped improving by more than "
            f"{_points_word(plateau.tolerance)}{noise} after epoch {epochs}"
            f"{_count(plateaued, n)}."
        )
    if not (diverged or overfit or under) and group.mean("gap") > 2 * thresholds.baseline_margin:
        sentences.append(
            f"It does not overfit by the validation loss, but training accuracy ends "
            f"{gap_text(group)} above validation accuracy."
        )
    return sentences


FEW_MELANOMAS = 0.5  # a sensitivity below this finds fewer than half of the melanomas
RANKS_WELL = 0.65  # a ROC AUC from which a model's scores separate the classes usefully


def ranks_beyond_chance(view: Clinical) -> bool:
    """Whether a run's scores rank melanomas above nevi beyond chance: its ROC AUC's 95 %
    interval lies above 0.5; a perfect ranking (AUC 1, where the bootstrap gives no
    interval) does too."""
    if math.isfinite(view.auc_interval.low):
        return view.auc_interval.low > 0.5
    return view.auc == 1.0


def clinical_sentences(group: Group) -> list[str]:
    """What the model does with melanomas and nevi at its final epoch, each share with its
    95 % interval (Wilson; the ROC AUC's by the stratified bootstrap), and a warning when it
    finds few melanomas. Over seeds: the first seed's counts and intervals, the seeds' means
    and ranges."""
    views = [run.clinical("final") for run in group.runs]
    first = views[0]
    mean = {name: float(np.mean([getattr(view, name) for view in views]))
            for name in ("sensitivity", "specificity", "balanced_accuracy", "auc")}
    melanomas = first.mel_found + first.mel_missed
    nevi = first.nev_flagged + first.nev_cleared
    counts = (f"finds {first.mel_found} of the {melanomas} melanomas and clears "
              f"{first.nev_cleared} of the {nevi} nevi")
    with_intervals = (
        f"sensitivity {with_interval(first.sensitivity, first.sensitivity_interval)}, "
        f"specificity {with_interval(first.specificity, first.specificity_interval)}")
    if len(views) == 1:
        sentence = (f"Melanoma as the positive class, it {counts}: {with_intervals}, balanced "
                    f"accuracy {percent(first.balanced_accuracy)}, ROC AUC "
                    f"{auc_text(first.auc, first.auc_interval)}.")
        sentences = [sentence]
    else:
        def seed_range(name: str, formatter) -> str:
            values = [getattr(view, name) for view in views]
            return f"seeds {formatter(min(values))} to {formatter(max(values))}"

        means = (f"sensitivity {percent(mean['sensitivity'])} "
                 f"({seed_range('sensitivity', percent)}), specificity "
                 f"{percent(mean['specificity'])} ({seed_range('specificity', percent)}), "
                 f"balanced accuracy {percent(mean['balanced_accuracy'])}, ROC AUC "
                 f"{number(mean['auc'])} ({seed_range('auc', number)})")
        first_seed = (f"Seed {group.runs[0].seed} alone {counts}: {with_intervals}, ROC AUC "
                      f"{auc_text(first.auc, first.auc_interval)}; these intervals cover the "
                      f"sampling of the {first.n} validation images, which averaging seeds "
                      "does not shrink.")
        sentences = [f"Melanoma as the positive class, the means over {len(views)} seeds: "
                     + means + ".", first_seed]
    if mean["sensitivity"] < FEW_MELANOMAS:
        sentences.append(
            f"It finds few melanomas, however good its accuracy looks: it misses "
            f"{percent(1 - mean['sensitivity'])} of them, and its balanced accuracy of "
            f"{percent(mean['balanced_accuracy'])} is what its accuracy would be if melanomas "
            "and nevi were equally common.")
    return sentences


def _points_word(value: float) -> str:
    amount = round(100 * value, 1)
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


def gap_text(group: Group) -> str:
    return with_spread(group, "gap", lambda value: points(value).lstrip("+"))


# -- two groups ------------------------------------------------------------------------


def factor_phrase(factors: list[str]) -> str:
    return " and ".join(FACTOR_NAMES.get(name, name) for name in factors)


def compare(comparison: Comparison, baselines: dict | None = None,
            thresholds: Thresholds = THRESHOLDS) -> list[str]:
    """The effect of the factors that set two groups apart, from their values."""
    a, b = comparison.a, comparison.b
    where = f" (from task {comparison.reference})" if comparison.reference else ""
    difference = a.mean("final_val_accuracy") - b.mean("final_val_accuracy")
    if comparison.factors == ["epochs"]:
        head = (
            f"Effect of more epochs: training on from {b.epochs} to {epochs_text(a.epochs)}"
            f"{where} changes the validation accuracy from {percent(b.mean('final_val_accuracy'))}"
            f" to {percent(a.mean('final_val_accuracy'))} ({points(difference)}; "
            f"{accuracy_text(b)} and {accuracy_text(a)} with their intervals); the "
            "train-validation gap is "
            f"{gap_text(a)} against {gap_text(b)}."
        )
    else:
        head = (
            f"Effect of {factor_phrase(comparison.factors)}, at {epochs_text(a.epochs)}: "
            f"{a.label} reaches a validation accuracy of {accuracy_text(a)}"
            f" against {accuracy_text(b)} for {b.label}{where} "
            f"({points(difference)}); the train-validation gap is {gap_text(a)} against "
            f"{gap_text(b)}, " + _second_measure(a, b)
        )
    sentences = [head, _behaviour_contrast(a, b)]
    if comparison.mcnemar is not None:
        sentences.append(paired_test_sentence(comparison, thresholds))
    if comparison.welch is not None:
        sentences.append(significance(a, b, thresholds))
        if comparison.mcnemar is not None:
            sentences.append(both_tests_sentence(comparison, thresholds))
    return sentences


def _second_measure(a: Group, b: Group) -> str:
    """The lowest validation losses where both set-ups use one loss; across two losses their
    values are on different scales, so balanced accuracy and ROC AUC instead."""
    if a.params["loss"] == b.params["loss"]:
        return (f"the lowest validation loss {number(a.mean('best_val_loss'))} against "
                f"{number(b.mean('best_val_loss'))}.")
    views = [[run.clinical("final") for run in group.runs] for group in (a, b)]
    balanced = [sum(v.balanced_accuracy for v in vs) / len(vs) for vs in views]
    auc = [sum(v.auc for v in vs) / len(vs) for vs in views]
    return (f"the balanced accuracy {percent(balanced[0])} against {percent(balanced[1])}, the "
            f"ROC AUC {number(auc[0])} against {number(auc[1])} (their losses, "
            f"{a.params['loss']} and {b.params['loss']}, are on different scales and not "
            "compared).")


def behaviour(group: Group) -> str:
    runs = group.runs
    if any(run.diagnosis.divergence for run in runs):
        return "diverges"
    if any(run.diagnosis.overfitting for run in runs):
        return "overfits"
    if any(run.diagnosis.under_training.still_improving for run in runs):
        return "is still improving at the end"
    if any(run.diagnosis.plateau_epoch is not None for run in runs):
        return "has settled"
    # no rule fired and no plateau either: the curve moves, but within its noise
    return "shows no trend beyond its noise"


PLURAL = {
    "diverges": "diverge",
    "overfits": "overfit",
    "is still improving at the end": "are still improving at the end",
    "has settled": "have settled",
    "shows no trend beyond its noise": "show no trend beyond their noise",
}


def _behaviour_contrast(a: Group, b: Group) -> str:
    behaviour_a, behaviour_b = behaviour(a), behaviour(b)
    if behaviour_a == behaviour_b:
        return f"Both {PLURAL[behaviour_a]}."
    return f"{a.label} {behaviour_a}, {b.label} {behaviour_b}."


# -- the task as a whole -----------------------------------------------------------------


def verdict(groups: list[Group], seeds_said: bool = False) -> str:
    """Whether the task's set-up is enough to decide anything, and why (not)."""
    still = [group.label for group in groups if behaviour(group) == "is still improving at the end"]
    diverged = [group.label for group in groups if behaviour(group) == "diverges"]
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
    """The evidence of a task that trains runs: each set-up, each comparison with its tests,
    what the tests say together, and whether the set-up can decide."""
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
            f"{chosen['run_id']} from task {chosen['task']}, judged at epoch "
            f"{chosen['judged_epoch']} "
            f"(validation accuracy {value_with_interval(values['final_val_accuracy'], n_test)}, "
            f"gap {points(values['gap']).lstrip('+')}), so this task uses {params}."
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
        overfit = [group.label for group in groups if behaviour(group) == "overfits"]
        paragraphs.append(
            f"Classification accuracy: the best of the three optimizers here is {best.label} "
            f"with {accuracy_text(best)} on the validation split. "
            + (f"Overfitted by the diagnostics: {', '.join(overfit)}." if overfit
               else "None of them overfits by the diagnostics.")
        )
    return paragraphs
