"""cnnlab.train.training: outputs, determinism, exact resume (also after SIGKILL), divergence.

Tiny data (16 x 16 images, 48 training and 16 test images), tiny models, few epochs.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cnnlab.train import runtime
from tests.conftest import PROJECT_ROOT

runtime.configure(threads=1)  # before any TensorFlow op runs in this test process

from cnnlab.analysis.statistics import correct
from cnnlab.data.arrays import arrays_sha256, load_training_arrays
from cnnlab.plan.runs import Training
from cnnlab.store.files import read_predictions
from cnnlab.store.history import METRIC_COLUMNS, read_history
from cnnlab.train.pipelines import epoch_order
from cnnlab.train.training import train
from tests.test_arrays import make_8bit_arrays, make_arrays

METRICS = list(METRIC_COLUMNS)
# Keras' own save_weights trips a NumPy 2 deprecation warning, once per variable
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    return make_arrays(tmp_path_factory.mktemp("data") / "arrays.npz")


def spec(epochs, save_epochs=None, run_id="toy", **changes):
    params = {
        "dataset": "toy",
        "model": "alexnet",
        "n_base": 2,
        "dense": [8, 8],
        "dropout": 0.3,
        "optimizer": "adam",
        "lr": 0.003,
        "batch_size": 5,  # 48 = 9 * 5 + 3: a partial last batch
        "loss": "bce",
        "seed": 3,
        "threads": 1,
        "precision": "float32",
    }
    params.update(changes)
    return {
        "run_id": run_id,
        "params": params,
        "epochs": epochs,
        "save_epochs": save_epochs if save_epochs is not None else [epochs],
    }


def run(tmp_path, name, training_spec, arrays_path, state=None, log=None):
    out_dir = tmp_path / name
    state_dir = tmp_path / (state or f"{name}-state")
    record = train(Training.from_job_spec(training_spec, str(state_dir)), arrays_path, out_dir,
                   state_dir, log=log or (lambda _: None))
    return record, out_dir, state_dir


def metric_bytes(history_csv, rows=None):
    """The metric columns of a history.csv as text, optionally the first ``rows`` rows."""
    lines = history_csv.read_text().splitlines()
    lines = lines if rows is None else lines[: rows + 1]
    return "\n".join(line.rsplit(",", 1)[0] for line in lines)


def prediction_bytes(out_dir, rows=None):
    """predictions.npz's labels and outputs as bytes, optionally the first ``rows`` epochs."""
    predictions = read_predictions(out_dir / "predictions.npz")
    outputs = predictions.outputs if rows is None else predictions.outputs[:rows]
    return predictions.labels.tobytes(), outputs.shape, outputs.tobytes()


