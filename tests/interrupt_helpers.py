"""Snakemake in the background, for tests that kill it (or its jobs) half-way, and what
two runs of the same lab must share.

`start_snakemake` starts the real snakemake in its own session (process group) with its
output going to a file, so a test can watch the files the workflow writes and strike at
the moment it wants; `finish` waits with a time limit and kills the whole group if the
limit passes, as `run_snakemake` does.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

from tests.workflow_helpers import SNAKEMAKE


class Snakemake:
    def __init__(self, process: subprocess.Popen, log_path: Path, args: tuple[str, ...]):
        self.process, self.log_path, self.args = process, log_path, args

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def running(self) -> bool:
        return self.process.poll() is None

    def kill_group(self) -> None:
        """SIGKILL snakemake and every process of its session (its local jobs included)."""
        members = [p for p in psutil.process_iter(["pid"]) if _session(p.pid) == self.pid]
        os.killpg(self.pid, signal.SIGKILL)
        for member in members:  # a job that left the group (none should) dies too
            try:
                member.kill()
            except psutil.Error:
                pass
        self.process.wait(timeout=60)
        psutil.wait_procs(members, timeout=30)

    def descendants(self, script_name: str) -> list[psutil.Process]:
        """Running child processes whose command line mentions `script_name`."""
        found = []
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return found
        for child in children:
            try:
                if any(script_name in part for part in child.cmdline()):
                    found.append(child)
            except psutil.Error:
                pass
        return found


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def start_snakemake(workdir: Path, *args: str, log_name: str = "snakemake.out") -> Snakemake:
    log_path = workdir / log_name
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [SNAKEMAKE, *args],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    return Snakemake(process, log_path, args)


def finish(snakemake: Snakemake, timeout: float) -> subprocess.CompletedProcess:
    """Wait for snakemake; past `timeout` seconds kill its group and fail the test."""
    try:
        snakemake.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        snakemake.kill_group()
        raise AssertionError(
            f"snakemake {' '.join(snakemake.args)} timed out after {timeout} s:\n"
            + snakemake.output()[-5000:]
        ) from None
    return subprocess.CompletedProcess(
        snakemake.process.args, snakemake.process.returncode, snakemake.output(), ""
    )


def wait_until(condition: Callable[[], object], timeout: float, what: str, snakemake=None):
    """Poll `condition` every 20 ms until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if snakemake is not None and not snakemake.running():
            raise AssertionError(f"snakemake ended before {what}:\n{snakemake.output()[-5000:]}")
        if time.monotonic() > deadline:
            if snakemake is not None:
                snakemake.kill_group()
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.02)


def saved_epoch(state_dir: Path) -> int:
    """The last epoch whose training state is saved in `state_dir` (0 if none)."""
    try:
        with np.load(state_dir / "latest.state.npz", allow_pickle=False) as stored:
            return int(json.loads(str(stored["meta"]))["epoch"])
    except (FileNotFoundError, OSError, KeyError, ValueError, EOFError):
        return 0


def metric_columns(history_csv: Path) -> str:
    """epoch,loss,accuracy,val_loss,val_accuracy of a history.csv as written, without the
    seconds column (wall time, which no two runs share)."""
    lines = Path(history_csv).read_text().splitlines()
    assert lines and lines[0].endswith(",seconds"), lines[:1]
    return "\n".join(line.rsplit(",", 1)[0] for line in lines)


# What may differ between two reports of the same results: wall-clock durations
# ("5s", "4m 05s", "1h 02m": cnnlab.durations), the rendering date, and peak memory (MB),
# which the OS measures.
_VARYING = [
    (re.compile(r"\b\d+h \d{2}m\b|\b\d+m \d{2}s\b|\b\d+s\b"), "<duration>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( UTC)?"), "<date>"),
    (re.compile(r"\b\d+(\.\d+)? MB\b"), "<memory>"),
]


def comparable_report_text(report_html: Path) -> list[str]:
    """The report as a reader sees its text, one line per line of text, with what no two
    renderings share (durations, date, measured memory) replaced by placeholders.

    Everything else must be equal between two runs of the same config on the same
    machine: every number derived from the histories, every answer, run id, selection
    and table. Tags, attributes (sort keys hold raw seconds) and embedded images are left
    out; figures are compared as files.
    """
    page = Path(report_html).read_text(encoding="utf-8")
    page = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", " ", page, flags=re.DOTALL | re.IGNORECASE)
    page = re.sub(r"<!--.*?-->", " ", page, flags=re.DOTALL)
    page = re.sub(r"<[^>]+>", "\n", page)
    lines = []
    for line in html.unescape(page).splitlines():
        line = " ".join(line.split())
        for pattern, placeholder in _VARYING:
            line = pattern.sub(placeholder, line)
        if line:
            lines.append(line)
    return lines


def first_difference(expected: list[str], actual: list[str]) -> str:
    for index, (a, b) in enumerate(zip(expected, actual)):
        if a != b:
            return f"line {index}: expected {a!r}, got {b!r}"
    return f"lengths differ: {len(expected)} vs {len(actual)} lines"
