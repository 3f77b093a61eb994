"""Running the real snakemake binary on a copy of the project in a temporary folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SMALL_CONFIG = "tests/configs/small.yaml"


def run_snakemake(workdir: Path, *args: str, timeout: float = 900, env: dict | None = None):
    """Run snakemake in `workdir`; on timeout kill its whole process group, jobs included."""
    process = subprocess.Popen(
        [SNAKEMAKE, *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(f"snakemake {' '.join(args)} timed out after {timeout} s:\n{output[-5000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, output, "")


def job_counts(output: str) -> dict[str, int]:
    """The first 'Job stats' table of snakemake's output as {rule: count}."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    counts = {}
    for line in lines[start + 3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    counts.pop("total", None)
    return counts