def test_outputs_follow_the_contract(tmp_path, arrays):
    record, out_dir, state_dir = run(tmp_path, "e3", spec(3, [1, 3]), arrays)
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "history.csv",
        "predictions.npz",
        "record.json",
        "summary.csv",
        "weights",
    ]
    assert sorted(p.name for p in (out_dir / "weights").iterdir()) == [
        "epoch0001.weights.h5",
        "epoch0003.weights.h5",
    ]
    history = read_history(out_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history[METRICS].notna().all().all() and (history["seconds"] > 0).all()
    predictions = read_predictions(out_dir / "predictions.npz")
    with np.load(arrays) as stored:
        assert np.array_equal(predictions.labels, stored["y_test"])
    assert predictions.outputs.shape == (3, 16) and predictions.outputs.dtype == np.float32
    assert ((0 <= predictions.outputs) & (predictions.outputs <= 1)).all()  # the sigmoid's
    assert len({row.tobytes() for row in predictions.outputs}) == 3  # one row per epoch
    for epoch in (1, 2, 3):  # val_accuracy calls each image as the report does
        called_right = correct(predictions.at(epoch), predictions.labels, "bce")
        assert history["val_accuracy"][epoch - 1] == called_right.sum() / 16
    # history.csv last: its presence means the others are there
    written = {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir() if p.is_file()}
    assert max(written, key=written.get) == "history.csv"
    assert written["predictions.npz"] >= written["record.json"] >= written["summary.csv"]
    stored = json.loads((out_dir / "record.json").read_text())
    assert stored == record
    assert record["status"] == "completed" and record["epochs_trained"] == 3
    assert record["resumed_from_epoch"] == 0 and record["threads"] == 1
    assert set(record["versions"]) == {"python", "tensorflow", "keras", "numpy"}
    assert record["params"] == spec(3)["params"]
    assert 0 < record["peak_memory_mb"] < 4096 and record["wall_seconds"] > 0
    with np.load(arrays) as stored:  # the hash the data manifest holds
        assert record["data_sha256"] == arrays_sha256({k: stored[k] for k in stored.files})
    summary = (out_dir / "summary.csv").read_text().splitlines()
    assert summary[0] == "layer,type,output_shape,parameters"
    assert summary[-1].startswith("output,Dense,")
    assert sorted(p.name for p in state_dir.iterdir()) == [
        ".lock",
        "epoch0001.state.npz",
        "epoch0003.state.npz",
        "latest.state.npz",
        "progress-e3.json",  # the heartbeat cnnlab status reads (cnnlab.store.heartbeat)
    ]
    beat = json.loads((state_dir / "progress-e3.json").read_text())
    assert (beat["status"], beat["epoch"], beat["epochs"]) == ("completed", 3, 3)
    assert len(beat["epoch_seconds"]) == 3


def test_same_spec_gives_identical_numbers_and_prefixes_agree(tmp_path, arrays):
    _, first, _ = run(tmp_path, "a4", spec(4), arrays)
    _, second, _ = run(tmp_path, "b4", spec(4), arrays)
    _, shorter, _ = run(tmp_path, "c2", spec(2), arrays)
    assert metric_bytes(first / "history.csv") == metric_bytes(second / "history.csv")
    assert metric_bytes(shorter / "history.csv") == metric_bytes(first / "history.csv", 2)
    assert prediction_bytes(first) == prediction_bytes(second)
    assert prediction_bytes(shorter) == prediction_bytes(first, 2)
    # the numbers are not constant: something is learned and varies per epoch
    assert read_history(first / "history.csv")["loss"].nunique() == 4


def test_runtime_fixes_threads_and_refuses_to_change_them():
    import tensorflow as tf

    settings = runtime.configure(threads=1)
    assert settings["threads"] == 1 and settings["op_determinism"]
    keras_home = Path(os.environ["KERAS_HOME"]).resolve()
    assert keras_home != (Path.home() / ".keras").resolve() and keras_home.is_dir()
    tf.constant(1.0) + 1.0  # the thread pools exist from here on
    with pytest.raises(RuntimeError, match="cannot switch to 2"):
        runtime.configure_tensorflow(threads=2)
    assert tf.config.threading.get_intra_op_parallelism_threads() == 1


def test_a_training_records_the_set_up_made_instead_of_making_another(monkeypatch):
    applied = runtime.configure(threads=1)

    def configure_again(*args, **kwargs):
        raise AssertionError("the process was set up twice")

    monkeypatch.setattr(runtime, "configure", configure_again)
    assert runtime.training_settings(1) == applied
    with pytest.raises(AssertionError, match="set up twice"):  # another thread count
        runtime.training_settings(2)


def test_the_divergence_rule_that_stops_a_training():
    from cnnlab.analysis.diagnostics import diverged_reason

    row = {"epoch": 3, "loss": 0.7, "accuracy": 0.5, "val_loss": 0.7, "val_accuracy": 0.5}
    assert diverged_reason(row, "bce") is None
    assert diverged_reason(dict(row, val_loss=float("nan")), "bce") == "val_loss is nan"
    assert diverged_reason(dict(row, loss=float("inf")), "hinge") == "loss is inf"
    assert diverged_reason(dict(row, loss=69.0), "bce") is None  # below 100 x ln 2
    assert diverged_reason(dict(row, loss=70.0), "bce") == "loss 70 > 69.31 (100 x chance level)"
    assert diverged_reason(dict(row, loss=70.0), "hinge") is None  # below 100 x 1


def test_a_training_process_trains_without_importing_matplotlib(tmp_path, arrays):
    """Keras imports matplotlib.pyplot when TensorFlow loads it (half a second per job);
    training processes mark it absent, and Keras and the training must do without it."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from cnnlab.train import runtime
        runtime.configure_training_process(1)  # as scripts/train.py does
        assert "matplotlib" in sys.modules and sys.modules["matplotlib"] is None
        from cnnlab.plan.runs import Training
        from cnnlab.train.training import train
        spec = {json.dumps(spec(1))}
        state = Path({str(tmp_path / "state")!r})
        train(Training.from_job_spec(spec, str(state)), Path({str(arrays)!r}),
              Path({str(tmp_path / "out")!r}), state, log=lambda line: None)
        loaded = [name for name, module in sys.modules.items()
                  if name.startswith("matplotlib") and module is not None]
        print("loaded:", loaded)
        assert not loaded
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "history.csv").is_file()


def test_epoch_order_depends_on_seed_and_epoch_only():
    assert (epoch_order(1, 5, 20) == epoch_order(1, 5, 20)).all()
    assert not (epoch_order(1, 5, 20) == epoch_order(1, 6, 20)).all()
    assert not (epoch_order(2, 5, 20) == epoch_order(1, 5, 20)).all()
    assert sorted(epoch_order(1, 5, 20)) == list(range(20))


def test_input_pipelines_run_without_autotuning():
    """tf.data's autotuning thread made epochs wait for its next wake-up (2.56, 5.12,
    10.24 s...) whenever two jobs shared the cores; the pipelines have nothing to tune."""
    import tensorflow as tf

    from cnnlab.data.arrays import SplitArrays
    from cnnlab.train.pipelines import batches, dataset_options

    assert dataset_options(tf, 1).autotune.enabled is False
    split = SplitArrays(
        images=np.zeros((5, 4, 4, 1), np.uint8),
        labels=np.array([0, 1, 0, 1, 1], np.int8),
    )
    pipeline = batches(tf, split, "bce", tf.range(5, dtype=tf.int32), 2, threads=1)
    assert pipeline.options().autotune.enabled is False
    assert [len(labels) for _, labels in pipeline] == [2, 2, 1]


def test_longer_training_resumes_exactly(tmp_path, arrays):
    """A 5-epoch training after a 2-epoch one continues from the state at 2, and its
    history equals an uninterrupted 5-epoch training's (dropout included)."""
    _, short, _ = run(tmp_path, "e2", spec(2, [2]), arrays, state="state")
    logs = []
    record, longer, _ = run(tmp_path, "e5", spec(5, [2, 5]), arrays, state="state", log=logs.append)
    _, whole, _ = run(tmp_path, "whole", spec(5, [2, 5]), arrays)
    assert record["resumed_from_epoch"] == 2
    assert any("resuming from the state at epoch 2" in line for line in logs)
    assert metric_bytes(longer / "history.csv") == metric_bytes(whole / "history.csv")
    # the resumed epochs' predictions came from the state
    assert prediction_bytes(longer) == prediction_bytes(whole)
    assert prediction_bytes(short) == prediction_bytes(whole, 2)
    # resumed epochs keep their original seconds
    short_rows = short.joinpath("history.csv").read_text().splitlines()
    assert longer.joinpath("history.csv").read_text().splitlines()[:3] == short_rows
    # the epoch-2 weights were rewritten from the kept state and equal the original ones
    assert sorted(p.name for p in (longer / "weights").iterdir()) == [
        "epoch0002.weights.h5",
        "epoch0005.weights.h5",
    ]
    for epoch in (2, 5):
        name = f"weights/epoch{epoch:04d}.weights.h5"
        assert_same_weights(longer / name, whole / name)
    # a shorter target within the kept states trains nothing
    again, again_dir, _ = run(tmp_path, "again2", spec(2, [2]), arrays, state="state")
    assert again["resumed_from_epoch"] == 2 and again["epochs_trained"] == 2
    assert prediction_bytes(again_dir) == prediction_bytes(short)


