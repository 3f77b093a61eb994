"""Which set-ups a task compares, and how they are tested: pairs within the task that differ
in one factor, and, for a task that varies nothing itself, earlier tasks' set-ups one factor
away; each pair with its paired test on the validation images and, with seeds, its t-test."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cnnlab.analysis import statistics
from cnnlab.plan import runs
from cnnlab.plan.grid import Plan
from cnnlab.plan.runs import TaskPlan
from cnnlab.report.formatting import epochs_text, setup_label
from cnnlab.report.results import Comparison, Group, Results, Run, task_groups


def factors_between(a: Group, b: Group) -> list[str]:
    """The parameters (and 'epochs') in which two set-ups differ
    (:func:`cnnlab.plan.runs.factors_between`)."""
    return runs.factors_between(a.params, b.params) + (["epochs"] if a.epochs != b.epochs else [])


def with_epochs(group: Group) -> Group:
    """The group labelled with its epochs too, where its label does not say them."""
    if group.label.endswith("epochs") or group.label.endswith("epoch"):
        return group
    return replace(group, label=f"{group.label}, {epochs_text(group.epochs)}")


def within_task_comparisons(groups: list[Group]) -> list[Comparison]:
    """Pairs of the task's groups that differ in one factor; two groups are compared anyway."""
    comparisons = []
    for index, a in enumerate(groups):
        for b in groups[index + 1:]:
            factors = factors_between(a, b)
            if factors == ["epochs"]:
                longer, shorter = (a, b) if a.epochs > b.epochs else (b, a)
                comparisons.append(Comparison(longer, shorter, factors))
            elif len(factors) == 1:
                comparisons.append(Comparison(a, b, factors))
    if not comparisons and len(groups) == 2:
        comparisons.append(Comparison(groups[0], groups[1], factors_between(*groups)))
    return comparisons


def reference_comparisons(plan: Plan, task_id: str, groups: list[Group],
                          results: Results) -> list[Comparison]:
    """Earlier tasks' set-ups one factor away: in a factor the task's question asks about
    (its `compares`), or, for a task that asks none and varies no parameter itself, in any.

    Each pair is compared at the epochs both reach (a prefix of the longer); the same
    set-up at fewer epochs in an earlier task is compared as 'more epochs'.
    """
    task = plan.tasks[task_id]
    if task.compares:
        allowed = set(task.compares)
    elif set(task.differs()) - {"epochs"}:
        return []
    else:
        allowed = None  # any factor, for the evidence
    order = list(plan.tasks)
    own = {}
    for group in groups:
        if group.variant not in own or group.epochs > own[group.variant].epochs:
            own[group.variant] = group
    chosen: dict[tuple, tuple] = {}
    for earlier in order[: order.index(task_id)]:
        for entry in plan.tasks[earlier].entries:
            for group in own.values():
                probe = Group(earlier, entry.spec.variant, entry.epochs, entry.spec.to_dict(), "")
                factors = [name for name in factors_between(group, probe) if name != "epochs"]
                if not factors and probe.epochs < group.epochs:
                    factor = "epochs"
                elif len(factors) == 1:
                    factor = factors[0]
                else:
                    continue
                if allowed is not None and factor not in allowed:
                    continue
                if factor != "epochs" and probe.variant in own:
                    continue  # one of the task's own set-ups: compared within the task
                key = (group.variant, probe.variant, factor)
                rank = (probe.epochs == group.epochs, order.index(earlier), probe.epochs)
                if key not in chosen or rank > chosen[key][0]:
                    chosen[key] = (rank, group, earlier, probe)
    comparisons = []
    for (variant, ref_variant, factor), (_, group, earlier, probe) in chosen.items():
        if factor == "epochs":
            reference = task_groups(plan, earlier, results, variant=ref_variant)
            reference = [ref for ref in reference if ref.epochs == probe.epochs]
            # the same set-up twice: the epochs tell the two apart
            comparisons.append(Comparison(with_epochs(group), with_epochs(reference[0]),
                                          ["epochs"], earlier))
            continue
        at = min(group.epochs, probe.epochs)
        mine = task_groups(plan, task_id, results, epochs=at, variant=variant)[0]
        theirs = task_groups(plan, earlier, results, epochs=at, variant=ref_variant)[0]
        mine.label = setup_label(mine.params, [factor], at)
        theirs.label = setup_label(theirs.params, [factor], at)
        comparisons.append(Comparison(mine, theirs, [factor], earlier))
    return comparisons


# -- the tests of a task's comparisons ------------------------------------------------------


def matched_runs(a: Group, b: Group) -> list[tuple[Run, Run]]:
    """The runs of two groups in pairs of the same seed (in order where no seed is shared)."""
    by_seed = {run.seed: run for run in b.runs}
    pairs = [(run, by_seed[run.seed]) for run in a.runs if run.seed in by_seed]
    return pairs or list(zip(a.runs, b.runs))


def paired_calls(a: Group, b: Group) -> tuple[np.ndarray, np.ndarray] | None:
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


def task_comparisons(plan: Plan, task_id: str, groups: list[Group],
                     results: Results) -> list[Comparison]:
    """A task's comparisons with their tests, those its question asks about first; Holm's
    correction runs over the asked ones together, and over the rest (the evidence) apart."""
    found = within_task_comparisons(groups) + reference_comparisons(plan, task_id, groups, results)
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
