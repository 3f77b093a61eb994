"""Snakemake entry point: a trained LeNet's first two conv layers, filters and feature maps
of one test image per class, as a PNG and their statistics as JSON (cnnlab.figures)."""

from cnnlab.entrypoint import run_entrypoint
from cnnlab.runtime import configure_environment


def main(snakemake, log) -> None:
    configure_environment(threads=snakemake.threads or 1)  # before Keras is imported
    from cnnlab.figures import write_filters_figure

    task_id = snakemake.wildcards.task
    png = write_filters_figure(snakemake.params.plan, task_id, snakemake.params.weights_file,
                               snakemake.input.arrays, snakemake.output.png,
                               snakemake.output.stats)
    log(f"{task_id}: wrote {png} from {snakemake.params.weights_file}")


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0] if snakemake.log else None,  # noqa: F821
)
