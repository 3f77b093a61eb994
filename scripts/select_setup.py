"""Snakemake entry point: apply a task's selection rule to its candidates' histories and
predictions at the task's own epoch count, and test the chosen run's lead over the
runner-up."""

from cnnlab.plan.complete_plan import complete_plan
from cnnlab.plan.selection import log_lines, select_setup
from cnnlab.workflow.entrypoint import run_entrypoint


def main(snakemake, log) -> None:
    plan = complete_plan(snakemake.config)
    result = select_setup(plan, snakemake.wildcards.task, snakemake.output[0])
    for line in log_lines(result):
        log(line)


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0],  # noqa: F821
)
