"""The machine's limit: TensorFlow's matrix-multiply throughput in float32 and bfloat16, on
one thread, on all cores, and as the lab runs (as many one-thread processes at once as the
lab runs jobs, their GFLOP/s summed), against which part 1 sets each set-up's work.

A large square matmul is the best case of the kernels a training runs (oneDNN's GEMM, which
its convolutions use too), so its GFLOP/s are what the processor gives TensorFlow at most.
Each figure is measured in child processes that set their threads as a training job does
(cnnlab.train.runtime) before TensorFlow starts. The lab runs one-thread jobs side by side,
and two one-thread processes together do more than one two-thread process (measured on an
AMD EPYC: 93.2 + 92.7 = 186 GFLOP/s against 81.5), so the lab's limit is their sum: a share
of it above 100 % is a measurement error (other load while the limit was measured), never
a set-up that beat the processor.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from bench.common import ROOT, BenchError, Context, say, table

PRECISIONS = ("float32", "bfloat16")

# every child warms up, says it is ready, waits for all the others, then multiplies for
# the same window of wall time: the products of processes side by side overlap throughout
CHILD = """
import json, os, sys, time
sys.path.insert(0, sys.argv[4])
from cnnlab.train import runtime
threads, dtype, size, window = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[5])
barrier, siblings = sys.argv[6], int(sys.argv[7])
runtime.configure(threads, plots=False)
import tensorflow as tf
a = tf.random.stateless_normal((size, size), seed=(1, 2), dtype=dtype)
b = tf.random.stateless_normal((size, size), seed=(3, 4), dtype=dtype)
product = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), "float32")))
product().numpy()  # warm-up: traces, and lets oneDNN pick its kernel
open(os.path.join(barrier, str(os.getpid())), "w").close()
while len(os.listdir(barrier)) < siblings:
    time.sleep(0.005)
started = time.perf_counter()
done = 0
while done == 0 or time.perf_counter() - started < window:
    product().numpy()
    done += 1
seconds = time.perf_counter() - started
print(json.dumps({"gflops": 2 * size**3 * done / seconds / 1e9, "products": done,
                  "seconds": seconds}))
"""


def matmul_gflops(threads: int, precision: str, size: int, window: float,
                  processes: int = 1) -> list[float]:
    """GFLOP/s of each of ``processes`` children multiplying side by side for ``window``
    seconds, each on ``threads`` threads."""
    with tempfile.TemporaryDirectory(prefix="cnnlab-limit-") as barrier:
        children = [subprocess.Popen(
            [sys.executable, "-c", CHILD, str(threads), precision, str(size), str(ROOT),
             str(window), barrier, str(processes)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
            for _ in range(processes)]
        outputs = [child.communicate() for child in children]
    for child, (_, stderr) in zip(children, outputs):
        if child.returncode != 0:
            raise BenchError(f"the {precision} matmul on {threads} thread(s), {processes} "
                             f"process(es) at once, failed:\n{stderr[-3000:]}")
    return [json.loads(stdout.strip().splitlines()[-1])["gflops"] for stdout, _ in outputs]


def measure(ctx: Context) -> dict:
    """GFLOP/s per precision: one thread, the lab's cores in one process, and the lab's
    jobs at once (one process each, with a run's threads), summed."""
    size, window = (1024, 2.0) if ctx.quick else (4096, 10.0)
    threads = int(ctx.config["defaults"]["threads"])
    jobs = ctx.jobs_at_once
    limits, side_by_side = {}, {}
    for precision in PRECISIONS:
        for count in sorted({1, ctx.cores}):
            say(f"limit: {size} x {size} {precision} matmul on {count} thread(s)")
            limits[f"{precision}/{count}"] = matmul_gflops(count, precision, size, window)[0]
        say(f"limit: {jobs} {precision} matmul processes of {threads} thread(s) at once")
        side_by_side[precision] = matmul_gflops(threads, precision, size, window, jobs)
        limits[f"{precision}/lab"] = sum(side_by_side[precision])
    return {"size": size, "window_seconds": window, "cores": ctx.cores, "jobs": jobs,
            "job_threads": threads, "gflops": limits, "side_by_side": side_by_side}


def limit(result: dict, precision: str, threads: int | str) -> float:
    """The measured GFLOP/s of `precision` (a run's: float32 or mixed_bfloat16) on
    ``threads`` threads, or ``"lab"``: the lab's jobs side by side, summed."""
    name = "bfloat16" if "bfloat16" in precision else "float32"
    return result["gflops"][f"{name}/{threads}"]


def render(result: dict) -> str:
    rows = [[precision, f"one process, {threads} thread(s)",
             f"{result['gflops'][f'{precision}/{threads}']:.0f}"]
            for precision in PRECISIONS for threads in sorted({1, result["cores"]})]
    if "side_by_side" in result:  # results from before the lab's limit was measured lack it
        rows += [[precision, (f"**as the lab runs**: {result['jobs']} processes of "
                  f"{result['job_threads']} thread(s) at once"),
                  " + ".join(f"{value:.0f}" for value in result["side_by_side"][precision])
                  + f" = **{result['gflops'][f'{precision}/lab']:.0f}**"]
                 for precision in PRECISIONS]
    return "\n".join([
        "### The machine's limit", "",
        (f"TensorFlow's {result['size']} x {result['size']} matmul, repeated for "
         f"{result.get('window_seconds', '?')} s after a warm-up, in child processes that "
         "start their products together. The lab's limit is the last row's sum: the lab "
         "runs its one-thread jobs side by side, and its share of that figure can pass "
         "100 % only by a measurement error."), "",
        table(["precision", "how", "GFLOP/s"], rows), ""])
