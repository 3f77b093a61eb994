"""Snakemake entry point: one data set -> arrays.npz + manifest.json (cnnlab.data.prepare)."""

from pathlib import Path

from cnnlab.data.prepare import findings_lines, prepare_dataset
from cnnlab.data.split_checks import shown
from cnnlab.workflow.entrypoint import run_entrypoint


def main(snakemake, log) -> None:
    dataset = dict(snakemake.params.dataset)
    image_size = snakemake.params.image_size  # the checked config's, its default filled in
    name = getattr(snakemake.wildcards, "dataset", None)
    manifest = prepare_dataset(
        dataset,
        Path(snakemake.output.arrays),
        Path(snakemake.output.manifest),
        int(image_size),
        name=name,
    )
    for split, counts in manifest["counts"].items():
        log(f"{split}: {counts}")
    log(f"arrays_sha256: {manifest['arrays_sha256']}")
    for line in findings_lines(manifest["sanity"], manifest["duplicates"], manifest["skipped"],
                               manifest["ignored_files"], f"datasets.{manifest['dataset']}"):
        log(f"warning: {line}")  # said on the terminal too, by the preparation
    for skipped in manifest["skipped"]:  # all of them, the terminal names a few
        log(f"skipped {shown(skipped['file'])}: {skipped['reason']}")
    for ignored in manifest["ignored_files"]:
        log(f"ignored {shown(ignored)}")


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0] if snakemake.log else None,  # noqa: F821
)
