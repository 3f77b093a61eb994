"""A task that trains set-ups and compares them (5A-5C, 6A-6D, 6F): the accuracies, each
effect with its paired test, what the curves do, the melanomas missed and, where the
question asks, whether the set-up can decide; its table of set-ups and its evidence."""

from __future__ import annotations

from cnnlab.analysis.diagnostics import THRESHOLDS
from cnnlab.report.answers import Answer, Facts
from cnnlab.report.answers.evidence import compare, describe_group
from cnnlab.report.answers.hinge import hinge_note
from cnnlab.report.answers.words import (
    VERDICT_PHRASES,
    at_baseline,
    factor_phrase,
    finds_few,
    join,
    melanomas_found,
    p_text,
    p_value,
    verdict,
    verdict_phrase,
    with_spread,
)
from cnnlab.report.formatting import (
    epochs_text,
    interval_text,
    percent,
    points,
    setup_label,
)
from cnnlab.report.results import Comparison, Group
from cnnlab.report.significance import significance_summary
from cnnlab.report.tables import (
    clinical_table,
    diagnostics_table,
    params_table,
    setup_row,
    spread_table,
    tests_table,
    values_table,
)


def answer(facts: Facts) -> Answer:
    """The answer of a trained task, with its table and its evidence."""
    baseline = facts.baselines["test"]
    groups, tested = facts.groups, tested_comparisons(facts.comparisons)
    sentences = [accuracies(groups, baseline), *effects(tested), curves(groups, baseline)]
    sentences += few_melanomas(groups)
    if asks_to_decide(facts):
        sentences.append(decision(groups, baseline)[1])
    return Answer(glance=glance(facts), answer=[" ".join(sentences)],
                  table=setups_table(groups, facts.comparisons, baseline),
                  details=details(facts), tables=detail_tables(facts),
                  next_steps=next_steps(groups, baseline))


def tested_comparisons(comparisons: list[Comparison]) -> list[Comparison]:
    return [comparison for comparison in comparisons if comparison.mcnemar is not None]


def asks_to_decide(facts: Facts) -> bool:
    """Whether the task's question asks if its set-up can decide anything (5A's does)."""
    return "decide" in facts.task.question.lower()


def accuracies(groups: list[Group], baseline: float) -> str:
    """One set-up: training and validation accuracy, the latter with its interval; several:
    each set-up's validation accuracy, the best first."""
    if len(groups) == 1:
        group = groups[0]
        run = group.runs[0]
        validation = (with_spread(group, "final_val_accuracy") if group.seeds > 1 else
                      f"{percent(run.values['final_val_accuracy'])} "
                      f"({interval_text(run.interval('final_val_accuracy'))})")
        training = with_spread(group, "final_accuracy")
        # short sentences: every single-set-up task says these, and says them plainly
        said = (f"Training and validation accuracy after {epochs_text(group.epochs)}: both "
                f"{validation}." if validation.startswith(training + " ") else
                f"Training accuracy after {epochs_text(group.epochs)}: {training}. "
                f"Validation accuracy: {validation}.")
        return said + (" No better than the majority baseline." if at_baseline(group, baseline)
                       else "")
    ranked = sorted(groups, key=lambda group: -group.mean("final_val_accuracy"))
    values = {with_spread(group, "final_val_accuracy") for group in groups}
    if len(values) == 1:
        return f"Validation accuracy: {values.pop()} for all {len(groups)}."
    alike: dict[str, list[str]] = {}  # set-ups that share a value share its mention
    for group in ranked:
        alike.setdefault(with_spread(group, "final_val_accuracy"), []).append(group.label)
    return "Validation accuracy: " + join(
        [f"{value} ({join(labels)})" for value, labels in alike.items()]) + "."


def difference_text(comparison: Comparison, sign: int = 1) -> str:
    return points(sign * (comparison.a.mean("final_val_accuracy")
                          - comparison.b.mean("final_val_accuracy")))


def oriented(comparison: Comparison) -> tuple[Group, Group, int]:
    """The two set-ups with the larger value of a numeric factor first (more dropout, more
    epochs, a larger n_base) or the task's own first, and the sign that turns a - b into
    first - second."""
    a, b = comparison.a, comparison.b
    if comparison.reference:  # the task's own set-up first, the other task's second
        return a, b, 1
    factor = comparison.factors[0] if len(comparison.factors) == 1 else None
    values = ((a.epochs, b.epochs) if factor == "epochs" else
              (a.params.get(factor), b.params.get(factor)))
    if all(isinstance(value, (int, float)) for value in values) and values[0] < values[1]:
        return b, a, -1
    return a, b, 1


