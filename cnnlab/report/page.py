"""The HTML lab report: one section per task, the data and provenance, rendered with Jinja.

Everything the report shows comes from the plan (:mod:`cnnlab.plan.grid`), the training folders
it names (read by :mod:`cnnlab.report.results`), the data manifest, 6E's selection and the figures
the workflow drew; :mod:`cnnlab.store.layout` lists those files for the rules. Templates live in
``report/templates``; autoescape is on, so every string from the config or a file name
appears as text.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import json
import platform
import sys
from pathlib import Path

import jinja2
import yaml

from cnnlab.analysis import diagnostics, representations, statistics
from cnnlab.machine import cpu_model
from cnnlab.plan import concept_models
from cnnlab.plan.grid import Plan
from cnnlab.plan.runs import Entry
from cnnlab.report import answers, concepts, direct_answers
from cnnlab.report.comparisons import (
    add_significance_tests,
    reference_comparisons,
    within_task_comparisons,
)
from cnnlab.report.formatting import architecture_name, percent, seconds_text
from cnnlab.report.results import Group, Results, task_groups
from cnnlab.report.tables import (
    cell,
    clinical_table,
    diagnostics_table,
    model_summaries,
    overview_table,
    params_table,
    selection_table,
    spread_table,
    summary_table,
    tests_table,
    values_table,
)
from cnnlab.store.files import Manifest, read_json, read_manifest, read_selection, write_text

REPORT_DIR = Path(__file__).resolve().parents[2] / "report"
RENDER_PACKAGES = ("snakemake", "tensorflow-cpu", "tensorflow", "keras", "numpy", "pandas",
                   "matplotlib", "jinja2")


# -- the data ---------------------------------------------------------------------------


def data_section(manifest: Manifest) -> dict:
    classes = sorted({name for split in manifest.counts.values() for name in split})
    rows = [{"split": f"{split} ({'validation' if split == 'test' else 'training'})",
             "counts": [counts.get(name, 0) for name in classes],
             "total": sum(counts.values()),
             "baseline": percent(manifest.baselines[split])}
            for split, counts in manifest.counts.items()]
    return {"dataset": manifest.dataset, "classes": classes, "rows": rows,
            "hash": manifest.arrays_sha256,
            "rejected": [f"{item['file']}: {item['reason']}" for item in manifest.skipped],
            "duplicates": len(manifest.duplicates),
            "manifest_json": json.dumps(manifest.data, indent=2, sort_keys=True)}


# -- task sections ----------------------------------------------------------------------


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


def train_section(plan: Plan, task_id: str, results: Results, manifest: Manifest,
                  selection: dict | None, figure_stats: dict) -> dict:
    """A task that trains runs: its answer, tables and notes."""
    task = plan.tasks[task_id]
    baselines = manifest.baselines
    groups = task_groups(plan, task_id, results)
    comparisons = add_significance_tests(within_task_comparisons(groups)
                                   + reference_comparisons(plan, task_id, groups, results))
    evidence = []
    extra_tables = []
    if selection is not None:
        evidence += answers.answer_selection(selection, groups, baselines)
        n_test = sum(manifest.counts["test"].values())
        extra_tables.append(selection_table(selection, baselines, n_test))
    evidence += answers.answer_train_task(groups, comparisons, baselines)
    if any(group.params["loss"] == "hinge" for group in groups):
        evidence.append(concepts.answer_hinge(manifest.counts["test"]))
    if task.answer:  # a concept answer beside the task's own runs (5F: architectures)
        paragraphs, tables = concept_answer(plan, task_id, results, figure_stats, groups)
        evidence += paragraphs
        extra_tables += tables
    direct = (direct_answers.optimum_answer(selection, groups) if selection is not None
              else [])
    return {"answer": direct + direct_answers.direct_answer(groups, comparisons, baselines),
            "evidence": evidence, "next_steps": direct_answers.next_steps(groups, comparisons),
            "extra_tables": extra_tables,
            "params": params_table(task, groups), "run_values": values_table(groups, baselines),
            "clinical": clinical_table(groups), "tests": tests_table(comparisons),
            "spread": spread_table(groups, baselines),
            "diagnostics": diagnostics_table(groups), "notes": prefix_notes(groups)}


def output_layer_table() -> dict:
    return {"caption": "Output layer by kind of problem",
            "columns": [{"text": name, "css": ""} for name in
                        ("problem", "neurons", "activation", "loss and decision")],
            "rows": [[cell(value) for value in row] for row in concepts.OUTPUT_LAYERS]}


CONCEPT_CAPTIONS = {
    "conv_layers": "The first two convolutional layers of the trained model: learned filters, "
                   "the feature maps of one test image per class, and the Nev − Mel "
                   "difference of the mean feature maps over the test images.",
    "dense_layers": "Left: each layer's share of the parameters. Right: the test images as "
                    "raw pixels, flattened conv features and first dense features, projected "
                    "on their first two principal components and coloured by class, with the "
                    "cross-validated accuracy of a logistic regression on each.",
    "architectures": "The parameters per layer of each architecture, side by side (log "
                     "scale; layers without parameters left out).",
    "output_layer": "The output layer's values on the test images per class with the "
                    "decision threshold (sigmoid probability of the BCE run; raw margin of the "
                    "hinge run), and the BCE run's reliability curve.",
}


def concept_answer(plan: Plan, task_id: str, results: Results, stats: dict,
                   groups: list[Group]) -> tuple[list[str], list[dict]]:
    """The paragraphs and tables of a task's concept answer, by its `answer` kind, from the
    numbers of its figure (`stats`) and the runs it draws on (`groups`)."""
    kind = plan.tasks[task_id].answer
    if kind == "architectures":
        summaries = {architecture_name(entry.spec.to_dict()):
                     results.summary(entry.training.directory)
                     for entry in concept_models.architecture_entries(plan, task_id)}
        return [concepts.answer_architectures(summaries)], [
            dict(summary_table(rows), caption=f"Parameters of {name}")
            for name, rows in summaries.items()]
    if kind == "conv_layers":
        return concepts.answer_filters(stats), []
    entry = concept_models.inspected_entry(plan, task_id)
    summary = results.summary(entry.training.directory)
    if kind == "dense_layers":
        return (concepts.answer_dense(summary, groups)
                + concepts.answer_separability(stats.get("separability")),
                [dict(summary_table(summary), caption=(
                    f"Parameters per layer of {architecture_name(entry.spec.to_dict())}"))])
    dense = [row for row in summary if row["type"] == "Dense"]
    losses = sorted({entry.spec.loss for other in plan.tasks.values()
                     for entry in other.entries})
    return ([concepts.answer_output_layer(dense[-1] if dense else None, losses)]
            + concepts.answer_output_distribution(stats), [output_layer_table()])


def concept_section(plan: Plan, task_id: str, results: Results, figure_stats: dict) -> dict:
    """A task that trains nothing and discusses the runs of the tasks it `shows`; its
    answer is of the kind its config names (`answer`), backed by its figure's numbers."""
    task = plan.tasks[task_id]
    shown = [group for shown_id in task.shows
             for group in task_groups(plan, shown_id, results)]
    section = {"answer": [], "evidence": [], "next_steps": [], "extra_tables": [], "notes": []}
    if task.answer:
        section["answer"], section["extra_tables"] = concept_answer(
            plan, task_id, results, figure_stats.get(task_id, {}), shown)
    else:
        section["answer"] = [(f"The config names no kind of answer for the concept task "
                             f"{task_id} (tasks.{task_id}.answer); see the tasks it refers "
                             f"to: {', '.join(task.shows)}.")]
    return section


