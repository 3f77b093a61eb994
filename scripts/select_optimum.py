"""Snakemake entry point: apply a task's selection rule to its candidates' histories."""

from cnnlab.entrypoint import run_entrypoint
from cnnlab.grid import plan_lab
from cnnlab.selection import select_optimum


def main(snakemake):
    plan = plan_lab(snakemake.config)
    select_optimum(plan, snakemake.wildcards.task, snakemake.output[0])


run_entrypoint(main, snakemake)  # noqa: F821 (provided by Snakemake)
