"""What the speed work must not change: the numbers, whatever the number of cores.

A training's thread count is part of its run (config `threads`), not Snakemake's
`--cores`: cores only change how many jobs run at once, so a history trained with
`--cores 1` equals, byte for byte in its metric columns, one trained with `--cores 2`
or `--cores 4` (with oneDNN's kernels on wherever `onednn: auto` turns them on).
And the benchmark's epoch count (bench/run.py, part 3) agrees with the plan.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cnnlab.plan.plan import plan_lab
from cnnlab.plan.runs import RunSpec
from cnnlab.plan.scheduling import estimated_seconds
from cnnlab.store import layout
from cnnlab.store.selection_file import write_selection
from tests.conftest import PROJECT_ROOT, merged_config
from tests.workflow_helpers import SMALL_CONFIG, copy_workflow, run_snakemake

# two trainings, so that two cores run them at once: one with dropout (seeded
# randomness inside the model), one at batch size 2 (the most steps)
TRAININGS = ("alexnet-nb8-do0.4-lr1e-04-bs8-adam-bce-s1", "alexnet-nb8-lr1e-05-bs2-adam-bce-s1")


def auto_onednn_state() -> str | None:
    """What `onednn: auto` turns oneDNN to on this CPU; None where TensorFlow decides."""
    import platform

    from cnnlab.train.devices import cpu_flags, onednn_variable, tensorflow_onednn_default

    variable = onednn_variable("auto", cpu_flags(), platform.machine(), None)
    default = tensorflow_onednn_default(cpu_flags(), platform.machine())
    state = {"1": True, "0": False}.get(variable, default)
    return None if state is None else ("on" if state else "off")


AUTO_ONEDNN = auto_onednn_state()


def metric_columns(history_csv) -> str:
    """The history without its last column (seconds, the only one that may differ)."""
    return "\n".join(line.rsplit(",", 1)[0] for line in history_csv.read_text().splitlines())


@pytest.mark.workflow
def test_cores_change_how_many_jobs_run_at_once_not_the_numbers(tmp_path):
    plan = plan_lab(merged_config(PROJECT_ROOT / SMALL_CONFIG))
    targets = sorted(t.history_csv for t in plan.trainings.values() if t.run_id in TRAININGS)
    assert len(targets) == len(TRAININGS)
    histories = {}
    for cores in (1, 2, 4):
        workdir = copy_workflow(tmp_path / f"cores{cores}")
        # the targets first: --configfile takes every word after it
        result = run_snakemake(workdir, *targets, "--cores", str(cores), "--configfile", SMALL_CONFIG, timeout=600)
        assert result.returncode == 0, result.stdout[-4000:]
        histories[cores] = [metric_columns(workdir / target) for target in targets]
        for target in targets:
            record = json.loads((workdir / target).with_name("record.json").read_text())
            assert record["threads"] == 1 and record["status"] == "completed"
            # `onednn: auto`: on wherever it is known faster (x86-64 with AVX2 and FMA)
            assert record["onednn"] == AUTO_ONEDNN or AUTO_ONEDNN is None
    assert all(len(text.splitlines()) > 1 for text in histories[1])
    assert histories[2] == histories[1]
    assert histories[4] == histories[1]


def test_benchmark_counts_the_epochs_of_the_plan(tmp_path):
    output = tmp_path / "bench.md"
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--parts", "3", "--output", str(output)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "## 3. Epochs trained" in result.stdout and "## Machine" in result.stdout
    assert output.read_text() in result.stdout
    part = json.loads(output.with_suffix(".json").read_text())["results"]["3"]
    # the plan of the quick lab, with the benchmark's stand-in for 6E's selection
    config = merged_config()
    config["dataset"], config["epoch_divisor"] = "benchtiny", 50
    config["datasets"]["benchtiny"] = {"kind": "synthetic", "n_train": 48, "n_test": 24, "seed": 0, "image_size": 32}
    plan = plan_lab(config, part["stand_in_selection"])
    assert part["epochs_asked"] == sum(e.epochs for task in plan.tasks.values() for e in task.entries)
    assert part["trainings"] == len(plan.trainings) < part["runs_listed"] == plan.entries_listed()
    assert part["epochs_planned"] < part["epochs_asked"]


@pytest.fixture
def notebook_way(monkeypatch):
    """bench/notebook_way.py as a module (it sets Keras' environment on import: undone after)."""
    for name in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND", "KERAS_HOME"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("notebook_way", PROJECT_ROOT / "bench" / "notebook_way.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_notebook_ways_two_parts_split_the_lab_near_half_its_cost(tmp_path, notebook_way):
    shutil.copy(PROJECT_ROOT / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "bench.yaml").write_text("epoch_divisor: 10\n")
    data = {"x_train": np.zeros((1000, 128, 1, 1), np.float32)}  # only its size counts
    config = notebook_way.merged_config(tmp_path, ["bench.yaml"])
    first = notebook_way.lab_runs(tmp_path, config, "first", data)  # no selection yet
    plan = plan_lab(config)
    selection = tmp_path / layout.selection_json(plan.dataset, "6E")
    entry = plan.tasks["6A"].entries[0]  # a candidate set-up: its parameters less data set, seed
    chosen = {"setup_id": entry.spec.setup_id, "task": "6A", "epochs": entry.epochs,
              "values": {"final_val_accuracy": 0.7, "final_balanced_accuracy": 0.6, "gap": 0.05},
              "params": {key: value for key, value in entry.spec.to_dict().items()
                         if key not in ("dataset", "seed")}}
    write_selection(selection, {"task": "6E", "rule": "best_val_accuracy", "rule_text": "",
                                "chosen": chosen, "candidates": [], "fallback": False,
                                "runner_up": None, "lead": None,
                                "target_epochs": 100, "meets_condition": True})
    second = notebook_way.lab_runs(tmp_path, config, "second", data)
    whole = notebook_way.lab_runs(tmp_path, config)

    def key(run):
        return run["task"], run["run_id"], run["epochs"]

    assert sorted(map(key, first + second)) == sorted(map(key, whole))
    assert len(whole) == 19
    assert {run["task"] for run in first}.isdisjoint({"6E", "6F"})
    assert {"6E", "6F"} <= {run["task"] for run in second}

    def cost(runs):
        return sum(
            estimated_seconds(RunSpec.from_params(run["params"], "synthetic", 1), run["epochs"], 128, 1000)
            for run in runs
        )

    before_selection = [run for run in second if run["task"] not in ("6E", "6F")]
    assert 0.35 < cost(first) / (cost(first) + cost(before_selection)) < 0.65


def test_the_labs_limit_is_its_jobs_side_by_side_and_a_share_above_it_is_an_error():
    """bench/limit.py: as many one-thread matmul processes at once as the lab runs jobs,
    their GFLOP/s summed; part 1 reports a share above that limit as a measurement error."""
    from types import SimpleNamespace

    from bench import limit
    from bench.parts import epoch_speed

    side_by_side = limit.matmul_gflops(1, "float32", 256, 0.3, processes=2)
    assert len(side_by_side) == 2 and all(value > 0 for value in side_by_side)
    result = {"cores": 2, "jobs": 2, "job_threads": 1, "size": 256, "window_seconds": 0.3,
              "gflops": {"float32/1": 90.0, "float32/2": 80.0, "float32/lab": 180.0,
                         "bfloat16/1": 30.0, "bfloat16/2": 40.0, "bfloat16/lab": 60.0},
              "side_by_side": {"float32": [90.0, 90.0], "bfloat16": [30.0, 30.0]}}
    assert limit.limit(result, "float32", "lab") == 180.0
    assert limit.limit(result, "mixed_bfloat16", 1) == 30.0
    assert "90 + 90 = **180**" in limit.render(result)
    row = {"setup": "LeNet b8", "task": "5A", "gflop_per_epoch": 500.0, "ratio": 0.5,
           "notebook_share": 0.4, "alone_share": 1.02, "lab_gflops": 100.0, "lab_share": 0.55}
    rendered = epoch_speed.render_limit({"rows": [row], "limit": result})
    assert "102% (measurement error: above the limit)" in rendered
    checks = epoch_speed.checks(SimpleNamespace(quick=False), {"rows": [row]})
    verdicts = {check[0]: check[3] for check in checks}
    assert verdicts["LeNet b8, lab as it runs: share of the measured limit"] == "pass"
    assert verdicts["every share of the limit (a share above it is a measurement error)"] == "FAIL"
