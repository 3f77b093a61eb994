"""Which device a training runs on: the `gpu` resource its job declares, and one GPU per
running training, held as a slot that no other running training holds.

Snakemake counts a resource (``--resources gpu=2`` lets two jobs that declare ``gpu: 1``
run at once) but does not say which GPU a job may use: without more, TensorFlow in every
job takes every GPU it sees, and all of them train on the first. So a training that
declares a GPU takes a slot before TensorFlow is imported: an exclusive lock on one file
per visible GPU (``fcntl.flock``), the first that no other process holds, and hides the
other GPUs (``CUDA_VISIBLE_DEVICES``). The kernel drops a lock when its process ends,
however it ends, so a killed training never leaves a slot taken. Where a scheduler has
given the job its GPUs (SLURM sets ``CUDA_VISIBLE_DEVICES`` inside the job and confines it
to them), the job uses the first it was given and takes no lock: other jobs' GPU ids are
not this job's.

A training that declares no GPU hides them all, so that it trains on the CPU as planned
even on a GPU machine (the two compute other numbers, and the checkpoints of one are not
the other's). Nothing here imports TensorFlow: the workflow plans with it.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cnnlab.errors import CnnlabError

TRAINING_DEVICES = ("auto", "cpu", "gpu")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one folder per GPU the driver has found
SLOT_WAIT_SECONDS = 1.0


def visible_gpus(environ=None, driver_gpus: Path = NVIDIA_GPUS) -> list[str]:
    """The GPU ids a process here may use: ``CUDA_VISIBLE_DEVICES`` where it is set (empty,
    or ``-1``: none), else one id per GPU the NVIDIA driver lists."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        ids = [part.strip() for part in environ["CUDA_VISIBLE_DEVICES"].split(",")]
        ids = [gpu for gpu in ids if gpu]
        # CUDA stops at the first id that is not a device: "-1" hides all of them
        return [] if not ids or ids[0].startswith("-") else ids
    if not driver_gpus.is_dir():
        return []
    return [str(index) for index in range(len(list(driver_gpus.iterdir())))]


def cuda_tensorflow_installed() -> bool:
    """Whether the installed TensorFlow can train on a GPU: NVIDIA's cuDNN libraries are
    installed (``pip install -e ".[gpu]"``) and no CPU-only build shadows it."""
    def installed(name: str) -> bool:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return False
        return True

    return installed("nvidia-cudnn-cu12") and not installed("tensorflow-cpu")


def training_gpus(device: str, gpus: list[str], cuda: bool) -> int:
    """The ``gpu`` resource of a training job, 1 or 0, for the config's ``training_device``:
    ``auto`` trains on a GPU where one is visible and TensorFlow can use it."""
    if device == "cpu":
        return 0
    if device == "gpu":
        return 1
    if device == "auto":
        return 1 if gpus and cuda else 0
    raise CnnlabError(f"training_device: {device!r} must be one of "
                      f"{', '.join(TRAINING_DEVICES)}.")


def default_slot_directory() -> Path:
    """Shared by every workflow of this user on this machine: two labs run at once share
    its GPUs too."""
    return Path(tempfile.gettempdir()) / f"cnnlab-gpu-slots-{os.getuid()}"


@dataclass
class GpuSlot:
    """A GPU held by this process while the lock file is open."""

    gpu: str
    lock: TextIO | None  # None where a scheduler gave the GPU (no lock needed)

    def release(self) -> None:
        if self.lock is not None:
            self.lock.close()  # closing the file drops its lock
            self.lock = None


def _try_lock(path: Path) -> TextIO | None:
    handle = open(path, "a")  # noqa: SIM115 - held open for as long as the slot is held
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def acquire_gpu_slot(gpus: list[str], directory: Path | None = None,
                     timeout: float | None = None,
                     log: Callable[[str], None] | None = None) -> GpuSlot:
    """The first of `gpus` that no other process holds, locked until released (or until
    this process ends). When every one is held (more trainings started than GPUs: a run
    without ``--resources gpu=N``), waits for one, saying so once; after `timeout`
    seconds, if given, raises CnnlabError."""
    if not gpus:
        raise CnnlabError("this training asks for a GPU (gpu resource 1, or training_device: "
                          "gpu) but none is visible here: run it with training_device: cpu, "
                          "or where a GPU is.")
    directory = default_slot_directory() if directory is None else Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    started, said = time.monotonic(), False
    while True:
        for gpu in gpus:
            lock = _try_lock(directory / f"gpu-{gpu}.lock")
            if lock is not None:
                lock.seek(0)
                lock.truncate()
                lock.write(f"{os.getpid()}\n")  # who holds it, for a person looking
                lock.flush()
                return GpuSlot(gpu, lock)
        if timeout is not None and time.monotonic() - started >= timeout:
            raise CnnlabError(f"no free GPU among {', '.join(gpus)} after {timeout:.0f} s: "
                              "other trainings hold them all; run the workflow with "
                              f"--resources gpu={len(gpus)}.")
        if not said and log is not None:
            log(f"waiting for a free GPU: {', '.join(gpus)} are all held by other trainings "
                f"(--resources gpu={len(gpus)} keeps Snakemake from starting more)")
            said = True
        time.sleep(SLOT_WAIT_SECONDS)


