"""6E: the set-up the selection rule chose from 6A-6D, its classification accuracy and the
three optimizers compared; its candidates' table and the rule's reasons. Everything read from
the selection file goes through :func:`read`, so a change of that format changes one place."""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.analysis.statistics import ALPHA
from cnnlab.plan.selection import judged_curve, not_overfitted
from cnnlab.report.answers import Answer, Facts, trained
from cnnlab.report.answers.phrases import join, p_text
from cnnlab.report.formatting import (
    format_param,
    number,
    param_phrase,
    percent,
    points,
    value_with_interval,
)
from cnnlab.report.setups import SetUp
from cnnlab.report.significance import images_text
from cnnlab.report.tables import accuracy_cell, cell, number_cell


@dataclass
class Selected:
    """What the report uses of a selection (:func:`cnnlab.store.selection_file.read_selection`)."""

    task: str
    params: dict  # the parameters the rule copies into the task
    rule_text: str
    setup_id: str
    from_task: str
    judged_epoch: int
    target_epochs: int
    values: dict  # the chosen run's values at the judged epoch
    max_gap: float
    meets_condition: bool
    fallback: bool
    candidates: list[dict]  # one row each: setup_id, task, epochs, judged_epoch,
    # final_val_accuracy, final_balanced_accuracy, final_sensitivity, gap, eligible, reason
    rule: str  # the rule's name (RULES_IN_BRIEF)
    runner_up: dict | None  # setup_id, task, epochs, value
    lead: dict | None  # measure, difference, n, only_chosen, only_runner_up, p, beyond_noise


def read(selection: dict) -> Selected:
    chosen = selection["chosen"]
    return Selected(
        task=selection["task"], params=chosen["params"],
        rule_text=selection["rule_text"], setup_id=chosen["setup_id"], from_task=chosen["task"],
        judged_epoch=chosen["judged_epoch"], target_epochs=selection["target_epochs"],
        values=chosen["values"], max_gap=selection["max_gap"],
        meets_condition=selection["meets_condition"], fallback=selection["fallback"],
        candidates=[dict(row, chosen=row["setup_id"] == chosen["setup_id"]
                         and row["epochs"] == chosen["epochs"])
                    for row in selection["candidates"]],
        runner_up=selection["runner_up"], lead=selection["lead"], rule=selection["rule"])


def answer(facts: Facts) -> Answer:
    chosen = read(facts.selection)
    baseline, setups = facts.baselines["test"], facts.setups
    params = join([phrase for name, value in chosen.params.items()
                   if (phrase := param_phrase(name, value))])
    head = (f"Rule: {rule_in_brief(chosen)}. It picked {params} from "
            f"{chosen.from_task}; its lead over the runner-up is {lead_words(chosen)}.")
    if not chosen.meets_condition:
        head += " No candidate met the condition, so the smallest gap was taken."
    sentences = [head]
    result = trained.answer(facts) if setups else None
    if setups:
        sentences += trained.lead(facts, accuracy_first=True)
        sentences += condition(chosen, setups)
    glance = f"{params}, from {chosen.from_task}"
    if setups:
        found = result.glance[:-1]
        glance += ": " + (found[0].lower() + found[1:] if found.startswith("Highest") else found)
    glance = glance[0].upper() + glance[1:] + "."
    n_test = sum(facts.test_counts.values())
    details = [selection_evidence(chosen, n_test)] + (result.details if result else [])
    tables = [selection_table(chosen, baseline, n_test)] if chosen.candidates else []
    return Answer(glance=glance, answer=[" ".join(sentences)],
                  table=result.table if result else None, details=details,
                  tables=tables + (result.tables if result else []),
                  next_steps=result.next_steps if result else [])


#: each rule in a few words (the selection file's rule_text, in full, is in the details)
RULES_IN_BRIEF = {
    "best_val_accuracy_within_gap": "the highest validation accuracy at epoch {epochs} among "
                                    "set-ups that do not overfit and keep a gap of at most {gap}",
    "best_balanced_accuracy_within_gap": "the highest balanced accuracy at epoch {epochs} "
                                         "among set-ups that do not overfit and keep a gap of "
                                         "at most {gap}",
    "best_val_accuracy": "the highest validation accuracy at epoch {epochs}",
    "lowest_val_loss": "the lowest validation loss at epoch {epochs}",
}


def rule_in_brief(chosen: Selected) -> str:
    brief = RULES_IN_BRIEF.get(chosen.rule)
    if brief is None:
        return chosen.rule_text
    return brief.format(epochs=chosen.judged_epoch, gap=points(chosen.max_gap).lstrip("+"))


def meets_condition(setup: SetUp, max_gap: float) -> bool:
    """Whether one of the task's own set-ups meets its condition, judged by the selection's
    rule (:func:`cnnlab.plan.selection.not_overfitted`) on each seed's curve at the task's
    epochs, so the report cannot disagree with the selection."""
    return not_overfitted([judged_curve(run.history, setup.epochs, run.n_test, max_gap)
                           for run in setup.runs])


