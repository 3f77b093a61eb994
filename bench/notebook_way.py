"""The notebook way: plain ``model.fit`` on NumPy arrays, one run after another, in ONE process.

This is the baseline that bench/run.py measures cnnlab against: what a course notebook
does. TensorFlow keeps its default thread pools (all cores), Keras its default compile
settings; the arrays are NumPy float32 arrays in memory; each run builds its model
(cnnlab.train.models.build_model, the same architectures) and calls

    model.fit(x_train, y_train, batch_size=..., epochs=..., validation_data=(x_test, y_test))

with ``verbose=0`` (a notebook at its quietest: verbose=1's progress bar only costs
more). No prefix sharing, no deduplication: every run a task lists is trained in full.

Two modes:

    python bench/notebook_way.py lab WORKDIR [--configfile FILE ...] [--part PART]
                                     [--arrays NPZ] --json OUT
        every task of the lab in WORKDIR, in the order of its config, with the runs each
        task lists (cnnlab.plan.plan resolves "like", "set", "sweep" and the epoch divisor);
        a task whose runs depend on a selection (6E, 6F) uses the selection that cnnlab's
        run in WORKDIR chose (results/selection/<dataset>/<task>.json), so both train the same runs;
        the data is WORKDIR/results/data/<dataset>/arrays.npz as cnnlab prepared it, or
        NPZ. ``--part first`` trains, of the runs that wait for no selection, those up
        to about half their estimated cost (it can run before cnnlab's lab), ``--part
        second`` the rest; bench/run.py puts cnnlab's lab between the two, so that a
        drift of the machine's speed weighs on both sides alike.

    python bench/notebook_way.py epochs ARRAYS_NPZ --params JSON --epochs E --json OUT
        one run for E epochs: the seconds of each epoch.

Both write a JSON summary (seconds per run or per epoch, process seconds, peak memory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the cnnlab beside bench/

# quiet logs and no ~/.keras, as cnnlab has them; threads are left at TensorFlow's default
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault(
    "KERAS_HOME", str(Path(tempfile.gettempdir()) / f"cnnlab-keras-{os.getuid()}")
)

from cnnlab.store import layout
from cnnlab.train.runtime import peak_memory_mb, process_started

PROCESS_STARTED = process_started()


def load_data(arrays_path: Path) -> dict:
    """The prepared arrays as a notebook holds them: NumPy float32 images, float32 labels."""
    import numpy as np

    with np.load(arrays_path) as stored:
        return {
            "x_train": stored["x_train"].astype("float32"),
            "y_train": stored["y_train"].astype("float32"),
            "x_test": stored["x_test"].astype("float32"),
            "y_test": stored["y_test"].astype("float32"),
        }


def epoch_timer():
    """A Keras callback that keeps the seconds of each epoch (training and validation)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._started)

    return EpochTimer()


def fit_one_run(params: dict, epochs: int, data: dict, timer=None) -> dict:
    """Build, compile and fit one run the plain way; its final metrics."""
    import keras

    from cnnlab.train.models import build_model, sign_accuracy

    keras.utils.set_random_seed(int(params["seed"]))
    model = build_model(params, data["x_train"].shape[1:])
    optimizer = {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }[params["optimizer"]](learning_rate=float(params["lr"]))
    y_train, y_test = data["y_train"], data["y_test"]
    if params["loss"] == "hinge":  # labels -1/1 and the fraction of correct signs
        model.compile(optimizer=optimizer, loss="hinge", metrics=[sign_accuracy])
        y_train, y_test = 2 * y_train - 1, 2 * y_test - 1
    else:
        model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        data["x_train"],
        y_train,
        batch_size=int(params["batch_size"]),
        epochs=int(epochs),
        validation_data=(data["x_test"], y_test),
        verbose=0,
        callbacks=[timer] if timer is not None else None,
    )
    return {name: float(values[-1]) for name, values in history.history.items()}


def merged_config(workdir: Path, configfiles: list[str]) -> dict:
    """WORKDIR/config.yaml updated by each --configfile, key by key, as Snakemake does."""
    from cnnlab.plan.config import checked_config, read_config_files

    return checked_config(
        read_config_files(workdir / "config.yaml", *(workdir / path for path in configfiles)))


LAB_PARTS = ("all", "first", "second")


def first_part(plan, image_size: int, n_train: int) -> set[tuple[str, int]]:
    """(task, index of its run) of the runs that ``--part first`` trains.

    ``plan`` is the lab's plan before any selection. Of its runs (those that wait for no
    selection), in task order, those whose estimated midpoint (cnnlab.plan.scheduling) falls in the
    first half of their estimated cost. The runs after a selection are unknown before
    cnnlab's lab has run: they all go to the second part. The estimate needs no results,
    so both parts compute the same split.
    """
    from cnnlab.plan.scheduling import estimated_seconds

    costs = [
        (task_id, index, estimated_seconds(entry.spec, entry.epochs, image_size, n_train))
        for task_id, task in plan.tasks.items()
        for index, entry in enumerate(task.entries)  # a task after a selection has none yet
    ]
    half = sum(cost for _, _, cost in costs) / 2
    chosen, spent = set(), 0.0
    for task_id, index, cost in costs:
        if spent + cost / 2 > half:
            break
        chosen.add((task_id, index))
        spent += cost
    return chosen


