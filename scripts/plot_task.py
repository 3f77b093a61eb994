"""Snakemake entry point: one task's learning curves, overlaid, and its ROC curves, as PNGs
(cnnlab.report.figures)."""

from cnnlab.report.figures import write_task_figures
from cnnlab.workflow.entrypoint import run_entrypoint


def main(snakemake, log) -> None:
    task_id = snakemake.wildcards.task
    pngs = write_task_figures(snakemake.params.plan.data, task_id, snakemake.input.manifest,
                              snakemake.output.curves, snakemake.output.roc)
    log(f"{task_id}: wrote {', '.join(map(str, pngs))}")


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0] if snakemake.log else None,  # noqa: F821
)