def factor_label(group: Group, factors: list[str]) -> str:
    """A set-up named by the one factor a comparison varies ('dropout 0.4', 'no dropout',
    '150 epochs', 'SGD'); by its label where several differ."""
    if len(factors) != 1:
        return group.label
    if factors == ["epochs"]:
        return epochs_text(group.epochs)
    if factors == ["dropout"]:
        return "dropout" if group.params.get("dropout") else "no dropout"
    return setup_label(group.params, factors, group.epochs)


def effects(tested: list[Comparison]) -> list[str]:
    """Each factor's effect: the difference of validation accuracy and its paired test's p,
    the significant ones marked; a set-up from another task is named with its accuracy the
    first time."""
    said: set[tuple] = set()
    significant = [c for c in tested if p_value(c) < THRESHOLDS.alpha]
    # where all tests agree, one word says so after them; else each significant one is marked
    mixed = 0 < len(significant) < len(tested) or len(tested) == 1
    # several tests with one p (often 1.000 on few disagreements): said once, after them
    same_p = len(tested) > 1 and not mixed and len({p_text(p_value(c)) for c in tested}) == 1
    by_factor: dict[str, list[str]] = {}
    for comparison in tested:
        first, second, sign = oriented(comparison)
        names = [factor_label(group, comparison.factors) for group in (first, second)]
        theirs = comparison.b  # where the task reaches into another, that task's set-up
        if comparison.reference:
            key = (theirs.task, theirs.variant, theirs.epochs)
            where = (f" ({comparison.reference})" if key in said else
                     f" ({comparison.reference}, {percent(theirs.mean('final_val_accuracy'))})")
            said.add(key)
            names[0 if first is theirs else 1] += where
        mark = ""
        if mixed:
            mark = (", significant" if p_value(comparison) < THRESHOLDS.alpha
                    else ", not significant")
        shown_p = "" if same_p else f", {p_text(p_value(comparison))}"
        by_factor.setdefault(factor_phrase(comparison.factors), []).append(
            f"{names[0]} against {names[1]}: {difference_text(comparison, sign)}{shown_p}{mark}")
    sentences = [f"Effect of {factor}: {'; '.join(clauses)}."
                 for factor, clauses in by_factor.items()]
    briefed = 0
    for index, factor in enumerate(by_factor):
        family = [c for c in tested if factor_phrase(c.factors) == factor]
        if len(family) > 2 and not any(p_value(c) < THRESHOLDS.alpha for c in family):
            sentences[index] = pairs_in_brief(factor, family)
            briefed += 1
    if briefed == len(by_factor):  # each sentence already says that nothing is significant
        return sentences
    if tested and not mixed:
        sentences.append(("All are significant" if significant else "None is significant")
                         + (f" (all {p_text(p_value(tested[0]))})." if same_p else "."))
    return sentences


#: one set-up's curve in its own words; the common verdicts in sentences under eight words,
#: as several tasks say them
SINGLE = {
    "diverges": "It diverged{at}: its loss blew up, so its later values mean nothing.",
    "overfits": "It overfits from epoch {epoch}. Its validation loss rises after that.",
    "not learned yet": "It has not learned yet. Its training loss still falls.",
    "stuck at the baseline": "It has not left the baseline; its loss stalls.",
    "still improving": "It is still improving: both losses fall.",
    "settled": "It has settled above the baseline.",
    "no trend": "Its curves stay within their noise.",
}


def pairs_in_brief(factor: str, family: list[Comparison]) -> str:
    """Many pairs of one factor, none significant, in one sentence: the range of their p and
    the largest difference."""
    low, high = min(map(p_value, family)), max(map(p_value, family))
    span = (f"all {p_text(low)}" if p_text(low) == p_text(high) else
            f"p from {p_text(low)[4:]} to {p_text(high)[4:]}")
    widest = max(family, key=lambda c: abs(c.a.mean("final_val_accuracy")
                                           - c.b.mean("final_val_accuracy")))
    first, second, sign = oriented(widest)
    gap = (f"; the widest gap, {factor_label(first, widest.factors)} against "
           f"{factor_label(second, widest.factors)}, is {difference_text(widest, sign)}"
           if difference_text(widest, sign) != "0.0 points" else "; their accuracies are equal")
    return f"Effect of {factor}: no pair differs significantly ({span}){gap}."