def pin_training_device(gpu_resource: int, environ=None, directory: Path | None = None,
                        log: Callable[[str], None] | None = None) -> GpuSlot | None:
    """Before TensorFlow is imported: give this training one GPU (the job declared
    `gpu_resource` >= 1) or none, through ``CUDA_VISIBLE_DEVICES``. Returns the slot, held
    until the process ends, or None for a CPU training."""
    environ = os.environ if environ is None else environ
    if gpu_resource < 1:
        environ["CUDA_VISIBLE_DEVICES"] = ""
        # TensorFlow still initialises CUDA, and logs the failure it expects here (cuInit:
        # no device) as an error, in every CPU job's log: only its errors are hidden, its
        # exceptions are raised as ever
        environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        return None
    gpus = visible_gpus(environ)
    if "SLURM_JOB_ID" in environ and "CUDA_VISIBLE_DEVICES" in environ and gpus:
        slot = GpuSlot(gpus[0], None)
    else:
        slot = acquire_gpu_slot(gpus, directory, log=log)
    environ["CUDA_VISIBLE_DEVICES"] = slot.gpu
    return slot


# -- the precision `auto` trains in -------------------------------------------------------

PRECISIONS = ("float32", "mixed_bfloat16", "auto")
# a CPU computes bfloat16 matrix products natively with either (oneDNN uses them); without,
# TensorFlow emulates bfloat16 and a mixed_bfloat16 training is slower than float32
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
BFLOAT16_GPU_CAPABILITY = (8, 0)  # Ampere and later compute bfloat16 in their tensor cores
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The feature flags of the first processor in ``/proc/cpuinfo`` (empty elsewhere)."""
    try:
        with open(cpuinfo, encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def auto_precision(device_kind: str, flags: set[str],
                   gpu_capability: tuple[int, int] | None = None) -> str:
    """What ``precision: auto`` trains in on this device: ``mixed_bfloat16`` on a GPU of
    compute capability 8.0 or more, or a CPU with AMX-BF16 or AVX512-BF16; else float32."""
    if device_kind == "GPU":
        has_bfloat16 = gpu_capability is not None and tuple(gpu_capability) >= BFLOAT16_GPU_CAPABILITY
    else:
        has_bfloat16 = any(flag in flags for flag in BFLOAT16_CPU_FLAGS)
    return "mixed_bfloat16" if has_bfloat16 else "float32"


# -- oneDNN, where it is faster ---------------------------------------------------------

ONEDNN_SETTINGS = ("auto", "on", "off")
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# TensorFlow 2.21 on Linux turns oneDNN on by itself only on a CPU with one of these
# (tensorflow/core/util/util.cc, DefaultOneDnnPolicy); elsewhere it leaves it off
TENSORFLOW_ONEDNN_CPU_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile",
                               "amx_int8", "amx_bf16")
# measured faster with oneDNN on an x86-64 CPU with AVX2 and FMA only (0.42-0.69 x the time
# per epoch, bench/results/profile.md and issue 30); the CPUs with more have it on already
ONEDNN_FASTER_CPU_FLAGS = ("avx2", "fma")
X86_64 = ("x86_64", "amd64")


def tensorflow_onednn_default(flags: set[str], machine: str) -> bool | None:
    """Whether TensorFlow turns oneDNN on by itself on this CPU; None where it is not
    known here (a CPU other than x86-64)."""
    if machine.lower() not in X86_64:
        return None
    return any(flag in flags for flag in TENSORFLOW_ONEDNN_CPU_FLAGS)


def onednn_variable(requested: str, flags: set[str], machine: str,
                    inherited: str | None) -> str | None:
    """The value ``TF_ENABLE_ONEDNN_OPTS`` must have, before TensorFlow is imported, for
    ``onednn: requested`` (None: unset, TensorFlow's own choice).

    ``auto`` is on where it is known faster (x86-64 with AVX2 and FMA), else TensorFlow's
    default; a value inherited from the environment is the user's and stays. The variable
    is set only where the state asked differs from TensorFlow's default, so that a
    training whose oneDNN state is TensorFlow's keeps the saved states it had
    (cnnlab.train.checkpoints.state_hash names the variable)."""
    if requested not in ONEDNN_SETTINGS:
        raise ValueError(f"onednn must be one of {', '.join(ONEDNN_SETTINGS)}, got {requested!r}")
    default = tensorflow_onednn_default(flags, machine)
    if requested == "auto":
        if inherited is not None:
            return inherited
        faster = default is not None and all(flag in flags for flag in ONEDNN_FASTER_CPU_FLAGS)
        if not faster:
            return None
        wanted = True
    else:
        wanted = requested == "on"
    return None if wanted == default else ("1" if wanted else "0")