def assert_same_weights(first, second):
    import h5py

    def arrays(path):
        found = {}
        with h5py.File(path, "r") as handle:
            handle.visititems(
                lambda name, item: (
                    found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
                )
            )
        return found

    first_arrays, second_arrays = arrays(first), arrays(second)
    assert first_arrays.keys() == second_arrays.keys() and first_arrays
    for name in first_arrays:
        assert np.array_equal(first_arrays[name], second_arrays[name]), name


def test_mixed_bfloat16_trains(tmp_path, arrays):
    record, out_dir, _ = run(tmp_path, "bf16", spec(2, precision="mixed_bfloat16"), arrays)
    history = read_history(out_dir / "history.csv")
    assert record["status"] == "completed" and len(history) == 2
    assert np.isfinite(history[METRICS].to_numpy()).all()


def test_stale_state_is_discarded(tmp_path, arrays):
    run(tmp_path, "old", spec(2), arrays, state="state")
    other = make_arrays(tmp_path / "other.npz", seed=9)
    logs = []
    record, out_dir, _ = run(tmp_path, "new", spec(3), other, state="state", log=logs.append)
    assert record["resumed_from_epoch"] == 0
    assert any("discarding stale state" in line for line in logs)
    _, fresh, _ = run(tmp_path, "fresh", spec(3), other)
    assert metric_bytes(out_dir / "history.csv") == metric_bytes(fresh / "history.csv")
    assert prediction_bytes(out_dir) == prediction_bytes(fresh)


