#!/usr/bin/env python3
"""The whole lab on a GPU machine: its wall time and the device every training ran on.

    python3.11 -m venv .venv && .venv/bin/pip install -e ".[test,gpu]"
    .venv/bin/python bench/gpu_lab.py                  # the default lab, one training per GPU
    .venv/bin/python bench/gpu_lab.py --epoch-divisor 10 --configfile config-real.yaml

It runs ``snakemake --cores N --resources gpu=G`` (G: the GPUs TensorFlow sees; N: all
cores) in a fresh temporary copy of the workflow, from nothing to the report, and writes
bench/results/gpu-lab.md (and .json): the machine, the GPUs, the command, the wall time,
and each training's device and seconds from its record.json. It stops at once, before
anything runs, where TensorFlow sees no GPU: a CPU machine's lab is bench/run.py's part 2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import facts
from bench.common import table
from bench.jobs import lab_record_files
from bench.parts.whole_lab import snakemake_executable
from cnnlab.durations import duration_text
from cnnlab.store import layout
from cnnlab.store.files import read_record
from tests.workflow_helpers import copy_workflow

RESULTS = ROOT / "bench" / "results"


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epoch-divisor", type=int, default=1)
    parser.add_argument("--configfile", default=None,
                        help="a config file of the workflow to add (e.g. config-real.yaml)")
    parser.add_argument("--cores", type=int, default=None, help="default: all")
    parser.add_argument("--output", default=str(RESULTS / "gpu-lab.md"))
    parser.add_argument("--keep-temp", action="store_true")
    return parser.parse_args(argv)


def trainings(workdir: Path) -> list[dict]:
    """Each training's run, epochs, device, precision and seconds, from its record.json."""
    rows = []
    for record_json in lab_record_files(workdir):
        record = read_record(record_json)
        device = record.get("device", {})
        rows.append({"training": str(record_json.parent.relative_to(workdir / layout.RUNS_ROOT)),
                     "device": f"{device.get('kind')}: {device.get('name')}",
                     "precision": record.get("precision", record["params"].get("precision")),
                     "seconds": record.get("wall_seconds")})
    return rows


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    machine = facts.query_facts()
    device = machine["device"]
    if device["kind"] != "GPU":
        print("bench/gpu_lab.py: TensorFlow sees no GPU here (install the CUDA libraries with "
              'pip install -e ".[gpu]" on a machine with an NVIDIA GPU); nothing was run.',
              file=sys.stderr)
        return 1
    cores = arguments.cores or machine["logical_cores"]
    temp = Path(tempfile.mkdtemp(prefix="cnnlab-gpu-lab-"))
    workdir = copy_workflow(temp / "lab")
    command = [snakemake_executable(), "--cores", str(cores), "--resources",
               f"gpu={device['count']}", "--config", f"epoch_divisor={arguments.epoch_divisor}",
               "training_device=gpu"]
    if arguments.configfile:
        command[1:1] = ["--configfile", arguments.configfile]
    print(f"running in {workdir}: {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with open(temp / "snakemake.log", "w") as log:
        returncode = subprocess.call(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if returncode != 0:
        print(f"the lab failed ({returncode}); its log: {temp / 'snakemake.log'}",
              file=sys.stderr)
        return 1
    rows = trainings(workdir)
    markdown = "\n".join([
        "# cnnlab's whole lab on a GPU machine", "",
        f"Date: {machine['date']}; commit {machine['commit'] or 'unknown'}", "",
        (f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
         f"{machine['memory_gb']} GB; GPU: {device['name']} x {device['count']}; TensorFlow "
         f"{machine['tensorflow']}, Keras {machine['keras']}"), "",
        f"Command: `{' '.join(command[1:])}` (snakemake), in a fresh copy of the workflow", "",
        f"**The lab took {duration_text(seconds)}** from nothing to the report.", "",
        table(["training", "device", "precision", "seconds"],
              [[row["training"], row["device"], row["precision"], row["seconds"]]
               for row in rows]), ""])
    output = Path(arguments.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown)
    output.with_suffix(".json").write_text(json.dumps(
        {"command": command[1:], "seconds": seconds, "facts": machine, "trainings": rows},
        indent=2) + "\n")
    print(markdown)
    if not arguments.keep_temp:
        shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
