"""A training's input pipelines: the order of the images in each epoch, and tf.data
batches gathered from the splits' in-memory tensors.

Each split lives in memory once, as tensors on the CPU (images as 8-bit codes where that
is exact: cnnlab.data.arrays). Both pipelines are built once per job; an epoch only writes its
image order into a variable. Codes turn into float32 by ``code / 255``, so a batch holds
exactly the prepared pixels. The validation pipeline (the test split in its own order)
is batched by VALIDATION_BATCH_SIZE, whatever the run's batch size: a training only
predicts it, and at batch size 2 that took twice as long. TensorFlow is imported by the
caller and passed in, so this module loads without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.data.arrays import EIGHT_BIT_SCALE, SplitArrays, TrainingArrays

PREFETCH_BATCHES = 2
VALIDATION_BATCH_SIZE = 32  # predicting only, so no training batch size binds it


@dataclass(frozen=True)
class Pipelines:
    """The input pipelines of a training (:func:`batches`), built once."""

    training: Any
    validation: Any
    train_order: Any  # the variable each epoch writes its image order into
    train_count: int
    test_count: int
    images_in_memory: str  # "uint8" (8-bit codes) or "float32"
    test_labels: np.ndarray  # int8 (test_count,): 0 = Mel, 1 = Nev, in validation's order


def labels_for_loss(labels: np.ndarray, loss: str) -> np.ndarray:
    """Labels as float32 (N, 1): 0/1 for BCE, -1/1 for hinge."""
    labels = labels.astype(np.float32).reshape(-1, 1)
    return 2.0 * labels - 1.0 if loss == "hinge" else labels


def epoch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    """The order of the training images in ``epoch``: a function of (seed, epoch) only."""
    generator = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch)]))
    return generator.permutation(count).astype(np.int32)


def dataset_options(tf, threads: int):
    options = tf.data.Options()
    options.deterministic = True
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    # The pipeline's sizes are fixed, so autotuning has nothing to tune; and its thread,
    # which sleeps 10 ms, 20 ms, 40 ms... between rounds, made an epoch wait for its next
    # wake-up whenever another job shared the cores (epochs of exactly 2.56, 5.12, 10.24,
    # 20.48 s instead of ~3 or ~11 s). Turning it off changes no number.
    options.autotune.enabled = False
    return options


def batches(tf, split: SplitArrays, loss: str, order, batch_size: int, threads: int):
    """A tf.data pipeline of (images, labels) batches of ``split`` in ``order`` (a tensor
    or a variable that is read each time the pipeline is iterated), gathered from the
    split's in-memory tensors and prefetched; the last batch holds the remainder.

    8-bit codes become float32 by ``code / 255``, the division that made the prepared
    pixels, so a batch holds exactly those pixels (a look-up table gave the same bits
    at ten times the cost: a gather per pixel). Build it under ``tf.device("/CPU:0")``.
    """
    count = len(split.images)
    coded = split.coded  # the closure keeps no reference to the NumPy arrays
    images = tf.constant(split.images)
    labels = tf.constant(labels_for_loss(split.labels, loss))

    def gather(batch_index):
        start = batch_index * batch_size
        indices = order[start : tf.minimum(start + batch_size, count)]
        batch = tf.gather(images, indices)
        if coded:
            batch = tf.cast(batch, tf.float32) / EIGHT_BIT_SCALE
        return batch, tf.gather(labels, indices)

    return (
        tf.data.Dataset.range(-(-count // batch_size))
        .map(gather)
        .prefetch(PREFETCH_BATCHES)
        .with_options(dataset_options(tf, threads))
    )


def build_pipelines(data: TrainingArrays, batch_size: int, loss: str, threads: int) -> Pipelines:
    """Both splits as tensors on the CPU and the pipelines over them, built once: an
    epoch only writes its order into a variable."""
    import tensorflow as tf

    train_count, test_count = len(data.train.images), len(data.test.images)
    with tf.device("/CPU:0"):
        train_order = tf.Variable(
            np.zeros(train_count, np.int32), trainable=False, name="epoch_order"
        )
        training = batches(tf, data.train, loss, train_order, batch_size, threads)
        test_order = tf.range(test_count, dtype=tf.int32)
        validation = batches(tf, data.test, loss, test_order, VALIDATION_BATCH_SIZE, threads)
    return Pipelines(training, validation, train_order, train_count, test_count, data.storage,
                     np.asarray(data.test.labels, np.int8).copy())
