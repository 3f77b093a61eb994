"""Snakemake entry point: apply a task's selection rule to its candidates' histories."""

from cnnlab.entrypoint import run_entrypoint
from cnnlab.grid import plan_lab
from cnnlab.selection import select_optimum


def main(snakemake, log) -> None:
    plan = plan_lab(snakemake.config)
    result = select_optimum(plan, snakemake.wildcards.task, snakemake.output[0])
    log(f"rule: {result['rule_text']}")
    log(f"chosen: {result['chosen']['run_id']} at {result['chosen']['epochs']} epochs")


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0],  # noqa: F821
)
