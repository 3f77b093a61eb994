"""A task that trains set-ups and compares them (5A-5C, 6A-6D, 6F): the accuracies, each
effect with its paired test, what the curves do, the melanomas missed and, where the
question asks, whether the set-up can decide; its table of set-ups and its evidence."""

from __future__ import annotations

from cnnlab.report.answers import Answer, Facts
from cnnlab.report.answers.effects import (
    effects,
    factor_label,
    learning_rate_shape,
    p_clause,
    significance_in_brief,
    tested_comparisons,
    tests_in_brief,
    yes_or_no,
)
from cnnlab.report.answers.evidence import compare, describe_setup
from cnnlab.report.answers.hinge import hinge_note
from cnnlab.report.answers.phrases import (
    VERDICT_PHRASES,
    curve,
    finds_few,
    join,
    melanomas_found,
    verdict,
    verdict_phrase,
    verdict_sentence,
    with_spread,
)
from cnnlab.report.formatting import (
    epochs_text,
    interval_text,
    number,
    percent,
    points,
)
from cnnlab.report.setups import Comparison, SetUp
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

#: the parts of a question, by a word that asks for them
QUESTION_PARTS = {"decide": "decide", "generalis": "generalisation",
                  "generaliz": "generalisation", "evaluat": "evaluation",
                  "significan": "significance"}


def question_asks(question: str) -> set[str]:
    """What a task's question asks beyond its comparisons: whether the set-up can decide,
    how well it generalises, an evaluation, whether differences are significant."""
    text = question.lower()
    return {part for word, part in QUESTION_PARTS.items() if word in text}


def answer(facts: Facts) -> Answer:
    """The answer of a trained task, its question's parts first, with its table and its
    evidence."""
    return Answer(glance=glance(facts), answer=[" ".join(lead(facts))],
                  table=setups_table(facts.setups, facts.comparisons, facts.baselines["test"]),
                  details=details(facts), tables=detail_tables(facts),
                  next_steps=next_steps(facts.setups, facts.baselines["test"]))


def lead(facts: Facts, accuracy_first: bool = False) -> list[str]:
    """The visible answer: what the question asks, in its order (`accuracy_first`: the
    accuracies before the comparisons, as 6E's question asks), then the curves."""
    baseline, setups = facts.baselines["test"], facts.setups
    asked = tested_comparisons(facts.comparisons)
    asks = question_asks(facts.task.question)
    sentences = [yes_or_no(asked)] if "significance" in asks and asked else []
    if accuracy_first and len(setups) > 1:
        sentences.append(accuracies(setups, baseline))
    sentences += effects(asked, summary="significance" not in asks)
    sentences += unanswered(asked, baseline) + learning_rate_shape(asked)
    if len(setups) == 1:
        sentences.append(accuracies(setups, baseline, "generalisation" in asks))
        sentences.append(curve_change(setups[0], asked, baseline)
                         or verdict_sentence(setups[0], baseline))
        sentences += (evaluation(setups[0]) if "evaluation" in asks
                      else few_melanomas(setups))
    else:
        sentences += [] if accuracy_first else [accuracies(setups, baseline)]
        sentences += [curves(setups, baseline)] + few_melanomas(setups)
    if "decide" in asks:
        sentences.append(decision(setups, baseline)[1])
    return sentences


def unanswered(asked: list[Comparison], baseline: float) -> list[str]:
    """Where both sides of an asked comparison sit at the majority baseline, the difference
    measures nothing yet: said once, with the run that would answer it."""
    stuck = [c for c in asked if curve(c.a, baseline).at_baseline
             and curve(c.b, baseline).at_baseline]
    if not stuck:
        return []
    epochs = max(max(c.a.epochs, c.b.epochs) for c in stuck)
    names = sorted({factor_label(setup, c.factors) for c in stuck for setup in (c.a, c.b)})
    return [(f"At {epochs_text(epochs)} {join(names)} {'both' if len(names) == 2 else 'all'} "
             "sit within the noise of the majority baseline, so this run cannot tell them "
             "apart; longer runs would.")]


