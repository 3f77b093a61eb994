"""Part 3: the epochs cnnlab trains (prefixes shared, runs deduplicated) against those asked."""

from __future__ import annotations

import json

from bench.common import Context, table
from bench.jobs import lab_config, lab_override, lab_records
from cnnlab.plan.plan import plan_lab


def measure(ctx: Context) -> dict:
    """The lab's plan with the selections of part 2's lab, or stand-ins when it did not run."""
    from cnnlab.store import layout
    from cnnlab.store.selection_file import read_choices

    override = ctx.lab["override"] if ctx.lab else lab_override(ctx)
    config = lab_config(override)
    first = plan_lab(config)
    if ctx.lab:
        selections = {
            task: str(ctx.lab["workdir"] / layout.selection_json(first.dataset, task))
            for task in first.selections_needed
        }
        choices, stand_in = read_choices(selections), None
    else:  # no lab run: the first candidate run stands in for each selection
        choices, stand_in = {}, {}
        for task_id in first.selections_needed:
            selection = first.tasks[task_id].selection
            entry = first.tasks[selection["candidates"][0]].entries[0]
            choices[task_id] = {name: entry.spec.to_dict()[name] for name in selection["copy"]}
            stand_in[task_id] = choices[task_id]
    plan = plan_lab(config, choices)
    asked = sum(entry.epochs for task in plan.tasks.values() for entry in task.entries)
    # a longer training of a run resumes from the shorter one's state: the state folder's
    # longest training is what is trained for it
    longest: dict[str, int] = {}
    for training in plan.trainings.values():
        longest[training.state_directory] = max(
            longest.get(training.state_directory, 0), training.epochs
        )
    planned = sum(longest.values())
    result = {
        "epoch_divisor": plan.epoch_divisor,
        "runs_listed": plan.entries_listed(),
        "trainings": len(plan.trainings),
        "epochs_asked": asked,
        "epochs_planned": planned,
        "ratio": planned / asked if asked else None,
        "stand_in_selection": stand_in,
    }
    if ctx.lab:
        records = lab_records(ctx.lab["workdir"])
        result["epochs_trained"] = sum(
            int(r["epochs_trained"]) - int(r["resumed_from_epoch"]) for r in records
        )
    return result


def render(ctx: Context, result: dict) -> str:
    rows = [
        ["runs the tasks list (the notebook trains each)", result["runs_listed"]],
        ["cnnlab training jobs", result["trainings"]],
        ["epochs the tasks ask for (the notebook trains them all)", result["epochs_asked"]],
        ["epochs cnnlab plans (one training per run, prefixes shared)", result["epochs_planned"]],
    ]
    if "epochs_trained" in result:
        rows.append(["epochs cnnlab trained (records of part 2)", result["epochs_trained"]])
    rows.append(["**ratio cnnlab / asked**", f"**{result['ratio']:.2f}**"])
    out = ["## 3. Epochs trained", "", f"Epoch divisor {result['epoch_divisor']}.", ""]
    out += [table(["", ""], rows), ""]
    if result["stand_in_selection"]:
        stand_in = (
            "No lab ran (part 2): 6E's selection is unknown, so the first candidate run stands "
            f"in for it: `{json.dumps(result['stand_in_selection'])}`."
        )
        out += [stand_in, ""]
    return "\n".join(out)


def checks(ctx: Context, result: dict) -> list[list]:
    return []  # a count, not a speed: nothing to judge
