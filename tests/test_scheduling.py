"""The cost estimate orders trainings longest first."""

import copy
import dataclasses
import re
import statistics

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.plan.plan import plan_lab
from cnnlab.plan.runs import RunSpec
from cnnlab.plan.scheduling import (
    check_memory,
    estimated_model_mb,
    estimated_seconds,
    forward_macs,
    measured_epochs,
    training_priority,
)
from cnnlab.store.files import write_record
from tests.workflow_helpers import copy_workflow, run_snakemake


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
    layers (an independent count: the model, not cnnlab.plan.scheduling's shape rules)."""
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
    from cnnlab.plan.scheduling import epoch_flops
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


def dry_run_priorities(output: str) -> dict[str, float]:
    """{run_id/e<epochs>: priority} of the train jobs a ``snakemake -n`` printed."""
    priorities = {}
    for block in output.split("rule train:")[1:]:
        wildcards = re.search(r"wildcards: .*run_id=([^,\s]+), epochs=(\d+)", block)
        priority = re.search(r"priority: ([\d.]+)", block)
        priorities[f"{wildcards.group(1)}/e{wildcards.group(2)}"] = float(priority.group(1))
    return priorities


def test_the_dry_run_of_the_default_lab_starts_the_200_epoch_lenets_first(tmp_path):
    """The real `snakemake -n` on config.yaml: the two 200-epoch LeNets (5A/5B and 5C/5F)
    have the highest priorities of the trainings that can start at once, though 6E's
    selection waits for the AlexNets of 6A-6D."""
    copy_workflow(tmp_path)
    result = run_snakemake(tmp_path, "-n", "--cores", "2", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    priorities = dry_run_priorities(result.stdout)
    assert len(priorities) == 10, priorities
    ranked = sorted(priorities, key=priorities.get, reverse=True)
    assert set(ranked[:2]) == {"lenet-nb32-lr1e-05-bs8-adam-bce-s1/e200",
                               "lenet-nb32-lr1e-04-bs8-adam-bce-s1/e200"}, priorities
    assert priorities[ranked[1]] > priorities[ranked[2]]
    # the candidates of 6E come next, before the MLP, which nothing waits for
    assert ranked[-1].startswith("mlp-")


def test_a_candidates_priority_adds_the_training_its_selection_unlocks(default_config, tmp_path):
    """A training 6E's selection waits for ranks by its own time plus the longest
    training the selection unlocks, averaged over the runs it may choose; one nothing
    waits for, by its own time alone. Without measured trainings (tmp_path holds none)
    the times are the cost formula's."""
    plan = plan_lab(default_config)
    selection = plan.tasks["6E"].selection
    candidates = [entry for task_id in selection["candidates"]
                  for entry in plan.tasks[task_id].entries]
    # 6E trains the chosen n_base, lr and batch size for 100 epochs without dropout; the
    # formula's time does not depend on the optimizer or the loss
    unlocked = statistics.mean(
        estimated_seconds(dataclasses.replace(entry.spec, dropout=0.0), 100, 128, 1000)
        for entry in candidates)
    waited = plan.trainings_selections_wait_for()
    for key, training in plan.trainings.items():
        own = estimated_seconds(training.spec, training.epochs, 128, 1000)
        expected = own + unlocked if training.directory in waited else own
        assert training_priority(plan, training, 128, 1000, root=tmp_path) == pytest.approx(
            expected, abs=1e-3), key


def write_training(root, run_id, params, seconds):
    """A finished training's history.csv (per-epoch seconds) and record.json."""
    folder = root / "results" / "runs" / "synthetic" / run_id / f"e{len(seconds)}"
    folder.mkdir(parents=True)
    rows = ["epoch,loss,accuracy,val_loss,val_accuracy,seconds"]
    rows += [f"{epoch},0.6,0.7,0.6,0.7,{value}" for epoch, value in enumerate(seconds, 1)]
    (folder / "history.csv").write_text("\n".join(rows) + "\n")
    write_record(folder / "record.json", {
        "run_id": run_id, "status": "completed", "diverged_reason": None,
        "epochs_trained": len(seconds), "resumed_from_epoch": 0, "wall_seconds": sum(seconds),
        "peak_memory_mb": 1.0, "device": {}, "threads": 1, "versions": {}, "params": params})


def test_measured_epoch_times_calibrate_the_estimate(default_config, tmp_path):
    """A run measured here gives its own median epoch time (any seed); another run of the
    same architecture gets the formula scaled by that architecture's measured / estimated
    ratio; an architecture never measured keeps the formula."""
    plan = plan_lab(default_config)
    lenet = next(t for t in plan.trainings.values() if t.spec.model == "lenet")
    other_lenet = next(t for t in plan.trainings.values()
                       if t.spec.model == "lenet" and t.spec.lr != lenet.spec.lr)
    alexnet = next(t for t in plan.trainings.values() if t.spec.model == "alexnet")
    measured = dataclasses.replace(lenet.spec, seed=7)
    write_training(tmp_path, measured.run_id, measured.to_dict(), [9.0, 3.0, 3.2, 2.8, 3.1])
    times = measured_epochs("synthetic", 128, 1000, tmp_path)
    assert times.epoch_seconds(lenet.spec) == 3.1  # the median of the five epochs
    formula = estimated_seconds(lenet.spec, 1, 128, 1000)
    assert times.epoch_seconds(other_lenet.spec) == pytest.approx(
        estimated_seconds(other_lenet.spec, 1, 128, 1000) * 3.1 / formula)
    assert times.epoch_seconds(alexnet.spec) == estimated_seconds(alexnet.spec, 1, 128, 1000)
    assert training_priority(plan, lenet, 128, 1000, root=tmp_path) == pytest.approx(
        3.1 * lenet.epochs)
    # a damaged record is passed over: the estimate only orders jobs
    (tmp_path / "results/runs/synthetic/broken/e3").mkdir(parents=True)
    (tmp_path / "results/runs/synthetic/broken/e3/record.json").write_text("{")
    assert measured_epochs("synthetic", 128, 1000, tmp_path).epoch_seconds(lenet.spec) == 3.1