def accuracies(setups: list[SetUp], baseline: float, generalisation: bool = False) -> str:
    """One set-up: training and validation accuracy, the latter with its interval (and how
    well it generalises, where asked); several: each set-up's validation accuracy, the
    highest first, ties together."""
    if len(setups) == 1:
        setup = setups[0]
        run = setup.runs[0]
        validation = (with_spread(setup, "final_val_accuracy") if setup.seeds > 1 else
                      f"{percent(run.values['final_val_accuracy'])} "
                      f"({interval_text(run.interval('final_val_accuracy'))})")
        training = with_spread(setup, "final_accuracy")
        # short sentences: every single-set-up task says these, and says them plainly
        said = (f"Training and validation accuracy after {epochs_text(setup.epochs)}: both "
                f"{validation}." if validation.startswith(training + " ") else
                f"Training accuracy after {epochs_text(setup.epochs)}: {training}. "
                f"Validation accuracy: {validation}.")
        return said + (f" {generalises(setup, baseline)}" if generalisation else "")
    ranked = sorted(setups, key=lambda setup: -setup.mean("final_val_accuracy"))
    values = {with_spread(setup, "final_val_accuracy") for setup in setups}
    if len(values) == 1:
        return f"Validation accuracy: {values.pop()} for all {len(setups)}."
    alike: dict[str, list[str]] = {}  # set-ups that share a value share its mention
    for setup in ranked:
        alike.setdefault(with_spread(setup, "final_val_accuracy"), []).append(setup.label)
    return "Validation accuracy: " + join(
        [f"{value} ({join(labels)})" for value, labels in alike.items()]) + "."


def generalises(setup: SetUp, baseline: float) -> str:
    """How well a set-up generalises, from its train - validation gap against the noise of
    its validation accuracy and from its curve."""
    found = curve(setup, baseline)
    run = setup.runs[0]
    gap, noise = setup.mean("gap"), run.interval("final_val_accuracy")
    half_width = (noise.high - noise.low) / 2
    if found.at_baseline:
        return "It does not generalise yet: on new images it is no better than the baseline."
    if found.name == "overfitting" or gap > half_width:
        return (f"It generalises only in part: validation accuracy is "
                f"{points(gap).lstrip('+')} below training accuracy.")
    return "It generalises well: training and validation accuracy agree within the noise."


def curve_change(setup: SetUp, asked: list[Comparison], baseline: float) -> str | None:
    """Where the question compares the set-up with fewer epochs of itself (5B with 5A):
    what its curve was then and what it is now, with the numbers that decide it."""
    earlier = [c.b for c in asked if c.factors == ["epochs"] and c.reference]
    if not earlier:
        return None
    before = earlier[0]
    was = VERDICT_PHRASES[verdict(before, baseline)][0].replace("is ", "was ", 1)
    was = was.replace("has ", "had ", 1).replace("ranks", "ranked", 1)
    now = verdict_sentence(setup, baseline)
    if verdict(before, baseline) == verdict(setup, baseline):
        now = now.split(": ", 1)[-1]  # 'It is still learning: its ...' -> 'its ...'
        return f"At {epochs_text(before.epochs)} ({before.task}) it {was}, and still is: {now}"
    return f"At {epochs_text(before.epochs)} ({before.task}) it {was}; now {now[0].lower()}{now[1:]}"


def evaluation(setup: SetUp) -> list[str]:
    """An evaluation's clinical part: melanomas found and nevi cleared, each with its share."""
    view = setup.runs[0].clinical("final")
    if view is None:
        return []
    return [(f"It finds {view.mel_found} of the {view.mel_found + view.mel_missed} melanomas "
             f"(sensitivity {percent(view.sensitivity)}) and clears {view.nev_cleared} of the "
             f"{view.nev_cleared + view.nev_flagged} nevi (specificity "
             f"{percent(view.specificity)}).")]


