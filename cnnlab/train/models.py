"""LeNet-style, AlexNet-style and MLP binary classifiers (Keras Functional API).

All convolutions are 3 x 3, stride 1, padding ``same``, ReLU; pooling is 2 x 2 max.
Hidden Dense layers are ReLU, one per entry of ``params["dense"]``, each followed by
``Dropout(params["dropout"])`` when that rate is above 0.

The output layer is one unit (named ``output``) and depends on the loss:

- ``bce``: sigmoid, the probability of class 1 (Nev); class = output > 0.5.
- ``hinge``: linear, a raw score; class = sign of the score (score > 0 -> Nev, label
  1; otherwise Mel, label -1). Keras' hinge loss, ``max(0, 1 - y * score)``, expects
  labels in {-1, 1} and an unbounded score, so neither sigmoid nor tanh belongs there.

Both rules put a score of exactly 0 (sigmoid 0.5) in class 0 (Mel), so the accuracies
of the two losses count the same way.

Precision: ``params["precision"]`` ``float32`` or ``mixed_bfloat16``. The dtype policy
is given to each layer (no global Keras state is changed); the output layer always
computes in float32, so the loss and the scores are float32. A training resolves
``auto`` before it builds its model (cnnlab.train.runtime.resolve_precision); a model
rebuilt from a run's parameters to inspect its saved weights (the report) gets float32
for ``auto``: a mixed_bfloat16 model keeps its weights in float32, so they load the same.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from cnnlab.errors import CnnlabError
from cnnlab.store.files import write_summary


def build_model(params: dict, input_shape) -> keras.Model:
    """Build the (uncompiled) model that ``params`` names, for images of ``input_shape``.

    ``input_shape`` is (height, width, channels). Reads ``model``, ``n_base``, ``dense``,
    ``dropout``, ``loss`` and ``precision`` (default float32) from ``params``: a run's
    parameters (:meth:`cnnlab.plan.runs.RunSpec.to_dict`), whose values the config check has
    checked. Only what it cannot know, whether the images are large enough for the
    model's poolings, is checked here.
    """
    model_name = params["model"]
    loss = params["loss"]
    # a model built by hand (the filters figure's tests) may leave precision out
    precision = params.get("precision", "float32").replace("auto", "float32")
    dense = [int(width) for width in params["dense"]]
    dropout = float(params["dropout"])
    input_shape = tuple(int(size) for size in input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}")

    policy = keras.DTypePolicy(precision)
    inputs = keras.Input(shape=input_shape, name="image")
    if model_name == "mlp":
        features = keras.layers.Flatten(name="flatten", dtype=policy)(inputs)
    else:
        features = _convolutions(inputs, model_name, int(params["n_base"]), policy)
    for dense_index, width in enumerate(dense, start=1):
        features = keras.layers.Dense(
            width, activation="relu", name=f"dense{dense_index}", dtype=policy
        )(features)
        if dropout > 0:
            features = keras.layers.Dropout(dropout, name=f"dropout{dense_index}", dtype=policy)(
                features
            )
    outputs = keras.layers.Dense(
        1,
        activation="sigmoid" if loss == "bce" else "linear",
        name="output",
        dtype="float32",
    )(features)
    return keras.Model(inputs, outputs, name=_model_title(params))


def _convolutions(inputs, model_name: str, n_base: int, policy):
    """The model's convolution blocks, each pooled, flattened: LeNet's two, AlexNet's three."""
    blocks = {
        "lenet": [[n_base], [2 * n_base]],
        "alexnet": [[n_base], [2 * n_base], [4 * n_base, 4 * n_base, 2 * n_base]],
    }[model_name]
    _check_image_size(tuple(inputs.shape[1:]), len(blocks), model_name)
    features = inputs
    conv_index = 0
    for block_index, block in enumerate(blocks, start=1):
        for filters in block:
            conv_index += 1
            features = keras.layers.Conv2D(
                filters,
                kernel_size=3,
                strides=1,
                padding="same",
                activation="relu",
                name=f"conv{conv_index}",
                dtype=policy,
            )(features)
        features = keras.layers.MaxPooling2D(
            pool_size=2, name=f"pool{block_index}", dtype=policy
        )(features)
    return keras.layers.Flatten(name="flatten", dtype=policy)(features)


def trained_model(params: dict, input_shape, weights_file: str | os.PathLike) -> keras.Model:
    """The model of a run's ``params`` with the weights a training of it saved (what a
    concept figure inspects: cnnlab.report.concept_figures gets it as its model loader)."""
    model = build_model(params, input_shape)
    model.load_weights(str(weights_file))
    return model


def compile_model(model: keras.Model, params: dict, steps_per_execution: int) -> None:
    """Compile a training's model: its optimizer (cnnlab.train.optimizers), its loss and
    accuracy (hinge: labels -1/1, the accuracy counts the score's sign), no XLA; and build
    the optimizer now, the same way for a fresh and a resumed training."""
    from cnnlab.train.optimizers import build_optimizer

    optimizer = build_optimizer(params["optimizer"], float(params["lr"]))
    if params["loss"] == "bce":
        loss = keras.losses.BinaryCrossentropy()
        accuracy = keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss = keras.losses.Hinge()
        accuracy = keras.metrics.MeanMetricWrapper(sign_accuracy, name="accuracy")
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[accuracy],
        steps_per_execution=steps_per_execution,
        jit_compile=False,
    )
    model.optimizer.build(model.trainable_variables)


def sign_accuracy(y_true, y_pred):
    """1 where the score's class (score > 0 -> 1, else -1) matches a -1/1 label."""
    from keras import ops

    return ops.cast(ops.equal(y_true > 0, y_pred > 0), "float32")


def _check_image_size(input_shape, pools: int, model_name: str) -> None:
    height, width = input_shape[:2]
    if min(height, width) < 2**pools:
        raise CnnlabError(
            f"images of {height} x {width} are too small for the {model_name} model's "
            f"{pools} 2 x 2 poolings: use at least {2**pools} x {2**pools}"
        )


def _model_title(params: dict) -> str:
    if params["model"] == "mlp":
        return "mlp"
    return f"{params['model']}_nb{int(params['n_base'])}"


def model_summary_rows(model: keras.Model) -> list[dict]:
    """One dict per layer (the input layer left out): layer, type, output_shape, parameters.

    ``output_shape`` reads like Keras' own summary, e.g. ``(None, 128, 128, 32)``.
    """
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shape = layer.output.shape
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "output_shape": "(" + ", ".join(str(size) for size in shape) + ")",
                "parameters": int(layer.count_params()),
            }
        )
    return rows


def write_summary_csv(model: keras.Model, path: str | os.PathLike) -> Path:
    """Write :func:`model_summary_rows` to ``path`` (columns layer,type,output_shape,parameters)."""
    return write_summary(path, model_summary_rows(model))
