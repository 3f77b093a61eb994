"""The kinds of answer (cnnlab.plan.answer_kinds): each registered kind has its answer module
and, a concept kind, its figure; the config allows exactly the concept kinds; each task of the
default lab gets the kind its config asks for."""

import importlib

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.plan.answer_kinds import ANSWER_KINDS, CONCEPT_KINDS, answer_kind
from cnnlab.plan.config import checked_config
from cnnlab.plan.plan import plan_lab
from cnnlab.report import concept_figures, page
from tests.conftest import merged_config


@pytest.mark.parametrize("kind", ANSWER_KINDS)
def test_every_kind_has_its_answer_module(kind):
    module = importlib.import_module(f"cnnlab.report.answers.{kind}")
    assert callable(module.answer)
    assert page.ANSWERS[kind] is module


@pytest.mark.parametrize("kind", CONCEPT_KINDS)
def test_every_concept_kind_has_its_figure_and_caption(kind):
    assert concept_figures.FIGURES[kind].__name__ == kind
    assert page.ANSWERS[kind].CAPTION
    assert CONCEPT_KINDS[kind].reads in ("model", "predictions", "summaries")


def test_a_config_naming_an_unknown_kind_is_told_the_registered_ones():
    config = merged_config()
    config["tasks"]["5E"]["answer"] = "dense"
    with pytest.raises(CnnlabError) as raised:
        checked_config(config, source="config.yaml")
    kinds = ", ".join(repr(kind) for kind in CONCEPT_KINDS)
    assert str(raised.value) == f"config.yaml: tasks.5E.answer: 'dense' is not one of {kinds}."


def test_each_task_gets_the_kind_its_config_asks_for():
    config = checked_config(merged_config())
    selected = plan_lab(config, {"6E": {"batch_size": 8, "lr": 1e-5, "n_base": 8}})
    kinds = {task_id: answer_kind(task) for task_id, task in selected.tasks.items()}
    assert kinds == {"5A": "trained", "5B": "trained", "5C": "trained", "5D": "conv_layers",
                     "5E": "dense_layers", "5F": "architectures", "5G": "output_layer",
                     "6A": "trained", "6B": "trained", "6C": "trained", "6D": "trained",
                     "6E": "selection", "6F": "trained"}
    # a pinned selection makes no selection: 6E compares its runs as any trained task does
    config["tasks"]["6E"]["selection"]["pinned"] = {"batch_size": 4, "lr": 1e-5, "n_base": 8}
    assert answer_kind(plan_lab(config).tasks["6E"]) == "trained"
    # a task that shows others without naming a kind has none (the report says so)
    del config["tasks"]["5D"]["answer"]
    assert answer_kind(plan_lab(config).tasks["5D"]) is None
