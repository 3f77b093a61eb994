"""Which trained models a task's concept answer inspects, and the files its figure reads.

A concept answer (config: ``tasks.<id>.answer``, its kind) draws on the task's own runs or
those of the tasks it shows; the conv- and dense-layer answers run one trained model
(:func:`inspected_entry`, or the task ``inspects`` names), the output-layer answer compares
it with a hinge run (:func:`hinge_entry`), the architectures answer takes each
architecture's first run (:func:`architecture_entries`). Part of the plan: the rules
declare these files as the concept figure's inputs, and the figure and the report read
the same models.
"""

from __future__ import annotations

from cnnlab.errors import CnnlabError
from cnnlab.plan.answer_kinds import CONCEPT_KINDS
from cnnlab.store import layout


def concept_tasks(plan) -> dict[str, str]:
    """Each task with a concept answer and its kind; each gets a concept figure."""
    return {task_id: task.answer for task_id, task in plan.tasks.items() if task.answer}


def concept_figure_files(plan) -> list[str]:
    return [layout.concept_figure(task_id) for task_id in concept_tasks(plan)]


def concept_stats_files(plan) -> list[str]:
    return [layout.concept_stats(task_id) for task_id in concept_tasks(plan)]


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
    if CONCEPT_KINDS[task.answer].convolutional and entry.spec.model == "mlp":
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
    reads = CONCEPT_KINDS[plan.tasks[task_id].answer].reads
    if reads == "model":
        entry = inspected_entry(plan, task_id)
        return [layout.weights_directory(entry.training.directory),
                layout.summary_csv(entry.training.directory),
                layout.arrays_npz(plan.dataset)]
    if reads == "predictions":
        entries = [inspected_entry(plan, task_id), hinge_entry(plan, task_id)]
        return [entry.training.predictions_npz for entry in entries if entry is not None]
    entries = architecture_entries(plan, task_id)
    if not entries:
        raise CnnlabError(f"config: tasks.{task_id}.answer: architectures compares the runs of "
                          "the task or of the tasks it shows, and there are none.")
    return [layout.summary_csv(entry.training.directory) for entry in entries]


def check_concepts(plan) -> None:
    """Raise the CnnlabError of a concept answer that has nothing to inspect, before
    anything runs; tasks that wait for a selection are checked once it is made."""
    for task_id in concept_tasks(plan):
        if not any(plan.tasks[related].pending for related in related_tasks(plan, task_id)):
            concept_inputs(plan, task_id)
