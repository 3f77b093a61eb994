"""Snakemake entry point: the report of what exists now (cnnlab.watch.partial), for the rule
partial_report; the same page as `cnnlab report --partial`."""

from cnnlab.watch.partial import write_partial_report
from cnnlab.workflow.entrypoint import run_entrypoint


def main(snakemake, log) -> None:
    html = write_partial_report(dict(snakemake.config), ".",
                                report_dir=snakemake.params.report_dir)
    log(f"wrote {html}")


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0] if snakemake.log else None,  # noqa: F821
)
