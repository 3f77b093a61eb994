"""The evidence behind a trained task's answer, for its details: what each set-up's curves
and clinical view show, and what each comparison and its tests found, in full sentences."""

from __future__ import annotations

import math

import numpy as np

from cnnlab.analysis import verdicts
from cnnlab.analysis.diagnostics import THRESHOLDS, Thresholds
from cnnlab.report.answers.phrases import (
    FEW_MELANOMAS,
    RANKS_WELL,
    VERDICT_PHRASES,
    accuracy_text,
    factor_phrase,
    gap_text,
    ranks_beyond_chance,
    run_curve,
    verdict,
    with_spread,
)
from cnnlab.report.formatting import (
    auc_text,
    epochs_text,
    number,
    percent,
    points,
    with_interval,
)
from cnnlab.report.setups import Comparison, SetUp
from cnnlab.report.significance import both_tests_sentence, paired_test_sentence, significance


def _count(items: list, n: int) -> str:
    """'' for one run, ' in k of n seeds' for several."""
    return "" if n == 1 else f" in {len(items)} of {n} seeds"


def describe_setup(setup: SetUp, baselines: dict,
                   thresholds: Thresholds = THRESHOLDS) -> list[str]:
    """What one set-up's curves show, in sentences built from its values and diagnoses."""
    sentences = [
        (f"{setup.label}: after {_epochs_reached(setup)}, training accuracy "
         f"{with_spread(setup, 'final_accuracy')}, validation accuracy {accuracy_text(setup)}; "
         f"the validation loss was lowest at {_best_epochs(setup)}: "
         f"{with_spread(setup, 'best_val_loss', number)}.")
    ]
    sentences += clinical_sentences(setup)
    sentences += _divergence(setup)
    found = [run_curve(run, baselines["test"]) for run in setup.runs]
    if verdicts.most_telling(found).at_baseline:  # the answer's own reading of the baseline
        sentences.append(_at_baseline(setup))
    sentences += _overfitting(setup, found) + _under_training(setup) + _plateau(setup)
    quiet = not any(verdict.name in ("diverged", "overfitting") for verdict in found) and not any(
        run.diagnosis.under_training.still_improving for run in setup.runs)
    if quiet and setup.mean("gap") > 2 * thresholds.baseline_margin:
        sentences.append(f"It does not overfit by the validation loss, but training accuracy "
                         f"ends {gap_text(setup)} above validation accuracy.")
    return sentences


def _divergence(setup: SetUp) -> list[str]:
    diverged = [run for run in setup.runs if run.diagnosis.divergence]
    if not diverged:
        return []
    first = diverged[0].diagnosis.divergence
    where = f" at epoch {first.epoch}" if first.epoch else ""
    return [(f"It diverged{_count(diverged, setup.seeds)}: {first.reason}{where}; its values "
            "after that carry no information.")]


def _at_baseline(setup: SetUp) -> str:
    """A set-up within the noise of the baseline: does its ranking show anything learned?"""
    views = [run.clinical("final") for run in setup.runs]
    auc = float(np.mean([view.auc for view in views]))
    measured = (auc_text(views[0].auc, views[0].auc_interval) if len(views) == 1 else
                f"{number(auc)} (mean over {len(views)} seeds)")
    noise = "Its validation accuracy is within the sampling noise of the majority baseline"
    chance = [view for view in views if not ranks_beyond_chance(view)]
    if chance:
        # a view without an interval (one class, ties only) has no interval to cite
        reaching = [view for view in chance if math.isfinite(view.auc_interval.low)]
        why = ("" if not reaching else " (its interval reaches 0.5)" if len(views) == 1
               else f" (the interval of {len(reaching)} of the {len(views)} seeds reaches 0.5)")
        return (f"{noise}, and its ROC AUC of {measured} does not rank melanomas above nevi "
                f"beyond chance either{why}: nothing here shows that it has learned what "
                "generalises.")
    if auc >= RANKS_WELL:
        return (f"{noise}, though its ROC AUC of {measured} shows that its scores do rank "
                "melanomas above nevi more often than not, beyond chance: its decision "
                "threshold, not its ranking, is what fails.")
    return (f"{noise}; its ROC AUC of {measured} ranks melanomas above nevi beyond chance, "
            f"but below the {RANKS_WELL:g} from which a ranking is of use: it has learned "
            "little that generalises.")


