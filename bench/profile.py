#!/usr/bin/env python3
"""One epoch of LeNet b8 and AlexNet n_base 32 b8 taken apart: where a training's seconds go.

    python bench/profile.py                          # bench/results/profile.md
    python bench/profile.py --n-train 200 --repeats 2 --precision float32 mixed_bfloat16

Each set-up and precision is timed in a child process of its own, one thread, set up as a
training job sets itself up (cnnlab.train.runtime), on the default lab's synthetic images
(128 x 128; ``--n-train`` training and a fifth as many validation images). The pieces,
each the median of ``--repeats`` passes over the training images after a warm-up:

- the epoch as the lab runs it: ``model.fit`` one epoch and the validation predict;
- ``fit`` alone, and its parts: the input pipeline alone (iterating the batches), the
  forward and backward pass of the whole model without an update, of the convolutions
  alone (the model cut at its flatten layer), and the optimizer's update alone (applied
  to fixed gradients, once per step); the dense layers are the whole model's forward
  and backward pass less the convolutions'; what ``fit`` takes beyond the sum (Keras'
  step loop, metrics, Python) is the rest;
- the validation predict at the lab's batch size (cnnlab.train.pipelines) and at 200.

``--onednn`` also times each set-up with ``TF_ENABLE_ONEDNN_OPTS=0`` (oneDNN off).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import table
from bench.parts.epoch_speed import EPOCH_SETUPS

RESULTS = ROOT / "bench" / "results"
SETUPS = {label: changes for label, _, changes in EPOCH_SETUPS[:2]}  # LeNet b8, AlexNet 32 b8


def median_seconds(action, repeats: int) -> float:
    action()  # the warm-up: tracing, oneDNN's kernel choice
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def child(arguments: argparse.Namespace) -> dict:
    """Time the pieces of one set-up's epoch in this process (one thread)."""
    from cnnlab.train import runtime

    runtime.configure(1, plots=False)
    import numpy as np

    from cnnlab.data.arrays import load_training_arrays
    from cnnlab.train.models import build_model
    from cnnlab.train.pipelines import build_pipelines, epoch_order
    from cnnlab.train.training import _compile

    params = {"dataset": "synthetic", "dropout": 0.0, "optimizer": "adam", "loss": "bce",
              "seed": 1, "threads": 1, **SETUPS[arguments.setup],
              "precision": arguments.precision}
    data = load_training_arrays(arguments.arrays)
    runtime.seed_everything(1)
    model = build_model(params, data.image_shape)
    _compile(model, params)
    pipelines = build_pipelines(data, params["batch_size"], "bce", 1)
    pipelines.train_order.assign(epoch_order(1, 1, pipelines.train_count))
    actions = epoch_pieces(model, pipelines, data, params["batch_size"])
    seconds = {name: median_seconds(action, arguments.repeats) for name, action in actions.items()}
    seconds["dense layers (whole - convolutions)"] = (
        seconds["forward + backward, whole model"] - seconds["forward + backward, convolutions"])
    seconds["rest of fit (step loop, metrics, Python)"] = seconds["fit alone"] - (
        seconds["input pipeline alone"] + seconds["forward + backward, whole model"]
        + seconds["optimizer update alone"])
    return {"setup": arguments.setup, "precision": arguments.precision,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
            "images": [pipelines.train_count, pipelines.test_count],
            "parameters": model.count_params(), "seconds": seconds,
            "numpy": np.__version__}


