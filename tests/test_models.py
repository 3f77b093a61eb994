"""cnnlab.train.models: architectures, parameter counts, output layers, precision, summary."""

import csv

import numpy as np
import pytest

from cnnlab.train import runtime

runtime.configure(threads=1)  # before any TensorFlow op runs in this test process

import keras

from cnnlab.errors import CnnlabError
from cnnlab.train.models import build_model, model_summary_rows, write_summary_csv


def params(**changes):
    base = {
        "model": "lenet",
        "n_base": 32,
        "dense": [64],
        "dropout": 0.0,
        "loss": "bce",
        "precision": "float32",
    }
    base.update(changes)
    return base


def test_lenet_base32_matches_the_lab_parameter_counts():
    model = build_model(params(), (128, 128, 1))
    rows = model_summary_rows(model)
    assert [row["parameters"] for row in rows] == [320, 0, 18496, 0, 0, 4194368, 65]
    assert [row["layer"] for row in rows] == [
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "flatten",
        "dense1",
        "output",
    ]
    assert [row["type"] for row in rows] == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dense",
    ]
    assert rows[0]["output_shape"] == "(None, 128, 128, 32)"
    assert rows[4]["output_shape"] == "(None, 65536)"
    assert model.count_params() == 4213249
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 4213249
    assert model.non_trainable_weights == []


def test_alexnet_layers_and_dropout():
    model = build_model(params(model="alexnet", n_base=4, dense=[16, 8], dropout=0.4), (32, 32, 1))
    rows = model_summary_rows(model)
    assert [row["layer"] for row in rows] == [
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "conv3",
        "conv4",
        "conv5",
        "pool3",
        "flatten",
        "dense1",
        "dropout1",
        "dense2",
        "dropout2",
        "output",
    ]
    filters = [model.get_layer(f"conv{i}").filters for i in range(1, 6)]
    assert filters == [4, 8, 16, 16, 8]
    for index in range(1, 6):
        conv = model.get_layer(f"conv{index}")
        assert conv.kernel_size == (3, 3) and conv.strides == (1, 1)
        assert conv.padding == "same" and conv.activation.__name__ == "relu"
    assert model.get_layer("pool3").output.shape == (None, 4, 4, 8)
    assert model.get_layer("dropout1").rate == pytest.approx(0.4)
    assert [model.get_layer(f"dense{i}").units for i in (1, 2)] == [16, 8]
    no_dropout = build_model(params(model="alexnet", n_base=4, dense=[16, 8]), (32, 32, 1))
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in no_dropout.layers)


def test_mlp_is_flatten_dense_output():
    model = build_model(params(model="mlp", n_base=0, dense=[32]), (16, 16, 1))
    rows = model_summary_rows(model)
    assert [(row["layer"], row["parameters"]) for row in rows] == [
        ("flatten", 0),
        ("dense1", 256 * 32 + 32),
        ("output", 33),
    ]


def test_output_layer_follows_the_loss():
    x = np.linspace(0, 1, 2 * 16 * 16, dtype="float32").reshape(2, 16, 16, 1)
    sigmoid = build_model(params(n_base=2, dense=[4]), (16, 16, 1))
    assert sigmoid.get_layer("output").activation.__name__ == "sigmoid"
    hinge = build_model(params(n_base=2, dense=[4], loss="hinge"), (16, 16, 1))
    assert hinge.get_layer("output").activation.__name__ == "linear"
    probabilities = np.asarray(sigmoid(x))
    assert probabilities.shape == (2, 1) and ((probabilities > 0) & (probabilities < 1)).all()


def test_mixed_bfloat16_keeps_the_output_in_float32():
    model = build_model(
        params(model="alexnet", n_base=2, dense=[8, 8], dropout=0.2, precision="mixed_bfloat16"),
        (16, 16, 1),
    )
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert model.get_layer("conv1").variable_dtype == "float32"
    assert model.get_layer("dense2").compute_dtype == "bfloat16"
    assert model.get_layer("output").compute_dtype == "float32"
    scores = model(np.zeros((2, 16, 16, 1), dtype="float32"))
    assert str(scores.dtype) in ("float32", "<dtype: 'float32'>")
    assert keras.config.dtype_policy().name == "float32"  # global policy untouched


def test_write_summary_csv(tmp_path):
    model = build_model(params(n_base=2, dense=[4]), (16, 16, 1))
    path = write_summary_csv(model, tmp_path / "summary.csv")
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["layer", "type", "output_shape", "parameters"]
    assert [row["layer"] for row in rows] == [row["layer"] for row in model_summary_rows(model)]
    assert sum(int(row["parameters"]) for row in rows) == model.count_params()


# A run's own values (model, loss, precision, n_base, dense, dropout) are the config
# check's to refuse (tests/test_config.py); only the images' size is checked here.
@pytest.mark.parametrize(
    "changes, shape, message",
    [
        ({"model": "alexnet", "n_base": 2}, (4, 4, 1), "4 x 4 are too small for the alexnet"),
        ({"model": "lenet", "n_base": 2}, (2, 3, 1), "use at least 4 x 4"),
    ],
)
def test_bad_params_give_one_clear_message(changes, shape, message):
    with pytest.raises(CnnlabError, match=message):
        build_model(params(**changes), shape)
