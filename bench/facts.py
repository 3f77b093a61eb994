"""The machine the benchmark ran on: its facts, gathered, and the report's Machine section."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

from bench.common import ROOT, Context, table
from cnnlab.machine import cpu_model


def query_facts() -> dict:
    """Versions and the training device, from a child process (no TensorFlow in this one)."""
    code = (
        "import json, platform, sys; sys.path.insert(0, sys.argv[1]);"
        "from cnnlab.train import runtime; runtime.configure_environment(1);"
        "import tensorflow as tf, keras, numpy, snakemake;"
        "print(json.dumps({'python': platform.python_version(), 'tensorflow': tf.__version__,"
        "'keras': keras.__version__, 'numpy': numpy.__version__,"
        "'snakemake': snakemake.__version__,"
        "'device': runtime.training_device()}))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True
    ).stdout
    facts = json.loads(output.strip().splitlines()[-1])
    facts["cpu"] = cpu_model()
    facts["logical_cores"] = os.cpu_count()
    facts["memory_gb"] = _memory_gb()
    facts["cpu_bf16"] = _cpu_flags({"avx512_bf16", "amx_bf16"})
    facts["load_before"] = load_average()
    facts["commit"] = _git_commit()
    facts["date"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return facts


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded: how busy the machine was."""
    return [round(value, 2) for value in os.getloadavg()]


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _cpu_flags(wanted: set[str]) -> list[str]:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return sorted(wanted & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return []


def _git_commit() -> str | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # untracked files (a lab run's logs, results) change no code: not "uncommitted"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return commit + (" (with uncommitted changes)" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def render(ctx: Context) -> str:
    """The Machine section: what ran the benchmark, and how busy it was."""
    facts, device = ctx.facts, ctx.facts["device"]
    versions = " / ".join(
        str(facts[name]) for name in ("python", "tensorflow", "keras", "numpy", "snakemake")
    )
    threads = ctx.config["defaults"]["threads"]
    rows = [
        ["CPU", facts["cpu"]],
        ["cores (logical)", f"{facts['logical_cores']}; the benchmark used --cores {ctx.cores}"],
        ["memory", f"{facts['memory_gb']} GB"],
        ["CPU bf16 support", ", ".join(facts["cpu_bf16"]) or "none"],
        [
            "training device",
            f"{device['kind']}: {device['name']}"
            + (f" x {device['count']}" if device["kind"] == "GPU" else ""),
        ],
        ["Python / TensorFlow / Keras / NumPy / Snakemake", versions],
        [
            "threads per cnnlab job",
            f"{threads} (config `threads`); the notebook way: TensorFlow's default (all cores)",
        ],
        [
            "load average (1, 5, 15 min) before / after",
            f"{facts['load_before']} / {facts.get('load_after')}",
        ],
    ]
    return "\n".join(
        [
            "## Machine",
            "",
            table(["", ""], rows),
            "",
            (
                "A load average well above zero before the run means other work shared the "
                "machine and distorted the timings."
            ),
            "",
        ]
    )