def curves(setups: list[SetUp], baseline: float) -> str:
    """What each set-up's curve does, those alike together."""
    by_verdict: dict[str, list[SetUp]] = {}
    for setup in setups:
        by_verdict.setdefault(verdict(setup, baseline), []).append(setup)
    (only, *_), alike = by_verdict, len(by_verdict) == 1
    if alike and only in ("not learning", "plateau", "still learning"):
        return (("Both " if len(setups) == 2 else f"All {len(setups)} ")
                + f"{VERDICT_PHRASES[only][1]}{best_epochs_in_brief(setups, baseline)}.")
    clauses = []
    for name, members in by_verdict.items():
        if name == "ranks, not above the baseline" and len(members) > 1:
            aucs = join([number(curve(setup, baseline).auc) for setup in members])
            clauses.append(f"{join([setup.label for setup in members])} rank the images (ROC "
                           f"AUC {aucs}) but are within the baseline's noise")
        elif name in ("overfitting", "diverged", "ranks, not above the baseline") or len(
                members) == 1:
            clauses += [f"{setup.label} {verdict_phrase(setup, baseline)}" for setup in members]
        else:
            clauses.append(f"{join([setup.label for setup in members])} "
                           f"{VERDICT_PHRASES[name][1]}")
    return "Curves: " + "; ".join(clauses) + "."


def best_epochs_in_brief(setups: list[SetUp], baseline: float) -> str:
    """' (best epochs 8, 9 and 10 of 10, 29 of 30)': the evidence of set-ups alike."""
    by_length: dict[int, list[int]] = {}
    for setup in setups:
        found = curve(setup, baseline)
        if found.best_epoch is None:
            return ""
        by_length.setdefault(found.epochs, []).append(found.best_epoch)
    if len(by_length) == 1 and len(set(next(iter(by_length.values())))) == 1:
        (epochs, (best, *_)), = by_length.items()
        return f" (best epoch {best} of {epochs} each)"
    return " (best epochs " + ", ".join(
        f"{join([str(best) for best in sorted(bests)])} of {epochs}"
        for epochs, bests in by_length.items()) + ")"


def few_melanomas(setups: list[SetUp]) -> list[str]:
    few = [setup for setup in setups if finds_few(setup)]
    if not few:
        return []
    if len(setups) == 1:
        return [f"It finds {melanomas_found(few[0]).replace('the ', '')}."]
    if all(setup.seeds == 1 for setup in few):
        view = few[0].runs[0].clinical("final")
        return [f"Of the {view.mel_found + view.mel_missed} melanomas, " + join(
            [f"{setup.label} finds {setup.runs[0].clinical('final').mel_found}"
             for setup in few]) + "."]
    return ["Few melanomas found: " + "; ".join(
        f"{setup.label} finds {melanomas_found(setup)}" for setup in few) + "."]


def decision(setups: list[SetUp], baseline: float) -> tuple[str, str]:
    """Whether the set-up is enough to decide anything, from what its curves show: a few
    words for the glance, a sentence for the answer."""
    found = [curve(setup, baseline) for setup in setups]
    if any(verdict.at_baseline for verdict in found):
        return ("not enough to decide anything",
                ("Enough to decide anything? No: a model at the majority baseline has "
                 "nothing to compare yet; train it longer or at a higher learning rate."))
    if any(verdict.name == "diverged" for verdict in found):
        return ("not enough to decide: it diverged",
                "Enough to decide? No: a diverged training says nothing about the model.")
    if any(verdict.learning for verdict in found):
        return ("not enough to decide yet",
                ("Enough to decide? Not yet: training stopped while the model still learned, "
                 "so the numbers measure the epoch budget."))
    return ("enough to decide within the noise",
            "Enough to decide? Yes, within the noise of its validation images.")