def figure_uri(path: str | Path | None) -> str | None:
    if path is None or not Path(path).exists():
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def task_section(plan: Plan, task_id: str, results: Results, manifest: Manifest,
                 figure_png: str | None, figure_stats: dict, selection: dict | None,
                 concept_png: str | None = None) -> dict:
    task = plan.tasks[task_id]
    section = {"id": task_id, "title": task.title, "question": task.question,
               "kind": task.kind, "shows": task.shows, "pending": task.pending,
               "figure": figure_uri(figure_png), "answer_kind": task.answer,
               "concept_figure": figure_uri(concept_png),
               "concept_caption": CONCEPT_CAPTIONS.get(task.answer, "")}
    if task.pending or not (task.entries or task.shows):
        waiting = "Not trained yet: this task waits for a selection or has no runs."
        section.update(answer=[waiting], evidence=[], next_steps=[], extra_tables=[], notes=[])
    elif task.entries:
        section.update(train_section(plan, task_id, results, manifest, selection,
                                     figure_stats.get(task_id, {})))
    else:
        section.update(concept_section(plan, task_id, results, figure_stats))
    return section


# -- provenance -------------------------------------------------------------------------


def prefix_uses(plan: Plan) -> list[str]:
    """Where a task reads the first epochs of a longer training (prefix sharing)."""
    return [f"{task_id}: {entry.spec.run_id} shows epochs 1-{entry.epochs} of its "
            f"{entry.training.epochs}-epoch training"
            for task_id, task in plan.tasks.items() for entry in task.entries
            if entry.training.epochs > entry.epochs]


