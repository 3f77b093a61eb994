"""A rough estimate of a training's cost, so the longest trainings start first.

Snakemake starts ready jobs in order of priority. Starting the longest first (the LPT
rule) keeps the cores busy to the end instead of leaving one 200-epoch LeNet running
alone. Only the order matters, so the estimate needs to be right within a factor, not
exact: multiply-accumulates of the convolutions and dense layers, times three for the
backward pass, plus a fixed cost per optimizer step (fitted on a 2-core AVX-512 CPU).
"""

from __future__ import annotations

from cnnlab.grid import RunSpec

MACS_PER_SECOND = 4e10
SECONDS_PER_STEP = 0.0037


def forward_macs(spec: RunSpec, image_size: int) -> float:
    """Multiply-accumulates of one image's forward pass."""
    side, channels, macs = image_size, 1, 0.0
    if spec.model == "lenet":
        convolutions = [(spec.n_base, True), (2 * spec.n_base, True)]
    elif spec.model == "alexnet":
        n = spec.n_base
        convolutions = [(n, True), (2 * n, True), (4 * n, False), (4 * n, False), (2 * n, True)]
    else:
        convolutions = []
    for filters, pooled in convolutions:
        macs += side * side * channels * filters * 9
        channels = filters
        side = side // 2 if pooled else side
    features = side * side * channels
    for width in (*spec.dense, 1):
        macs += features * width
        features = width
    return macs


def estimated_seconds(spec: RunSpec, epochs: int, image_size: int, n_train: int) -> float:
    steps = -(-n_train // spec.batch_size)
    per_epoch = 3 * forward_macs(spec, image_size) * n_train / MACS_PER_SECOND
    return epochs * (per_epoch + steps * SECONDS_PER_STEP)