def _overfitting(setup: SetUp, found: list) -> list[str]:
    """Where each overfitting seed starts to overfit, and by which rule: its validation loss
    rising beyond its noise, or its accuracy gap growing beyond the validation accuracy's
    interval (:func:`cnnlab.analysis.verdicts.overfitting_from`)."""
    overfit = [(run, verdict) for run, verdict in zip(setup.runs, found)
               if verdict.name == "overfitting"]
    if not overfit:
        return []
    run, first = overfit[0]
    onset = first.onset
    epochs = ", ".join(str(verdict.onset.epoch) for _, verdict in overfit)
    why = ("its validation loss rose beyond its noise" if onset.by == "val_loss" else
           f"its train - validation accuracy gap grew from {points(onset.gap_at_onset).lstrip('+')} to "
           f"{points(onset.gap_end).lstrip('+')} (smoothed), more than the "
           f"±{points(onset.gap_noise).lstrip('+')} of the validation accuracy's 95% interval")
    return [(f"It overfits{_count(overfit, setup.seeds)} from epoch {epochs}, where its "
             f"validation loss is lowest: after it {why}, while the training loss fell to "
             f"{number(run.values['final_loss'])}; the final train-validation accuracy gap is "
             f"{gap_text(setup)}.")]


def _under_training(setup: SetUp) -> list[str]:
    under = [run for run in setup.runs if run.diagnosis.under_training.still_improving]
    if not under:
        return []
    first = under[0].diagnosis.under_training
    return [(f"It is under-trained{_count(under, setup.seeds)}: over the last {first.window} "
            f"epochs the training loss still fell by {100 * first.train_drop:.0f}% and the "
            f"validation loss by {100 * first.val_drop:.0f}%, so more epochs would still help.")]


def _plateau(setup: SetUp) -> list[str]:
    plateaued = [run for run in setup.runs if run.diagnosis.plateau_epoch is not None]
    if not plateaued:
        return []
    epochs = ", ".join(str(run.diagnosis.plateau_epoch) for run in plateaued)
    found = plateaued[0].diagnosis.plateau
    noise = (f", the sampling noise of {found.n_test} validation images (smoothed over "
             f"{epochs_text(found.smooth_window)})" if found.n_test else "")
    amount = round(100 * found.tolerance, 1)
    return [(f"Its validation accuracy gained no more than {amount:g} percentage "
            f"point{'' if amount == 1 else 's'}{noise} after epoch {epochs}"
            f"{_count(plateaued, setup.seeds)}.")]


def clinical_sentences(setup: SetUp) -> list[str]:
    """What the model does with melanomas and nevi at its final epoch, each share with its
    95 % interval (Wilson; the ROC AUC's by the stratified bootstrap), and a warning when it
    finds few melanomas. Over seeds: the first seed's counts and intervals, the seeds' means
    and ranges."""
    views = [run.clinical("final") for run in setup.runs]
    first = views[0]
    mean = {name: float(np.mean([getattr(view, name) for view in views]))
            for name in ("sensitivity", "specificity", "balanced_accuracy", "auc")}
    counts = (f"finds {first.mel_found} of the {first.mel_found + first.mel_missed} melanomas "
              f"and clears {first.nev_cleared} of the {first.nev_flagged + first.nev_cleared} "
              "nevi")
    with_intervals = (
        f"sensitivity {with_interval(first.sensitivity, first.sensitivity_interval)}, "
        f"specificity {with_interval(first.specificity, first.specificity_interval)}")
    if len(views) == 1:
        sentences = [(f"It {counts}: {with_intervals}, balanced accuracy "
                     f"{percent(first.balanced_accuracy)}, ROC AUC "
                     f"{auc_text(first.auc, first.auc_interval)}.")]
    else:
        def seed_range(name: str, formatter) -> str:
            values = [getattr(view, name) for view in views]
            return f"seeds {formatter(min(values))} to {formatter(max(values))}"

        means = (f"sensitivity {percent(mean['sensitivity'])} "
                 f"({seed_range('sensitivity', percent)}), specificity "
                 f"{percent(mean['specificity'])} ({seed_range('specificity', percent)}), "
                 f"balanced accuracy {percent(mean['balanced_accuracy'])}, ROC AUC "
                 f"{number(mean['auc'])} ({seed_range('auc', number)})")
        sentences = [f"Over its {len(views)} seeds: {means}.",
                     (f"Seed {setup.runs[0].seed} alone {counts}: {with_intervals}, ROC AUC "
                     f"{auc_text(first.auc, first.auc_interval)}.")]
    if mean["sensitivity"] < FEW_MELANOMAS:
        sentences.append(
            f"It misses {percent(1 - mean['sensitivity'])} of the melanomas, whatever its "
            "accuracy: its balanced accuracy is what its accuracy would be if melanomas and "
            "nevi were equally common.")
    return sentences


