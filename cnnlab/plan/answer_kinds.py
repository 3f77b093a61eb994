"""The kinds of answer a task gets, each with what its figure reads: the one list of them.

A concept kind is what a task's ``answer:`` in the config names; the config's check
(:mod:`cnnlab.plan.config`) allows these names and no other, and
:mod:`cnnlab.plan.concept_models` declares the files each kind's figure reads. A task
without one gets 6E's :data:`SELECTION` answer where a selection chose its set-up, else the
:data:`TRAINED` comparison of its runs (:func:`answer_kind`). The report answers a kind with
the module of its name in ``cnnlab.report.answers`` and draws a concept kind with the
function of its name in ``cnnlab.report.concept_figures``; both are looked up from this list,
so a kind added here and not there fails when the report is imported.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConceptKind:
    """What a concept kind's figure reads of the trained runs the task draws on."""

    # "model": the inspected model's weights and summary and the test images (it runs the
    # model); "predictions": the inspected and a hinge run's outputs on the validation
    # images; "summaries": each architecture's summary
    reads: str
    convolutional: bool = False  # its model must have convolutional layers (no MLP)


CONCEPT_KINDS = {
    "conv_layers": ConceptKind("model", convolutional=True),  # 5D: filters and feature maps
    "dense_layers": ConceptKind("model"),  # 5E: parameters and linear separability
    "architectures": ConceptKind("summaries"),  # 5F: parameters per layer side by side
    "output_layer": ConceptKind("predictions"),  # 5G: the outputs per class, calibration
}
SELECTION = "selection"  # 6E: the set-up a selection chose, and its own runs compared
TRAINED = "trained"  # a task that trains set-ups and compares them
ANSWER_KINDS = (*CONCEPT_KINDS, SELECTION, TRAINED)


def answer_kind(task) -> str | None:
    """The kind of answer a task (:class:`cnnlab.plan.runs.TaskPlan`) gets: 6E's
    :data:`SELECTION` where a selection chose its set-up (not pinned by hand in the config),
    else the concept kind its config names, else the :data:`TRAINED` comparison of its runs;
    None for a task that shows others without naming a kind."""
    if task.selection and not task.selection["pinned"]:
        return SELECTION
    if task.answer:
        return task.answer
    return TRAINED if task.entries else None