def lab_runs(
    workdir: Path, config: dict, part: str = "all", data: dict | None = None
) -> list[dict]:
    """[{task, run_id, params, epochs}] of ``part`` of the lab ``config`` in WORKDIR, in the
    order a notebook takes them. ``first`` and ``second`` need ``data`` (the loaded
    arrays): their size sizes the estimate that splits the lab."""
    from cnnlab.plan.complete_plan import complete_plan
    from cnnlab.plan.plan import plan_lab

    before_selection = plan = plan_lab(config)
    if part != "first":
        plan = complete_plan(config, workdir)
        if plan.selections_needed:
            raise SystemExit(
                f"notebook_way: no selection of {', '.join(plan.selections_needed)} in "
                f"{workdir}/results/selection: run cnnlab's lab in {workdir} first"
            )
    first = None
    if part != "all":
        if data is None:
            raise ValueError("a part of the lab needs the data to split the lab")
        first = first_part(before_selection, int(data["x_train"].shape[1]), len(data["x_train"]))
    runs = []
    for task_id, task in plan.tasks.items():
        for index, entry in enumerate(task.entries):  # a pending task has none
            if first is not None and ((task_id, index) in first) != (part == "first"):
                continue
            runs.append(
                {
                    "task": task_id,
                    "run_id": entry.spec.run_id,
                    "params": entry.spec.to_dict(),
                    "epochs": entry.epochs,
                }
            )
    return runs


def run_lab(arguments) -> dict:
    workdir = Path(arguments.workdir).resolve()
    config = merged_config(workdir, arguments.configfile)
    arrays_path = (
        Path(arguments.arrays)
        if arguments.arrays
        else workdir / layout.arrays_npz(config["dataset"])
    )
    data = load_data(arrays_path)
    runs = lab_runs(workdir, config, arguments.part, data)
    import keras  # noqa: F401 - a notebook's first cell: set-up, before the first run

    first_run_started = time.perf_counter()
    results = []
    for run in runs:
        started = time.perf_counter()
        final = fit_one_run(run["params"], run["epochs"], data)
        seconds = time.perf_counter() - started
        results.append(
            {
                **{key: run[key] for key in ("task", "run_id", "epochs")},
                "seconds": round(seconds, 3),
                "final": final,
            }
        )
        print(
            f"{run['task']} {run['run_id']} {run['epochs']} epochs: {seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    return {
        "mode": "lab",
        "part": arguments.part,
        "runs": results,
        "epochs": sum(run["epochs"] for run in runs),
        # process start to the first run (interpreter, imports, data): what a second
        # process adds over one notebook kernel
        "setup_seconds": round(first_run_started - PROCESS_STARTED, 3) if PROCESS_STARTED else None,
        "process_seconds": round(time.perf_counter() - PROCESS_STARTED, 3)
        if PROCESS_STARTED
        else None,
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }


def run_epochs(arguments) -> dict:
    params = json.loads(arguments.params)
    data = load_data(Path(arguments.arrays))
    timer = epoch_timer()
    final = fit_one_run(params, arguments.epochs, data, timer)
    return {
        "mode": "epochs",
        "params": params,
        "epoch_seconds": [round(seconds, 4) for seconds in timer.seconds],
        "train_images": len(data["x_train"]),
        "final": final,
        "process_seconds": round(time.perf_counter() - PROCESS_STARTED, 3)
        if PROCESS_STARTED
        else None,
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    lab = modes.add_parser("lab", help="the whole lab, one run after another")
    lab.add_argument("workdir")
    lab.add_argument("--configfile", action="append", default=[])
    lab.add_argument(
        "--part",
        choices=LAB_PARTS,
        default="all",
        help="the whole lab, or its first or second part",
    )
    lab.add_argument("--arrays", help="the prepared arrays (default: cnnlab's in WORKDIR)")
    lab.add_argument("--json", required=True)
    epochs = modes.add_parser("epochs", help="one run: the seconds of each epoch")
    epochs.add_argument("arrays")
    epochs.add_argument("--params", required=True, help="run parameters as JSON")
    epochs.add_argument("--epochs", type=int, required=True)
    epochs.add_argument("--json", required=True)
    arguments = parser.parse_args(argv)
    summary = run_lab(arguments) if arguments.mode == "lab" else run_epochs(arguments)
    Path(arguments.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
