"""The report's numbers as tidy tables: one row per task and epoch of a run, per task and
set-up, per comparison, made from the very set-ups and comparisons the report renders.

:func:`tables` reads the task sections of :func:`cnnlab.report.page.build_context` (each
holds the :class:`~cnnlab.report.answers.Facts` its answer was written from), so a number
in the HTML and the same number in a table are one value, computed once. Values are plain
numbers in the unit the column's name says (``_fraction``: a share of 0 to 1; losses and
AUC as they are; epochs and seconds as counted); docs/tables.md is the column dictionary.
The files are written and read by :mod:`cnnlab.store.tables`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cnnlab.analysis import statistics
from cnnlab.analysis.diagnostics import THRESHOLDS
from cnnlab.report.answers import Facts, effects, phrases, selection
from cnnlab.report.setups import Comparison, SetUp

NAN = math.nan
PARAMETERS = ("model", "n_base", "dense", "dropout", "optimizer", "lr", "batch_size", "loss",
              "threads", "precision")
EPOCH_COLUMNS = (
    "dataset", "task", "setup", "epochs", "setup_label", "seed", "run_id", "training",
    "training_epochs", "status", "epoch", "train_loss", "train_accuracy_fraction", "val_loss",
    "val_accuracy_fraction", "epoch_seconds")
VERDICT_COLUMNS = (
    "curve_verdict", "curve_phrase", "at_baseline", "end_val_accuracy_fraction",
    "verdict_best_epoch", "verdict_val_loss_at_best", "verdict_val_loss_end",
    "verdict_train_loss_first", "verdict_train_loss_end", "overfitting_epoch", "overfitting_by",
    "gap_at_onset_fraction", "gap_end_fraction", "gap_noise_fraction", "divergence_epoch",
    "plateau_epoch", "improving_seeds", "end_window_epochs", "train_loss_drop_fraction",
    "val_loss_drop_fraction")
SETUP_COLUMNS = (
    "dataset", "task", "setup_task", "setup", "setup_label", "epochs", "seeds", "val_images",
    *PARAMETERS,
    "train_accuracy_fraction", "train_accuracy_sd_fraction", "val_accuracy_fraction",
    "val_accuracy_sd_fraction", "val_accuracy_ci_low_fraction", "val_accuracy_ci_high_fraction",
    "balanced_accuracy_fraction", "sensitivity_fraction", "sensitivity_ci_low_fraction",
    "sensitivity_ci_high_fraction", "specificity_fraction", "specificity_ci_low_fraction",
    "specificity_ci_high_fraction", "roc_auc", "roc_auc_ci_low", "roc_auc_ci_high",
    "train_loss", "val_loss", "best_epoch", "best_val_loss", "val_accuracy_at_best_fraction",
    "max_val_accuracy_fraction", "gap_fraction", "training_seconds", *VERDICT_COLUMNS)
COMPARISON_COLUMNS = (
    "dataset", "task", "comparison", "setup_a_task", "setup_a", "setup_a_label", "epochs_a",
    "setup_b_task", "setup_b", "setup_b_label", "epochs_b", "factors", "measure", "unit",
    "value_a", "value_b", "difference", "test", "paired_calls", "a_right_b_wrong",
    "b_right_a_wrong", "p_raw", "holm_family", "p_adjusted", "welch_t", "welch_df", "welch_p",
    "alpha", "significant", "verdict", "in_answer")
COLUMNS = {"epochs": EPOCH_COLUMNS, "setups": SETUP_COLUMNS, "comparisons": COMPARISON_COLUMNS}


def finite_or_nan(value) -> float:
    return float(value) if value is not None and math.isfinite(float(value)) else NAN


# -- a set-up's curve verdict ---------------------------------------------------------------


def verdict_columns(setup: SetUp, baseline: float) -> dict:
    """The curve verdict of a set-up as the report words it, and the numbers that decide it
    (:func:`cnnlab.analysis.verdicts.curve_verdict` of its most telling seed): every table
    row's verdict comes through here, from the report's own verdict code."""
    found = phrases.curve(setup, baseline)
    onset = found.onset
    under = [run.diagnosis.under_training for run in setup.runs]
    return {
        "curve_verdict": found.name,
        "curve_phrase": phrases.verdict_phrase(setup, baseline),
        "at_baseline": bool(found.at_baseline),
        "end_val_accuracy_fraction": finite_or_nan(found.end_accuracy),
        "verdict_best_epoch": NAN if found.best_epoch is None else found.best_epoch,
        "verdict_val_loss_at_best": finite_or_nan(found.val_loss_best),
        "verdict_val_loss_end": finite_or_nan(found.val_loss_end),
        "verdict_train_loss_first": finite_or_nan(found.train_loss_first),
        "verdict_train_loss_end": finite_or_nan(found.train_loss_end),
        "overfitting_epoch": onset.epoch if onset else NAN,
        "overfitting_by": onset.by if onset else None,
        "gap_at_onset_fraction": finite_or_nan(onset.gap_at_onset) if onset else NAN,
        "gap_end_fraction": finite_or_nan(onset.gap_end) if onset else NAN,
        "gap_noise_fraction": finite_or_nan(onset.gap_noise) if onset else NAN,
        "divergence_epoch": NAN if found.diverged_at is None else found.diverged_at,
        "plateau_epoch": NAN if found.plateau_from is None else found.plateau_from,
        "improving_seeds": sum(bool(u.still_improving) for u in under),
        "end_window_epochs": under[0].window,
        "train_loss_drop_fraction": float(np.mean([u.train_drop for u in under])),
        "val_loss_drop_fraction": float(np.mean([u.val_drop for u in under])),
    }


# -- the rows -------------------------------------------------------------------------------


def epoch_rows(facts: Facts, dataset: str) -> list[dict]:
    """Each epoch the task shows of each of its runs (a prefix of a longer training too);
    a run the task shows at two epoch counts (a set-up and its longer version) once per count."""
    rows = []
    for setup in facts.setups:
        for run in setup.runs:
            for epoch in run.history.to_dict("records"):
                rows.append({
                    "dataset": dataset, "task": facts.task_id, "setup": setup.setup_id,
                    "epochs": setup.epochs, "setup_label": setup.label, "seed": run.seed, "run_id": run.run_id,
                    "training": run.training, "training_epochs": run.trained_epochs,
                    "status": run.status, "epoch": int(epoch["epoch"]),
                    "train_loss": epoch["loss"], "train_accuracy_fraction": epoch["accuracy"],
                    "val_loss": epoch["val_loss"], "val_accuracy_fraction": epoch["val_accuracy"],
                    "epoch_seconds": epoch.get("seconds", NAN)})
    return rows


def parameter_text(name: str, value) -> object:
    """A parameter as one plain cell: the dense widths joined by '-' ('none' without)."""
    if name == "dense":
        return "-".join(str(width) for width in value) or "none"
    return value


def pooled(counts: list[tuple[int, int]]) -> statistics.Interval:
    """The Wilson interval of (hits, n) pairs pooled over seeds."""
    return statistics.wilson_interval(sum(h for h, _ in counts), sum(n for _, n in counts))


def clinical_columns(setup: SetUp) -> dict:
    """Means over seeds of the clinical view at the final epoch; sensitivity and
    specificity with the Wilson interval of all seeds' calls pooled, the AUC with its
    bootstrap interval where the set-up has one seed (several seeds have one each)."""
    views = [run.clinical("final") for run in setup.runs]
    sensitivity = pooled([(v.mel_found, v.mel_found + v.mel_missed) for v in views])
    specificity = pooled([(v.nev_cleared, v.nev_cleared + v.nev_flagged) for v in views])
    auc = views[0].auc_interval if len(views) == 1 else statistics.Interval(NAN, NAN)
    return {
        "balanced_accuracy_fraction": float(np.mean([v.balanced_accuracy for v in views])),
        "sensitivity_fraction": float(np.mean([v.sensitivity for v in views])),
        "sensitivity_ci_low_fraction": sensitivity.low,
        "sensitivity_ci_high_fraction": sensitivity.high,
        "specificity_fraction": float(np.mean([v.specificity for v in views])),
        "specificity_ci_low_fraction": specificity.low,
        "specificity_ci_high_fraction": specificity.high,
        "roc_auc": float(np.mean([v.auc for v in views])),
        "roc_auc_ci_low": finite_or_nan(auc.low), "roc_auc_ci_high": finite_or_nan(auc.high),
    }


def setup_row(task_id: str, setup: SetUp, baseline: float, dataset: str) -> dict:
    """A set-up as a task's table shows it: means over its seeds (sd where several)."""
    interval = setup.pooled_interval("final_val_accuracy")
    best = [run.values["best_epoch"] for run in setup.runs if run.values["best_epoch"]]
    row = {"dataset": dataset, "task": task_id, "setup_task": setup.task,
           "setup": setup.setup_id, "setup_label": setup.label, "epochs": setup.epochs,
           "seeds": setup.seeds, "val_images": setup.runs[0].n_test}
    row |= {name: parameter_text(name, setup.params.get(name)) for name in PARAMETERS}
    row |= {
        "train_accuracy_fraction": setup.mean("final_accuracy"),
        "train_accuracy_sd_fraction": setup.spread("final_accuracy").sd,
        "val_accuracy_fraction": setup.mean("final_val_accuracy"),
        "val_accuracy_sd_fraction": setup.spread("final_val_accuracy").sd,
        "val_accuracy_ci_low_fraction": interval.low,
        "val_accuracy_ci_high_fraction": interval.high,
        **clinical_columns(setup),
        "train_loss": setup.mean("final_loss"), "val_loss": setup.mean("final_val_loss"),
        "best_epoch": float(np.mean(best)) if best else NAN,
        "best_val_loss": setup.mean("best_val_loss"),
        "val_accuracy_at_best_fraction": setup.mean("best_val_accuracy"),
        "max_val_accuracy_fraction": setup.mean("max_val_accuracy"),
        "gap_fraction": setup.mean("gap"), "training_seconds": setup.mean("seconds"),
    }
    return row | verdict_columns(setup, baseline)


