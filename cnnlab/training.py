"""One deterministic, resumable training job: a run trained to E epochs.

``train(spec, arrays_path, out_dir, state_dir)`` trains the run that ``spec`` describes
and writes, in ``out_dir``:

- ``history.csv``: epoch,loss,accuracy,val_loss,val_accuracy,seconds (cnnlab.history),
  one row per epoch from epoch 1, the test split as validation data every epoch;
- ``record.json``: status (completed | diverged), epochs, timings, memory, threads,
  versions, params, resumed_from_epoch, data hash;
- ``summary.csv``: the model's layers and parameter counts (cnnlab.models);
- ``weights/epochNNNN.weights.h5``: the model's weights at each epoch of
  ``spec["save_epochs"]`` that was reached.

``history.csv`` is written last, so its presence means the others are there.

Determinism
    The process fixes TensorFlow's thread count (``params["threads"]``) and turns on op
    determinism (cnnlab.runtime); weights and dropout seeds come from
    ``keras.utils.set_random_seed(params["seed"])``; the order of the training images in
    epoch e is a NumPy permutation seeded by (seed, e) alone. So the same spec gives the
    same numbers, and the first E epochs of a longer training equal an E-epoch training.

Resume
    After every epoch the complete training state goes to ``state_dir`` as one
    ``.npz`` file, written to a temporary file and renamed into place: all model
    variables (weights and the Dropout layers' seed-generator states, which
    ``save_weights`` leaves out), all optimizer variables (iteration count, moments),
    the epoch and the history so far. ``latest.state.npz`` is replaced every epoch;
    ``epochNNNN.state.npz`` is kept for every save epoch, the target epoch and an epoch
    that diverged. A training starts from the
    newest state at or below its epoch target (from which every save epoch's weights can
    be rewritten), so a job killed at any moment continues from its last completed
    epoch, and a longer training of a run continues from the shorter one's end. Each
    state carries a hash of the params, the data, the library versions and this
    module's pipeline settings; a state with another hash is stale and deleted. An
    exclusive ``fcntl`` lock on ``state_dir/.lock`` keeps two jobs from training the
    same run at once (the second waits, then resumes from the first one's state).

Divergence
    After each epoch: a non-finite loss or val_loss, or a training loss above
    ``DIVERGENCE_FACTOR`` (100) times the loss of a model that knows nothing (ln 2 for
    BCE, 1 for hinge; so 69.3 and 100), stops the training with status ``diverged``.
    A working training's loss stays near or below that chance level; 100 times it means
    the scores have blown up (the first epoch's loss is no yardstick: with a far too
    high learning rate it has already exploded). The history so far and all outputs are
    written and the job succeeds.

Speed and memory
    The arrays file is read once, in chunks, hashed on the way. Each split lives in
    memory once, as tensors on the CPU: images as 8-bit codes (a quarter of float32's
    memory) whenever every pixel is exactly an 8-bit level ``k / 255`` (always so for
    8-bit images and the synthetic data), else as float32. Two ``tf.data`` pipelines
    are built once per job: batches of indices (the epoch's permutation, which each
    epoch writes into a variable; the test split in order) that gather images and
    labels and turn codes into float32 by a table look-up, so a batch holds exactly the
    prepared pixels; prefetched, without tf.data's autotuning (nothing to tune, and its
    thread delayed epochs). ``model.fit`` runs one epoch per call with ``verbose=0``
    and ``steps_per_execution=STEPS_PER_EXECUTION`` (the last execution
    of an epoch runs the remaining steps, the last batch holds the remainder of the
    images; 1, 4 and 16 steps per execution give identical numbers). Validation on the
    test split is fit's own, once per epoch; the training metrics are fit's running
    means, no extra evaluation. Adam updates the weights with TensorFlow's fused kernel
    (cnnlab.optimizers; the record's ``update_kernel``). One log line per epoch. No XLA
    (slower on this CPU).
    On a GPU (where TensorFlow sees one) the same code trains there; the record names
    the device, and a GPU's states are kept apart from the CPU's (other numbers).

Timings in the record
    ``training_seconds`` sums this process's epochs (history ``seconds``: fit's
    training and validation); ``state_seconds`` is the time spent writing resume states
    and weights between epochs; ``startup_seconds`` runs from the process's start
    (interpreter, imports, data, model) to its first epoch; ``process_seconds`` from the
    process's start to the record; ``wall_seconds`` from the call of ``train``.

Hinge loss
    Labels 0/1 are fed as -1/1; the output is a linear score and the accuracy is the
    fraction of images whose score sign matches the label (score > 0 means Nev), the
    same count as BCE's ``sigmoid > 0.5`` (cnnlab.models).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import platform
import re
import resource
import secrets
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab import runtime
from cnnlab.errors import CnnlabError
from cnnlab.history import HISTORY_COLUMNS, atomic_open, write_history_csv

STATE_FORMAT = 1
STEPS_PER_EXECUTION = 16
PREFETCH_BATCHES = 2
DIVERGENCE_FACTOR = 100.0
# the loss of a model that knows nothing: sigmoid 0.5 (BCE ln 2) or score 0 (hinge 1)
CHANCE_LOSS = {"bce": math.log(2.0), "hinge": 1.0}
ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")
LATEST_STATE = "latest.state.npz"
_EPOCH_STATE = re.compile(r"^epoch(\d{4,})\.state\.npz$")


def default_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train(
    spec: dict,
    arrays_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    state_dir: str | os.PathLike,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train ``spec`` on the arrays in ``arrays_path``; write outputs; return the record.

    ``spec`` is ``{"run_id": str, "params": {...run params...}, "epochs": E,
    "save_epochs": [epoch, ...]}``; every save epoch lies in 1..E.
    """
    started = time.perf_counter()
    log = log or default_log
    run_id, params, epochs, save_epochs = _check_spec(spec)
    out_dir, state_dir = Path(out_dir), Path(state_dir)
    threads = int(params.get("threads", 1))
    settings = runtime.configure(threads=threads)

    import keras
    import tensorflow as tf

    from cnnlab.models import build_model, write_summary_csv
    from cnnlab.optimizers import update_kernel

    data = load_training_arrays(arrays_path)
    versions = library_versions()
    device = runtime.training_device()
    data_sha256 = data.sha256
    state_hash = _state_hash(params, data_sha256, versions, device)
    train_count, test_count = len(data.train.images), len(data.test.images)

    state_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "weights").mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(state_dir / ".lock", log):
        checkpoints = _usable_checkpoints(state_dir, state_hash, log)
        resume = _choose_resume(checkpoints, epochs, save_epochs)

        runtime.seed_everything(int(params["seed"]))
        model = build_model(params, data.image_shape)
        _compile(model, params, keras)

        weights_written = []
        for save_epoch in save_epochs:
            if resume is not None and save_epoch <= resume["epoch"]:
                _restore(model, checkpoints[save_epoch]["path"], state_hash)
                weights_written.append(_save_weights(model, out_dir, save_epoch))
        history: list[dict] = []
        diverged_reason = None
        if resume is not None:
            meta = _restore(model, resume["path"], state_hash)
            history = meta["history"]
            diverged_reason = meta.get("diverged_reason")
            log(
                f"{run_id}: resuming from the state at epoch {resume['epoch']}"
                + (f" (diverged: {diverged_reason})" if diverged_reason else "")
            )
        resumed_from_epoch = len(history)

        # each split lives in memory once, as tensors (8-bit codes where that is exact);
        # both pipelines are built once: an epoch only writes its order into a variable
        batch_size = int(params["batch_size"])
        with tf.device("/CPU:0"):
            train_order = tf.Variable(
                np.zeros(train_count, np.int32), trainable=False, name="epoch_order"
            )
            training_batches = _batches(
                tf, data.train, params["loss"], train_order, batch_size, threads
            )
            test_order = tf.range(test_count, dtype=tf.int32)
            validation = _batches(tf, data.test, params["loss"], test_order, batch_size, threads)
        images_in_memory = data.storage
        del data
        log(
            f"{run_id}: {params['model']} with {model.count_params():,} parameters, "
            f"{train_count} training and {test_count} validation images ({images_in_memory} "
            f"in memory), epochs {resumed_from_epoch + 1}..{epochs}, {threads} thread(s), "
            f"{device['name']}"
        )
        first_epoch_started = None
        state_seconds = 0.0
        epoch = resumed_from_epoch
        while diverged_reason is None and epoch < epochs:
            epoch += 1
            train_order.assign(epoch_order(int(params["seed"]), epoch, train_count))
            epoch_started = time.perf_counter()
            if first_epoch_started is None:
                first_epoch_started = epoch_started
            fitted = model.fit(
                training_batches,
                epochs=epoch,
                initial_epoch=epoch - 1,
                validation_data=validation,
                shuffle=False,  # the order is epoch_order's
                verbose=0,
            )
            seconds = time.perf_counter() - epoch_started
            row = {"epoch": epoch}
            for column in HISTORY_COLUMNS[1:-1]:
                row[column] = float(fitted.history[column][-1])
            row["seconds"] = seconds
            history.append(row)
            diverged_reason = divergence(history, params["loss"])
            saving_started = time.perf_counter()
            _save_state(
                model,
                state_dir,
                epoch,
                history,
                state_hash,
                diverged_reason,
                # kept: save epochs (their weights can be rewritten), the target (where
                # a longer training continues) and a divergence (the verdict stands)
                keep=epoch in save_epochs or epoch == epochs or diverged_reason is not None,
            )
            if epoch in save_epochs:
                weights_written.append(_save_weights(model, out_dir, epoch))
            state_seconds += time.perf_counter() - saving_started
            log(
                f"{run_id} epoch {epoch}/{epochs}: loss {row['loss']:.4f} "
                f"accuracy {row['accuracy']:.4f} val_loss {row['val_loss']:.4f} "
                f"val_accuracy {row['val_accuracy']:.4f} ({seconds:.1f} s)"
                + (f" DIVERGED: {diverged_reason}" if diverged_reason else "")
            )

        write_summary_csv(model, out_dir / "summary.csv")
        process_started = runtime.process_started()
        record = {
            "run_id": run_id,
            "status": "diverged" if diverged_reason else "completed",
            "diverged_reason": diverged_reason,
            "epochs_requested": epochs,
            "epochs_trained": len(history),
            "save_epochs": save_epochs,
            "weights": sorted(weights_written),
            "resumed_from_epoch": resumed_from_epoch,
            "wall_seconds": round(time.perf_counter() - started, 3),
            "training_seconds": round(
                sum(row["seconds"] for row in history[resumed_from_epoch:]), 3
            ),
            "state_seconds": round(state_seconds, 3),
            "startup_seconds": _seconds_between(process_started, first_epoch_started),
            "process_seconds": _seconds_between(process_started, time.perf_counter()),
            "peak_memory_mb": round(peak_memory_mb(), 1),
            "images_in_memory": images_in_memory,
            "device": device,
            "threads": settings["threads"],
            "inter_op_threads": settings["inter_op_threads"],
            "onednn_opts": settings["TF_ENABLE_ONEDNN_OPTS"],
            "steps_per_execution": STEPS_PER_EXECUTION,
            "update_kernel": update_kernel(params["optimizer"]),
            "versions": versions,
            "params": params,
            "data_sha256": data_sha256,
            "state_hash": state_hash,
        }
        _write_json_atomically(record, out_dir / "record.json")
        write_history_csv(history, out_dir / "history.csv")
    log(
        f"{run_id}: {record['status']} after {record['epochs_trained']} epochs, "
        f"{record['wall_seconds']:.1f} s, peak memory {record['peak_memory_mb']:.0f} MB"
    )
    return record


