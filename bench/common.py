"""What every part of the benchmark shares: the Context, child processes and markdown cells.

A part reads the Context (the arguments, the machine's facts, the config, what earlier parts
left) and runs its children with ``run_processes``; its section of the report is built from
``table`` and ``check_row``, its times with cnnlab.durations.duration_text.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and where its log is."""


@dataclass
class Context:
    """One benchmark run: its arguments and machine, and what each part leaves for the next."""

    arguments: argparse.Namespace
    temp: Path
    cores: int
    facts: dict
    config: dict
    arrays: Path | None = None
    train_count: int = 0
    test_count: int = 0
    image_size: int = 0
    limit: dict | None = None  # the machine's matmul GFLOP/s (bench.limit), once part 1 ran
    part1_jobs: list = field(default_factory=list)
    lab: dict | None = None
    results: dict = field(default_factory=dict)

    @property
    def quick(self) -> bool:
        return self.arguments.quick

    @property
    def repeats(self) -> int:
        return self.arguments.repeats

    @property
    def jobs_at_once(self) -> int:
        """How many training jobs snakemake runs at once: one per GPU, else cores / threads."""
        if self.facts["device"]["kind"] == "GPU":
            return max(1, int(self.facts["device"]["count"]))
        return max(1, self.cores // int(self.config["defaults"]["threads"]))

    def base_params(self) -> dict:
        defaults = self.config["defaults"]
        return {
            "dataset": "bench",
            "dropout": float(defaults["dropout"]),
            "optimizer": defaults["optimizer"],
            "loss": defaults["loss"],
            "seed": 1,
            "threads": int(defaults["threads"]),
            "precision": defaults["precision"],
        }


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def slug(label: str) -> str:
    """A set-up's label as a folder name: "LeNet b8" -> "lenet-b8"."""
    return label.lower().replace(" ", "-")


def run_processes(
    commands: list[list[str]], logs: list[Path], cwd: Path | None = None
) -> list[float]:
    """Start the commands at once; wait for all; each one's seconds from start to exit."""
    started, processes, handles = [], [], []
    try:
        for command, log in zip(commands, logs):
            log.parent.mkdir(parents=True, exist_ok=True)
            handle = open(log, "w")  # noqa: SIM115 - closed below
            handles.append(handle)
            started.append(time.perf_counter())
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=cwd,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        seconds = [0.0] * len(processes)
        waiting = set(range(len(processes)))
        while waiting:
            for index in list(waiting):
                if processes[index].poll() is not None:
                    seconds[index] = time.perf_counter() - started[index]
                    waiting.discard(index)
            time.sleep(0.02)
    except BaseException:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        raise
    finally:
        for handle in handles:
            handle.close()
    for process, log, command in zip(processes, logs, commands):
        if process.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise BenchError(
                f"{' '.join(map(str, command[:4]))} ... failed ({process.returncode}); "
                f"log {log}:\n{tail}"
            )
    return seconds


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def check_row(name: str, target: str, measured: str, passed: bool | None, quick: bool) -> list:
    """A row of the report's checks: a quick run's numbers are not judged."""
    if quick:
        verdict = "not judged (quick run)"
    else:
        verdict = "n/a" if passed is None else ("pass" if passed else "FAIL")
    return [name, target, measured, verdict]
