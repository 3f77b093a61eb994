#!/usr/bin/env python3
"""cnnlab against the notebook way: the lab's speed, measured in one run on one machine.

    .venv/bin/python bench/run.py             # parts 1-4 (about 35-45 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick     # tiny sizes: a smoke test of the benchmark

Parts (``--parts``, default 1,2,3,4; 5 on request):

1. Seconds per epoch and images per second of four of the lab's set-ups (LeNet b8,
   AlexNet n_base 32 b8, n_base 8 b2, n_base 8 b8) on the prepared synthetic data:
   cnnlab's training path (cnnlab.train.training.train in its own process, configured as a
   Snakemake ``train`` job is: the run's ``threads``) against the notebook way (plain
   ``model.fit`` on NumPy arrays, TensorFlow's default threads, bench/notebook_way.py).
   cnnlab is measured twice: one job alone, and as the lab runs it, with the cores filled
   (``--cores`` / ``threads`` jobs at once); ratio = cnnlab's seconds per epoch of the
   machine (images per second turned back into seconds per epoch) / the notebook's.
   Each figure is the median of ``--repeats`` epochs after a first, warm-up epoch.
   Then each set-up's floating-point work per epoch (by its layer shapes) as GFLOP/s and
   as a share of the machine's limit, measured first: TensorFlow's float32 and bfloat16
   matmul throughput on one thread, on all cores, and as the lab runs: as many one-thread
   processes at once as the lab runs jobs, summed, the figure the lab's share is of (a
   share above 100 % is reported as a measurement error; bench/limit.py).
2. The whole lab's wall time: ``snakemake --cores N --configfile bench.yaml`` (bench.yaml
   sets ``epoch_divisor``) in a fresh temporary copy of the workflow, from nothing to the
   report, against bench/notebook_way.py training the same runs (the runs each task lists,
   6E's from the selection cnnlab's run chose) one after another, from the prepared arrays
   (data preparation, figures and report are not counted for the notebook). The notebook
   way runs in two parts, one before cnnlab's lab and one after it, so that a drift of
   the machine's speed weighs on both sides alike; the second process's set-up is not
   counted. Once by default (``--lab-repeats``): it is the long part.
3. Epochs trained by cnnlab (its trainings, prefix sharing and deduplication) against
   the epochs the tasks ask for (what the notebook trains).
4. Per-training-job overhead (process start to first epoch; process time outside the
   epochs and the state saving) and peak memory (record.json ``peak_memory_mb``), from
   the jobs of parts 1 and 2 (or jobs of its own when those parts do not run).
5. (optional) ``precision: mixed_bfloat16`` against float32: part 1's set-ups, seconds per
   epoch and the accuracy after ``--bf16-epochs`` epochs, same run otherwise; then the
   lab's tasks 5A-6D on the real images with two seeds per precision at
   ``--bf16-divisor`` (bench/parts/bf16_lab.py), final and best validation accuracies
   against the seed-to-seed spread.

The results go to bench/results/latest.md (and .json); ``--quick`` writes quick.md.
Timings on a machine that is busy with other work are distorted: the machine facts
include the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench.* and the cnnlab beside bench/

from bench import facts
from bench.common import BenchError, Context, say, table
from bench.jobs import prepare_data
from bench.parts import bf16, epoch_count, epoch_speed, overhead, whole_lab
from cnnlab.durations import duration_text
from cnnlab.plan.config import read_config_files

RESULTS = ROOT / "bench" / "results"
# in the order they run: a later part uses the jobs and the lab of the earlier ones
PARTS = {"1": epoch_speed, "2": whole_lab, "3": epoch_count, "4": overhead, "5": bf16}
PARTS_ON_PREPARED_DATA = {"1", "4", "5"}


def render(ctx: Context, command: str) -> str:
    """The report: header, machine, each part's section, and the checks of all parts."""
    out = ["# cnnlab speed benchmark", ""]
    if ctx.quick:
        warning = (
            "**Quick run (`--quick`): tiny data and epochs, a smoke test of the benchmark. "
            "Its numbers say nothing about speed.**"
        )
        out += [warning, ""]
    out += [
        f"Command: `{command}`  ",
        f"Date: {ctx.facts['date']}; commit {ctx.facts['commit'] or 'unknown'}",
        "",
        facts.render(ctx),
    ]
    checks = []
    for number, part in PARTS.items():
        if number in ctx.results:
            out.append(part.render(ctx, ctx.results[number]))
            checks += part.checks(ctx, ctx.results[number])
    if checks:
        out += ["## Checks", "", table(["what", "target", "measured", "verdict"], checks), ""]
        invariance = (
            "That a history trained with `--cores 1` equals one trained with `--cores 2` "
            "(and 4) is a test: tests/test_speed_invariants.py."
        )
        out += [invariance, ""]
    return "\n".join(out)