# --- data -------------------------------------------------------------------------

# the float32 value of each 8-bit code, computed as cnnlab.images does (pixel / 255);
# float32 division is exact-rounded, so TensorFlow's code / 255 gives the same bits
EIGHT_BIT_SCALE = 255.0
EIGHT_BIT_VALUES = np.arange(256, dtype=np.float32) / np.float32(EIGHT_BIT_SCALE)
_IMAGE_KEYS = ("x_train", "x_test")
_READ_CHUNK_VALUES = 1 << 20  # images are read, hashed and coded 4 MiB at a time


@dataclass
class SplitArrays:
    """One split in memory: images (N, H, W, 1) and labels (N,) int8.

    ``images`` holds either 8-bit codes (``coded``, uint8) whose float32 values are
    ``code / 255`` (EIGHT_BIT_VALUES), bit for bit the prepared float32 pixels, or the
    float32 pixels themselves, when some pixel is not an 8-bit level.
    """

    images: np.ndarray
    labels: np.ndarray
    coded: bool = False

    def float_images(self) -> np.ndarray:
        return EIGHT_BIT_VALUES[self.images] if self.coded else self.images


@dataclass
class TrainingArrays:
    """A prepared arrays.npz as a training holds it: both splits and the content hash."""

    train: SplitArrays
    test: SplitArrays
    sha256: str  # cnnlab.prepare.arrays_sha256 of every array in the file

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(size) for size in self.train.images.shape[1:])

    @property
    def storage(self) -> str:
        """``uint8`` when both splits are held as 8-bit codes, else ``float32``."""
        return "uint8" if self.train.coded and self.test.coded else "float32"


