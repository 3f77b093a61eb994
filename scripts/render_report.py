"""Snakemake entry point: the self-contained HTML lab report (cnnlab.report.page)."""

from cnnlab.report.page import write_report
from cnnlab.workflow.entrypoint import run_entrypoint


def main(snakemake, log) -> None:
    html = write_report(
        snakemake.params.plan.data,
        snakemake.input.manifest,
        snakemake.output[0],
        figure_files=list(snakemake.input.figures),
        roc_files=list(snakemake.input.roc_figures),
        concept_files=list(snakemake.input.get("concept_figures", [])),
        concept_stats_files=list(snakemake.input.get("concept_stats", [])),
        selection_files=list(snakemake.input.get("selections", [])),
        config=dict(snakemake.config),
        report_dir=snakemake.params.report_dir,
    )
    log(f"wrote {html}")


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0] if snakemake.log else None,  # noqa: F821
)
