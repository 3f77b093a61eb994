"""Every path the workflow reads or writes, in one place: the project's own files, and
the results/ tree (data, trainings, selections, figures, report) with the rules' input lists.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cnnlab.errors import CnnlabError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

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


REPORT_HTML = "results/report/index.html"
PARTIAL_REPORT_HTML = "results/report/partial.html"  # cnnlab report --partial
PARTIAL_FIGURES = "results/report/partial-figures"  # its figures, drawn from the epochs so far


# -- the rules' input lists, from a plan (cnnlab.plan.grid.Plan) --------------------------------


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


def roc_inputs(plan) -> list[str]:
    return [roc_figure(task_id) for task_id in curve_tasks(plan)]


def figure_inputs(plan) -> list[str]:
    return [task_figure(task_id) for task_id in curve_tasks(plan)]


# -- concept answers: config `answer` (the kind) and `inspects` (the model) --------------

MODEL_KINDS = ("conv_layers", "dense_layers")  # their figures run the trained model


def concept_tasks(plan) -> dict[str, str]:
    """Each task with a concept answer and its kind; each gets a concept figure."""
    return {task_id: task.answer for task_id, task in plan.tasks.items() if task.answer}


def concept_figure_files(plan) -> list[str]:
    return [concept_figure(task_id) for task_id in concept_tasks(plan)]


def concept_stats_files(plan) -> list[str]:
    return [concept_stats(task_id) for task_id in concept_tasks(plan)]


def considered_entries(plan, task_id: str) -> list:
    """The runs a concept answer draws on: the task's own, else those of the tasks it shows."""
    task = plan.tasks[task_id]
    return list(task.entries) or [entry for shown in task.shows
                                  for entry in plan.tasks[shown].entries]


def related_tasks(plan, task_id: str) -> list[str]:
    """The task, the tasks it shows and the one it inspects: what its concept figure reads."""
    task = plan.tasks[task_id]
    return list(dict.fromkeys([task_id, *task.shows, *([task.inspects] if task.inspects else [])]))


def inspected_entry(plan, task_id: str):
    """The trained model a concept answer inspects: the last run of the task `inspects`
    names, else the last LeNet run of the task's own runs or of the tasks it shows, a BCE
    one where there is one (a hinge run is the output layer's other panel)."""
    task = plan.tasks[task_id]
    if task.inspects:
        entries, where = plan.tasks[task.inspects].entries, f"tasks.{task_id}.inspects"
    else:
        lenets = [entry for entry in considered_entries(plan, task_id)
                  if entry.spec.model == "lenet"]
        entries = [entry for entry in lenets if entry.spec.loss == "bce"] or lenets
        where = f"tasks.{task_id}.shows"
    if not entries:
        raise CnnlabError(f"config: {where}: names no task with a trained "
                          f"{'' if task.inspects else 'LeNet '}run, so there is no model for "
                          f"the {task.answer} answer to inspect: set tasks.{task_id}.inspects.")
    entry = entries[-1]
    if task.answer == "conv_layers" and entry.spec.model == "mlp":
        raise CnnlabError(f"config: tasks.{task_id}.inspects: {entry.spec.run_id} is an MLP, "
                          "which has no convolutional layers: name a task with a LeNet or "
                          "AlexNet run.")
    return entry


def hinge_entry(plan, task_id: str):
    """The last hinge run among the runs a concept answer draws on (6F's for 5G), or None."""
    hinges = [entry for entry in considered_entries(plan, task_id) if entry.spec.loss == "hinge"]
    return hinges[-1] if hinges else None


def architecture_entries(plan, task_id: str) -> list:
    """The first run of each architecture among the runs the answer draws on (5F's LeNet
    and MLP)."""
    by_architecture = {}
    for entry in considered_entries(plan, task_id):
        key = (entry.spec.model, entry.spec.n_base, tuple(entry.spec.dense))
        by_architecture.setdefault(key, entry)
    return list(by_architecture.values())


def concept_inputs(plan, task_id: str) -> list[str]:
    """The files a task's concept figure reads, by its kind: the inspected model's weights
    folder, summary and the test images (conv and dense layers), the predictions of the
    inspected and the hinge run (output layer), each architecture's summary."""
    kind = plan.tasks[task_id].answer
    if kind in MODEL_KINDS:
        entry = inspected_entry(plan, task_id)
        return [f"{entry.training.directory}/weights", f"{entry.training.directory}/summary.csv",
                arrays_npz(plan.dataset)]
    if kind == "output_layer":
        entries = [inspected_entry(plan, task_id), hinge_entry(plan, task_id)]
        return [entry.training.predictions_npz for entry in entries if entry is not None]
    entries = architecture_entries(plan, task_id)
    if not entries:
        raise CnnlabError(f"config: tasks.{task_id}.answer: architectures compares the runs of "
                          "the task or of the tasks it shows, and there are none.")
    return [f"{entry.training.directory}/summary.csv" for entry in entries]


def check_concepts(plan) -> None:
    """Raise the CnnlabError of a concept answer that has nothing to inspect, before
    anything runs; tasks that wait for a selection are checked once it is made."""
    for task_id in concept_tasks(plan):
        if not any(plan.tasks[related].pending for related in related_tasks(plan, task_id)):
            concept_inputs(plan, task_id)


def concept_weights(plan, task_id: str) -> str:
    """The weights file of the model a conv- or dense-layer answer inspects."""
    entry = inspected_entry(plan, task_id)
    return weights_file(entry.training.directory, entry.epochs)
