"""Snakemake entry point: apply a task's selection rule to its candidates' histories and
predictions at the task's own epoch count, and test the chosen run's lead over the
runner-up."""

from cnnlab.plan.complete_plan import complete_plan
from cnnlab.plan.selection import select_setup
from cnnlab.plan.selection_seeds import lead_line
from cnnlab.workflow.entrypoint import run_entrypoint


def main(snakemake, log) -> None:
    plan = complete_plan(snakemake.config)
    result = select_setup(plan, snakemake.wildcards.task, snakemake.output[0])
    log(f"rule: {result['rule_text']}")
    chosen = result["chosen"]
    log(f"chosen: {chosen['setup_id']} from {chosen['task']} at {chosen['epochs']} epochs, judged "
        f"at epoch {chosen['judged_epoch']} ({result['task']} trains {result['target_epochs']})")
    for row in result["candidates"]:
        if not row["eligible"]:
            log(f"not eligible: {row['setup_id']}: {row['reason']}")
    if not result["meets_condition"]:
        log("no candidate met the rule's condition (not overfitted): the choice is a fallback")
    log(lead_line(result["runner_up"], result["lead"]))


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0],  # noqa: F821
)
