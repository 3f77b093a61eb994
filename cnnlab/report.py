"""Collect a lab's results into a context dict and render the self-contained HTML report.

Everything the report shows comes from the plan (:mod:`cnnlab.grid`), the training
folders it names (history.csv, record.json, summary.csv), the data manifest, 6E's
selection JSON, and the figures the workflow drew. :func:`report_inputs` and
:func:`task_inputs` list those files, so the Snakemake rules declare exactly what this
module reads. Templates live in ``report/templates``; autoescape is on, so every string
from the config or a file name appears as text.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import json
import math
import platform
import sys
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from cnnlab import answers, diagnostics, figures
from cnnlab.answers import Comparison, Group, Run, format_param
from cnnlab.errors import CnnlabError
from cnnlab.history import read_history

REPORT_DIR = Path(__file__).resolve().parent.parent / "report"
SPLITS = ("train", "test")
PARAM_COLUMNS = ("model", "n_base", "dense", "dropout", "optimizer", "lr", "batch_size", "loss",
                 "threads", "precision")
IGNORED_IN_COMPARISONS = ("dataset", "seed")


# -- files ---------------------------------------------------------------------------------


def read_json(path: str | Path, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CnnlabError(f"{path}: {what} is missing; run the workflow to create it.") from None
    except json.JSONDecodeError as error:
        raise CnnlabError(f"{path}: {what} is not valid JSON ({error}); delete it and run the "
                          "workflow again.") from None


class Results:
    """The training folders of a plan, read once each (paths relative to `root`)."""

    def __init__(self, root: str | Path = "."):
        self.root = Path(root)
        self._histories: dict[str, pd.DataFrame] = {}
        self._records: dict[str, dict] = {}
        self._summaries: dict[str, list[dict]] = {}

    def history(self, training: str) -> pd.DataFrame:
        if training not in self._histories:
            path = self.root / training / "history.csv"
            try:
                history = read_history(path)
            except FileNotFoundError:
                raise CnnlabError(f"{path}: missing; run the workflow to train it.") from None
            except (ValueError, pd.errors.ParserError) as error:
                raise CnnlabError(f"{path}: unreadable history ({error}); delete the training "
                                  "folder and run the workflow again.") from None
            self._histories[training] = diagnostics.check_history(history, str(path))
        return self._histories[training]

    def record(self, training: str) -> dict:
        if training not in self._records:
            self._records[training] = read_json(self.root / training / "record.json",
                                                "the training record")
        return self._records[training]

    def summary(self, training: str) -> list[dict]:
        if training not in self._summaries:
            path = self.root / training / "summary.csv"
            rows = pd.read_csv(path).to_dict("records") if path.exists() else []
            self._summaries[training] = rows
        return self._summaries[training]


def training_of(entry: dict) -> str:
    if not entry.get("training"):
        raise CnnlabError(f"run {entry.get('run_id')!r} has no training in the plan; "
                          "run the workflow to the end before rendering the report.")
    return entry["training"]


def task_inputs(plan: dict, task_id: str) -> list[str]:
    """The files a task's figure reads: history.csv and record.json of each entry."""
    files = set()
    for entry in plan["tasks"][task_id].get("entries", []):
        files |= {f"{training_of(entry)}/history.csv", f"{training_of(entry)}/record.json"}
    return sorted(files)


def report_inputs(plan: dict) -> list[str]:
    """Every training file the report reads (histories, records, model summaries)."""
    files = set()
    for task in plan["tasks"].values():
        for entry in task.get("entries", []):
            training = training_of(entry)
            files |= {f"{training}/{name}" for name in ("history.csv", "record.json",
                                                        "summary.csv")}
    return sorted(files)


def selection_inputs(plan: dict) -> list[str]:
    return sorted(task["optimum"]["selection"] for task in plan["tasks"].values()
                  if task.get("optimum", {}).get("selection"))


def manifest_path(plan: dict) -> str:
    return f"results/data/{plan['dataset']}/manifest.json"


def figure_path(task_id: str) -> str:
    return f"results/figures/{task_id}.png"


def curve_tasks(plan: dict) -> list[str]:
    """Tasks that get a learning-curve figure: those that train runs (pending ones too)."""
    return [task_id for task_id, task in plan["tasks"].items()
            if task.get("entries") or task.get("pending") or task.get("kind") == "train"]


