"""The report's tables, as data for the templates: each a caption, columns and rows of
cells (shown text, the value a sortable table sorts by, a CSS class)."""

from __future__ import annotations

import math

from cnnlab.analysis import diagnostics
from cnnlab.analysis.statistics import ALPHA, Interval, accuracy_interval
from cnnlab.durations import duration_text
from cnnlab.plan.plan import Plan
from cnnlab.plan.runs import Entry, TaskPlan
from cnnlab.report.answers.phrases import FEW_MELANOMAS
from cnnlab.report.formatting import (
    architecture_name,
    format_param,
    number,
    percent,
    points,
)
from cnnlab.report.setups import Comparison, Results, Run, SetUp

PARAM_COLUMNS = ("model", "n_base", "dense", "dropout", "optimizer", "lr", "batch_size", "loss",
                 "threads", "precision")


def cell(text, sort=None, css: str = "") -> dict:
    """A table cell: shown text, the value a sortable table sorts by, a CSS class."""
    return {"text": "" if text is None else str(text), "sort": "" if sort is None else sort,
            "css": css}


def number_cell(value, formatter=number) -> dict:
    finite = value is not None and isinstance(value, (int, float)) and math.isfinite(value)
    return cell(formatter(value) if finite else "n/a", value if finite else "")


def params_table(task: TaskPlan, setups: list[SetUp]) -> dict:
    differs = set(task.differs())
    columns = ["run", "seed", "epochs", *PARAM_COLUMNS]
    rows = []
    for setup in setups:
        for run in setup.runs:
            values = [run.run_id, run.seed, setup.epochs] + [
                format_param(name, setup.params[name]) for name in PARAM_COLUMNS]
            rows.append([cell(value, css="differs" if name in differs else "")
                         for name, value in zip(columns, values)])
    return {"columns": [{"text": name, "css": "differs" if name in differs else ""}
                        for name in columns], "rows": rows}


def bracketed_cell(value: float, interval: Interval, shown=percent,
                   bound=lambda end: f"{100 * end:.1f}") -> dict:
    """A value and its 95 % interval, '62.5% [45.1, 77.3]', sorted by the value; the value
    alone where the interval is undefined."""
    if value is None or not math.isfinite(value):
        return cell("n/a")
    if not math.isfinite(interval.low):
        return cell(shown(value), value)
    return cell(f"{shown(value)} [{bound(interval.low)}, {bound(interval.high)}]", value)


def accuracy_cell(value: float, n: int) -> dict:
    """A validation accuracy on n images and its Wilson 95 % interval, sorted by the accuracy."""
    if value is None or not math.isfinite(value):
        return cell("n/a")
    return bracketed_cell(value, accuracy_interval(value, n))


def auc_cell(auc: float, interval: Interval) -> dict:
    """'0.783 [0.691, 0.854]', sorted by the AUC."""
    return bracketed_cell(auc, interval, number, lambda end: f"{end:.3f}")


def interval_cell(run: Run, key: str) -> dict:
    return accuracy_cell(run.values[key], run.n_test)


def values_table(setups: list[SetUp], baselines: dict) -> dict:
    train, val = percent(baselines["train"]), percent(baselines["test"])
    columns = ["set-up", "seed", f"train acc (baseline {train})",
               f"val acc [95% CI] (baseline {val})", "val balanced acc", "train loss",
               "val loss", "best epoch", "best val loss", "val acc at best [95% CI]",
               "max val acc [95% CI]", "gap (train - val, points)", "training time"]
    rows = []
    for setup in setups:
        for run in setup.runs:
            values = run.values
            rows.append([
                cell(setup.label), cell(run.seed),
                number_cell(values["final_accuracy"], percent),
                interval_cell(run, "final_val_accuracy"),
                number_cell(run.clinical("final").balanced_accuracy, percent),
                number_cell(values["final_loss"]), number_cell(values["final_val_loss"]),
                cell(values["best_epoch"] if values["best_epoch"] is not None else "none",
                     values["best_epoch"]),
                number_cell(values["best_val_loss"]),
                interval_cell(run, "best_val_accuracy"),
                interval_cell(run, "max_val_accuracy"),
                number_cell(values["gap"], lambda v: points(v).replace(" points", "")),
                cell(duration_text(values["seconds"]), values["seconds"]),
            ])
    return {"columns": [{"text": name, "css": ""} for name in columns], "rows": rows}


def setup_row(setup: SetUp, label: str, curve: str, tests: list[str]) -> list[dict]:
    """A set-up in a task's table: its accuracies (over seeds: means, and the interval of
    all seeds' calls pooled), balanced accuracy, ROC AUC, best epoch, gap, curve, tests."""
    views = [run.clinical("final") for run in setup.runs]
    interval = setup.pooled_interval("final_val_accuracy")
    best = [run.values["best_epoch"] for run in setup.runs]
    return [cell(label), number_cell(setup.mean("final_accuracy"), percent),
            bracketed_cell(setup.mean("final_val_accuracy"), interval),
            number_cell(sum(view.balanced_accuracy for view in views) / len(views), percent),
            number_cell(sum(view.auc for view in views) / len(views)),
            cell(", ".join("none" if epoch is None else str(epoch) for epoch in best),
                 best[0]),
            number_cell(setup.mean("gap"), lambda v: points(v).replace(" points", "")),
            cell(curve), cell("; ".join(tests) if tests else "")]


