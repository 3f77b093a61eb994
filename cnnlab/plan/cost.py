"""A rough estimate of a training's cost: its time, so the longest trainings start first,
and its model's memory, so a job asks for what it needs.

Snakemake starts ready jobs in order of priority. Starting the longest first (the LPT
rule) keeps the cores busy to the end instead of leaving one 200-epoch LeNet running
alone. Only the order matters, so the estimate needs to be right within a factor, not
exact. An epoch costs, per image, the multiply-accumulates of the convolutions and dense
layers (three times: forward and backward) and a pass over each convolution's output
values (ReLU, pooling, their gradients: memory-bound); per optimizer step, a pass over
the weights (gradient and update: memory-bound, LeNet's 4.2 million dense weights) and a
fixed cost. The four rates are fitted on epoch times of the default lab's models (one
thread per job, two jobs at once, 2-core AVX-512 CPU): within 10 % for the convolutional
ones (the multiply-accumulates alone gave LeNet 60 % of its time, and ranked a 20-epoch
LeNet below a 5-epoch AlexNet n_base 32 that takes 40 % less).
"""

from __future__ import annotations

from cnnlab.errors import CnnlabError
from cnnlab.plan.grid import Plan
from cnnlab.plan.runs import RunSpec, Training

MACS_PER_SECOND = 7e10
SECONDS_PER_ACTIVATION = 8.4e-9  # per convolution output value of one image
SECONDS_PER_WEIGHT_UPDATE = 1.4e-9  # per weight, per optimizer step
SECONDS_PER_STEP = 0.0015


def _layers(spec: RunSpec, image_size: int):
    """(multiply-accumulates, convolution output values, weights) of one image's forward
    pass."""
    side, channels, macs, activations, weights = image_size, 1, 0.0, 0.0, 0.0
    if spec.model == "lenet":
        convolutions = [(spec.n_base, True), (2 * spec.n_base, True)]
    elif spec.model == "alexnet":
        n = spec.n_base
        convolutions = [(n, True), (2 * n, True), (4 * n, False), (4 * n, False), (2 * n, True)]
    else:
        convolutions = []
    for filters, pooled in convolutions:
        macs += side * side * channels * filters * 9
        activations += side * side * filters
        weights += 9 * channels * filters + filters
        channels = filters
        side = side // 2 if pooled else side
    features = side * side * channels
    for width in (*spec.dense, 1):
        macs += features * width
        weights += features * width + width
        features = width
    return macs, activations, weights


def forward_macs(spec: RunSpec, image_size: int) -> float:
    """Multiply-accumulates of one image's forward pass."""
    return _layers(spec, image_size)[0]


def epoch_flops(spec: RunSpec, image_size: int, n_train: int, n_validation: int) -> float:
    """Floating-point operations of one epoch by the layer shapes: two per
    multiply-accumulate, three passes per training image (forward, then the gradients of
    the inputs and of the weights) and one per validation image. Element-wise work
    (ReLU, pooling, the optimizer) is left out: it is memory-bound, not counted against a
    matrix unit's limit."""
    return 2 * forward_macs(spec, image_size) * (3 * n_train + n_validation)


def estimated_seconds(spec: RunSpec, epochs: int, image_size: int, n_train: int) -> float:
    macs, activations, weights = _layers(spec, image_size)
    steps = -(-n_train // spec.batch_size)
    per_image = 3 * macs / MACS_PER_SECOND + activations * SECONDS_PER_ACTIVATION
    per_step = weights * SECONDS_PER_WEIGHT_UPDATE + SECONDS_PER_STEP
    return epochs * (n_train * per_image + steps * per_step)


SELECTION_WAITS_PRIORITY = 10**7  # above every training's estimated seconds


def training_priority(plan: Plan, training: Training, image_size: int, n_train: int) -> int:
    """A training job's Snakemake priority: longest first, so that no long one is left
    running alone at the end; but the trainings a selection waits for (6E's candidates)
    before all others, so that the trainings it unlocks start early and the others fill
    the cores around them (simulated on the default lab with 2 cores and the epoch times
    of DESIGN.md: 1-4 % shorter than longest-first alone, whichever run 6E selects).
    ``cnnlab status`` orders the queue by it too."""
    seconds = int(estimated_seconds(training.spec, training.epochs, image_size, n_train))
    if training.directory in plan.trainings_selections_wait_for():
        return SELECTION_WAITS_PRIORITY + seconds
    return seconds


BYTES_PER_FLOAT = 4
# a weight is held four times while training: itself, its gradient and Adam's two moments
COPIES_PER_WEIGHT = 4
# a convolution's output values are held for the backward pass, and their gradients
COPIES_PER_ACTIVATION = 2


def estimated_model_mb(spec: RunSpec, image_size: int) -> float:
    """The memory a training's model needs beyond TensorFlow's own and the arrays: its
    weights with their gradients and optimizer state, and one batch's activations. LeNet's
    first dense layer grows with the square of the image's side: at 1024 x 1024 it holds a
    billion weights."""
    _, activations, weights = _layers(spec, image_size)
    floats = (COPIES_PER_WEIGHT * weights
              + COPIES_PER_ACTIVATION * activations * spec.batch_size)
    return floats * BYTES_PER_FLOAT / 2**20


# more than any machine holds (1 TiB): a typo, not a set-up (n_base: 1000000, dense:
# [1000000000]); refused when the workflow starts, not after hours
MEMORY_LIMIT_MB = 2**20


def check_memory(plan, config: dict) -> None:
    """Raise CnnlabError for a data set or a training's model beyond MEMORY_LIMIT_MB."""
    dataset = config["datasets"][plan.dataset]
    size = dataset["image_size"]
    if dataset["kind"] == "synthetic":
        images = dataset["n_train"] + dataset["n_test"]
        arrays_mb = images * size * size * BYTES_PER_FLOAT / 2**20
        if arrays_mb > MEMORY_LIMIT_MB:
            raise CnnlabError(f"datasets.{plan.dataset}: {images:,} images of {size} x {size} "
                              f"would take {arrays_mb / 2**20:,.0f} TiB of memory; lower "
                              "n_train, n_test or image_size.")
    for training in plan.trainings.values():
        model_mb = estimated_model_mb(training.spec, size)
        if model_mb > MEMORY_LIMIT_MB:
            raise CnnlabError(f"run {training.run_id}: its model would take about "
                              f"{model_mb / 2**20:,.0f} TiB of memory to train at {size} x "
                              f"{size} (weights, gradients, optimizer state): lower n_base, "
                              "dense or image_size.")