def load_training_arrays(arrays_path: str | os.PathLike, compact: bool = True) -> TrainingArrays:
    """Read a prepared arrays.npz (cnnlab.prepare's format) in one pass.

    Each array is read once, in chunks: hashed on the way (the manifest's
    ``arrays_sha256``) and, for the images, turned into 8-bit codes where every pixel is
    exactly an 8-bit level (``compact``; a quarter of the memory), else kept as float32.
    """
    from cnnlab.prepare import ARRAY_KEYS as PREPARED_KEYS
    from cnnlab.prepare import load_prepared

    arrays_path = Path(arrays_path)
    if not arrays_path.is_file():
        load_prepared(arrays_path)  # raises its one clear message
    try:
        with zipfile.ZipFile(arrays_path) as archive:
            members = {
                name[: -len(".npy")]: name for name in archive.namelist() if name.endswith(".npy")
            }
            if any(key not in members for key in PREPARED_KEYS):
                load_prepared(arrays_path)  # raises its one clear message
            digest = hashlib.sha256()
            arrays: dict[str, np.ndarray | tuple] = {}
            for key in sorted(members):  # the order of cnnlab.prepare.arrays_sha256
                if key in _IMAGE_KEYS:
                    arrays[key] = _read_images(archive, members[key], key, digest, compact)
                else:
                    with archive.open(members[key]) as stream:
                        array = np.lib.format.read_array(stream, allow_pickle=False)
                    _hash_array(digest, key, array)
                    if key in ARRAY_KEYS:
                        arrays[key] = array
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise CnnlabError(
            f"{arrays_path}: the prepared data cannot be read ({error}). Delete it and run "
            "the prepare_data rule."
        ) from None
    splits = {}
    for split in ("train", "test"):
        images, coded = arrays[f"x_{split}"]
        labels = arrays[f"y_{split}"]
        if images.ndim != 4 or images.shape[-1] != 1 or len(images) != len(labels.reshape(-1)):
            raise CnnlabError(
                f"{arrays_path}: x_{split} must be (N, H, W, 1) with one label per image, "
                f"got {images.shape} and {labels.shape}; prepare the data again"
            )
        if len(images) == 0:
            raise CnnlabError(f"{arrays_path}: the {split} split holds no images")
        splits[split] = SplitArrays(images, labels.reshape(-1).astype(np.int8), coded)
    if splits["train"].images.shape[1:] != splits["test"].images.shape[1:]:
        raise CnnlabError(f"{arrays_path}: train and test images differ in size")
    return TrainingArrays(splits["train"], splits["test"], digest.hexdigest())