def filters_task(plan: dict) -> str | None:
    """The concept task that shows LeNet's filters (5D), if the plan has it."""
    return "5D" if "5D" in plan["tasks"] else None


def filters_entry(plan: dict, task_id: str) -> dict:
    """The trained model whose filters a task shows: the last LeNet entry of its `shows`."""
    lenets = [entry for shown in plan["tasks"][task_id].get("shows", [])
              for entry in plan["tasks"][shown].get("entries", [])
              if entry["params"]["model"] == "lenet"]
    if not lenets:
        raise CnnlabError(f"config: tasks.{task_id}.shows names no task with a LeNet run, "
                          "so there are no learned filters to show.")
    return lenets[-1]


def filters_weights(entry: dict) -> str:
    return f"{training_of(entry)}/weights/epoch{int(entry['epochs']):04d}.weights.h5"


# -- the data manifest -----------------------------------------------------------------


def class_counts(manifest: dict) -> dict[str, dict[str, int]]:
    """{split: {class: count}} from the manifest, whichever of the usual layouts it uses."""
    candidates = [
        manifest.get("counts"),
        {split: (manifest.get("splits") or {}).get(split, {}).get("counts") for split in SPLITS},
        {split: (manifest.get(split) or {}).get("counts") if isinstance(manifest.get(split), dict)
         else None for split in SPLITS},
    ]
    for candidate in candidates:
        if isinstance(candidate, dict) and all(
            isinstance(candidate.get(split), dict) for split in SPLITS
        ):
            return {split: {str(name): int(count) for name, count in candidate[split].items()
                            if isinstance(count, (int, float)) and name != "total"}
                    for split in SPLITS}
    return {}


def majority_baselines(manifest: dict) -> dict[str, float]:
    """{split: accuracy of always predicting the split's majority class}."""
    for key in ("majority_baseline", "majority_class_baseline", "baseline", "baselines"):
        stated = manifest.get(key)
        if isinstance(stated, dict):
            found = {}
            for split in SPLITS:
                value = stated.get(split)
                if isinstance(value, dict):
                    value = value.get("fraction", value.get("accuracy"))
                if isinstance(value, (int, float)):
                    found[split] = float(value)
            if len(found) == len(SPLITS):
                return found
    counts = class_counts(manifest)
    return {split: max(counts[split].values()) / sum(counts[split].values())
            for split in counts if sum(counts[split].values())}


def class_shares(manifest: dict) -> dict[str, dict[str, float]]:
    counts = class_counts(manifest)
    return {split: {name: count / total for name, count in classes.items()}
            for split, classes in counts.items() if (total := sum(classes.values()))}


def data_section(manifest: dict, plan: dict) -> dict:
    counts = class_counts(manifest)
    baselines = majority_baselines(manifest)
    classes = sorted({name for split in counts.values() for name in split})
    rows = [{"split": f"{split} ({'validation' if split == 'test' else 'training'})",
             "counts": [counts[split].get(name, 0) for name in classes],
             "total": sum(counts[split].values()),
             "baseline": answers.percent(baselines.get(split))} for split in counts]
    rejected = next((manifest[key] for key in ("skipped", "rejected", "rejected_files",
                                               "skipped_files") if key in manifest), [])
    rejected = rejected if isinstance(rejected, list) else [rejected]
    content_hash = next((manifest[key] for key in ("arrays_sha256", "content_hash", "hash",
                                                   "sha256") if key in manifest), None)
    duplicates = manifest.get("duplicates") or []
    return {"dataset": plan["dataset"], "classes": classes, "rows": rows,
            "hash": content_hash, "rejected": [skipped_text(item) for item in rejected],
            "duplicates": len(duplicates),
            "manifest_json": json.dumps(manifest, indent=2, sort_keys=True)}


def skipped_text(item) -> str:
    """'train/x.png: not an image' from a skipped-file entry, whichever form it has."""
    if isinstance(item, dict):
        name = item.get("file") or item.get("path") or ""
        reason = item.get("reason", "")
        return f"{name}: {reason}" if reason else str(name)
    return str(item)


# -- groups and comparisons --------------------------------------------------------------


