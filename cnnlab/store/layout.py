"""Every path the workflow reads or writes, in one place: the results/ tree (data,
trainings, selections, figures, report) with the rules' input lists.
"""

from __future__ import annotations

from pathlib import Path

# -- results/: what the workflow writes --------------------------------------------------
# The rules' output patterns (rules/*.smk) spell the same paths with wildcards.

RUNS_ROOT = "results/runs"
HISTORY_CSV, RECORD_JSON, SUMMARY_CSV, PREDICTIONS_NPZ = (
    "history.csv", "record.json", "summary.csv", "predictions.npz")
TRAINING_FILES = (HISTORY_CSV, RECORD_JSON, SUMMARY_CSV, PREDICTIONS_NPZ)
WEIGHTS_DIRECTORY = "weights"
WEIGHTS_SUFFIX = ".weights.h5"  # Keras wants a weights file's name to end so


def manifest_json(dataset: str) -> str:
    return f"results/data/{dataset}/manifest.json"


def arrays_npz(dataset: str) -> str:
    return f"results/data/{dataset}/arrays.npz"


def training_key(dataset: str, run_id: str, epochs: int | str) -> str:
    """A training's name in the plan: its folder below results/runs/."""
    return f"{dataset}/{run_id}/e{epochs}"


def training_directory(dataset: str, run_id: str, epochs: int | str) -> str:
    """One training of a run to `epochs`: history.csv, record.json, summary.csv,
    predictions.npz, weights/ (the rules' patterns pass the wildcards as strings)."""
    return f"{RUNS_ROOT}/{training_key(dataset, run_id, epochs)}"


def training_epochs(directory: str | Path) -> int | None:
    """E of a training folder named ``e<E>`` (:func:`training_directory`), else None."""
    name = Path(directory).name
    return int(name[1:]) if name.startswith("e") and name[1:].isdigit() else None


def history_csv(training_directory: str | Path) -> str:
    return f"{training_directory}/{HISTORY_CSV}"


def record_json(training_directory: str | Path) -> str:
    return f"{training_directory}/{RECORD_JSON}"


def summary_csv(training_directory: str | Path) -> str:
    return f"{training_directory}/{SUMMARY_CSV}"


def predictions_npz(training_directory: str | Path) -> str:
    return f"{training_directory}/{PREDICTIONS_NPZ}"


def weights_directory(training_directory: str | Path) -> str:
    return f"{training_directory}/{WEIGHTS_DIRECTORY}"


def weights_name(epochs: int) -> str:
    """A weights file relative to its training's folder, as record.json lists it."""
    return f"{WEIGHTS_DIRECTORY}/epoch{int(epochs):04d}{WEIGHTS_SUFFIX}"


def weights_file(training_directory: str | Path, epochs: int) -> str:
    return f"{training_directory}/{weights_name(epochs)}"


def state_directory(dataset: str, run_id: str, epochs: int | None = None) -> str:
    """A run's resume state: outside the training's outputs, which Snakemake deletes when
    a job fails, so that a retry continues from the last finished epoch; with ``epochs``,
    one training's own (where trainings share no prefixes)."""
    shared = f"results/state/{dataset}/{run_id}"
    return shared if epochs is None else f"{shared}/e{epochs}"


def state_lock(state_directory: str) -> str:
    """The lock a training holds on its run's state while it trains (cnnlab.train.checkpoints)."""
    return f"{state_directory}/.lock"


# where damaged outputs found at start-up are moved (cnnlab.workflow.damaged)
DAMAGED_ROOT = "results/damaged"


def progress_json(state_directory: str, epochs: int) -> str:
    """A training's heartbeat (cnnlab.store.heartbeat), beside its run's resume state."""
    return f"{state_directory}/progress-e{int(epochs)}.json"


def selection_json(dataset: str, task_id: str) -> str:
    """A task's selection (6E's), under its data set: labs on two data sets in one folder
    never read each other's choice."""
    return f"results/selection/{dataset}/{task_id}.json"


def task_figure(task_id: str) -> str:
    return f"results/figures/{task_id}.png"


def roc_figure(task_id: str) -> str:
    return f"results/figures/roc/{task_id}.png"


def concept_figure(task_id: str) -> str:
    """The figure of a task's concept answer (its `answer` kind)."""
    return f"results/figures/concept/{task_id}.png"


def concept_stats(task_id: str) -> str:
    """The numbers of that figure, which the answer words (JSON)."""
    return f"results/figures/concept/{task_id}.json"


def tables_directory(dataset: str) -> str:
    """The lab's numbers as tidy tables (cnnlab.store.tables), beside the report."""
    return f"results/tables/{dataset}"


TABLE_NAMES = ("epochs", "setups", "comparisons")


def table_csv(dataset: str, name: str) -> str:
    """One of :data:`TABLE_NAMES` as a CSV file."""
    return f"{tables_directory(dataset)}/{name}.csv"


REPORT_HTML = "results/report/index.html"
PARTIAL_REPORT_HTML = "results/report/partial.html"  # cnnlab report --partial
PARTIAL_FIGURES = "results/report/partial-figures"  # its figures, drawn from the epochs so far


def partial_figure(task_id: str) -> str:
    """A task's learning curves in the partial report."""
    return f"{PARTIAL_FIGURES}/{task_id}.png"


def partial_roc_figure(task_id: str) -> str:
    return f"{PARTIAL_FIGURES}/roc-{task_id}.png"


# -- the rules' input lists, from a plan (cnnlab.plan.plan.Plan) --------------------------------


def task_inputs(plan, task_id: str) -> list[str]:
    """The files a task's figures read: each entry's history, record and predictions (the
    ROC curves and the clinical view come from the predictions), its own and those of the
    earlier tasks its asked comparisons reach into."""
    return sorted({path(entry.training.directory)
                   for shown in [task_id, *plan.compared_tasks(task_id)]
                   for entry in plan.tasks[shown].entries
                   for path in (history_csv, record_json, predictions_npz)})


def report_inputs(plan) -> list[str]:
    """Every training file the report reads (histories, records, model summaries)."""
    return sorted({f"{entry.training.directory}/{name}"
                   for task in plan.tasks.values() for entry in task.entries
                   for name in TRAINING_FILES})


def selection_inputs(plan) -> list[str]:
    return sorted(task.selection["file"] for task in plan.tasks.values()
                  if task.selection and task.selection["file"])


def curve_tasks(plan) -> list[str]:
    """Tasks that get a learning-curve figure: those that train runs (pending ones too)."""
    return [task_id for task_id, task in plan.tasks.items() if task.kind == "train"]


def roc_inputs(plan) -> list[str]:
    return [roc_figure(task_id) for task_id in curve_tasks(plan)]


def figure_inputs(plan) -> list[str]:
    return [task_figure(task_id) for task_id in curve_tasks(plan)]
