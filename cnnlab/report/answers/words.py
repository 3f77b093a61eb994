"""The phrases every kind of answer shares: a set-up's values, its curve verdict, its
melanomas found, a test's p, each said the same way wherever it appears."""

from __future__ import annotations

import math

import numpy as np

from cnnlab.analysis import diagnostics
from cnnlab.analysis.statistics import Clinical
from cnnlab.report.formatting import interval_text, percent, points
from cnnlab.report.results import Comparison, Group
from cnnlab.report.significance import p_text  # noqa: F401 - said the same way everywhere

FEW_MELANOMAS = 0.5  # a sensitivity below this finds fewer than half of the melanomas
RANKS_WELL = 0.65  # a ROC AUC from which a model's scores separate the classes usefully

FACTOR_NAMES = {
    "model": "the architecture",
    "n_base": "n_base",
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


def factor_phrase(factors: list[str]) -> str:
    return " and ".join(FACTOR_NAMES.get(name, name) for name in factors)


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


def gap_text(group: Group) -> str:
    return with_spread(group, "gap", lambda value: points(value).lstrip("+"))


def p_value(comparison: Comparison) -> float:
    """The p that decides a comparison: McNemar's, Holm-adjusted where the task has several."""
    return comparison.holm_p if comparison.holm_p is not None else comparison.mcnemar.p


# -- what a set-up's curve does ------------------------------------------------------------


def at_baseline(group: Group, baseline: float) -> bool:
    """Whether the set-up's final validation accuracy is within the noise of the baseline."""
    return diagnostics.no_better_than_baseline(group.mean("final_val_accuracy"), baseline,
                                               n_test=group.runs[0].n_test)


def verdict(group: Group, baseline: float) -> str:
    """The curve verdict of a set-up (:data:`cnnlab.analysis.diagnostics.VERDICTS`): the most
    telling of its seeds'."""
    found = {diagnostics.curve_verdict(run.diagnosis, at_baseline(group, baseline))
             for run in group.runs}
    return next(name for name in diagnostics.VERDICTS if name in found)


#: a verdict as the end of 'it ...' / 'they ...'
VERDICT_PHRASES = {
    "diverges": ("diverged", "diverged"),
    "overfits": ("overfits", "overfit"),
    "not learned yet": ("has not learned yet", "have not learned yet"),
    "stuck at the baseline": ("has not left the baseline", "have not left the baseline"),
    "still improving": ("is still improving", "are still improving"),
    "settled": ("has settled", "have settled"),
    "no trend": ("shows no trend beyond its noise", "show no trend beyond their noise"),
}

def verdict_phrase(group: Group, baseline: float, plural: bool = False) -> str:
    """'overfits from epoch 14', 'has not learned yet', 'diverged at epoch 51'."""
    name = verdict(group, baseline)
    phrase = VERDICT_PHRASES[name][1 if plural else 0]
    run = group.runs[0]
    if name == "overfits":
        onset = next(r.diagnosis.overfitting for r in group.runs if r.diagnosis.overfitting)
        phrase += f" from epoch {onset.epoch}"
    elif name == "diverges" and run.diagnosis.divergence and run.diagnosis.divergence.epoch:
        phrase += f" at epoch {run.diagnosis.divergence.epoch}"
    return phrase


# -- melanomas -----------------------------------------------------------------------------


def views(group: Group) -> list[Clinical]:
    return [run.clinical("final") for run in group.runs]


def mean_of(group: Group, name: str) -> float:
    return float(np.mean([getattr(view, name) for view in views(group)]))


def finds_few(group: Group) -> bool:
    return mean_of(group, "sensitivity") < FEW_MELANOMAS


def melanomas_found(group: Group) -> str:
    """'3 of the 43 melanomas'; over seeds, the mean share."""
    found = views(group)
    if len(found) == 1:
        return f"{found[0].mel_found} of the {found[0].mel_found + found[0].mel_missed} melanomas"
    return f"{percent(mean_of(group, 'sensitivity'))} of the melanomas (mean of {len(found)} seeds)"


def ranks_beyond_chance(view: Clinical) -> bool:
    """Whether a run's scores rank melanomas above nevi beyond chance: its ROC AUC's 95 %
    interval lies above 0.5; a perfect ranking (AUC 1, where the bootstrap gives no
    interval) does too."""
    if math.isfinite(view.auc_interval.low):
        return view.auc_interval.low > 0.5
    return view.auc == 1.0


def join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
