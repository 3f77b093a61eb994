"""The machine's limit: TensorFlow's matrix-multiply throughput in float32 and bfloat16, on
one thread and on all cores, against which part 1 sets each set-up's floating-point work.

A large square matmul is the best case of the kernels a training runs (oneDNN's GEMM, which
its convolutions use too), so its GFLOP/s are what the processor gives TensorFlow at most.
Each figure is the best of a few timed products after a warm-up, measured in a child
process that sets its threads as a training job does (cnnlab.train.runtime) before TensorFlow
starts.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.common import ROOT, BenchError, Context, say, table

PRECISIONS = ("float32", "bfloat16")

CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[4])
from cnnlab.train import runtime
threads, dtype, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
runtime.configure(threads, plots=False)
import tensorflow as tf
a = tf.random.stateless_normal((size, size), seed=(1, 2), dtype=dtype)
b = tf.random.stateless_normal((size, size), seed=(3, 4), dtype=dtype)
product = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), "float32")))
product().numpy()  # warm-up: traces, and lets oneDNN pick its kernel
best = float("inf")
for _ in range(int(sys.argv[5])):
    started = time.perf_counter()
    product().numpy()
    best = min(best, time.perf_counter() - started)
print(json.dumps({"gflops": 2 * size**3 / best / 1e9, "seconds": best}))
"""


def matmul_gflops(threads: int, precision: str, size: int, repeats: int) -> float:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(threads), precision, str(size), str(ROOT),
         str(repeats)], check=False, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise BenchError(f"the {precision} matmul on {threads} thread(s) failed:\n"
                         f"{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["gflops"]


def measure(ctx: Context) -> dict:
    """GFLOP/s per precision, on one thread and on the lab's cores."""
    size, repeats = (1024, 3) if ctx.quick else (4096, 5)
    limits = {}
    for precision in PRECISIONS:
        for threads in sorted({1, ctx.cores}):
            say(f"limit: {size} x {size} {precision} matmul on {threads} thread(s)")
            limits[f"{precision}/{threads}"] = matmul_gflops(threads, precision, size, repeats)
    return {"size": size, "repeats": repeats, "cores": ctx.cores, "gflops": limits}


def limit(result: dict, precision: str, threads: int) -> float:
    """The measured GFLOP/s of `precision` (a run's: float32 or mixed_bfloat16)."""
    name = "bfloat16" if "bfloat16" in precision else "float32"
    return result["gflops"][f"{name}/{threads}"]


def render(result: dict) -> str:
    rows = [[precision, threads, f"{result['gflops'][f'{precision}/{threads}']:.0f}"]
            for precision in PRECISIONS for threads in sorted({1, result["cores"]})]
    return "\n".join([
        "### The machine's limit", "",
        (f"TensorFlow's {result['size']} x {result['size']} matmul, best of "
         f"{result['repeats']} after a warm-up, one child process per figure."), "",
        table(["precision", "threads", "GFLOP/s"], rows), ""])