def jsonable(value):
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="cnnlab against the notebook way, measured in one run on this machine.",
        epilog="Writes bench/results/latest.md and latest.json (--quick: quick.md and "
        "quick.json) and prints the markdown.",
    )
    parser.add_argument(
        "--parts",
        default="1,2,3,4",
        help="which parts to run, e.g. 1,2,3,4 (default) or 1,2,3,4,5; 5 = mixed_bfloat16",
    )
    parser.add_argument(
        "--epoch-divisor",
        type=int,
        default=10,
        help="the lab's epoch_divisor for part 2 (default 10)",
    )
    parser.add_argument(
        "--cores",
        type=int,
        default=None,
        help="cores for snakemake and jobs at once (default: all usable cores)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed epochs per measurement in part 1 (and jobs of part 4 when alone); "
        "default 3, --quick 1",
    )
    parser.add_argument(
        "--lab-repeats",
        type=int,
        default=1,
        help="how many times part 2 runs both labs (default 1: it is long)",
    )
    parser.add_argument(
        "--bf16-epochs",
        type=int,
        default=None,
        help="epochs of each part-5 run (default 10, --quick 2)",
    )
    parser.add_argument(
        "--bf16-divisor",
        type=int,
        default=5,
        help="part 5's lab on the real images (tasks 5A-6D, two seeds per precision) at this "
        "epoch_divisor (default 5; 0 leaves it out)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny data and epochs: a smoke test of the benchmark (a few minutes)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="markdown file to write (default bench/results/latest.md, --quick quick.md)",
    )
    parser.add_argument(
        "--keep-temp",
        action="store_true",
        help="keep the temporary folder (data, jobs, lab copies)",
    )
    arguments = parser.parse_args(argv)
    arguments.parts_list = sorted(
        {part.strip() for part in arguments.parts.split(",") if part.strip()}
    )
    unknown = [part for part in arguments.parts_list if part not in {"1", "2", "3", "4", "5"}]
    if unknown:
        parser.error(
            f"--parts: unknown part(s) {', '.join(unknown)}; the parts are 1, 2, 3, 4 and 5"
        )
    if arguments.repeats is None:
        arguments.repeats = 1 if arguments.quick else 3
    if arguments.bf16_epochs is None:
        arguments.bf16_epochs = 2 if arguments.quick else 10
    if arguments.repeats < 1 or arguments.lab_repeats < 1 or arguments.epoch_divisor < 1:
        parser.error("--repeats, --lab-repeats and --epoch-divisor must be at least 1")
    return arguments


def usable_cores(arguments: argparse.Namespace) -> int:
    if arguments.cores:
        return arguments.cores
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    command = "bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    output = (
        Path(arguments.output)
        if arguments.output
        else RESULTS / ("quick.md" if arguments.quick else "latest.md")
    )
    temp = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
    started = time.perf_counter()
    say(f"parts {','.join(arguments.parts_list)}; temporary folder {temp}")
    ctx = Context(
        arguments=arguments,
        temp=temp,
        cores=usable_cores(arguments),
        facts=facts.query_facts(),
        config=read_config_files(ROOT / "config.yaml"),
    )
    failed = False
    try:
        if PARTS_ON_PREPARED_DATA & set(arguments.parts_list):
            prepare_data(ctx)
        for number, part in PARTS.items():
            if number in arguments.parts_list:
                ctx.results[number] = part.measure(ctx)
    except BenchError as error:
        failed = True
        print(f"bench: {error}", file=sys.stderr)
    finally:
        ctx.facts["load_after"] = facts.load_average()
        ctx.facts["bench_seconds"] = round(time.perf_counter() - started, 1)
        if failed or arguments.keep_temp:
            say(f"the temporary folder stays: {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)
    if failed:
        return 1
    markdown = (
        render(ctx, command) + f"\nThe benchmark took {duration_text(ctx.facts['bench_seconds'])}.\n"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown)
    output.with_suffix(".json").write_text(
        json.dumps(
            jsonable({"command": command, "facts": ctx.facts, "results": ctx.results}), indent=2
        )
        + "\n"
    )
    print(markdown)
    say(f"written to {output} and {output.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