def test_missing_arrays_give_one_clear_message(tmp_path):
    from cnnlab.errors import CnnlabError

    with pytest.raises(CnnlabError, match="prepared data is missing"):
        train(Training.from_job_spec(spec(1), str(tmp_path / "state")), tmp_path / "nothing.npz",
              tmp_path / "out", tmp_path / "state")


def test_hinge_accuracy_is_the_real_fraction_correct(tmp_path, arrays):
    import keras

    from cnnlab.train.models import build_model

    record, out_dir, _ = run(tmp_path, "hinge", spec(3, loss="hinge", dropout=0.0), arrays)
    assert record["status"] == "completed"
    history = read_history(out_dir / "history.csv")
    model = build_model(record["params"], (16, 16, 1))
    model.load_weights(out_dir / "weights/epoch0003.weights.h5")
    with np.load(arrays) as data:
        scores = np.asarray(model.predict(data["x_test"], verbose=0)).reshape(-1)
        correct = ((scores > 0).astype(int) == data["y_test"]).mean()
    assert history["val_accuracy"].iloc[-1] == pytest.approx(correct, abs=1e-6)
    assert 0.0 <= history["accuracy"].min() and history["accuracy"].max() <= 1.0
    assert keras.config.dtype_policy().name == "float32"
    assert_validation_is_keras_own(model, record["params"], out_dir, arrays)  # the margins


def assert_validation_is_keras_own(model, params, out_dir, arrays_path):
    """The last epoch's history row and predictions against Keras' own evaluate and
    predict of the last weights (``model`` holds them)."""
    from cnnlab.train.job import STEPS_PER_EXECUTION
    from cnnlab.train.models import compile_model
    from cnnlab.train.pipelines import labels_for_loss

    history = read_history(out_dir / "history.csv")
    predictions = read_predictions(out_dir / "predictions.npz")
    compile_model(model, params, STEPS_PER_EXECUTION)
    with np.load(arrays_path) as data:
        x_test, y_test = data["x_test"], data["y_test"]
    loss, accuracy = model.evaluate(x_test, labels_for_loss(y_test, params["loss"]), verbose=0)
    outputs = predictions.at(len(history))
    np.testing.assert_allclose(outputs, model.predict(x_test, verbose=0).reshape(-1), rtol=1e-6)
    assert history["val_loss"].iloc[-1] == pytest.approx(loss, rel=1e-5)
    called_right = correct(outputs, y_test, params["loss"])
    assert history["val_accuracy"].iloc[-1] == called_right.sum() / len(y_test)  # exactly
    assert history["val_accuracy"].iloc[-1] == called_right.mean()
    assert history["val_accuracy"].iloc[-1] == pytest.approx(accuracy, abs=1e-6)


def test_bce_accuracy_counts_the_same_way(tmp_path, arrays):
    from cnnlab.train.models import build_model

    record, out_dir, _ = run(tmp_path, "bce", spec(3, dropout=0.0), arrays)
    history = read_history(out_dir / "history.csv")
    model = build_model(record["params"], (16, 16, 1))
    model.load_weights(out_dir / "weights/epoch0003.weights.h5")
    with np.load(arrays) as data:
        probabilities = np.asarray(model.predict(data["x_test"], verbose=0)).reshape(-1)
        correct = ((probabilities > 0.5).astype(int) == data["y_test"]).mean()
    assert history["val_accuracy"].iloc[-1] == pytest.approx(correct, abs=1e-6)
    assert_validation_is_keras_own(model, record["params"], out_dir, arrays)