def glance(facts: Facts) -> str:
    """The answer in one line: the accuracy (the highest, or a tie), what the tests found,
    the weak spots."""
    baseline, setups = facts.baselines["test"], facts.setups
    asks = question_asks(facts.task.question)
    top = max(setup.mean("final_val_accuracy") for setup in setups)
    leaders = [setup for setup in setups
               if percent(setup.mean("final_val_accuracy")) == percent(top)]
    if len(setups) == 1:
        parts = [(f"{percent(top)} validation accuracy; it "
                  f"{verdict_phrase(setups[0], baseline)}")]
    elif len(leaders) > 1:
        parts = [f"{join([setup.label for setup in leaders])} tie at {percent(top)}"]
    else:
        parts = [f"highest {leaders[0].label} at {percent(top)}"]
    found = tests_in_brief(tested_comparisons(facts.comparisons))
    if found and "significance" in asks:  # the question's yes or no, in a clause
        found = significance_in_brief(tested_comparisons(facts.comparisons))
    parts += [found] if found else []
    few = [setup for setup in setups if finds_few(setup)]
    if few:
        parts.append(f"finds {melanomas_found(few[0]).replace('the ', '')}" if len(setups) == 1
                     else f"{len(few)} of {len(setups)} set-ups find few melanomas")
    if "decide" in asks:
        parts.append(decision(setups, baseline)[0])
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def details(facts: Facts) -> list[str]:
    """The evidence: each set-up, each comparison with its tests, the tests together."""
    paragraphs = [" ".join(describe_setup(setup, facts.baselines)) for setup in facts.setups]
    paragraphs += [" ".join(compare(comparison, facts.baselines))
                   for comparison in facts.comparisons]
    summary = significance_summary(facts.comparisons)
    if summary:
        paragraphs.append(summary)
    if any(setup.params["loss"] == "hinge" for setup in facts.setups):
        paragraphs.append(hinge_note(facts.test_counts))
    for setup in facts.setups:
        for run in setup.runs:
            if run.trained_epochs > setup.epochs:
                paragraphs.append(
                    f"{run.run_id}: these {setup.epochs} epochs are the first {setup.epochs} "
                    f"of a {run.trained_epochs}-epoch training ({run.training}); training is "
                    f"deterministic, so they equal a {setup.epochs}-epoch run.")
    return paragraphs


def detail_tables(facts: Facts) -> list[dict]:
    setups = facts.setups
    tables = [
        dict(params_table(facts.task, setups),
             caption="Parameters of its runs (highlighted: what differs between them)"),
        dict(values_table(setups, facts.baselines), caption="Final and best values per run"),
        clinical_table(setups),
        tests_table(facts.comparisons),
        spread_table(setups, facts.baselines),
        dict(diagnostics_table(setups), caption="Diagnostics of the curves"),
    ]
    return [table for table in tables if table is not None]


def next_steps(setups: list[SetUp], baseline: float) -> list[str]:
    """What to try next, where this run's curves show it."""
    steps = []
    for setup in setups:
        found = curve(setup, baseline)
        if found.name == "still learning":
            steps.append(f"{setup.label}: more epochs, as its losses were still falling.")
        elif found.name in ("ranks, not above the baseline", "not learning"):
            steps.append(f"{setup.label}: more epochs or a higher learning rate, to move it "
                         "off the majority baseline.")
        elif found.name == "overfitting":
            steps.append(f"{setup.label}: stop at epoch {found.onset.epoch} (its lowest "
                         "validation loss) or regularise (dropout, fewer filters).")
        elif found.name == "diverged":
            steps.append(f"{setup.label}: a lower learning rate.")
    return steps


def setups_table(setups: list[SetUp], comparisons: list[Comparison], baseline: float) -> dict:
    """The task's set-ups, and those of other tasks it is compared with, one row each: the
    numbers that matter, what the curve does and the paired tests against the others."""
    rows, seen = [], set()
    own = {(setup.task, setup.setup_id, setup.epochs) for setup in setups}
    others = [c.b for c in comparisons if c.asked] + [c.a for c in comparisons if c.asked]
    for setup in setups + others:
        key = (setup.task, setup.setup_id, setup.epochs)
        if key in seen:
            continue
        seen.add(key)
        label = (setup.label if key in own else
                 f"{setup.label} ({setup.task}, {epochs_text(setup.epochs)})")
        tests = [f"against {c.b.label}: {p_clause(c)}" for c in comparisons
                 if c.mcnemar is not None and c.asked
                 and (c.a.task, c.a.setup_id, c.a.epochs) == key]
        rows.append(setup_row(setup, label, verdict_phrase(setup, baseline), tests))
    columns = ["set-up", "train acc", "val acc [95% CI]", "balanced acc", "ROC AUC",
               "best epoch", "gap (points)", "curve", "paired test (McNemar)"]
    return {"columns": [{"text": name, "css": ""} for name in columns], "rows": rows}
