"""The first lines of a training task's answer: a direct answer to its question, with the
numbers that decide it, and what to try next, from what this run's curves and tests show.

The evidence behind them (each set-up in detail, each comparison with its test) follows
in :mod:`cnnlab.report.answers`; the direct answer states the majority-class baseline once, so
the evidence need not repeat it.
"""

from __future__ import annotations

from cnnlab.analysis.diagnostics import THRESHOLDS, Thresholds
from cnnlab.report.answers import (
    FEW_MELANOMAS,
    accuracy_text,
    behaviour,
    epochs_text,
    factor_phrase,
)
from cnnlab.report.formatting import param_phrase, percent, points
from cnnlab.report.results import Comparison, Group
from cnnlab.report.significance import p_text

LISTED = 4  # set-ups named one by one in a direct answer; more are summed up


def accuracies(groups: list[Group], baselines: dict) -> str:
    """'LeNet reaches 72.5% training and 65.0% (95% CI ...) validation accuracy after 20
    epochs' for one set-up; for several, each set-up's validation accuracy and the best."""
    baseline = f"always answering the majority class scores {percent(baselines['test'])}"
    if len(groups) == 1:
        group = groups[0]
        return (f"{group.label} reaches a training accuracy of "
                f"{percent(group.mean('final_accuracy'))} and a validation accuracy of "
                f"{accuracy_text(group)} after {epochs_text(group.epochs)} ({baseline}).")
    ranked = sorted(groups, key=lambda group: -group.mean("final_val_accuracy"))
    listed = "; ".join(f"{group.label} {accuracy_text(group)}" for group in ranked[:LISTED])
    more = f"; and {len(ranked) - LISTED} more" if len(ranked) > LISTED else ""
    return (f"Validation accuracy at the end of training: {listed}{more} ({baseline}); "
            f"highest: {ranked[0].label}.")


def _p(comparison: Comparison) -> float:
    return comparison.holm_p if comparison.holm_p is not None else comparison.mcnemar.p


def effects(comparisons: list[Comparison], thresholds: Thresholds = THRESHOLDS) -> str | None:
    """Each comparison's effect in a clause, with its test's verdict."""
    tested = [comparison for comparison in comparisons if comparison.mcnemar is not None]
    if not tested:
        return None
    clauses = []
    for comparison in tested:
        a, b = comparison.a, comparison.b
        difference = a.mean("final_val_accuracy") - b.mean("final_val_accuracy")
        significant = _p(comparison) < thresholds.alpha
        where = f" (task {comparison.reference})" if comparison.reference else ""
        clauses.append(
            f"{factor_phrase(comparison.factors)}: {a.label} against {b.label}{where}, "
            f"{points(difference)} of validation accuracy, "
            f"{'significant' if significant else 'not significant'} ({p_text(_p(comparison))})")
    adjusted = ", Holm-adjusted" if any(c.holm_p is not None for c in tested) else ""
    return (f"Effects (exact McNemar test on the paired validation calls{adjusted}, alpha = "
            f"{thresholds.alpha:g}): " + "; ".join(clauses) + ".")


def _sensitivity(group: Group) -> float:
    return sum(run.clinical("final").sensitivity for run in group.runs) / len(group.runs)


def _found(group: Group) -> str:
    """'LeNet finds 3 of the 43 melanomas (balanced accuracy 53.5%)'; over seeds, means."""
    views = [run.clinical("final") for run in group.runs]
    balanced = percent(sum(view.balanced_accuracy for view in views) / len(views))
    if len(views) == 1:
        melanomas = views[0].mel_found + views[0].mel_missed
        return (f"{group.label} finds {views[0].mel_found} of the {melanomas} melanomas "
                f"(balanced accuracy {balanced})")
    return (f"{group.label} finds {percent(_sensitivity(group))} of the melanomas (balanced "
            f"accuracy {balanced}, means over {len(views)} seeds)")


def curves(groups: list[Group]) -> str:
    """What the curves show, one clause per set-up."""
    clauses = []
    for group in groups:
        state = behaviour(group)
        run = group.runs[0]
        if state == "overfits":
            state += f" from epoch {run.diagnosis.overfitting.epoch}"
        elif state == "diverges" and run.diagnosis.divergence.epoch:
            state += f" at epoch {run.diagnosis.divergence.epoch}"
        clauses.append(f"{group.label} {state}" if len(groups) > 1 else f"it {state}")
    subject = "The curves: " if len(groups) > 1 else f"The curves of {groups[0].label}: "
    return subject + "; ".join(clauses) + "."