def shown_setups(facts: Facts) -> list[SetUp]:
    """The set-ups a task's section shows in its table: its own, then those of other tasks
    and epochs its asked comparisons reach, once each."""
    seen, shown = set(), []
    asked = [c for c in facts.comparisons if c.asked]  # the others only in the evidence
    for setup in facts.setups + [c.b for c in asked] + [c.a for c in asked]:
        key = (setup.task, setup.setup_id, setup.epochs)
        if key not in seen:
            seen.add(key)
            shown.append(setup)
    return shown


def pair_columns(dataset: str, task_id: str, index: int, a: tuple, b: tuple) -> dict:
    """The columns that name a comparison and its two sides, each (task, set-up id, label,
    epochs)."""
    row = {"dataset": dataset, "task": task_id, "comparison": index}
    for side, (task, setup_id, label, epochs) in (("a", a), ("b", b)):
        row |= {f"setup_{side}_task": task, f"setup_{side}": setup_id,
                f"setup_{side}_label": label, f"epochs_{side}": epochs}
    return row


def side(setup: SetUp) -> tuple:
    return setup.task, setup.setup_id, setup.label, setup.epochs


def comparison_row(task_id: str, index: int, comparison: Comparison, dataset: str) -> dict:
    """A comparison with its tests as the report states them (McNemar's p adjusted by
    Holm over the task's family decides; with one comparison it is its own)."""
    a, b, test = comparison.a, comparison.b, comparison.mcnemar
    welch = comparison.welch
    p = NAN if test is None else test.p
    adjusted = (comparison.holm_p if comparison.holm_p is not None else p)
    significant = bool(adjusted < THRESHOLDS.alpha) if test is not None else None
    return pair_columns(dataset, task_id, index, side(a), side(b)) | {
        "factors": " and ".join(comparison.factors),
        "measure": "final_val_accuracy", "unit": "fraction",
        "value_a": a.mean("final_val_accuracy"), "value_b": b.mean("final_val_accuracy"),
        "difference": a.mean("final_val_accuracy") - b.mean("final_val_accuracy"),
        "test": "exact McNemar" if test else "none: not the same validation images",
        "paired_calls": test.n if test else NAN, "a_right_b_wrong": test.only_a if test else NAN,
        "b_right_a_wrong": test.only_b if test else NAN, "p_raw": p,
        "holm_family": comparison.family, "p_adjusted": adjusted,
        "welch_t": welch.t if welch else NAN, "welch_df": welch.df if welch else NAN,
        "welch_p": welch.p if welch else NAN, "alpha": THRESHOLDS.alpha,
        "significant": significant,
        "verdict": None if test is None else
        f"{'beyond' if significant else 'within'} the noise of the validation images",
        "in_answer": bool(comparison.asked),
    }