def clinical_table(setups: list[SetUp]) -> dict:
    """The clinical view per run at its final and best epochs, melanoma the positive class."""
    columns = ["set-up", "seed", "epoch", "melanomas found", "nevi cleared",
               "sensitivity (Mel) [95% CI]", "specificity [95% CI]", "balanced acc",
               "ROC AUC [95% CI]"]
    rows = []
    for setup in setups:
        for run in setup.runs:
            for at, epoch in (("final", run.final_epoch), ("best", run.values["best_epoch"])):
                view = run.clinical(at)
                if view is None:
                    continue
                melanomas, nevi = view.mel_found + view.mel_missed, view.nev_cleared + view.nev_flagged
                low = view.sensitivity < FEW_MELANOMAS
                rows.append([
                    cell(setup.label), cell(run.seed), cell(f"{at} ({epoch})", epoch),
                    cell(f"{view.mel_found} of {melanomas}", view.mel_found),
                    cell(f"{view.nev_cleared} of {nevi}", view.nev_cleared),
                    bracketed_cell(view.sensitivity, view.sensitivity_interval)
                    | ({"css": "flag"} if low else {}),
                    bracketed_cell(view.specificity, view.specificity_interval),
                    number_cell(view.balanced_accuracy, percent),
                    auc_cell(view.auc, view.auc_interval),
                ])
    return {"caption": ("The clinical view on the validation images: melanoma is the positive "
                        "class (sensitivity: melanomas found; specificity: nevi cleared); "
                        "[Wilson 95% CI] of each share, [stratified bootstrap 95% CI] of "
                        "the ROC AUC"),
            "columns": [{"text": name, "css": ""} for name in columns], "rows": rows}


def p_cell(p: float | None) -> dict:
    if p is None:
        return cell("n/a")
    return cell("< 0.001" if p < 0.001 else f"{p:.3f}", p, css="flag" if p < ALPHA else "")


def tests_table(comparisons: list[Comparison]) -> dict | None:
    """Each comparison's tests: the exact McNemar test of the paired validation calls (with
    Holm's adjustment over the task's comparisons) and, with seeds, Welch's t-test."""
    tested = [comparison for comparison in comparisons if comparison.mcnemar is not None]
    if not tested:
        return None
    columns = ["set-up A", "set-up B", "epochs A / B", "val acc A", "val acc B",
               "val acc A - B", "A right, B wrong", "B right, A wrong", "McNemar p", "Holm p",
               "Welch p (seeds)"]
    rows = [[cell(c.a.label), cell(c.b.label + (f" ({c.reference})" if c.reference else "")),
             cell(f"{c.a.epochs} / {c.b.epochs}"),
             number_cell(c.a.mean("final_val_accuracy"), percent),
             number_cell(c.b.mean("final_val_accuracy"), percent),
             number_cell(c.mcnemar.difference, lambda v: points(v).replace(" points", "")),
             cell(c.mcnemar.only_a, c.mcnemar.only_a), cell(c.mcnemar.only_b, c.mcnemar.only_b),
             p_cell(c.mcnemar.p), p_cell(c.holm_p),
             p_cell(c.welch.p) if c.welch else cell("one seed")] for c in tested]
    return {"caption": (f"Tests of the differences (two-sided, alpha = {ALPHA:g}; flagged: "
                        "significant): exact McNemar on the same validation images, "
                        "Holm-adjusted over the task's comparisons; Welch's t-test over seeds"),
            "columns": [{"text": name, "css": ""} for name in columns], "rows": rows}


def spread_table(setups: list[SetUp], baselines: dict) -> dict | None:
    if all(setup.seeds < 2 for setup in setups):
        return None
    keys = [("final_accuracy", "train acc"), ("final_val_accuracy", "val acc"),
            ("gap", "gap"), ("best_val_loss", "best val loss")]
    columns = ["set-up", "seeds"] + [f"{name} (mean ± sd)" for _, name in keys]
    rows = []
    for setup in setups:
        row = [cell(setup.label), cell(setup.seeds)]
        for key, _ in keys:
            formatter = number if "loss" in key else percent
            spread = setup.spread(key)
            sd = formatter(spread.sd) if spread.n > 1 else "n/a"
            text = f"{formatter(spread.mean)} ± {sd}"
            if key == "final_val_accuracy":  # and the interval of all seeds' calls pooled
                interval = setup.pooled_interval(key)
                text += f" [{100 * interval.low:.1f}, {100 * interval.high:.1f}]"
            row.append(cell(text, spread.mean))
        rows.append(row)
    return {"caption": ("Over seeds: mean ± standard deviation; for the validation accuracy, "
                        "[the Wilson 95% CI of all seeds' calls pooled]"),
            "columns": [{"text": name, "css": ""} for name in columns], "rows": rows}