def direct_answer(groups: list[Group], comparisons: list[Comparison], baselines: dict,
                  thresholds: Thresholds = THRESHOLDS) -> list[str]:
    """One to three sentences that answer the task: the accuracies, the effects and their
    tests, what the curves show."""
    sentences = [accuracies(groups, baselines)]
    few = [group for group in groups if _sensitivity(group) < FEW_MELANOMAS]
    if few:
        found = "; ".join(_found(group) for group in few)
        sentences.append(f"Few melanomas found, whatever the accuracy: {found}.")
    effect = effects(comparisons, thresholds)
    if effect:
        sentences.append(effect)
    sentences.append(curves(groups))
    return [" ".join(sentences)]


def next_steps(groups: list[Group], comparisons: list[Comparison]) -> list[str]:
    """What to try next, where this run shows it."""
    steps = []
    still = [group.label for group in groups if behaviour(group) == "is still improving at the end"]
    overfit = [group for group in groups if behaviour(group) == "overfits"]
    diverged = [group.label for group in groups if behaviour(group) == "diverges"]
    if still:
        steps.append(f"More epochs for {', '.join(still)}: the losses were still falling "
                     "when training stopped.")
    if overfit:
        best = ", ".join(f"{group.label} at epoch {group.runs[0].values['best_epoch']}"
                         for group in overfit)
        steps.append(f"Stop earlier or regularise (dropout, fewer filters): the validation loss "
                     f"was lowest at {best} and rose after.")
    if diverged:
        steps.append(f"A lower learning rate for {', '.join(diverged)}, which diverged.")
    if any(min(c.a.seeds, c.b.seeds) < 2 for c in comparisons):
        steps.append("More seeds (--configfile seeds.yaml): with one seed a side, no test "
                     "covers the training's randomness.")
    return steps


def not_overfitted(group: Group, max_gap: float) -> bool:
    """The task's condition on a trained set-up: no overfitting onset by the diagnostics
    and a final train - validation gap within the selection rule's."""
    return behaviour(group) not in ("overfits", "diverges") and group.mean("gap") <= max_gap


def optimum_answer(selection: dict, groups: list[Group]) -> list[str]:
    """6E: which set-up was chosen and how, and whether its trained models meet the task's
    condition (not overfitted), said plainly when none does."""
    chosen = selection["chosen"]
    params = ", ".join(param_phrase(name, value) for name, value in chosen["params"].items())
    if selection["pinned"]:
        sentences = [f"6E trains the set-up pinned in the config: {params}."]
        max_gap = None
    else:
        values = chosen["values"]
        max_gap = selection["max_gap"]
        sentences = [(
            f"The set-up chosen as the best that is not overfitted: {params} "
            f"({chosen['run_id']} from task {chosen['task']}, judged at epoch "
            f"{chosen['judged_epoch']} of the {selection['target_epochs']} that 6E trains: "
            f"validation accuracy {percent(values['final_val_accuracy'])}, balanced accuracy "
            f"{percent(values['final_balanced_accuracy'])}, gap "
            f"{points(values['gap']).lstrip('+')}).")]
        if not selection["meets_condition"]:
            sentences.append(
                f"No candidate met the task's condition (not overfitted by epoch "
                f"{selection['target_epochs']}): the choice is a fallback, the smallest gap.")
    if groups and max_gap is not None:
        passing = [group for group in groups if not_overfitted(group, max_gap)]
        if passing:
            best = max(passing, key=lambda group: group.mean("final_val_accuracy"))
            failing = [group.label for group in groups if group not in passing]
            sentences.append(
                f"The best model that is not overfitted after {epochs_text(best.epochs)}: "
                f"{best.label}, validation accuracy {accuracy_text(best)}"
                + (f"; overfitted: {', '.join(failing)}." if failing else
                   "; none of the three optimizers' models overfits."))
        else:
            eligible = [row["run_id"] for row in selection["candidates"] if row["eligible"]]
            sentences.append(
                "The task's condition fails: every model trained here overfits or ends with a "
                f"train - validation gap above {points(max_gap).lstrip('+')}, so none is 'the "
                "best model that is not overfitted'"
                + (f"; the candidates that met it at epoch {selection['target_epochs']} were "
                   f"{', '.join(eligible)}." if eligible else "; no candidate met it either."))
    return [" ".join(sentences)]