def load_run(entry: dict, results: Results, epochs: int | None = None) -> Run:
    training = training_of(entry)
    epochs = int(entry["epochs"] if epochs is None else epochs)
    full = results.history(training)
    history = diagnostics.prefix(full, epochs)
    record = results.record(training)
    # a prefix that ends before a diverged training stopped has not diverged
    status = record.get("status", "completed") if len(history) == len(full) else "completed"
    if int(history["epoch"].iloc[-1]) < epochs and status != "diverged":
        raise CnnlabError(f"{training}/history.csv: has {len(history)} epochs, the task asks "
                          f"for {epochs}; run the workflow again to finish the training.")
    return Run(run_id=entry["run_id"], seed=int(entry["seed"]), history=history,
               values=diagnostics.run_values(history),
               diagnosis=diagnostics.diagnose(history, status,
                                              recorded_reason=record.get("diverged_reason")),
               status=status,
               training=training, trained_epochs=int(entry.get("trained_epochs") or epochs))


def group_label(task: dict, params: dict, epochs: int, task_id: str) -> str:
    differs = [name for name in task.get("differs", []) if name != "epochs"]
    parts = [f"{name} {format_param(name, params[name])}" for name in differs]
    if "epochs" in task.get("differs", []):
        parts.append(f"{epochs} epochs")
    return ", ".join(parts) if parts else f"{task_id} ({params['model']})"


def task_groups(plan: dict, task_id: str, results: Results, epochs: int | None = None,
                variant: str | None = None) -> list[Group]:
    """The task's entries as groups of seeds, in the task's order.

    `epochs` reads every entry at that epoch count instead (a prefix), `variant` keeps one.
    """
    task = plan["tasks"][task_id]
    groups: dict[tuple, Group] = {}
    for entry in task.get("entries", []):
        if variant is not None and entry["variant"] != variant:
            continue
        at = int(entry["epochs"] if epochs is None else epochs)
        key = (entry["variant"], at)
        if key not in groups:
            groups[key] = Group(task=task_id, variant=entry["variant"], epochs=at,
                                params=entry["params"],
                                label=group_label(task, entry["params"], at, task_id))
        if all(run.run_id != entry["run_id"] for run in groups[key].runs):  # one prefix
            groups[key].runs.append(load_run(entry, results, at))
    return list(groups.values())


def factors_between(a: Group, b: Group) -> list[str]:
    names = [name for name in a.params if name not in IGNORED_IN_COMPARISONS]
    factors = [name for name in names if str(a.params.get(name)) != str(b.params.get(name))]
    return factors + (["epochs"] if a.epochs != b.epochs else [])


def within_task_comparisons(groups: list[Group]) -> list[Comparison]:
    """Pairs of the task's groups that differ in one factor; two groups are compared anyway."""
    comparisons = []
    for index, a in enumerate(groups):
        for b in groups[index + 1:]:
            factors = factors_between(a, b)
            if factors == ["epochs"]:
                longer, shorter = (a, b) if a.epochs > b.epochs else (b, a)
                comparisons.append(Comparison(longer, shorter, factors))
            elif len(factors) == 1:
                comparisons.append(Comparison(a, b, factors))
    if not comparisons and len(groups) == 2:
        comparisons.append(Comparison(groups[0], groups[1], factors_between(*groups)))
    return comparisons


