"""The trainings the parts time: cnnlab jobs and notebook-way runs on prepared data, and the
lab's config and records.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from bench.common import BENCH, ROOT, Context, run_processes, say
from cnnlab.plan.config import checked_config, read_config_files, update_config
from cnnlab.store import layout
from cnnlab.store.files import read_record
from cnnlab.store.history import read_column, read_history

QUICK_DATA = {"kind": "synthetic", "n_train": 96, "n_test": 24, "seed": 0, "image_size": 32}
QUICK_LAB = {
    "dataset": "benchtiny",
    "datasets": {
        "benchtiny": {"kind": "synthetic", "n_train": 48, "n_test": 24, "seed": 0, "image_size": 32}
    },
    "epoch_divisor": 50,
}


def prepare_data(ctx: Context) -> None:
    """The synthetic data set of config.yaml (or a tiny one with --quick), prepared once."""
    from cnnlab.data.prepare import prepare_dataset

    dataset = ctx.config["datasets"][ctx.config["dataset"]]
    if ctx.quick:
        dataset = QUICK_DATA
    elif dataset.get("kind") != "synthetic":
        dataset = {
            "kind": "synthetic",
            "n_train": 1000,
            "n_test": 200,
            "seed": 0,
            "image_size": 128,
        }
    ctx.arrays = ctx.temp / "data" / "arrays.npz"
    say(
        f"preparing the synthetic data ({dataset['n_train']} + {dataset['n_test']} images "
        f"of {dataset['image_size']} px)"
    )
    prepare_dataset(
        dataset,
        ctx.arrays,
        ctx.arrays.with_name("manifest.json"),
        int(dataset["image_size"]),
        name="bench",
    )
    ctx.train_count = int(dataset["n_train"])
    ctx.test_count = int(dataset["n_test"])
    ctx.image_size = int(dataset["image_size"])


def cnnlab_jobs(ctx: Context, params: dict, epochs: int, copies: int, name: str) -> list[dict]:
    """``copies`` cnnlab training jobs of ``params`` at once; per job its epochs' seconds,
    its record and its seconds from process start to exit."""
    commands, logs, outs = [], [], []
    for copy in range(copies):
        folder = ctx.temp / "jobs" / f"{name}-{copy}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        spec = {"run_id": name, "params": params, "epochs": epochs, "save_epochs": [epochs]}
        (folder / "spec.json").write_text(json.dumps(spec))
        commands.append(
            [
                sys.executable,
                str(BENCH / "cnnlab_job.py"),
                str(folder / "spec.json"),
                str(ctx.arrays),
                str(folder / "out"),
                str(folder / "state"),
            ]
        )
        logs.append(folder / "job.log")
        outs.append(folder / "out")
    seconds = run_processes(commands, logs)
    jobs = []
    for out, external in zip(outs, seconds):
        record = read_record(out / "record.json")
        jobs.append(
            {
                "epoch_seconds": read_column(out / layout.HISTORY_CSV, "seconds"),
                "record": record,
                "external_seconds": external,
                "out": out,
            }
        )
    return jobs


def history_rows(out: Path) -> list[dict]:
    """A cnnlab job's history.csv, read by the store's checked reader: one row of metrics
    per epoch."""
    return read_history(out / layout.HISTORY_CSV).to_dict("records")


def notebook_epochs(ctx: Context, params: dict, epochs: int, name: str) -> dict:
    """One run the notebook way for ``epochs`` epochs: its summary, with its seconds from
    spawn to exit."""
    folder = ctx.temp / "notebook" / name
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(BENCH / "notebook_way.py"),
        "epochs",
        str(ctx.arrays),
        "--params",
        json.dumps(params),
        "--epochs",
        str(epochs),
        "--json",
        str(folder / "result.json"),
    ]
    (external,) = run_processes([command], [folder / "notebook.log"])
    result = json.loads((folder / "result.json").read_text())
    result["external_seconds"] = external
    return result


def timed(epoch_seconds: list[float]) -> list[float]:
    """The epochs after the first (which also traces the model's functions)."""
    return epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds


def lab_override(ctx: Context) -> dict:
    """bench.yaml: what the benchmark's lab changes in config.yaml."""
    if ctx.quick:
        return dict(QUICK_LAB)
    return {"epoch_divisor": int(ctx.arguments.epoch_divisor)}


def lab_config(override: dict) -> dict:
    """config.yaml updated by ``override``, as ``--configfile bench.yaml`` does."""
    config = read_config_files(ROOT / "config.yaml")
    update_config(config, override)
    return checked_config(config)


def lab_record_files(workdir: Path) -> list[Path]:
    """The record.json of each training of the lab in ``workdir``, as paths."""
    return sorted(workdir.glob(layout.record_json(layout.training_directory("*", "*", "*"))))


def lab_records(workdir: Path) -> list[dict]:
    """The record.json of each training of the lab in ``workdir``."""
    return [read_record(path) for path in lab_record_files(workdir)]
