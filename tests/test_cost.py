"""The cost estimate orders trainings longest first."""

import copy

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.plan.cost import check_memory, estimated_model_mb, estimated_seconds, forward_macs
from cnnlab.plan.grid import plan_lab
from cnnlab.plan.runs import RunSpec


def test_forward_macs_of_lenet_base_32_count_every_layer():
    params = {"model": "lenet", "n_base": 32, "dropout": 0, "optimizer": "adam", "lr": 1e-4,
              "batch_size": 8, "loss": "bce", "threads": 1, "precision": "float32"}
    spec = RunSpec.from_params(params, "d", 1)
    convolutions = 128 * 128 * 32 * 9 + 64 * 64 * 32 * 64 * 9
    dense = 32 * 32 * 64 * 64 + 64
    assert forward_macs(spec, 128) == convolutions + dense


def test_long_expensive_trainings_come_first(default_config):
    plan = plan_lab(default_config)
    ranked = sorted(plan.trainings.values(), key=lambda t: -estimated_seconds(t.spec, t.epochs, 128, 1000))
    first_four = {(t.spec.model, t.spec.n_base, t.epochs) for t in ranked[:4]}
    assert ("lenet", 32, 200) in first_four and ("alexnet", 32, 50) in first_four
    assert ranked[-1].spec.model == "mlp"


def test_memory_bound_lenet_outranks_a_shorter_alexnet():
    """Measured on the lab at a tenth of its epochs: LeNet n_base 32 for 20 epochs ~220 s,
    AlexNet n_base 32 for 5 epochs ~130 s. Counting multiply-accumulates alone ranked
    them the other way round (LeNet's dense weights and large feature maps are passes
    over memory, not arithmetic)."""
    base = {"n_base": 32, "dropout": 0, "optimizer": "adam", "lr": 1e-4, "batch_size": 8,
            "loss": "bce", "threads": 1, "precision": "float32"}
    lenet = RunSpec.from_params({**base, "model": "lenet"}, "d", 1)
    alexnet = RunSpec.from_params({**base, "model": "alexnet"}, "d", 1)
    ratio = estimated_seconds(lenet, 20, 128, 1000) / estimated_seconds(alexnet, 5, 128, 1000)
    assert 1.4 < ratio < 2.0  # measured 1.7


def test_the_model_memory_grows_with_the_image_size():
    params = {"model": "lenet", "n_base": 32, "dropout": 0, "optimizer": "adam", "lr": 1e-4,
              "batch_size": 8, "loss": "bce", "threads": 1, "precision": "float32"}
    spec = RunSpec.from_params(params, "d", 1)
    # the first dense layer: (size / 4)^2 * 64 features to 64 neurons, held four times
    dense_mb = (1024 // 4) ** 2 * 64 * 64 * 4 * 4 / 2**20
    assert estimated_model_mb(spec, 1024) > dense_mb > 4000
    assert 60 < estimated_model_mb(spec, 128) < 400  # 4.2 million weights and a batch


def keras_macs(model) -> int:
    """Multiply-accumulates of one image's forward pass, read off the built Keras model's
    layers (an independent count: the model, not cnnlab.plan.cost's shape rules)."""
    import keras

    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            height, width, filters = layer.output.shape[1:]
            kernel_h, kernel_w, channels, _ = layer.kernel.shape
            macs += height * width * kernel_h * kernel_w * channels * filters
        elif isinstance(layer, keras.layers.Dense):
            macs += layer.kernel.shape[0] * layer.kernel.shape[1]
    return macs


def test_an_epochs_flops_count_the_models_own_layers():
    from cnnlab.plan.cost import epoch_flops
    from cnnlab.train.models import build_model

    base = {"dropout": 0, "optimizer": "adam", "lr": 1e-4, "batch_size": 8, "loss": "bce",
            "threads": 1, "precision": "float32"}
    for changes in ({"model": "lenet", "n_base": 8}, {"model": "alexnet", "n_base": 4},
                    {"model": "mlp", "n_base": 0}):
        spec = RunSpec.from_params({**base, **changes}, "d", 1)
        model = build_model(spec.to_dict(), (32, 32, 1))
        macs = keras_macs(model)
        assert forward_macs(spec, 32) == macs, changes
        # forward and backward (two matmuls) per training image, forward per validation one
        assert epoch_flops(spec, 32, n_train=100, n_validation=20) == 2 * macs * (300 + 20)
def test_a_model_or_data_set_beyond_any_machine_is_refused_at_start_up(small_config):
    check_memory(plan_lab(small_config), small_config)  # the lab as it is passes
    huge_model = copy.deepcopy(small_config)
    huge_model["tasks"]["5A"]["runs"][0]["n_base"] = 100_000
    with pytest.raises(CnnlabError, match=r"^run lenet-nb100000-\S+: its model would take about "
                       r"3 TiB of memory to train at 32 x 32 .*: lower n_base, dense or image_size\.$"):
        check_memory(plan_lab(huge_model), huge_model)
    huge_data = copy.deepcopy(small_config)
    huge_data["datasets"]["tiny"]["n_train"] = 10**9
    with pytest.raises(CnnlabError, match=r"^datasets\.tiny: 1,000,000,024 images of 32 x 32 would "
                       r"take 4 TiB of memory; lower n_train, n_test or image_size\.$"):
        check_memory(plan_lab(huge_data), huge_data)