def reference_comparisons(plan: dict, task_id: str, groups: list[Group],
                          results: Results) -> list[Comparison]:
    """For a task that varies no parameter itself: earlier tasks' set-ups one factor away.

    Each pair is compared at the epochs both reach (a prefix of the longer); the same
    set-up at fewer epochs in an earlier task is compared as 'more epochs'.
    """
    if set(plan["tasks"][task_id].get("differs", [])) - {"epochs"}:
        return []
    order = list(plan["tasks"])
    own = {}
    for group in groups:
        if group.variant not in own or group.epochs > own[group.variant].epochs:
            own[group.variant] = group
    chosen: dict[tuple, tuple] = {}
    for earlier in order[: order.index(task_id)]:
        task = plan["tasks"][earlier]
        for entry in task.get("entries", []):
            for group in own.values():
                probe = Group(earlier, entry["variant"], int(entry["epochs"]), entry["params"], "")
                factors = [name for name in factors_between(group, probe) if name != "epochs"]
                if not factors and probe.epochs < group.epochs:
                    factor = "epochs"
                elif len(factors) == 1:
                    factor = factors[0]
                else:
                    continue
                key = (group.variant, probe.variant, factor)
                rank = (probe.epochs == group.epochs, order.index(earlier), probe.epochs)
                if key not in chosen or rank > chosen[key][0]:
                    chosen[key] = (rank, group, earlier, probe)
    comparisons = []
    for (variant, ref_variant, factor), (_, group, earlier, probe) in chosen.items():
        if factor == "epochs":
            reference = task_groups(plan, earlier, results, variant=ref_variant)
            reference = [ref for ref in reference if ref.epochs == probe.epochs]
            comparisons.append(Comparison(group, reference[0], ["epochs"], earlier))
            continue
        at = min(group.epochs, probe.epochs)
        mine = task_groups(plan, task_id, results, epochs=at, variant=variant)[0]
        theirs = task_groups(plan, earlier, results, epochs=at, variant=ref_variant)[0]
        mine.label = f"{factor} {format_param(factor, mine.params[factor])}"
        theirs.label = f"{factor} {format_param(factor, theirs.params[factor])}"
        comparisons.append(Comparison(mine, theirs, [factor], earlier))
    return comparisons


# -- tables -----------------------------------------------------------------------------


def seconds_text(seconds: float) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def cell(text, sort=None, css: str = "") -> dict:
    """A table cell: shown text, the value a sortable table sorts by, a CSS class."""
    return {"text": "" if text is None else str(text), "sort": "" if sort is None else sort,
            "css": css}


def number_cell(value, formatter=answers.number) -> dict:
    finite = value is not None and isinstance(value, (int, float)) and math.isfinite(value)
    return cell(formatter(value) if finite else "n/a", value if finite else "")


def params_table(task: dict, groups: list[Group]) -> dict:
    differs = set(task.get("differs", []))
    columns = ["run", "seed", "epochs", *PARAM_COLUMNS]
    rows = []
    for group in groups:
        for run in group.runs:
            values = [run.run_id, run.seed, group.epochs] + [
                format_param(name, group.params.get(name)) for name in PARAM_COLUMNS]
            rows.append([cell(value, css="differs" if name in differs else "")
                         for name, value in zip(columns, values)])
    return {"columns": [{"text": name, "css": "differs" if name in differs else ""}
                        for name in columns], "rows": rows}


def values_table(groups: list[Group], baselines: dict) -> dict:
    train, val = answers.percent(baselines.get("train")), answers.percent(baselines.get("test"))
    columns = ["set-up", "seed", f"train acc (baseline {train})", f"val acc (baseline {val})",
               "train loss", "val loss", "best epoch", "best val loss",
               f"val acc at best (baseline {val})", "max val acc", "gap (train - val, points)",
               "wall time"]
    rows = []
    for group in groups:
        for run in group.runs:
            values = run.values
            rows.append([
                cell(group.label), cell(run.seed),
                number_cell(values["final_accuracy"], answers.percent),
                number_cell(values["final_val_accuracy"], answers.percent),
                number_cell(values["final_loss"]), number_cell(values["final_val_loss"]),
                cell(values["best_epoch"] if values["best_epoch"] is not None else "none",
                     values["best_epoch"]),
                number_cell(values["best_val_loss"]),
                number_cell(values["best_val_accuracy"], answers.percent),
                number_cell(values["max_val_accuracy"], answers.percent),
                number_cell(values["gap"], lambda v: answers.points(v).replace(" points", "")),
                cell(seconds_text(values["seconds"]), values["seconds"]),
            ])
    return {"columns": [{"text": name, "css": ""} for name in columns], "rows": rows}


def spread_table(groups: list[Group], baselines: dict) -> dict | None:
    if all(group.seeds < 2 for group in groups):
        return None
    keys = [("final_accuracy", "train acc"), ("final_val_accuracy", "val acc"),
            ("gap", "gap"), ("best_val_loss", "best val loss")]
    columns = ["set-up", "seeds"] + [f"{name} (mean ± sd)" for _, name in keys]
    rows = []
    for group in groups:
        row = [cell(group.label), cell(group.seeds)]
        for key, _ in keys:
            formatter = answers.number if "loss" in key else answers.percent
            spread = group.spread(key)
            sd = formatter(spread.sd) if spread.n > 1 else "n/a"
            row.append(cell(f"{formatter(spread.mean)} ± {sd}", spread.mean))
        rows.append(row)
    return {"columns": [{"text": name, "css": ""} for name in columns], "rows": rows}


