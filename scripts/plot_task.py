"""Snakemake entry point: one task's learning curves, overlaid, as a PNG (cnnlab.figures)."""

from cnnlab.entrypoint import run_entrypoint
from cnnlab.figures import write_task_figure


def main(snakemake, log) -> None:
    task_id = snakemake.wildcards.task
    png = write_task_figure(snakemake.params.plan, task_id, snakemake.input.manifest,
                            snakemake.output[0])
    log(f"{task_id}: wrote {png}")


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0] if snakemake.log else None,  # noqa: F821
)
