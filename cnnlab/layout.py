"""Every path the workflow reads or writes, in one place: the project's own files, and
the results/ tree (data, trainings, selections, figures, report) with the rules' input lists.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cnnlab.errors import CnnlabError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# what a fresh clone needs to run the lab (tests/configs: the test scenarios' overrides)
WORKFLOW_FILES = ("Snakefile", "config.yaml", "config-real.yaml", "seeds.yaml", "rules",
                  "scripts", "schemas", "report", "profiles", "envs", "tests/configs")


def copy_workflow(destination: Path, source_root: Path = PROJECT_ROOT) -> Path:
    """The workflow's own files, without results or logs, as a fresh clone has them."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = source_root / name
        if source.is_dir():
            shutil.copytree(source, destination / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


# -- results/: what the workflow writes --------------------------------------------------
# The rules' output patterns (rules/*.smk) spell the same paths with wildcards.

TRAINING_FILES = ("history.csv", "record.json", "summary.csv", "predictions.npz")


def manifest_json(dataset: str) -> str:
    return f"results/data/{dataset}/manifest.json"


def arrays_npz(dataset: str) -> str:
    return f"results/data/{dataset}/arrays.npz"


def training_directory(dataset: str, run_id: str, epochs: int) -> str:
    """One training of a run to `epochs`: history.csv, record.json, summary.csv, weights/."""
    return f"results/runs/{dataset}/{run_id}/e{epochs}"


def weights_file(training_directory: str, epochs: int) -> str:
    return f"{training_directory}/weights/epoch{int(epochs):04d}.weights.h5"


def state_directory(dataset: str, run_id: str) -> str:
    """A run's resume state: outside the training's outputs, which Snakemake deletes when
    a job fails, so that a retry continues from the last finished epoch."""
    return f"results/state/{dataset}/{run_id}"


def progress_json(state_directory: str, epochs: int) -> str:
    """A training's heartbeat (cnnlab.heartbeat), beside its run's resume state."""
    return f"{state_directory}/progress-e{int(epochs)}.json"


def selection_json(task_id: str) -> str:
    return f"results/selection/{task_id}.json"


def task_figure(task_id: str) -> str:
    return f"results/figures/{task_id}.png"


def roc_figure(task_id: str) -> str:
    return f"results/figures/roc/{task_id}.png"


def filters_figure(task_id: str) -> str:
    return f"results/figures/filters/{task_id}.png"


def filters_stats(task_id: str) -> str:
    return f"results/figures/filters/{task_id}.json"


REPORT_HTML = "results/report/index.html"
PARTIAL_REPORT_HTML = "results/report/partial.html"  # cnnlab report --partial
PARTIAL_FIGURES = "results/report/partial-figures"  # its figures, drawn from the epochs so far


# -- the rules' input lists, from a plan (cnnlab.grid.Plan) --------------------------------


def task_inputs(plan, task_id: str) -> list[str]:
    """The files a task's figures read: each entry's history, record and predictions (the
    ROC curves and the clinical view come from the predictions)."""
    return sorted({f"{entry.training.directory}/{name}"
                   for entry in plan.tasks[task_id].entries
                   for name in ("history.csv", "record.json", "predictions.npz")})


def report_inputs(plan) -> list[str]:
    """Every training file the report reads (histories, records, model summaries)."""
    return sorted({f"{entry.training.directory}/{name}"
                   for task in plan.tasks.values() for entry in task.entries
                   for name in TRAINING_FILES})


def selection_inputs(plan) -> list[str]:
    return sorted(task.optimum["selection"] for task in plan.tasks.values()
                  if task.optimum and task.optimum["selection"])


def curve_tasks(plan) -> list[str]:
    """Tasks that get a learning-curve figure: those that train runs (pending ones too)."""
    return [task_id for task_id, task in plan.tasks.items() if task.kind == "train"]


def filters_task(plan) -> str | None:
    """The concept task that shows LeNet's filters (5D), if the plan has it."""
    return "5D" if "5D" in plan.tasks else None


def roc_inputs(plan) -> list[str]:
    return [roc_figure(task_id) for task_id in curve_tasks(plan)]


def figure_inputs(plan) -> list[str]:
    figures = [task_figure(task_id) for task_id in curve_tasks(plan)]
    if filters_task(plan):
        figures.append(filters_figure(filters_task(plan)))
    return figures


def filters_entry(plan, task_id: str):
    """The trained model whose filters a task shows: the last LeNet entry of its `shows`."""
    lenets = [entry for shown in plan.tasks[task_id].shows
              for entry in plan.tasks[shown].entries if entry.spec.model == "lenet"]
    if not lenets:
        raise CnnlabError(f"config: tasks.{task_id}.shows names no task with a LeNet run, "
                          "so there are no learned filters to show.")
    return lenets[-1]


def filters_weights(plan, task_id: str) -> str:
    """The weights file of the LeNet whose filters a task shows."""
    entry = filters_entry(plan, task_id)
    return weights_file(entry.training.directory, entry.epochs)