def diagnostics_table(groups: list[Group]) -> dict:
    columns = ["set-up", "seed", "best epoch", "overfitting onset", "plateau after",
               "divergence", "under-trained"]
    rows = []
    for group in groups:
        for run in group.runs:
            diagnosis = run.diagnosis
            overfit = diagnosis.overfitting
            divergence = diagnosis.divergence
            under = diagnosis.under_training
            rows.append([
                cell(group.label), cell(run.seed), cell(diagnosis.best_epoch or "none"),
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


def prefix_notes(groups: list[Group]) -> list[str]:
    notes = []
    for group in groups:
        for run in group.runs:
            if run.trained_epochs > group.epochs:
                notes.append(f"{run.run_id}: these {group.epochs} epochs are the first "
                             f"{group.epochs} of a {run.trained_epochs}-epoch training "
                             f"({run.training}); training is deterministic, so they equal a "
                             f"{group.epochs}-epoch run.")
    return notes


# -- task sections ----------------------------------------------------------------------


def architecture_name(params: dict) -> str:
    if params["model"] == "mlp":
        return f"mlp, dense {format_param('dense', params['dense'])}"
    return (f"{params['model']}, n_base {params['n_base']}, dense "
            f"{format_param('dense', params['dense'])}"
            + (f", dropout {params['dropout']:g}" if params.get("dropout") else ""))


def train_section(plan: dict, task_id: str, results: Results, baselines: dict,
                  manifest: dict, selection: dict | None) -> dict:
    task = plan["tasks"][task_id]
    groups = task_groups(plan, task_id, results)
    comparisons = (within_task_comparisons(groups)
                   + reference_comparisons(plan, task_id, groups, results))
    answer = []
    extra_tables = []
    if selection is not None:
        answer += answers.answer_selection(selection, groups, baselines)
        extra_tables.append(selection_table(selection, baselines))
    answer += answers.answer_train_task(groups, comparisons, baselines)
    if any(group.params.get("loss") == "hinge" for group in groups):
        answer.append(answers.answer_hinge(baselines, class_shares(manifest)))
    models = {group.params["model"] for group in groups}
    if "mlp" in models and len(models) > 1:
        summaries = {architecture_name(group.params): results.summary(group.runs[0].training)
                     for group in groups}
        answer.append(answers.answer_architectures(summaries))
        for name, rows in summaries.items():
            if rows:
                extra_tables.append(dict(summary_table(rows), caption=f"Parameters of {name}"))
    return {"groups": groups, "answer": answer, "extra_tables": extra_tables,
            "params": params_table(task, groups), "run_values": values_table(groups, baselines),
            "spread": spread_table(groups, baselines),
            "diagnostics": diagnostics_table(groups), "notes": prefix_notes(groups)}


def selection_table(selection: dict, baselines: dict) -> dict:
    columns = ["candidate", "task", "epochs",
               f"final val acc (baseline {answers.percent(baselines.get('test'))})", "gap",
               "eligible", "reason"]
    chosen = selection["chosen"]
    rows = []
    for row in selection.get("candidates", []):
        picked = row["run_id"] == chosen["run_id"] and row["epochs"] == chosen["epochs"]
        rows.append([cell(row["run_id"], css="differs" if picked else ""), cell(row["task"]),
                     cell(row["epochs"], row["epochs"]),
                     number_cell(row.get("final_val_accuracy"), answers.percent),
                     number_cell(row.get("gap"), answers.number),
                     cell("chosen" if picked else ("yes" if row.get("eligible") else "no")),
                     cell(row.get("reason", ""))])
    return {"caption": f"Selection rule: {selection.get('rule_text', selection.get('rule'))}",
            "columns": [{"text": name, "css": ""} for name in columns], "rows": rows}


def concept_section(plan: dict, task_id: str, results: Results, figure_stats: dict) -> dict:
    """A task that trains nothing and discusses the runs of the tasks it `shows`.

    The lab's conceptual questions are fixed (LAB.md), so each has its own answer by id:
    5D the filters, 5E the dense layers, 5G the output layer.
    """
    task = plan["tasks"][task_id]
    shown = [group for shown_id in task.get("shows", [])
             for group in task_groups(plan, shown_id, results)]
    lenets = [group for group in shown if group.params["model"] == "lenet"] or shown
    summary = results.summary(lenets[-1].runs[0].training) if lenets else []
    section = {"groups": [], "answer": [], "extra_tables": [], "notes": []}
    if task_id == "5D":
        section["answer"] = answers.answer_filters(figure_stats.get(task_id, {}))
    elif task_id == "5E":
        section["answer"] = answers.answer_dense(summary, shown)
        if summary:
            section["extra_tables"].append(dict(summary_table(summary), caption=(
                f"Parameters per layer of {architecture_name(lenets[-1].params)}")))
    elif task_id == "5G":
        dense = [row for row in summary if row["type"] == "Dense"]
        losses = sorted({entry["params"]["loss"] for other in plan["tasks"].values()
                         for entry in other.get("entries", [])})
        section["answer"] = [answers.answer_output_layer(dense[-1] if dense else None, losses)]
        section["extra_tables"].append({
            "caption": "Output layer by kind of problem",
            "columns": [{"text": name, "css": ""} for name in
                        ("problem", "neurons", "activation", "loss and decision")],
            "rows": [[cell(value) for value in row] for row in answers.OUTPUT_LAYERS]})
    else:
        section["answer"] = [(f"This report has no built-in answer for the concept task "
                             f"{task_id}; see the tasks it refers to: "
                             f"{', '.join(task.get('shows', []))}.")]
    return section


def figure_uri(path: str | Path | None) -> str | None:
    if path is None or not Path(path).exists():
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


# -- the whole report -------------------------------------------------------------------


def overview_table(plan: dict, results: Results, baselines: dict) -> dict:
    uses: dict[str, list[str]] = {}
    trainings: dict[str, dict] = {}
    for task_id, task in plan["tasks"].items():
        for entry in task.get("entries", []):
            training = training_of(entry)
            trainings.setdefault(training, entry)
            uses.setdefault(training, [])
            if task_id not in uses[training]:
                uses[training].append(task_id)
    train, val = (answers.percent(baselines.get(split)) for split in SPLITS)
    columns = ["run", *PARAM_COLUMNS[:8], "seed", "epochs trained", "status",
               f"final train acc (baseline {train})", f"final val acc (baseline {val})",
               "best epoch", "best val loss", f"val acc at best (baseline {val})", "gap",
               "wall time", "tasks"]
    rows = []
    for training, entry in trainings.items():
        history = results.history(training)
        record = results.record(training)
        values = diagnostics.run_values(history)
        params = entry["params"]
        status = record.get("status", "completed")
        rows.append(
            [cell(entry["run_id"])]
            + [cell(format_param(name, params.get(name)), params.get(name)
                    if isinstance(params.get(name), (int, float)) else None)
               for name in PARAM_COLUMNS[:8]]
            + [cell(entry["seed"], entry["seed"]),
               cell(record.get("epochs_trained", values["epochs"]),
                    record.get("epochs_trained", values["epochs"])),
               cell(status, css="flag" if status != "completed" else ""),
               number_cell(values["final_accuracy"], answers.percent),
               number_cell(values["final_val_accuracy"], answers.percent),
               cell(values["best_epoch"], values["best_epoch"]),
               number_cell(values["best_val_loss"]),
               number_cell(values["best_val_accuracy"], answers.percent),
               number_cell(values["gap"], answers.number),
               cell(seconds_text(record.get("wall_seconds", values["seconds"])),
                    record.get("wall_seconds", values["seconds"])),
               cell(", ".join(uses[training]))])
    return {"columns": [{"text": name, "css": ""} for name in columns], "rows": rows,
            "trainings": trainings}


def model_summaries(trainings: dict[str, dict], results: Results) -> list[dict]:
    architectures: dict[str, dict] = {}
    for training, entry in trainings.items():
        name = architecture_name(entry["params"])
        if name not in architectures:
            rows = results.summary(training)
            if rows:
                total = sum(int(row["parameters"]) for row in rows)
                architectures[name] = dict(summary_table(rows), caption=None, name=name,
                                           total=f"{total:,}")
    return list(architectures.values())


HARDWARE_KEYS = ("cpu", "gpu", "devices", "device", "machine", "platform", "hostname")


def prefix_uses(plan: dict) -> list[str]:
    """Where a task reads the first epochs of a longer training (prefix sharing)."""
    uses = []
    for task_id, task in plan["tasks"].items():
        for entry in task.get("entries", []):
            trained = entry.get("trained_epochs") or entry["epochs"]
            if trained > entry["epochs"]:
                uses.append(f"{task_id}: {entry['run_id']} shows epochs 1-{entry['epochs']} of "
                            f"its {trained}-epoch training")
    return uses


def provenance(config: dict | None, plan: dict, trainings: dict[str, dict], results: Results,
               data: dict) -> dict:
    versions: dict[str, set] = {}
    hardware: dict[str, set] = {}
    resumed: list[str] = []
    threads: set[str] = set()
    wall = memory = 0.0
    for training in trainings:
        record = results.record(training)
        for name, version in (record.get("versions") or {}).items():
            versions.setdefault(name, set()).add(str(version))
        for key in HARDWARE_KEYS:
            if record.get(key):
                hardware.setdefault(key, set()).add(json.dumps(record[key]) if isinstance(
                    record[key], (dict, list)) else str(record[key]))
        if record.get("resumed_from_epoch"):
            resumed.append(f"{training} resumed from epoch {record['resumed_from_epoch']} of "
                           "the run's saved state")
        threads.add(str(record.get("threads", "?")))
        wall += float(record.get("wall_seconds") or 0.0)
        memory = max(memory, float(record.get("peak_memory_mb") or 0.0))
    render_versions = {"python": platform.python_version()}
    for package in ("snakemake", "tensorflow-cpu", "tensorflow", "keras", "numpy", "pandas",
                    "matplotlib", "jinja2"):
        try:
            render_versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "config_yaml": yaml.safe_dump(config, sort_keys=False) if config else None,
        "training_versions": {name: ", ".join(sorted(found)) for name, found in
                              sorted(versions.items())},
        "render_versions": render_versions,
        "training_hardware": {name: ", ".join(sorted(found)) for name, found in
                              hardware.items()},
        "training_threads": ", ".join(sorted(threads)),
        "prefixes": prefix_uses(plan),
        "resumed": resumed,
        "render_machine": f"{platform.platform()}; CPU {cpu_name()}; "
                          f"{sys.implementation.name} {platform.python_version()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "total_compute": seconds_text(wall),
        "total_compute_seconds": wall,
        "peak_memory_mb": memory,
        "trainings": len(trainings),
        "data": data,
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def build_context(plan: dict, manifest: dict, figures_by_task: dict[str, str] | None = None,
                  figure_stats: dict[str, dict] | None = None,
                  selections: dict[str, dict] | None = None, config: dict | None = None,
                  root: str | Path = ".") -> dict:
    """Everything the templates show, computed from the files of one run of the lab."""
    results = Results(root)
    baselines = majority_baselines(manifest)
    figures_by_task = figures_by_task or {}
    selections = selections or {}
    sections = []
    for task_id, task in plan["tasks"].items():
        section = {"id": task_id, "title": task.get("title", task_id),
                   "question": task.get("question", ""), "kind": task.get("kind", "train"),
                   "shows": task.get("shows", []), "pending": task.get("pending", False),
                   "figure": figure_uri(figures_by_task.get(task_id))}
        if section["pending"] or not (task.get("entries") or task.get("shows")):
            section.update(answer=[("Not trained yet: this task waits for a selection or has "
                                   "no runs.")], groups=[], extra_tables=[], notes=[])
        elif task.get("entries"):
            section.update(train_section(plan, task_id, results, baselines, manifest,
                                         selections.get(task_id)))
        else:
            section.update(concept_section(plan, task_id, results, figure_stats or {}))
        section.pop("groups", None)
        sections.append(section)
    overview = overview_table(plan, results, baselines)
    data = data_section(manifest, plan)
    return {
        "title": f"cnnlab lab report: {plan['dataset']}",
        "dataset": plan["dataset"],
        "baselines": {split: answers.percent(value) for split, value in baselines.items()},
        "tasks": sections,
        "overview": overview,
        "models": model_summaries(overview["trainings"], results),
        "provenance": provenance(config, plan, overview["trainings"], results, data),
        "data": data,
        "thresholds": diagnostics.THRESHOLDS,
    }


def environment(report_dir: Path = REPORT_DIR) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(report_dir) / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(context: dict, report_dir: str | Path = REPORT_DIR) -> str:
    """The report's HTML: the CSS inlined (a trusted file of the workflow), all else escaped.

    `report_dir` holds templates/ and style.css: the workflow passes its own, so that a
    user's edit of a template shows in the next render.
    """
    css = (Path(report_dir) / "style.css").read_text(encoding="utf-8")
    return environment(Path(report_dir)).get_template("report.html.j2").render(
        context, css=jinja2.utils.markupsafe.Markup(css))


def write_report(plan: dict, manifest_json: str | Path, output_html: str | Path,
                 figure_files: list[str] | None = None, figure_stats_files: list[str] | None = None,
                 selection_files: list[str] | None = None, config: dict | None = None,
                 root: str | Path = ".", report_dir: str | Path = REPORT_DIR) -> Path:
    """Read the files of a finished lab and write the report. Figures are matched to tasks by
    their file name (``<task>.png``, statistics ``<task>.json``), selections by their task."""
    manifest = read_json(manifest_json, "the data manifest")
    figures_by_task = {Path(path).stem: path for path in figure_files or []}
    stats = {Path(path).stem: read_json(path, "the figure statistics")
             for path in figure_stats_files or []}
    selections = {}
    for path in selection_files or []:
        selection = read_json(path, "the selection")
        selections[selection.get("task", Path(path).stem)] = selection
    context = build_context(plan, manifest, figures_by_task, stats, selections, config, root)
    output_html = Path(output_html)
    output_html.parent.mkdir(parents=True, exist_ok=True)
    temporary = output_html.with_name(f".{output_html.name}.tmp")
    temporary.write_text(render(context, report_dir), encoding="utf-8")
    temporary.replace(output_html)
    return output_html


# -- figures as rule outputs --------------------------------------------------------------


def write_task_figure(plan: dict, task_id: str, manifest_json: str | Path,
                      output_png: str | Path, root: str | Path = ".") -> Path:
    """The learning curves of a task's runs, overlaid, as a PNG."""
    task = plan["tasks"][task_id]
    groups = task_groups(plan, task_id, Results(root))
    if not groups:
        raise CnnlabError(f"task {task_id} trains no runs, so it has no learning curves.")
    baselines = majority_baselines(read_json(manifest_json, "the data manifest"))
    figure = figures.curves_figure(groups, baselines, f"{task_id}: {task.get('title', '')}")
    return figures.save_png(figure, output_png)


def write_filters_figure(plan: dict, task_id: str, weights: str | Path, arrays_npz: str | Path,
                         output_png: str | Path, output_json: str | Path) -> Path:
    """5D: the trained LeNet's first two conv layers, filters and feature maps, and their
    statistics (for the answer) as JSON."""
    import numpy as np

    from cnnlab.models import build_model

    entry = filters_entry(plan, task_id)
    try:
        arrays = np.load(arrays_npz)
        x_test, y_test = arrays["x_test"], arrays["y_test"]
    except (OSError, KeyError) as error:
        raise CnnlabError(f"{arrays_npz}: cannot read x_test/y_test ({error}); run the "
                          "prepare_data rule again.") from None
    model = build_model(entry["params"], x_test.shape[1:])
    model.load_weights(str(weights))
    images = figures.first_image_per_class(x_test, y_test)
    figure, stats = figures.filters_figure(
        model, images, f"{task_id}: learned filters of {entry['run_id']} at {entry['epochs']} "
                       "epochs")
    stats.update(run_id=entry["run_id"], epochs=int(entry["epochs"]), weights=str(weights))
    Path(output_json).parent.mkdir(parents=True, exist_ok=True)
    Path(output_json).write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return figures.save_png(figure, output_png)
