"""cnnlab.train.optimizers: the fused Adam follows Keras' Adam, and really runs the fused kernel."""

import numpy as np
import pytest

from cnnlab.train import runtime

runtime.configure(threads=1)  # before any TensorFlow op runs in this test process

import keras
import tensorflow as tf

from cnnlab.errors import CnnlabError
from cnnlab.train.optimizers import (
    ADAM_UPDATE,
    KERAS_UPDATE,
    FusedAdam,
    build_optimizer,
    update_kernel,
)

SHAPES = [(300, 16), (16,)]


def _train_weights(optimizer, steps=40):
    """Weights after ``steps`` updates with a fixed sequence of gradients."""
    rng = np.random.default_rng(0)
    weights = [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in SHAPES]
    optimizer.build(weights)

    @tf.function
    def apply(gradients):
        optimizer.apply_gradients(zip(gradients, weights))

    for _ in range(steps):
        apply([tf.constant(rng.normal(size=shape).astype("float32")) for shape in SHAPES])
    return [np.asarray(weight.numpy()) for weight in weights]


@pytest.mark.parametrize("learning_rate", [1e-2, 1e-4])
def test_fused_adam_follows_keras_adam(learning_rate):
    start = _train_weights(keras.optimizers.Adam(learning_rate), steps=0)
    keras_weights = _train_weights(keras.optimizers.Adam(learning_rate))
    fused_weights = _train_weights(FusedAdam(learning_rate))
    for before, expected, fused in zip(start, keras_weights, fused_weights):
        moved = np.abs(expected - before).max()
        assert moved > 10 * learning_rate  # 40 steps of about lr each
        # the same formula: differences are float rounding, far below one step's size
        np.testing.assert_allclose(fused, expected, rtol=0, atol=1e-4 * moved)


def test_amsgrad_falls_back_to_keras_update():
    expected = _train_weights(keras.optimizers.Adam(1e-2, amsgrad=True), steps=10)
    fused = _train_weights(FusedAdam(1e-2, amsgrad=True), steps=10)
    for want, got in zip(expected, fused):
        np.testing.assert_array_equal(got, want)


def _update_op_types(optimizer) -> set[str]:
    weights = [keras.Variable(np.zeros(shape, "float32")) for shape in SHAPES]
    optimizer.build(weights)

    @tf.function
    def apply(gradients):
        optimizer.apply_gradients(zip(gradients, weights))

    graph = apply.get_concrete_function([tf.TensorSpec(shape) for shape in SHAPES]).graph
    types = {op.type for op in graph.get_operations()}
    for function in graph._functions.values():  # the update runs in nested functions
        types |= {node.op for node in function.definition.node_def}
    return types


def test_adam_runs_the_fused_kernel_and_keras_adam_does_not():
    assert update_kernel("adam") == ADAM_UPDATE  # the name records and state hashes carry
    assert ADAM_UPDATE in _update_op_types(build_optimizer("adam", 1e-3))
    assert ADAM_UPDATE not in _update_op_types(keras.optimizers.Adam(1e-3))


def test_other_optimizers_are_keras_own():
    assert update_kernel("sgd") == update_kernel("rmsprop") == KERAS_UPDATE
    assert type(build_optimizer("sgd", 0.1)) is keras.optimizers.SGD
    assert type(build_optimizer("rmsprop", 0.1)) is keras.optimizers.RMSprop


@pytest.mark.parametrize(
    "name, learning_rate, message",
    [
        ("adagrad", 1e-3, "optimizer must be one of adam, sgd, rmsprop, got 'adagrad'"),
        ("adam", 0.0, "lr must be > 0, got 0.0"),
    ],
)
def test_bad_optimizer_settings_are_named(name, learning_rate, message):
    with pytest.raises(CnnlabError, match=message):
        build_optimizer(name, learning_rate)
