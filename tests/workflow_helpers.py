"""Running the real snakemake binary on a copy of the project in a temporary folder, and
a small disk of its own for the tests of a full one.

The benchmark (bench/) makes its copies with :func:`copy_workflow` too, so nothing here
imports pytest at the top.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SMALL_CONFIG = "tests/configs/small.yaml"

# what a fresh clone needs to run the lab (tests/configs: the test scenarios' overrides)
WORKFLOW_FILES = ("Snakefile", "config.yaml", "config-real.yaml", "seeds.yaml", "rules",
                  "scripts", "schemas", "report", "profiles", "envs", "tests/configs")


def copy_workflow(destination: Path, source_root: Path = PROJECT_ROOT) -> Path:
    """The workflow's own files, without results or logs, as a fresh clone has them."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = source_root / name
        if source.is_dir():
            shutil.copytree(source, destination / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


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


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` (made if missing) as a tmpfs of ``size`` (mount's form: ``4k``, ``1m``)
    of its own, unmounted afterwards; the test is skipped where nothing can be mounted
    (mounting needs root)."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