MEASURE_UNITS = {"final_val_accuracy": "fraction", "final_balanced_accuracy": "fraction",
                 "final_val_loss": "loss"}


def lead_row(facts: Facts, index: int, dataset: str) -> dict | None:
    """6E's lead of the chosen set-up over the runner-up, as its selection measured it."""
    chosen = selection.read(facts.selection)
    lead, runner = chosen.lead, chosen.runner_up
    if lead is None or runner is None:
        return None
    welch = lead.get("welch") or {}
    measure = lead["measure"]
    chosen_side = (chosen.from_task, chosen.setup_id, f"{chosen.setup_id} (chosen)",
                   chosen.judged_epoch)
    runner_side = (runner["task"], runner["setup_id"], f"{runner['setup_id']} (runner-up)",
                   runner["epochs"])
    return pair_columns(dataset, facts.task_id, index, chosen_side, runner_side) | {
        "factors": "selection lead", "measure": measure,
        "unit": MEASURE_UNITS.get(measure, "as measured"),
        "value_a": chosen.values.get(measure, NAN), "value_b": runner["value"],
        "difference": lead["difference"], "test": "exact McNemar (the selection's lead)",
        "paired_calls": lead["n"], "a_right_b_wrong": lead["only_chosen"],
        "b_right_a_wrong": lead["only_runner_up"], "p_raw": lead["p"], "holm_family": 1,
        "p_adjusted": lead["p"], "welch_t": welch.get("t", NAN), "welch_df": welch.get("df", NAN),
        "welch_p": welch.get("p", NAN), "alpha": THRESHOLDS.alpha,
        "significant": bool(lead["beyond_noise"]),
        "verdict": f"{'beyond' if lead['beyond_noise'] else 'within'} the noise",
        "in_answer": True,  # the lead is said in 6E's answer
    }


