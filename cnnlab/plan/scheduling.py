"""A rough estimate of a training's cost: its time, so the longest trainings start first,
and its model's memory, so a job asks for what it needs.

Snakemake starts ready jobs in order of priority. Starting the longest chain of work
first (a training's own time plus the work that waits for it: the critical path) keeps
the cores busy to the end instead of leaving one 200-epoch LeNet running alone, on 2
cores or 16. Only the order matters, so the estimate needs to be right within a factor,
not exact; where trainings have run here, their measured epoch times calibrate it. An epoch costs, per image, the multiply-accumulates of the convolutions and dense
layers (three times: forward and backward) and a pass over each convolution's output
values (ReLU, pooling, their gradients: memory-bound); per optimizer step, a pass over
the weights (gradient and update: memory-bound, LeNet's 4.2 million dense weights) and a
fixed cost. The four rates are fitted on epoch times of the default lab's models (one
thread per job, two jobs at once, 2-core AVX-512 CPU): within 10 % for the convolutional
ones (the multiply-accumulates alone gave LeNet 60 % of its time, and ranked a 20-epoch
LeNet below a 5-epoch AlexNet n_base 32 that takes 40 % less).
"""

from __future__ import annotations

import os
import statistics
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.plan.plan import Plan
from cnnlab.plan.runs import RunSpec, Training
from cnnlab.store import layout
from cnnlab.store.files import read_record
from cnnlab.store.history import read_column

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


@dataclass(frozen=True)
class EpochTimes:
    """Seconds per epoch of a run on this machine: measured, where a training of the run
    (any seed) has a history here; else the formula's, scaled by the ratio of measured to
    estimated seconds of the trainings of its architecture measured here (the formula was
    fitted on another CPU: its rates are right within a factor, the same factor for one
    architecture); else the formula's alone."""

    image_size: int
    n_train: int
    by_setup: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)  # by model kind

    def epoch_seconds(self, spec: RunSpec) -> float:
        if spec.setup_id in self.by_setup:
            return self.by_setup[spec.setup_id]
        formula = estimated_seconds(spec, 1, self.image_size, self.n_train)
        return formula * self.scale.get(spec.model, 1.0)


def measured_epochs(dataset: str, image_size: int, n_train: int,
                    root: str | os.PathLike = ".") -> EpochTimes:
    """The :class:`EpochTimes` of the trainings found under ``root``'s results/runs/<dataset>
    (a history.csv with its record.json); a file that cannot be read is passed over: the
    estimate only orders jobs. An epoch's time is the median of a training's epochs."""
    records = Path(root).glob(layout.record_json(layout.training_directory(dataset, "*", "*")))
    by_setup: dict[str, float] = {}
    ratios: dict[str, list[float]] = {}
    for record_json in sorted(records):
        try:
            spec = RunSpec.from_dict(read_record(record_json)["params"])
            seconds = read_column(layout.history_csv(record_json.parent), "seconds")
        except (CnnlabError, OSError, ValueError, KeyError, TypeError):
            continue
        if not seconds:
            continue
        median = statistics.median(seconds)
        by_setup[spec.setup_id] = median
        formula = estimated_seconds(spec, 1, image_size, n_train)
        ratios.setdefault(spec.model, []).append(median / formula)
    scale = {model: statistics.median(values) for model, values in ratios.items()}
    return EpochTimes(image_size, n_train, by_setup, scale)


def selection_tails(plan: Plan, epoch_seconds: Callable[[RunSpec], float]) -> dict[str, float]:
    """For each training a selection still to be made waits for (by directory): the
    seconds of the work that waits for it, the longest training the selection unlocks.
    Which run the selection chooses is not known before its candidates have trained, so
    the plan is made once per candidate run as if it were chosen, and the tail is the
    mean over the candidates of the longest new training (the maximum would rank every
    candidate by the costliest choice, one that the lab's rule rarely makes)."""
    tails: dict[str, float] = {}
    if plan.config is None:  # a plan read back from its data (Plan.from_dict) cannot replan
        return tails
    for task_id in plan.selections_needed:
        longest = []
        for candidate in plan.tasks[task_id].selection["candidates"]:
            for entry in plan.tasks[candidate].entries:
                chosen = Plan(plan.config, {**plan.choices, task_id: entry.spec.to_dict()})
                unlocked = [training.epochs * epoch_seconds(training.spec)
                            for key, training in chosen.trainings.items()
                            if key not in plan.trainings]
                longest.append(max(unlocked, default=0.0))
        tail = statistics.mean(longest) if longest else 0.0
        for candidate in plan.tasks[task_id].selection["candidates"]:
            for entry in plan.tasks[candidate].entries:
                directory = entry.training.directory
                tails[directory] = max(tails.get(directory, 0.0), tail)
    return tails


@dataclass(frozen=True)
class LabTimes:
    """A plan's epoch times and selection tails, worked out once per plan: each training's
    critical path (:meth:`priority`)."""

    epoch_seconds: Callable[[RunSpec], float]
    tails: dict[str, float]

    def priority(self, training: Training) -> float:
        """Seconds, to the millisecond: a tiny lab's trainings of under a second each are
        still told apart (Snakemake takes a float)."""
        own = training.epochs * self.epoch_seconds(training.spec)
        return round(own + self.tails.get(training.directory, 0.0), 3)


def lab_times(plan: Plan, epoch_seconds: Callable[[RunSpec], float]) -> LabTimes:
    return LabTimes(epoch_seconds, selection_tails(plan, epoch_seconds))


_LAB_TIMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def training_priority(plan: Plan, training: Training, image_size: int, n_train: int,
                      root: str | os.PathLike = ".") -> float:
    """A training job's Snakemake priority: its critical path, the seconds from its start
    to the end of the longest chain of work that waits for it (its own estimated time,
    plus, for a training a selection waits for, the longest training that selection
    unlocks: :func:`selection_tails`). On the default lab the two 200-epoch LeNets come
    first, then 6A's AlexNet n_base 32 and 6C's 350-epoch one; bench/schedule.py simulates
    this order against the one before it (every candidate of 6E first, then longest
    first). Epoch times are calibrated on the trainings measured under ``root``
    (:func:`measured_epochs`). Snakemake asks each job's priority apart: the plan's times
    are worked out once. ``cnnlab status`` orders the queue by it too."""
    key = (image_size, n_train, str(Path(root).resolve()))
    cached = _LAB_TIMES.setdefault(plan, {})
    if key not in cached:
        epochs = measured_epochs(plan.dataset, image_size, n_train, root)
        cached[key] = lab_times(plan, epochs.epoch_seconds)
    return cached[key].priority(training)


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
