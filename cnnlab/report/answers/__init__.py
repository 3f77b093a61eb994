"""One module per kind of answer, each owning its glance sentence, answer, table and details.

:mod:`~cnnlab.report.answers.trained` answers a task that trains and compares set-ups,
:mod:`~cnnlab.report.answers.selection` 6E's chosen set-up, and one module per concept kind
named as the kind it answers (:mod:`~cnnlab.report.answers.conv_layers`,
:mod:`~cnnlab.report.answers.dense_layers`, :mod:`~cnnlab.report.answers.architectures`,
:mod:`~cnnlab.report.answers.output_layer`; the kinds: :mod:`cnnlab.plan.answer_kinds`).
Each takes a task's :class:`Facts` and returns its :class:`Answer`; :mod:`cnnlab.report.page` only assembles them. Shared phrasing lives in
:mod:`~cnnlab.report.answers.phrases`, a trained task's full evidence in
:mod:`~cnnlab.report.answers.evidence`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnlab.plan.plan import Plan
from cnnlab.plan.runs import TaskPlan
from cnnlab.report.setups import Comparison, Results, SetUp


@dataclass
class Facts:
    """What an answer may draw on: the task, its set-ups (a concept task: those of the tasks
    it shows) and their comparisons, the data's baselines and counts, its figure's numbers
    and, for 6E, the selection."""

    plan: Plan
    task_id: str
    results: Results
    baselines: dict  # by split: the majority-class share
    test_counts: dict  # the validation images per class
    setups: list[SetUp] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    selection: dict | None = None

    @property
    def task(self) -> TaskPlan:
        return self.plan.tasks[self.task_id]


@dataclass
class Answer:
    """A task's answer: one sentence for the table at the top (`glance`, at most ~30 words),
    the visible answer (at most ~80 words), its compact table, and what goes into the folded
    "How this was decided": paragraphs, tables (each with a caption), next steps."""

    glance: str
    answer: list[str]
    table: dict | None = None
    details: list[str] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