# -- the tables -----------------------------------------------------------------------------


def frame(rows: list[dict], columns: tuple[str, ...]) -> pd.DataFrame:
    """The rows in the dictionary's column order; a column without a single value in this
    lab (Welch's test with one seed, a standard deviation of one) is left out."""
    table = pd.DataFrame(rows, columns=list(columns))
    if table.empty:
        return table
    return table.dropna(axis="columns", how="all")


def shape_row(task_id: str, index: int, shape: effects.Shape, dataset: str) -> dict:
    """A lower learning rate's validation loss against the higher one's, by their noise from
    epoch to epoch (the Brown-Forsythe test the answer states)."""
    low, high, spread = shape.low, shape.high, shape.spread
    significant = bool(spread.p < THRESHOLDS.alpha)
    return pair_columns(dataset, task_id, index, side(low), side(high)) | {
        "factors": "lr",
        "measure": "val_loss_noise_sd", "unit": "loss", "value_a": spread.sd_a,
        "value_b": spread.sd_b, "difference": spread.sd_a - spread.sd_b,
        "test": "Brown-Forsythe (residuals around the moving average)", "p_raw": spread.p,
        "holm_family": 1, "p_adjusted": spread.p, "alpha": THRESHOLDS.alpha,
        "significant": significant, "verdict": shape.smoother, "in_answer": True,
    }


def tables(context: dict) -> dict[str, pd.DataFrame]:
    """epochs, set-ups and comparisons of a report's context (its task sections' facts)."""
    dataset = context["dataset"]
    epochs, setups, comparisons = [], [], []
    for section in context["tasks"]:
        facts: Facts | None = section.get("facts")
        # a concept task that trains nothing discusses other tasks' set-ups: their rows are
        # under those tasks
        if facts is None or facts.task.pending or not facts.setups or not facts.task.entries:
            continue
        baseline = facts.baselines["test"]
        epochs += epoch_rows(facts, dataset)
        setups += [setup_row(facts.task_id, setup, baseline, dataset)
                   for setup in shown_setups(facts)]
        rows = [comparison_row(facts.task_id, index, comparison, dataset)
                for index, comparison in enumerate(facts.comparisons, start=1)]
        if facts.selection is not None:
            lead = lead_row(facts, len(rows) + 1, dataset)
            rows += [lead] if lead else []
        asked = [c for c in facts.comparisons if c.asked and c.mcnemar is not None]
        rows += [shape_row(facts.task_id, len(rows) + index, shape, dataset)
                 for index, shape in enumerate(effects.learning_rate_shapes(asked), start=1)
                 if shape.spread is not None]
        comparisons += rows
    return {"epochs": frame(epochs, EPOCH_COLUMNS), "setups": frame(setups, SETUP_COLUMNS),
            "comparisons": frame(comparisons, COMPARISON_COLUMNS)}
