"""The HTML lab report: one section per task, the data and provenance, rendered with Jinja.

Everything the report shows comes from the plan (:mod:`cnnlab.plan.plan`), the training folders
it names (read by :mod:`cnnlab.report.setups`), the data manifest, 6E's selection and the figures
the workflow drew; :mod:`cnnlab.store.layout` lists those files for the rules. Templates live in
``report/templates``; autoescape is on, so every string from the config or a file name
appears as text.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import importlib.metadata
import json
import platform
import sys
from pathlib import Path

import jinja2
import yaml

from cnnlab.analysis import diagnostics, representations, statistics
from cnnlab.data.split_checks import sanity_lines
from cnnlab.durations import duration_text
from cnnlab.machine import cpu_model
from cnnlab.plan.answer_kinds import ANSWER_KINDS, answer_kind
from cnnlab.plan.plan import Plan
from cnnlab.plan.runs import Entry
from cnnlab.report import tidy
from cnnlab.report.answers import Answer, Facts
from cnnlab.report.comparisons import task_comparisons
from cnnlab.report.formatting import percent, trained_title
from cnnlab.report.setups import Results, task_setups
from cnnlab.report.tables import model_summaries, overview_table
from cnnlab.store import layout
from cnnlab.store.files import Manifest, read_concept_stats, read_manifest, write_text
from cnnlab.store.selection_file import read_selection
from cnnlab.store.tables import write_tables

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
            # what makes the data poor, as the preparation said it on the terminal
            "sanity": sanity_lines(manifest.data.get("sanity") or {}, manifest.dataset),
            "manifest_json": json.dumps(manifest.data, indent=2, sort_keys=True)}


# -- task sections ----------------------------------------------------------------------

# each kind of answer by the module of its name (cnnlab.plan.answer_kinds): one missing
# fails here, on import, not in the one report whose config names the kind
ANSWERS = {kind: importlib.import_module(f"cnnlab.report.answers.{kind}")
           for kind in ANSWER_KINDS}
WAITING = "Not trained yet: this task waits for a selection or has no runs."


def task_facts(plan: Plan, task_id: str, results: Results, manifest: Manifest,
               selection: dict | None, stats: dict) -> Facts:
    """What a task's answer draws on: its own set-ups and their comparisons with their tests,
    or, for a concept task, the set-ups of the tasks it shows."""
    task = plan.tasks[task_id]
    facts = Facts(plan, task_id, results, manifest.baselines, manifest.counts["test"],
                  stats=stats, selection=selection)
    if task.pending:
        return facts
    if task.entries:
        facts.setups = task_setups(plan, task_id, results)
        facts.comparisons = task_comparisons(plan, task_id, facts.setups, results)
    else:
        facts.setups = [setup for shown in task.shows
                        for setup in task_setups(plan, shown, results)]
    return facts


def task_answer(facts: Facts) -> Answer:
    """The answer by its kind (:func:`cnnlab.plan.answer_kinds.answer_kind`): 6E's
    selection, a concept kind, or a trained comparison."""
    task = facts.task
    if task.pending or not (task.entries or task.shows):
        return Answer(glance=WAITING, answer=[WAITING])
    kind = answer_kind(task)
    if kind is not None:
        return ANSWERS[kind].answer(facts)
    missing = (f"The config names no kind of answer for the concept task {facts.task_id} "
               f"(tasks.{facts.task_id}.answer); see the tasks it refers to: "
               f"{', '.join(task.shows)}.")
    return Answer(glance=missing, answer=[missing])


def figure_uri(path: str | Path | None) -> str | None:
    if path is None or not Path(path).exists():
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def task_section(plan: Plan, task_id: str, results: Results, manifest: Manifest,
                 figure_png: str | None, concept_stats: dict, selection: dict | None,
                 concept_png: str | None = None) -> dict:
    task = plan.tasks[task_id]
    facts = task_facts(plan, task_id, results, manifest, selection,
                       concept_stats.get(task_id, {}))
    found = task_answer(facts)
    concept = ANSWERS[task.answer] if task.answer else None
    return {"id": task_id, "title": trained_title(task.title, plan.epoch_divisor),
            "question": task.question,
            "kind": task.kind, "shows": task.shows, "pending": task.pending,
            "figure": figure_uri(figure_png), "answer_kind": task.answer,
            "concept_figure": figure_uri(concept_png),
            "concept_caption": concept.CAPTION if concept else "",
            "spread": bool(task.entries) and any(setup.seeds > 1 for setup in facts.setups),
            "glance": found.glance, "answer": found.answer, "table": found.table,
            "details": found.details, "tables": found.tables, "next_steps": found.next_steps,
            # what the answer was written from: the tidy tables are made of the same objects
            "facts": facts}


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
            # with the precision trained in and oneDNN's state (records before it was
            # recorded lack it): two in one lab show as two devices
            precision = record.get("precision", record.get("params", {}).get("precision", "float32"))
            onednn = {"oneDNN": record["onednn"]} if record.get("onednn") else {}
            devices.add(json.dumps({**record["device"], "precision": precision, **onednn}))
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
        "total_compute": duration_text(wall),
        "total_compute_seconds": wall,
        "peak_memory_mb": memory,
        "trainings": len(trainings),
        "data": data,
    }


# -- the whole report -------------------------------------------------------------------


def build_context(plan: Plan, manifest: Manifest, figures_by_task: dict[str, str] | None = None,
                  concept_stats: dict[str, dict] | None = None,
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
                             concept_stats or {}, selections.get(task_id),
                             concepts_by_task.get(task_id))
                | {"roc": figure_uri(rocs_by_task.get(task_id))}
                for task_id in plan.tasks]
    overview = overview_table(plan, results, manifest.baselines)
    data = data_section(manifest)
    n_test = sum(manifest.counts["test"].values())
    return {
        "title": f"cnnlab lab report: {plan.dataset}",
        "epoch_divisor": plan.epoch_divisor,
        "dataset": plan.dataset,
        "baselines": {split: percent(value) for split, value in manifest.baselines.items()},
        "tasks": sections,
        "reading": reading(plan, manifest, n_test),
        "overview": overview,
        "models": model_summaries(overview["trainings"], results),
        "provenance": provenance(config, plan, overview["trainings"], results, data),
        "data": data,
        "thresholds": diagnostics.THRESHOLDS,
        "auc_resamples": statistics.AUC_RESAMPLES,
        "calibration_resamples": representations.CALIBRATION_RESAMPLES,
    }


def reading(plan: Plan, manifest: Manifest, n_test: int) -> dict:
    """What the report says once instead of in every section: the validation images and
    their majority baseline, how wide an accuracy's interval is on them, the seeds."""
    counts = manifest.counts["test"]
    majority = max(counts, key=counts.get) if counts else "n/a"
    interval = statistics.accuracy_interval(0.5, n_test) if n_test else None
    seeds = max((len({entry.spec.seed for entry in task.entries})
                 for task in plan.tasks.values()), default=1)
    return {"n_test": n_test, "majority": majority,
            "baseline": percent(manifest.baselines["test"]),
            "half_width": (f"{50 * (interval.high - interval.low):.0f}" if interval else "n/a"),
            "seeds": seeds}


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