def _epochs_reached(setup: SetUp) -> str:
    """The epochs the values come from: a diverged run stopped before the epochs asked."""
    reached = [int(run.history["epoch"].iloc[-1]) for run in setup.runs]
    stopped = sorted(epoch for epoch in reached if epoch < setup.epochs)
    if not stopped:
        return epochs_text(setup.epochs)
    if len(setup.runs) == 1:
        return f"{stopped[0]} of the {epochs_text(setup.epochs)} asked (it stopped there)"
    listed = ", ".join(str(epoch) for epoch in stopped)
    return (f"{epochs_text(setup.epochs)} ({len(stopped)} of {len(setup.runs)} seeds stopped "
            f"early, at epoch{'s' if len(stopped) > 1 else ''} {listed})")


def _best_epochs(setup: SetUp) -> str:
    epochs = [run.values["best_epoch"] for run in setup.runs]
    listed = ", ".join("none" if epoch is None else str(epoch) for epoch in epochs)
    return f"epoch{'s' if len(epochs) > 1 else ''} {listed}"


# -- two set-ups -----------------------------------------------------------------------------


def compare(comparison: Comparison, baselines: dict,
            thresholds: Thresholds = THRESHOLDS) -> list[str]:
    """The effect of the factors that set two set-ups apart, from their values and tests."""
    a, b = comparison.a, comparison.b
    where = f" (from task {comparison.reference})" if comparison.reference else ""
    difference = a.mean("final_val_accuracy") - b.mean("final_val_accuracy")
    if comparison.factors == ["epochs"]:
        head = (f"Effect of more epochs: training on from {b.epochs} to "
                f"{epochs_text(a.epochs)}{where} changes the validation accuracy from "
                f"{accuracy_text(b)} to {accuracy_text(a)} ({points(difference)}); the "
                f"train-validation gap is {gap_text(a)} against {gap_text(b)}.")
    else:
        head = (f"Effect of {factor_phrase(comparison.factors)}, at {epochs_text(a.epochs)}: "
                f"{a.label} reaches a validation accuracy of {accuracy_text(a)} against "
                f"{accuracy_text(b)} for {b.label}{where} ({points(difference)}); the "
                f"train-validation gap is {gap_text(a)} against {gap_text(b)}, "
                + _second_measure(a, b))
    sentences = [head, _contrast(a, b, baselines["test"])]
    if comparison.mcnemar is not None:
        sentences.append(paired_test_sentence(comparison, thresholds))
    if comparison.welch is not None:
        sentences.append(significance(a, b, thresholds))
        if comparison.mcnemar is not None:
            sentences.append(both_tests_sentence(comparison, thresholds))
    return sentences


def _second_measure(a: SetUp, b: SetUp) -> str:
    """The lowest validation losses where both set-ups use one loss; across two losses their
    values are on different scales, so balanced accuracy and ROC AUC instead."""
    if a.params["loss"] == b.params["loss"]:
        return (f"the lowest validation loss {number(a.mean('best_val_loss'))} against "
                f"{number(b.mean('best_val_loss'))}.")
    views = [[run.clinical("final") for run in setup.runs] for setup in (a, b)]
    balanced = [sum(v.balanced_accuracy for v in vs) / len(vs) for vs in views]
    auc = [sum(v.auc for v in vs) / len(vs) for vs in views]
    return (f"the balanced accuracy {percent(balanced[0])} against {percent(balanced[1])}, the "
            f"ROC AUC {number(auc[0])} against {number(auc[1])} (their losses, "
            f"{a.params['loss']} and {b.params['loss']}, are on different scales and not "
            "compared).")


def _contrast(a: SetUp, b: SetUp, baseline: float) -> str:
    first, second = verdict(a, baseline), verdict(b, baseline)
    if first == second:
        return f"Both {VERDICT_PHRASES[first][1]}."
    return f"{a.label} {VERDICT_PHRASES[first][0]}, {b.label} {VERDICT_PHRASES[second][0]}."