def curves(groups: list[Group], baseline: float) -> str:
    """What each set-up's curve does; one set-up's in a sentence of its own."""
    if len(groups) == 1:
        group = groups[0]
        diagnosis = group.runs[0].diagnosis
        epoch = diagnosis.overfitting.epoch if diagnosis.overfitting else None
        at = (f" at epoch {diagnosis.divergence.epoch}"
              if diagnosis.divergence and diagnosis.divergence.epoch else "")
        return SINGLE[verdict(group, baseline)].format(epoch=epoch, at=at)
    by_verdict: dict[str, list[Group]] = {}
    for group in groups:
        by_verdict.setdefault(verdict(group, baseline), []).append(group)
    (only, *_), alike = by_verdict, len(by_verdict) == 1
    if alike and only == "stuck at the baseline":
        return ("Neither has" if len(groups) == 2 else f"None of the {len(groups)} has") + (
            " left the baseline.")
    if alike and only not in ("overfits", "diverges"):
        return (("Both " if len(groups) == 2 else f"All {len(groups)} ")
                + f"{VERDICT_PHRASES[only][1]}.")
    clauses = []
    for name, members in by_verdict.items():
        if name in ("overfits", "diverges") or len(members) == 1:
            clauses += [f"{group.label} {verdict_phrase(group, baseline)}" for group in members]
        else:
            clauses.append(f"{join([group.label for group in members])} "
                           f"{VERDICT_PHRASES[name][1]}")
    return "Curves: " + "; ".join(clauses) + "."


def few_melanomas(groups: list[Group]) -> list[str]:
    few = [group for group in groups if finds_few(group)]
    if not few:
        return []
    if len(groups) == 1:
        return [f"It finds {melanomas_found(few[0]).replace('the ', '')}."]
    if all(group.seeds == 1 for group in few):
        view = few[0].runs[0].clinical("final")
        return [f"Of the {view.mel_found + view.mel_missed} melanomas, " + join(
            [f"{group.label} finds {group.runs[0].clinical('final').mel_found}"
             for group in few]) + "."]
    return ["Few melanomas found: " + "; ".join(
        f"{group.label} finds {melanomas_found(group)}" for group in few) + "."]


def decision(groups: list[Group], baseline: float) -> tuple[str, str]:
    """Whether the set-up is enough to decide anything, from what its curves show: a few
    words for the glance, a sentence for the answer."""
    states = {verdict(group, baseline) for group in groups}
    if states & {"not learned yet", "stuck at the baseline"}:
        return ("not enough to decide anything",
                ("Enough to decide anything? No: a model that has not left the majority "
                 "baseline has nothing to compare yet; train it longer or at a higher learning "
                 "rate first."))
    if "diverges" in states:
        return ("not enough to decide: it diverged",
                "Enough to decide? No: a diverged training says nothing about the model.")
    if "still improving" in states:
        return ("not enough to decide yet",
                ("Enough to decide? Not yet: training stopped while the model still improved, "
                "so the numbers measure the epoch budget."))
    return ("enough to decide within the noise",
            "Enough to decide? Yes, within the noise of its validation images.")


def glance(facts: Facts) -> str:
    """The answer in one line: the best accuracy, what the tests found, the weak spots."""
    baseline, groups = facts.baselines["test"], facts.groups
    best = max(groups, key=lambda group: group.mean("final_val_accuracy"))
    if len(groups) == 1:
        parts = [(f"{percent(best.mean('final_val_accuracy'))} validation accuracy; it "
                 f"{verdict_phrase(best, baseline)}")]
    else:
        parts = [f"best {best.label} at {percent(best.mean('final_val_accuracy'))}"]
    found = tests_in_brief(tested_comparisons(facts.comparisons))
    parts += [found] if found else []
    few = [group for group in groups if finds_few(group)]
    if few:
        parts.append(f"finds {melanomas_found(few[0]).replace('the ', '')}" if len(groups) == 1
                     else f"{len(few)} of {len(groups)} set-ups find few melanomas")
    if asks_to_decide(facts):
        parts.append(decision(groups, baseline)[0])
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def tests_in_brief(tested: list[Comparison]) -> str | None:
    """The paired tests in a clause: the one test, the significant ones, or none."""
    if not tested:
        return None
    if len(tested) == 1:
        (comparison,) = tested
        first, second, sign = oriented(comparison)
        names = [factor_label(group, comparison.factors) for group in (first, second)]
        if comparison.reference:
            names[0 if first is comparison.b else 1] += f" ({comparison.reference})"
        significant = p_value(comparison) < THRESHOLDS.alpha
        return (f"{names[0]} {difference_text(comparison, sign)} against {names[1]}, "
                f"{'significant' if significant else 'within the noise'} "
                f"({p_text(p_value(comparison))})")
    significant = [c for c in tested if p_value(c) < THRESHOLDS.alpha]
    if not significant:
        return f"no difference beyond the noise (smallest {p_text(min(map(p_value, tested)))})"
    return "significant: " + join(
        [f"{factor_label(oriented(c)[0], c.factors)} against "
         f"{factor_label(oriented(c)[1], c.factors)} ({difference_text(c, oriented(c)[2])}, "
         f"{p_text(p_value(c))})" for c in significant])