def write_report_and_tables(context: dict, output_html: str | Path, root: str | Path = ".",
                            report_dir: str | Path = REPORT_DIR) -> Path:
    """The page and, from the same context, the tidy tables under results/tables/<dataset>/
    (cnnlab.report.tidy): the numbers of both are one computation."""
    html = write_text(output_html, render(context, report_dir))
    write_tables(Path(root) / layout.tables_directory(context["dataset"]), tidy.tables(context))
    return html


def write_report(plan: dict, manifest_json: str | Path, output_html: str | Path,
                 figure_files: list[str] | None = None, roc_files: list[str] | None = None,
                 concept_stats_files: list[str] | None = None,
                 selection_files: list[str] | None = None, config: dict | None = None,
                 root: str | Path = ".", report_dir: str | Path = REPORT_DIR,
                 concept_files: list[str] | None = None) -> Path:
    """Read the files of a finished lab and write the report.

    `plan` is :meth:`cnnlab.plan.plan.Plan.to_dict`'s data, as the rule passes it. Figures are
    matched to tasks by their file name (``<task>.png``; a concept figure's statistics
    ``<task>.json``).
    """
    figures_by_task = {Path(path).stem: str(path) for path in figure_files or []}
    rocs_by_task = {Path(path).stem: str(path) for path in roc_files or []}
    concepts_by_task = {Path(path).stem: str(path) for path in concept_files or []}
    stats = {Path(path).stem: read_concept_stats(path)
             for path in concept_stats_files or []}
    selections = {}
    for path in selection_files or []:
        selection = read_selection(path)
        selections[selection["task"]] = selection
    context = build_context(Plan.from_dict(plan), read_manifest(manifest_json), figures_by_task,
                            stats, selections, config, root, rocs_by_task, concepts_by_task)
    return write_report_and_tables(context, output_html, root, report_dir)