def diagnostics_table(setups: list[SetUp]) -> dict:
    columns = ["set-up", "seed", "best epoch", "overfitting onset", "plateau after",
               "divergence", "under-trained"]
    rows = []
    for setup in setups:
        for run in setup.runs:
            diagnosis = run.diagnosis
            overfit = diagnosis.overfitting
            divergence = diagnosis.divergence
            under = diagnosis.under_training
            rows.append([
                cell(setup.label), cell(run.seed), cell(diagnosis.best_epoch or "none"),
                cell(f"epoch {overfit.epoch} (val loss +{100 * overfit.val_rise:.0f}%)"
                     if overfit else "no", css="flag" if overfit else ""),
                cell(f"epoch {diagnosis.plateau_epoch}" if diagnosis.plateau_epoch else
                     "no plateau"),
                cell(f"{divergence.reason}" + (f" (epoch {divergence.epoch})"
                                               if divergence.epoch else "")
                     if divergence else "no", css="flag" if divergence else ""),
                cell(f"yes: last {under.window} epochs train loss -{100 * under.train_drop:.0f}%,"
                     f" val loss -{100 * under.val_drop:.0f}%" if under.still_improving else "no",
                     css="flag" if under.still_improving else ""),
            ])
    return {"columns": [{"text": name, "css": ""} for name in columns], "rows": rows}


def summary_table(rows: list[dict]) -> dict:
    total = sum(int(row["parameters"]) for row in rows) or 1
    body = [[cell(row["layer"]), cell(row["type"]), cell(row["output_shape"]),
             cell(f"{int(row['parameters']):,}", int(row["parameters"])),
             cell(f"{100 * int(row['parameters']) / total:.1f}%")] for row in rows]
    body.append([cell("total"), cell(""), cell(""), cell(f"{total:,}", total), cell("100%")])
    return {"columns": [{"text": name, "css": ""} for name in
                        ("layer", "type", "output shape", "parameters", "share")], "rows": body}


def overview_table(plan: Plan, results: Results, baselines: dict) -> dict:
    """One row per training of the lab, and the trainings ({directory: an entry of it})."""
    uses: dict[str, list[str]] = {}
    trainings: dict[str, Entry] = {}
    for task_id, task in plan.tasks.items():
        for entry in task.entries:
            training = entry.training.directory
            trainings.setdefault(training, entry)
            uses.setdefault(training, [])
            if task_id not in uses[training]:
                uses[training].append(task_id)
    train, val = percent(baselines["train"]), percent(baselines["test"])
    columns = ["run", *PARAM_COLUMNS[:8], "seed", "epochs trained", "status",
               f"final train acc (baseline {train})", f"final val acc [95% CI] (baseline {val})",
               "best epoch", "best val loss", f"val acc at best [95% CI] (baseline {val})", "gap",
               "training time", "tasks"]
    rows = []
    for training, entry in trainings.items():
        history = results.history(training)
        record = results.record(training)
        values = diagnostics.run_values(history)
        params = entry.spec.to_dict()
        status = record["status"]
        n_test = len(results.predictions(training).labels)
        rows.append(
            [cell(entry.spec.run_id)]
            + [cell(format_param(name, params[name]), params[name]
                    if isinstance(params[name], (int, float)) else None)
               for name in PARAM_COLUMNS[:8]]
            + [cell(entry.spec.seed, entry.spec.seed),
               cell(record["epochs_trained"], record["epochs_trained"]),
               cell(status, css="flag" if status != "completed" else ""),
               number_cell(values["final_accuracy"], percent),
               accuracy_cell(values["final_val_accuracy"], n_test),
               cell(values["best_epoch"], values["best_epoch"]),
               number_cell(values["best_val_loss"]),
               accuracy_cell(values["best_val_accuracy"], n_test),
               number_cell(values["gap"], number),
               cell(duration_text(values["seconds"]), values["seconds"]),
               cell(", ".join(uses[training]))])
    return {"columns": [{"text": name, "css": ""} for name in columns], "rows": rows,
            "trainings": trainings}


def model_summaries(trainings: dict[str, Entry], results: Results) -> list[dict]:
    """One layer table per architecture of the lab."""
    architectures: dict[str, dict] = {}
    for training, entry in trainings.items():
        name = architecture_name(entry.spec.to_dict())
        if name not in architectures:
            rows = results.summary(training)
            if rows:
                total = sum(int(row["parameters"]) for row in rows)
                architectures[name] = dict(summary_table(rows), caption=None, name=name,
                                           total=f"{total:,}")
    return list(architectures.values())