def render_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in RENDER_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def provenance(config: dict | None, plan: Plan, trainings: dict[str, Entry], results: Results,
               data: dict) -> dict:
    """What ran where: versions and devices of the trainings, the rendering machine, the
    config, prefix sharing and resumed trainings, total training time."""
    versions: dict[str, set] = {}
    devices: set[str] = set()
    resumed: list[str] = []
    threads: set[str] = set()
    wall = memory = 0.0
    for training in trainings:
        record = results.record(training)
        for name, version in record["versions"].items():
            versions.setdefault(name, set()).add(str(version))
        if record["device"] is not None:  # None: a training still under way (cnnlab.watch.partial)
            # with the precision trained in: two in one lab show as two devices
            precision = record.get("precision", record.get("params", {}).get("precision", "float32"))
            devices.add(json.dumps({**record["device"], "precision": precision}))
        if record["resumed_from_epoch"]:
            resumed.append(f"{training} resumed from epoch {record['resumed_from_epoch']} of "
                           "the run's saved state")
        threads.add(str(record["threads"]))
        # the epochs' own seconds, whichever process trained them (a resumed training's
        # record times only its last process)
        wall += float(results.history(training)["seconds"].sum())
        memory = max(memory, float(record["peak_memory_mb"]))
    return {
        "config_yaml": yaml.safe_dump(config, sort_keys=False) if config else None,
        "training_versions": {name: ", ".join(sorted(found)) for name, found in
                              sorted(versions.items())},
        "render_versions": render_versions(),
        "training_hardware": {"device": ", ".join(sorted(devices))} if devices else {},
        "training_threads": ", ".join(sorted(threads)),
        "prefixes": prefix_uses(plan),
        "resumed": resumed,
        "render_machine": f"{platform.platform()}; CPU {cpu_model()}; "
                          f"{sys.implementation.name} {platform.python_version()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "total_compute": seconds_text(wall),
        "total_compute_seconds": wall,
        "peak_memory_mb": memory,
        "trainings": len(trainings),
        "data": data,
    }


# -- the whole report -------------------------------------------------------------------


def build_context(plan: Plan, manifest: Manifest, figures_by_task: dict[str, str] | None = None,
                  figure_stats: dict[str, dict] | None = None,
                  selections: dict[str, dict] | None = None, config: dict | None = None,
                  root: str | Path = ".", rocs_by_task: dict[str, str] | None = None,
                  concepts_by_task: dict[str, str] | None = None,
                  results: Results | None = None) -> dict:
    """Everything the templates show, computed from the files of one run of the lab
    (read through ``results``: cnnlab.watch.partial passes one that reads unfinished trainings)."""
    results = results or Results(root)
    figures_by_task, selections = figures_by_task or {}, selections or {}
    rocs_by_task, concepts_by_task = rocs_by_task or {}, concepts_by_task or {}
    sections = [task_section(plan, task_id, results, manifest, figures_by_task.get(task_id),
                             figure_stats or {}, selections.get(task_id),
                             concepts_by_task.get(task_id))
                | {"roc": figure_uri(rocs_by_task.get(task_id))}
                for task_id in plan.tasks]
    overview = overview_table(plan, results, manifest.baselines)
    data = data_section(manifest)
    return {
        "title": f"cnnlab lab report: {plan.dataset}",
        "dataset": plan.dataset,
        "baselines": {split: percent(value) for split, value in manifest.baselines.items()},
        "tasks": sections,
        "overview": overview,
        "models": model_summaries(overview["trainings"], results),
        "provenance": provenance(config, plan, overview["trainings"], results, data),
        "data": data,
        "thresholds": diagnostics.THRESHOLDS,
        "auc_resamples": statistics.AUC_RESAMPLES,
        "calibration_resamples": representations.CALIBRATION_RESAMPLES,
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
                 figure_files: list[str] | None = None, roc_files: list[str] | None = None,
                 figure_stats_files: list[str] | None = None,
                 selection_files: list[str] | None = None, config: dict | None = None,
                 root: str | Path = ".", report_dir: str | Path = REPORT_DIR,
                 concept_files: list[str] | None = None) -> Path:
    """Read the files of a finished lab and write the report.

    `plan` is :meth:`cnnlab.plan.grid.Plan.to_dict`'s data, as the rule passes it. Figures are
    matched to tasks by their file name (``<task>.png``; a concept figure's statistics
    ``<task>.json``).
    """
    figures_by_task = {Path(path).stem: str(path) for path in figure_files or []}
    rocs_by_task = {Path(path).stem: str(path) for path in roc_files or []}
    concepts_by_task = {Path(path).stem: str(path) for path in concept_files or []}
    stats = {Path(path).stem: read_json(path, "the figure statistics")
             for path in figure_stats_files or []}
    selections = {}
    for path in selection_files or []:
        selection = read_selection(path)
        selections[selection["task"]] = selection
    context = build_context(Plan.from_dict(plan), read_manifest(manifest_json), figures_by_task,
                            stats, selections, config, root, rocs_by_task, concepts_by_task)
    return write_text(output_html, render(context, report_dir))
