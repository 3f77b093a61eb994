"""The phrases every kind of answer shares: a set-up's values, its curve verdict, its
melanomas found, a test's p, each said the same way wherever it appears."""

from __future__ import annotations

import math

import numpy as np

from cnnlab.analysis import verdicts
from cnnlab.analysis.statistics import Clinical
from cnnlab.report.formatting import interval_text, interval_words, number, percent, points
from cnnlab.report.setups import Comparison, Run, SetUp
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


def with_spread(setup: SetUp, key: str, formatter=percent) -> str:
    """'81.5%' for one seed, '81.5% ± 1.2% over 3 seeds' (mean ± sd) for several."""
    values = setup.spread(key)
    if values.n < 2:
        return formatter(values.mean)
    return f"{formatter(values.mean)} ± {formatter(values.sd)} over {values.n} seeds"


def accuracy_text(setup: SetUp, key: str = "final_val_accuracy") -> str:
    """A validation accuracy with its Wilson interval: '58.3% (95% CI 48.6-67.7%)' for one
    seed; over several, the mean ± sd and the interval of all seeds' calls pooled."""
    if setup.seeds < 2:
        return f"{percent(setup.mean(key))} ({interval_text(setup.runs[0].interval(key))})"
    calls = sum(run.n_test for run in setup.runs)
    return (f"{with_spread(setup, key)} ({interval_text(setup.pooled_interval(key))} of the "
            f"{calls} pooled calls)")


def gap_text(setup: SetUp) -> str:
    return with_spread(setup, "gap", lambda value: points(value).lstrip("+"))


def p_value(comparison: Comparison) -> float:
    """The p that decides a comparison: McNemar's, Holm-adjusted where the task has several."""
    return comparison.holm_p if comparison.holm_p is not None else comparison.mcnemar.p


# -- what a set-up's curve does ------------------------------------------------------------


def run_curve(run: Run, baseline: float) -> verdicts.CurveVerdict:
    """One run's curve verdict (:func:`cnnlab.analysis.verdicts.curve_verdict`)."""
    view = run.clinical("final")
    auc = None if view is None else (view.auc, view.auc_interval.low, view.auc_interval.high)
    return verdicts.curve_verdict(run.history, run.diagnosis, baseline, run.n_test, auc)


def curve(setup: SetUp, baseline: float) -> verdicts.CurveVerdict:
    """A set-up's curve verdict: the most telling of its seeds'."""
    return verdicts.most_telling([run_curve(run, baseline) for run in setup.runs])


def verdict(setup: SetUp, baseline: float) -> str:
    """The name of a set-up's curve verdict (:data:`cnnlab.analysis.verdicts.VERDICTS`)."""
    return curve(setup, baseline).name


#: a verdict as the end of 'it ...' / 'they ...'
VERDICT_PHRASES = {
    "diverged": ("diverged", "diverged"),
    "overfitting": ("overfits", "overfit"),
    "still learning": ("is still learning", "are still learning"),
    "ranks, not above the baseline": ("ranks the images but is within the baseline's noise",
                                      "rank the images but are within the baseline's noise"),
    "not learning": ("is not learning", "are not learning"),
    "plateau": ("has reached a plateau", "have reached a plateau"),
}


def verdict_phrase(setup: SetUp, baseline: float, plural: bool = False) -> str:
    """'overfits from epoch 14', 'is still learning (best epoch 40 of 40)', 'diverged at
    epoch 51': the verdict with the number that decides it."""
    found = curve(setup, baseline)
    phrase = VERDICT_PHRASES[found.name][1 if plural else 0]
    if found.name == "overfitting":
        return f"{phrase} from epoch {found.onset.epoch}"
    if found.name == "diverged" and found.diverged_at:
        return f"{phrase} at epoch {found.diverged_at}"
    if found.name in ("still learning", "plateau") and found.best_epoch is not None:
        return f"{phrase} (best epoch {found.best_epoch} of {found.epochs})"
    if found.name == "ranks, not above the baseline":
        return (f"ranks the images (ROC AUC {number(found.auc)}) but "
                f"{'are' if plural else 'is'} within the baseline's noise")
    return phrase


def verdict_sentence(setup: SetUp, baseline: float) -> str:
    """One set-up's curve verdict in a sentence or two, with the numbers that decide it."""
    found = curve(setup, baseline)
    best = found.best_epoch
    if found.name == "diverged":
        at = f" at epoch {found.diverged_at}" if found.diverged_at else ""
        return f"It diverged{at}: its loss blew up, so its later values mean nothing."
    if found.name == "overfitting":
        onset = found.onset
        return (f"It overfits from epoch {onset.epoch}: its validation loss is lowest "
                f"there and ends at {number(found.val_loss_end)}, while the training loss "
                f"falls to {number(found.train_loss_end)}.")
    if found.name == "still learning":
        where = (f"its validation loss is lowest at epoch {best} of {found.epochs}"
                 if best is not None and best >= verdicts.last_tenth(found.epochs)
                 else "both losses still fall")
        return (f"It is still learning: {where}, and its training loss fell from "
                f"{number(found.train_loss_first)} to {number(found.train_loss_end)}.")
    if found.name == "ranks, not above the baseline":
        return ("Its accuracy is within the noise of the baseline, but its scores rank the "
                "images: "
                f"ROC AUC {number(found.auc)} "
                f"({interval_words(found.auc_low, found.auc_high, joiner='-')}). "
                "The threshold lags, not the ranking.")
    if found.name == "not learning":
        return (f"It is not learning: its training loss stays at {number(found.train_loss_end)}"
                f" (from {number(found.train_loss_first)}) and its scores rank no better "
                "than chance.")
    return (f"It has reached a plateau: its validation loss was lowest at epoch {best} of "
            f"{found.epochs} ({number(found.val_loss_best)}; {number(found.val_loss_end)} at "
            "the end).")


# -- melanomas -----------------------------------------------------------------------------


def views(setup: SetUp) -> list[Clinical]:
    return [run.clinical("final") for run in setup.runs]


def mean_of(setup: SetUp, name: str) -> float:
    return float(np.mean([getattr(view, name) for view in views(setup)]))


def finds_few(setup: SetUp) -> bool:
    return mean_of(setup, "sensitivity") < FEW_MELANOMAS


def melanomas_found(setup: SetUp) -> str:
    """'3 of the 43 melanomas'; over seeds, the mean share."""
    found = views(setup)
    if len(found) == 1:
        return f"{found[0].mel_found} of the {found[0].mel_found + found[0].mel_missed} melanomas"
    return f"{percent(mean_of(setup, 'sensitivity'))} of the melanomas (mean of {len(found)} seeds)"


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