def condition(chosen: Selected, setups: list[SetUp]) -> list[str]:
    """Which of the trained models meets the task's condition, said where not all do."""
    failing = [setup.label for setup in setups if not meets_condition(setup, chosen.max_gap)]
    if not failing:
        return []
    if len(failing) == len(setups):
        return [(f"None of them stays within a gap of {points(chosen.max_gap).lstrip('+')} "
                "without overfitting.")]
    return [(f"Outside the task's condition (overfitted, diverged or too wide a gap): "
            f"{join(failing)}.")]


def lead_words(chosen: Selected) -> str:
    """'within the noise (p = 0.62)'."""
    if chosen.lead is None or chosen.runner_up is None:
        return "unmeasured: no other candidate was eligible"
    where = "beyond" if chosen.lead["beyond_noise"] else "within"
    return f"{where} the noise ({p_text(chosen.lead['p'])}{welch_clause(chosen.lead)})"


def lead_text(chosen: Selected) -> str:
    """How far the chosen set-up is ahead of the runner-up, and whether that is beyond noise."""
    runner, lead = chosen.runner_up, chosen.lead
    if runner is None or lead is None:
        return "No other candidate was eligible, so there is no runner-up to measure its lead by."
    name, formatter = MEASURES[lead["measure"]]
    difference = (points(lead["difference"]).lstrip("+") if formatter is percent
                  else number(lead["difference"]))
    value = (value_with_interval(runner["value"], lead["n"]) if formatter is percent
             else formatter(runner["value"]))
    # over seeds, beyond_noise needs Welch too: the images' verdict is McNemar's own
    beyond = lead["p"] < ALPHA if lead.get("welch") else lead["beyond_noise"]
    return (f"Its lead over the runner-up, {runner['setup_id']} from task {runner['task']} at "
            f"{runner['epochs']} epochs ({name} {value}), is {difference} of {name}; on "
            f"{images_compared(lead)} the exact McNemar test finds "
            f"{images_text(lead['only_chosen'])} that only the chosen model gets right and "
            f"{lead['only_runner_up']} that only the runner-up does, {p_text(lead['p'])}: the "
            f"lead is {'beyond' if beyond else 'within'} the noise of the validation "
            f"images{welch_clause(lead)}.")


def images_compared(lead: dict) -> str:
    """'the same 103 validation images', or, over seeds, the seed-matched pairs pooled."""
    seeds = lead.get("seeds", 1)
    if seeds < 2:
        return f"the same {lead['n']} validation images"
    return (f"the {lead['images']} validation images of each of {seeds} seeds, seed against "
            f"seed ({lead['n']} pairs)")


def welch_clause(lead: dict) -> str:
    """Over several seeds a side, what Welch's t-test on the seeds' values says too."""
    welch = lead.get("welch")
    if not welch:
        return ""
    return (f"; over the seeds, Welch's t-test ({p_text(welch['p'])}) finds it "
            f"{'beyond' if welch['significant'] else 'within'} the noise between seeds")


MEASURES = {"final_val_accuracy": ("validation accuracy", percent),
            "final_balanced_accuracy": ("balanced accuracy", percent),
            "final_val_loss": ("validation loss", number)}


def selection_evidence(chosen: Selected, n_test: int) -> str:
    """The rule, the run it picked and why, the runner-up, the candidates it rejected."""
    params = ", ".join(f"{name} {format_param(name, value)}"
                       for name, value in chosen.params.items())
    eligible = [row for row in chosen.candidates if row["eligible"]]
    text = (f"The selection rule, {chosen.rule_text}, compared {len(chosen.candidates)} "
            f"candidate set-ups; {len(eligible)} were eligible. It picked {chosen.setup_id} from task "
            f"{chosen.from_task}, judged at epoch {chosen.judged_epoch} of the "
            f"{chosen.target_epochs} this task trains (validation accuracy "
            f"{value_with_interval(chosen.values['final_val_accuracy'], n_test)}, balanced "
            f"accuracy {percent(chosen.values['final_balanced_accuracy'])}, gap "
            f"{points(chosen.values['gap']).lstrip('+')}), so this task uses {params}. ")
    text += lead_text(chosen)
    if chosen.fallback:
        text += (" No candidate met the rule, so the one with the smallest gap was taken: "
                 "treat the choice as a fallback.")
    return text


def selection_table(chosen: Selected, baseline: float, n_test: int) -> dict:
    """The candidates with the values the rule judged them by, at the epochs judged;
    accuracies on the n_test validation images with their Wilson intervals."""
    columns = ["candidate", "task", "epochs", "judged at epoch",
               f"final val acc [95% CI] (baseline {percent(baseline)})", "balanced acc",
               "Mel sensitivity", "gap", "eligible", "reason"]
    rows = [[cell(row["setup_id"], css="differs" if row["chosen"] else ""), cell(row["task"]),
             cell(row["epochs"], row["epochs"]), cell(row["judged_epoch"], row["judged_epoch"]),
             accuracy_cell(row["final_val_accuracy"], n_test),
             number_cell(row["final_balanced_accuracy"], percent),
             number_cell(row["final_sensitivity"], percent), number_cell(row["gap"], number),
             cell("chosen" if row["chosen"] else ("yes" if row["eligible"] else "no")),
             cell(row["reason"])] for row in chosen.candidates]
    return {"caption": f"Selection rule: {chosen.rule_text}",
            "columns": [{"text": name, "css": ""} for name in columns], "rows": rows}