def load_arrays(arrays_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """x_train, y_train, x_test, y_test of a prepared arrays.npz, images as float32
    (N, H, W, 1) and labels as int8 (N,): the arrays as a notebook would hold them."""
    data = load_training_arrays(arrays_path)
    return {
        "x_train": data.train.float_images(),
        "y_train": data.train.labels,
        "x_test": data.test.float_images(),
        "y_test": data.test.labels,
    }


def _hash_array(digest, key: str, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array)
    digest.update(f"{key};{array.dtype.str};{array.shape};".encode())
    digest.update(memoryview(array.reshape(-1).view(np.uint8)))


def _read_images(archive, member: str, key: str, digest, compact: bool):
    """(images, coded) of one image array, read in chunks, hashed as it is read."""
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        header = None
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(stream)
        if header is not None and not header[1] and header[2] == np.dtype("<f4"):
            return _read_float32_chunks(stream, key, header[0], digest, compact)
    # not the layout cnnlab.prepare writes: read it whole, the plain way
    with archive.open(member) as stream:
        array = np.lib.format.read_array(stream, allow_pickle=False)
    _hash_array(digest, key, array)
    return np.ascontiguousarray(array, dtype=np.float32), False


def _read_float32_chunks(stream, key: str, shape: tuple, digest, compact: bool):
    digest.update(f"{key};{np.dtype('<f4').str};{tuple(shape)};".encode())
    count = math.prod(shape)
    codes = np.empty(count, np.uint8) if compact else None
    pixels = None if compact else np.empty(count, np.float32)
    level_bits = EIGHT_BIT_VALUES.view(np.uint32)
    position = 0
    while position < count:
        size = min(_READ_CHUNK_VALUES, count - position)
        raw = stream.read(4 * size)
        if len(raw) != 4 * size:
            raise ValueError(f"{key} is truncated")
        digest.update(raw)
        chunk = np.frombuffer(raw, dtype="<f4")
        if codes is not None:
            with np.errstate(invalid="ignore"):
                chunk_codes = np.clip(np.rint(chunk * np.float32(255.0)), 0, 255).astype(np.uint8)
            # exact, bit for bit (also -0.0 and NaN are told apart from a level)
            if np.array_equal(level_bits[chunk_codes], chunk.view(np.uint32)):
                codes[position : position + size] = chunk_codes
            else:
                pixels = np.empty(count, np.float32)
                pixels[:position] = EIGHT_BIT_VALUES[codes[:position]]
                codes = None
        if codes is None:
            pixels[position : position + size] = chunk
        position += size
    if codes is not None:
        return codes.reshape(shape), True
    return pixels.reshape(shape), False


def _labels_for_loss(labels: np.ndarray, loss: str) -> np.ndarray:
    """Labels as float32 (N, 1): 0/1 for BCE, -1/1 for hinge."""
    labels = labels.astype(np.float32).reshape(-1, 1)
    return 2.0 * labels - 1.0 if loss == "hinge" else labels


def epoch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    """The order of the training images in ``epoch``: a function of (seed, epoch) only."""
    generator = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch)]))
    return generator.permutation(count).astype(np.int32)


