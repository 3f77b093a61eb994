"""Which set-ups a task compares, and how they are tested: pairs within the task that differ
in one factor, and, for a task that varies nothing itself, earlier tasks' set-ups one factor
away; each pair with its paired test on the validation images and, with seeds, its t-test."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cnnlab.analysis import statistics
from cnnlab.plan import runs
from cnnlab.plan.plan import Plan, reference_pairs
from cnnlab.plan.runs import TaskPlan
from cnnlab.report.formatting import epochs_text, setup_label
from cnnlab.report.setups import Comparison, Results, Run, SetUp, task_setups


def factors_between(a: SetUp, b: SetUp) -> list[str]:
    """The parameters (and 'epochs') in which two set-ups differ
    (:func:`cnnlab.plan.runs.factors_between`)."""
    return runs.factors_between(a.params, b.params) + (["epochs"] if a.epochs != b.epochs else [])


def with_epochs(setup: SetUp) -> SetUp:
    """The set-up labelled with its epochs too, where its label does not say them."""
    if setup.label.endswith("epochs") or setup.label.endswith("epoch"):
        return setup
    return replace(setup, label=f"{setup.label}, {epochs_text(setup.epochs)}")


def within_task_comparisons(setups: list[SetUp]) -> list[Comparison]:
    """Pairs of the task's set-ups that differ in one factor; two set-ups are compared anyway."""
    comparisons = []
    for index, a in enumerate(setups):
        for b in setups[index + 1:]:
            factors = factors_between(a, b)
            if factors == ["epochs"]:
                longer, shorter = (a, b) if a.epochs > b.epochs else (b, a)
                comparisons.append(Comparison(longer, shorter, factors))
            elif len(factors) == 1:
                comparisons.append(Comparison(a, b, factors))
    if not comparisons and len(setups) == 2:
        comparisons.append(Comparison(setups[0], setups[1], factors_between(*setups)))
    return comparisons


def reference_comparisons(plan: Plan, task_id: str, setups: list[SetUp],
                          results: Results) -> list[Comparison]:
    """The task's set-ups against earlier tasks' set-ups one factor away
    (:func:`cnnlab.plan.plan.reference_pairs`), each pair at the epochs both reach (a
    prefix of the longer); the same set-up at fewer epochs is compared as 'more epochs'."""
    by_key = {(setup.setup_id, setup.epochs): setup for setup in setups}
    comparisons = []
    for pair in reference_pairs(plan, task_id):
        if pair.factor == "epochs":
            reference = [ref for ref in task_setups(plan, pair.task, results,
                                                    setup_id=pair.reference_setup_id)
                         if ref.epochs == pair.reference_epochs]
            # the same set-up twice: the epochs tell the two apart
            comparisons.append(Comparison(with_epochs(by_key[pair.setup_id, pair.epochs]),
                                          with_epochs(reference[0]), ["epochs"], pair.task))
            continue
        at = min(pair.epochs, pair.reference_epochs)
        mine = task_setups(plan, task_id, results, epochs=at, setup_id=pair.setup_id)[0]
        theirs = task_setups(plan, pair.task, results, epochs=at,
                             setup_id=pair.reference_setup_id)[0]
        mine.label = setup_label(mine.params, [pair.factor], at)
        theirs.label = setup_label(theirs.params, [pair.factor], at)
        comparisons.append(Comparison(mine, theirs, [pair.factor], pair.task))
    return comparisons


# -- the tests of a task's comparisons ------------------------------------------------------


def matched_runs(a: SetUp, b: SetUp) -> list[tuple[Run, Run]]:
    """The runs of two set-ups in pairs of the same seed (in order where no seed is shared)."""
    by_seed = {run.seed: run for run in b.runs}
    pairs = [(run, by_seed[run.seed]) for run in a.runs if run.seed in by_seed]
    return pairs or list(zip(a.runs, b.runs))


def paired_calls(a: SetUp, b: SetUp) -> tuple[np.ndarray, np.ndarray] | None:
    """Per validation image of each seed-matched pair: did a's and b's model call it right?
    None when the runs were not scored on the same images (another data set)."""
    pairs = matched_runs(a, b)
    if not pairs or any(not np.array_equal(run_a.labels, run_b.labels) for run_a, run_b in pairs):
        return None
    return (np.concatenate([run_a.correct() for run_a, _ in pairs]),
            np.concatenate([run_b.correct() for _, run_b in pairs]))


def asked_by(task: TaskPlan, comparison: Comparison) -> bool:
    """Whether the task's question asks about this comparison: its factors are all in the
    task's `compares`, or, where it names none, the pair is the task's own."""
    if task.compares:
        return set(comparison.factors) <= set(task.compares)
    return comparison.reference is None


def task_comparisons(plan: Plan, task_id: str, setups: list[SetUp],
                     results: Results) -> list[Comparison]:
    """A task's comparisons with their tests, those its question asks about first; Holm's
    correction runs over the asked ones together, and over the rest (the evidence) apart."""
    found = within_task_comparisons(setups) + reference_comparisons(plan, task_id, setups, results)
    for comparison in found:
        comparison.asked = asked_by(plan.tasks[task_id], comparison)
    asked = [comparison for comparison in found if comparison.asked]
    return (add_significance_tests(asked)
            + add_significance_tests([c for c in found if not c.asked]))


def add_significance_tests(comparisons: list[Comparison]) -> list[Comparison]:
    """Give each comparison its exact McNemar test and, with several seeds a side, Welch's
    t-test; adjust the McNemar p-values of a task's comparisons together by Holm."""
    for comparison in comparisons:
        calls = paired_calls(comparison.a, comparison.b)
        comparison.mcnemar = statistics.mcnemar_exact(*calls) if calls else None
        comparison.welch = statistics.welch_t_test(
            [run.values["final_val_accuracy"] for run in comparison.a.runs],
            [run.values["final_val_accuracy"] for run in comparison.b.runs])
    tested = [comparison for comparison in comparisons if comparison.mcnemar]
    if len(tested) > 1:
        for comparison, p in zip(tested, statistics.holm([c.mcnemar.p for c in tested])):
            comparison.holm_p, comparison.family = p, len(tested)
    return comparisons