def epoch_pieces(model, pipelines, data, batch_size: int) -> dict:
    """The pieces of an epoch, each a function that runs it once over the images."""
    import keras
    import tensorflow as tf

    from cnnlab.train.pipelines import batches

    loss_function = keras.losses.BinaryCrossentropy()
    convolutions = keras.Model(model.input, model.get_layer("flatten").output)

    def gradients_of(submodel, loss_of):
        @tf.function
        def step(images, labels):
            with tf.GradientTape() as tape:
                loss = loss_of(submodel(images, training=True), labels)
            return tape.gradient(loss, submodel.trainable_variables)
        return lambda: [step(images, labels) for images, labels in pipelines.training]

    fixed = [tf.zeros_like(variable) + 1e-6 for variable in model.trainable_variables]
    steps = -(-pipelines.train_count // batch_size)

    @tf.function
    def update():
        model.optimizer.apply(fixed, model.trainable_variables)

    big_validation = batches(tf, data.test, "bce", tf.range(pipelines.test_count), 200, 1)
    return {
        "epoch as the lab runs it": lambda: (model.fit(pipelines.training, epochs=1, verbose=0),
                                             model.predict(pipelines.validation, verbose=0)),
        "fit alone": lambda: model.fit(pipelines.training, epochs=1, verbose=0),
        "input pipeline alone": lambda: [None for _ in pipelines.training],
        "forward + backward, whole model": gradients_of(
            model, lambda out, labels: loss_function(labels, out)),
        "forward + backward, convolutions": gradients_of(
            convolutions, lambda out, labels: tf.reduce_sum(out)),
        "optimizer update alone": lambda: [update() for _ in range(steps)],
        "validation predict, batch 32": lambda: model.predict(pipelines.validation, verbose=0),
        "validation predict, batch 200": lambda: model.predict(big_validation, verbose=0),
    }


def prepare_arrays(directory: Path, n_train: int) -> Path:
    """The default lab's synthetic images, ``n_train`` of them and a fifth as many to
    validate, as the workflow prepares them."""
    from cnnlab.data.prepare import prepare_dataset

    arrays = directory / "profile" / "arrays.npz"
    config = {"kind": "synthetic", "n_train": n_train, "n_test": max(1, n_train // 5),
              "seed": 0, "image_size": 128}
    prepare_dataset(config, arrays, arrays.with_name("manifest.json"), name="profile")
    return arrays


def run_child(setup: str, precision: str, onednn: str | None, arrays: Path,
              repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    command = [sys.executable, __file__, "--child", "--setup", setup, "--precision", precision,
               "--arrays", str(arrays), "--repeats", str(repeats)]
    print(f"profile: {setup}, {precision}, oneDNN {onednn or 'default'}", file=sys.stderr)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"profile of {setup} ({precision}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: list[dict], arguments: argparse.Namespace, load: tuple) -> str:
    names = list(results[0]["seconds"])
    headers = ["piece"] + [f"{r['setup']}, {r['precision']}, oneDNN {r['onednn']}"
                           for r in results]
    rows = []
    for name in names:
        cells = []
        for result in results:
            seconds = result["seconds"][name]
            share = seconds / result["seconds"]["fit alone"]
            cells.append(f"{seconds:.2f} s ({share:.0%} of fit)")
        rows.append([name, *cells])
    images = results[0]["images"]
    return "\n".join([
        "# One epoch taken apart", "",
        (f"Command: `python bench/profile.py --n-train {arguments.n_train} --repeats "
        f"{arguments.repeats} --precision {' '.join(arguments.precision)}"
        f"{' --onednn' if arguments.onednn else ''}`; {images[0]} training and {images[1]} "
        f"validation images of 128 x 128, one thread, medians of {arguments.repeats} passes."),
        f"Load average (1, 5, 15 min) before / after: {load[0]} / {load[1]}.", "",
        table(headers, rows), ""])


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", nargs="+", default=["float32"])
    parser.add_argument("--onednn", action="store_true", help="also with oneDNN off")
    parser.add_argument("--output", type=Path, default=RESULTS / "profile-run.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setup", choices=list(SETUPS), help=argparse.SUPPRESS)
    parser.add_argument("--arrays", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    arguments = parse_arguments(argv)
    if arguments.child:
        arguments.precision = arguments.precision[0]
        print(json.dumps(child(arguments)))
        return
    load_before = tuple(round(value, 2) for value in os.getloadavg())
    results = []
    with tempfile.TemporaryDirectory(prefix="cnnlab-profile-") as temp:
        arrays = prepare_arrays(Path(temp), arguments.n_train)
        for setup in SETUPS:
            for precision in arguments.precision:
                for onednn in ([None, "0"] if arguments.onednn else [None]):
                    results.append(run_child(setup, precision, onednn, arrays,
                                             arguments.repeats))
    load_after = tuple(round(value, 2) for value in os.getloadavg())
    text = report(results, arguments, (load_before, load_after))
    arguments.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