def _dataset_options(tf, threads: int):
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


def _batches(tf, split: SplitArrays, loss: str, order, batch_size: int, threads: int):
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
    labels = tf.constant(_labels_for_loss(split.labels, loss))

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
        .with_options(_dataset_options(tf, threads))
    )


# --- model ------------------------------------------------------------------------


def _compile(model, params: dict, keras) -> None:
    from cnnlab.optimizers import build_optimizer

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
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile=False,
    )
    # build the optimizer now, the same way for a fresh and a resumed training
    model.optimizer.build(model.trainable_variables)


def sign_accuracy(y_true, y_pred):
    """1 where the score's class (score > 0 -> 1, else -1) matches a -1/1 label."""
    from keras import ops

    return ops.cast(ops.equal(y_true > 0, y_pred > 0), "float32")


def divergence(history: list[dict], loss: str) -> str | None:
    """Why the training diverged at the last epoch of ``history``, or None.

    Diverged: a non-finite loss or val_loss, or a training loss above
    DIVERGENCE_FACTOR times the loss of a model that knows nothing (CHANCE_LOSS).
    """
    row = history[-1]
    for column in ("loss", "val_loss"):
        if not math.isfinite(row[column]):
            return f"{column} is {row[column]}"
    limit = DIVERGENCE_FACTOR * CHANCE_LOSS[loss]
    if row["loss"] > limit:
        return f"loss {row['loss']:.4g} > {limit:.4g} ({DIVERGENCE_FACTOR:g} x chance level)"
    return None