def test_divergence_stops_with_history_kept(tmp_path, arrays):
    logs = []
    diverging = spec(
        6, [3, 6], model="mlp", n_base=0, dense=[8], dropout=0.0, optimizer="sgd", lr=1e3
    )
    record, out_dir, _ = run(tmp_path, "diverged", diverging, arrays, log=logs.append)
    assert record["status"] == "diverged"
    assert 1 <= record["epochs_trained"] < 6
    assert "loss" in record["diverged_reason"]
    history = read_history(out_dir / "history.csv")
    assert len(history) == record["epochs_trained"]
    assert (out_dir / "summary.csv").is_file() and (out_dir / "record.json").is_file()
    assert read_predictions(out_dir / "predictions.npz").epochs == record["epochs_trained"]
    assert any("DIVERGED" in line for line in logs)
    # asking again (or for more epochs) reproduces the verdict without training
    again, again_dir, _ = run(tmp_path, "again", diverging, arrays, state="diverged-state")
    assert again["status"] == "diverged"
    assert again["resumed_from_epoch"] == record["epochs_trained"]
    assert metric_bytes(again_dir / "history.csv") == metric_bytes(out_dir / "history.csv")
    assert prediction_bytes(again_dir) == prediction_bytes(out_dir)


def test_nan_outputs_are_kept_as_nan_and_stop_the_training(arrays):
    """A model whose weights are NaN: its outputs are saved as NaN, val_loss is NaN (the
    divergence rule's), and every image counts as called Mel, as the report counts it."""
    from cnnlab.analysis.diagnostics import diverged_reason
    from cnnlab.train import training
    from cnnlab.train.job import STEPS_PER_EXECUTION
    from cnnlab.train.models import build_model, compile_model
    from cnnlab.train.pipelines import build_pipelines

    data = load_training_arrays(arrays)
    pipelines = build_pipelines(data, 5, "bce", threads=1)
    params = spec(1)["params"]
    model = build_model(params, data.image_shape)
    compile_model(model, params, STEPS_PER_EXECUTION)
    for weight in model.weights:
        weight.assign(np.full(weight.shape, np.nan, weight.dtype))
    outputs, scores = training._validate(model, pipelines, "bce")
    assert outputs.shape == (16,) and np.isnan(outputs).all()
    assert np.isnan(scores["val_loss"])
    assert scores["val_accuracy"] == np.mean(data.test.labels == 0)
    row = {"epoch": 1, "loss": 0.7, "accuracy": 0.5, **scores}
    assert diverged_reason(row, "bce") == "val_loss is nan"


def test_second_job_waits_for_the_lock(tmp_path, arrays):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    logs, results = [], []
    with open(state_dir / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(
            target=lambda: results.append(
                train(Training.from_job_spec(spec(1), str(state_dir)), arrays, tmp_path / "out",
                      state_dir, log=logs.append)
            )
        )
        worker.start()
        deadline = time.monotonic() + 30
        while not any("waiting" in line for line in logs) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("waiting" in line for line in logs)
        time.sleep(0.3)
        assert not results and not (tmp_path / "out" / "history.csv").exists()
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join(timeout=60)
    assert results and results[0]["status"] == "completed"


TRAIN_SCRIPT = """
import sys, time
from cnnlab.train import runtime
runtime.configure(threads=1)
from cnnlab.plan.runs import Training
from cnnlab.train.training import train
spec = {spec!r}

def log(message):
    print(message, flush=True)
    if " epoch " in message:
        time.sleep({pause})  # widen the window in which the test kills the process

train(Training.from_job_spec(spec, sys.argv[3]), sys.argv[1], sys.argv[2], sys.argv[3], log=log)
"""


def training_process(tmp_path, training_spec, arrays_path, name, state, pause):
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(TRAIN_SCRIPT.format(spec=training_spec, pause=pause)))
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(arrays_path),
            str(tmp_path / name),
            str(tmp_path / state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )


def saved_epoch(state_dir):
    latest = state_dir / "latest.state.npz"
    try:
        with np.load(latest, allow_pickle=False) as stored:
            return json.loads(str(stored["meta"]))["epoch"]
    except (FileNotFoundError, OSError, KeyError, ValueError):
        return 0


def test_sigkill_then_rerun_gives_the_uninterrupted_history(tmp_path, arrays):
    killed_spec = spec(6, [3, 6])
    process = training_process(tmp_path, killed_spec, arrays, "killed", "state", pause=0.4)
    deadline = time.monotonic() + 120
    while saved_epoch(tmp_path / "state") < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, output
    killed_at = saved_epoch(tmp_path / "state")
    assert 2 <= killed_at < 6
    assert not (tmp_path / "killed" / "history.csv").exists()

    rerun = training_process(tmp_path, killed_spec, arrays, "killed", "state", pause=0)
    output, _ = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, output
    assert f"resuming from the state at epoch {killed_at}" in output
    record = json.loads((tmp_path / "killed" / "record.json").read_text())
    assert record["resumed_from_epoch"] == killed_at and record["epochs_trained"] == 6

    _, whole, _ = run(tmp_path, "whole", killed_spec, arrays)
    assert metric_bytes(tmp_path / "killed" / "history.csv") == metric_bytes(whole / "history.csv")
    assert prediction_bytes(tmp_path / "killed") == prediction_bytes(whole)
    for epoch in (3, 6):
        name = f"weights/epoch{epoch:04d}.weights.h5"
        assert_same_weights(tmp_path / "killed" / name, whole / name)


# --- memory: images held as 8-bit codes where that is exact --------------------------


def test_8bit_images_are_held_as_codes_and_train_the_same_numbers(tmp_path, monkeypatch):
    from cnnlab.train import training

    arrays_8bit = make_8bit_arrays(tmp_path / "levels.npz")
    record, coded, _ = run(tmp_path, "coded", spec(3), arrays_8bit)
    assert record["images_in_memory"] == "uint8"
    with monkeypatch.context() as patch:  # the same file held as float32
        patch.setattr(training, "load_training_arrays", lambda path: load_training_arrays(path, compact=False))
        plain_record, plain, _ = run(tmp_path, "plain", spec(3), arrays_8bit)
    assert plain_record["images_in_memory"] == "float32"
    assert metric_bytes(coded / "history.csv") == metric_bytes(plain / "history.csv")
    assert prediction_bytes(coded) == prediction_bytes(plain)
    assert record["data_sha256"] == plain_record["data_sha256"]
    assert record["state_hash"] == plain_record["state_hash"]


def test_pipeline_turns_every_8bit_code_into_the_prepared_pixel_bit_for_bit():
    """The pipeline divides codes by 255 in TensorFlow; each of the 256 levels must come
    out as the float32 pixel that cnnlab.data.images wrote (its own float32 division)."""
    import tensorflow as tf

    from cnnlab.data.arrays import EIGHT_BIT_VALUES, SplitArrays
    from cnnlab.train.pipelines import batches

    codes = np.arange(256, dtype=np.uint8).reshape(4, 8, 8, 1)
    split = SplitArrays(images=codes, labels=np.zeros(4, np.int8), coded=True)
    with tf.device("/CPU:0"):
        pipeline = batches(tf, split, "bce", tf.range(4, dtype=tf.int32), 3, threads=1)
        batches = [images.numpy() for images, _ in pipeline]
    pixels = np.concatenate(batches)
    assert pixels.dtype == np.float32
    assert pixels.tobytes() == EIGHT_BIT_VALUES[codes].tobytes()
    assert pixels.tobytes() == split.float_images().tobytes()


def test_record_says_where_the_time_went(tmp_path, arrays):
    record, _, _ = run(tmp_path, "timed", spec(2), arrays)
    assert record["device"]["kind"] in ("CPU", "GPU") and record["device"]["name"]
    assert record["training_seconds"] > 0 and record["state_seconds"] > 0
    # this test process started long before the training: startup covers it all
    assert 0 < record["startup_seconds"] < record["process_seconds"]
    assert record["process_seconds"] >= record["wall_seconds"] >= record["training_seconds"] + record["state_seconds"]