def details(facts: Facts) -> list[str]:
    """The evidence: each set-up, each comparison with its tests, the tests together."""
    paragraphs = [" ".join(describe_group(group, facts.baselines)) for group in facts.groups]
    paragraphs += [" ".join(compare(comparison, facts.baselines))
                   for comparison in facts.comparisons]
    summary = significance_summary(facts.comparisons)
    if summary:
        paragraphs.append(summary)
    if any(group.params["loss"] == "hinge" for group in facts.groups):
        paragraphs.append(hinge_note(facts.test_counts))
    for group in facts.groups:
        for run in group.runs:
            if run.trained_epochs > group.epochs:
                paragraphs.append(
                    f"{run.run_id}: these {group.epochs} epochs are the first {group.epochs} "
                    f"of a {run.trained_epochs}-epoch training ({run.training}); training is "
                    f"deterministic, so they equal a {group.epochs}-epoch run.")
    return paragraphs


def detail_tables(facts: Facts) -> list[dict]:
    groups = facts.groups
    tables = [
        dict(params_table(facts.task, groups),
             caption="Parameters of its runs (highlighted: what differs between them)"),
        dict(values_table(groups, facts.baselines), caption="Final and best values per run"),
        clinical_table(groups),
        tests_table(facts.comparisons),
        spread_table(groups, facts.baselines),
        dict(diagnostics_table(groups), caption="Diagnostics of the curves"),
    ]
    return [table for table in tables if table is not None]


def next_steps(groups: list[Group], baseline: float) -> list[str]:
    """What to try next, where this run's curves show it."""
    steps = []
    for group in groups:
        state = verdict(group, baseline)
        if state in ("still improving", "not learned yet"):
            steps.append(f"{group.label}: more epochs"
                         + (" or a higher learning rate" if state == "not learned yet" else "")
                         + ", as its training loss was still falling.")
        elif state == "overfits":
            steps.append(f"{group.label}: stop at epoch {group.runs[0].values['best_epoch']} "
                         "(its lowest validation loss) or regularise (dropout, fewer filters).")
        elif state == "diverges":
            steps.append(f"{group.label}: a lower learning rate.")
    return steps


def setups_table(groups: list[Group], comparisons: list[Comparison], baseline: float) -> dict:
    """The task's set-ups, and those of other tasks it is compared with, one row each: the
    numbers that matter, what the curve does and the paired tests against the others."""
    rows, seen = [], set()
    own = {(group.task, group.variant, group.epochs) for group in groups}
    others = [c.b for c in comparisons] + [c.a for c in comparisons]
    for group in groups + others:
        key = (group.task, group.variant, group.epochs)
        if key in seen:
            continue
        seen.add(key)
        label = (group.label if key in own else
                 f"{group.label} ({group.task}, {epochs_text(group.epochs)})")
        tests = [f"against {c.b.label}: {p_text(p_value(c))}" for c in comparisons
                 if c.mcnemar is not None and (c.a.task, c.a.variant, c.a.epochs) == key]
        rows.append(setup_row(group, label, verdict_phrase(group, baseline), tests))
    columns = ["set-up", "train acc", "val acc [95% CI]", "balanced acc", "ROC AUC",
               "best epoch", "gap (points)", "curve", "paired test (McNemar)"]
    return {"columns": [{"text": name, "css": ""} for name in columns], "rows": rows}