def _save_weights(model, out_dir: Path, epoch: int) -> str:
    relative = f"weights/epoch{epoch:04d}.weights.h5"
    target = out_dir / relative
    temporary = target.with_name(f".{target.name[: -len('.weights.h5')]}.tmp.weights.h5")
    model.save_weights(str(temporary), overwrite=True)
    os.replace(temporary, target)
    return relative


# --- state ------------------------------------------------------------------------


def library_versions() -> dict:
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def _state_hash(params: dict, data_sha256: str, versions: dict, device: dict | None = None) -> str:
    identity = {
        "format": STATE_FORMAT,
        "params": params,
        "data_sha256": data_sha256,
        "versions": {key: versions[key] for key in ("tensorflow", "keras", "numpy")},
        "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        # not steps_per_execution: 1, 4 and 16 give identical histories
    }
    if device and device.get("kind") != "CPU":
        # a GPU computes other numbers than the CPU: its states are its own
        # (CPU states keep the hash they had before devices were told apart)
        identity["device"] = device["name"]
    from cnnlab.optimizers import KERAS_UPDATE, update_kernel

    kernel = update_kernel(params["optimizer"])
    if kernel != KERAS_UPDATE:
        # another kernel rounds otherwise: its states are its own (the states of the
        # optimizers that keep Keras' update keep their hash)
        identity["update_kernel"] = kernel
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _state_variables(model) -> list:
    return list(model.variables) + list(model.optimizer.variables)


def _save_state(model, state_dir, epoch, history, state_hash, diverged_reason, keep) -> None:
    variables = _state_variables(model)
    meta = {
        "format": STATE_FORMAT,
        "state_hash": state_hash,
        "epoch": epoch,
        "history": history,
        "diverged_reason": diverged_reason,
        "variables": [[v.path, list(v.shape), str(v.dtype)] for v in variables],
    }
    target = state_dir / (f"epoch{epoch:04d}.state.npz" if keep else LATEST_STATE)
    # an .npz (a zip of .npy members) written one variable at a time, each straight from
    # its buffer, so that at most one variable's copy is in memory
    with (
        atomic_open(target, binary=True) as stream,
        zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive,
    ):
        members = [("meta", lambda: np.array(json.dumps(meta)))] + [
            (f"v{index:05d}", variable.numpy) for index, variable in enumerate(variables)
        ]
        for name, value in members:
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                _write_npy(member, np.asarray(value()))
    if keep:
        _link_or_copy(target, state_dir / LATEST_STATE)


def _write_npy(stream, array: np.ndarray) -> None:
    """``np.lib.format.write_array`` without its chunked copies: header, then the buffer."""
    if not array.flags.c_contiguous:
        array = array.copy(order="C")
    header = np.lib.format.header_data_from_array_1_0(array)
    np.lib.format.write_array_header_1_0(stream, header)
    stream.write(memoryview(array.reshape(-1).view(np.uint8)))


def _link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to (or copy of) ``source``, atomically."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        os.link(source, temporary)
    except OSError:
        import shutil

        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def _read_meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as stored:
        return json.loads(str(stored["meta"]))


def _usable_checkpoints(state_dir: Path, state_hash: str, log) -> dict[int, dict]:
    """Checkpoints of ``state_dir`` with this state hash, by epoch; deletes stale ones."""
    for leftover in state_dir.glob(".*.tmp"):  # from a killed writer; we hold the lock
        leftover.unlink(missing_ok=True)
    checkpoints: dict[int, dict] = {}
    for path in sorted(state_dir.glob("*.state.npz")):
        if path.name != LATEST_STATE and not _EPOCH_STATE.match(path.name):
            continue
        try:
            meta = _read_meta(path)
        except Exception as error:  # noqa: BLE001 - an unreadable state is stale state
            log(f"discarding unreadable state {path.name}: {error}")
            path.unlink(missing_ok=True)
            continue
        if meta.get("format") != STATE_FORMAT or meta.get("state_hash") != state_hash:
            log(f"discarding stale state {path.name} (other params, data or versions)")
            path.unlink(missing_ok=True)
            continue
        epoch = int(meta["epoch"])
        # prefer the kept epochNNNN file over latest for the same epoch
        if epoch not in checkpoints or path.name != LATEST_STATE:
            checkpoints[epoch] = {"epoch": epoch, "path": path}
    return checkpoints


def _choose_resume(checkpoints: dict[int, dict], epochs: int, save_epochs: list[int]):
    """The newest checkpoint at or below ``epochs`` from which the weights of every
    save epoch it has passed can be rewritten (those epochs have checkpoints too)."""
    for epoch in sorted(checkpoints, reverse=True):
        if epoch > epochs:
            continue
        if all(save in checkpoints for save in save_epochs if save <= epoch):
            return checkpoints[epoch]
    return None


def _restore(model, path: Path, state_hash: str) -> dict:
    variables = _state_variables(model)
    with np.load(path, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        # compare shapes and dtypes: seed-generator paths carry a per-process counter
        expected = [[list(v.shape), str(v.dtype)] for v in variables]
        stored_layout = [[shape, dtype] for _path, shape, dtype in meta["variables"]]
        if meta["state_hash"] != state_hash or stored_layout != expected:
            raise RuntimeError(f"{path}: state does not match this model; delete it")
        for index, variable in enumerate(variables):
            variable.assign(stored[f"v{index:05d}"])
    return meta


@contextlib.contextmanager
def _exclusive_lock(path: Path, log):
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another job that trains this run ({path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- small helpers ------------------------------------------------------------------


def _check_spec(spec: dict):
    for key in ("run_id", "params", "epochs"):
        if key not in spec:
            raise ValueError(f"training spec lacks {key!r}: {spec}")
    params = dict(spec["params"])
    for key in ("model", "optimizer", "lr", "batch_size", "loss", "seed"):
        if key not in params:
            raise CnnlabError(f"run {spec['run_id']}: params lack {key!r}")
    epochs = int(spec["epochs"])
    if epochs < 1:
        raise CnnlabError(f"run {spec['run_id']}: epochs must be >= 1, got {epochs}")
    save_epochs = sorted({int(epoch) for epoch in spec.get("save_epochs", [epochs])})
    outside = [epoch for epoch in save_epochs if not 1 <= epoch <= epochs]
    if outside:
        raise CnnlabError(f"run {spec['run_id']}: save_epochs {outside} lie outside 1..{epochs}")
    if int(params["batch_size"]) < 1:
        raise CnnlabError(f"run {spec['run_id']}: batch_size must be >= 1")
    return str(spec["run_id"]), params, epochs, save_epochs


def _seconds_between(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(end - start, 3)


def peak_memory_mb() -> float:
    """This process's peak resident memory (ru_maxrss) in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _write_json_atomically(payload: dict, path: Path) -> None:
    with atomic_open(path) as stream:
        json.dump(payload, stream, indent=2)
        stream.write("\n")
