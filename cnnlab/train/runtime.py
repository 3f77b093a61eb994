"""The TensorFlow/Keras process: set up once, before any TensorFlow op runs, and
described (device, library versions, start, peak memory) for a training's record.

A training's numbers depend on TensorFlow's intra-op thread count (and on the oneDNN
setting), so a run fixes its own thread count, and this module applies it and reports
what was applied. Call :func:`configure_environment` before ``import tensorflow`` or
``import keras`` anywhere in the process (it only sets environment variables), then
:func:`configure_tensorflow` before the first op (it imports TensorFlow).

:func:`configure` is the one set-up of a process: both steps in order, with what lies
between them for a training process (:func:`configure_training_process`, called by
scripts/train.py and bench/cnnlab_job.py before they import TensorFlow). It remembers
what it applied: a training (cnnlab.train.training) records :func:`training_settings`, the
set-up already made, instead of making it again.

Nothing here writes to ``~/.keras``: ``KERAS_HOME`` points to a private folder.

GPUs: nothing here hides them. Where TensorFlow sees one, Keras trains on it (one
training job per GPU: the workflow's ``gpu`` resource) and the thread count only sizes
the CPU's thread pools; the GPU's memory is taken as needed (memory growth), not all
at once. :func:`training_device` says which device a training runs on.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from cnnlab.machine import cpu_model

DEFAULT_INTER_OP_THREADS = 1
_ENVIRONMENT_NAMES = ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND", "KERAS_HOME", "OMP_NUM_THREADS",
                      "TF_ENABLE_ONEDNN_OPTS")


def default_keras_home() -> Path:
    """A per-user folder under the temporary directory (never ``~/.keras``)."""
    return Path(tempfile.gettempdir()) / f"cnnlab-keras-{os.getuid()}"


def configure_environment(
    threads: int, keras_home: str | os.PathLike | None = None, log_level: str = "2",
    onednn: str = "auto",
) -> dict:
    """Set the environment variables TensorFlow and Keras read at import time.

    - ``TF_CPP_MIN_LOG_LEVEL`` (default ``2``: no info lines such as the CPU-feature
      notice), unless already set. TensorFlow 2.21 still prints its "oneDNN custom
      operations are on" line: it is logged before absl reads the level
      (scripts/train.py sends native stderr to the job's log);
    - ``KERAS_BACKEND=tensorflow``;
    - ``KERAS_HOME``: ``keras_home`` if given, else an inherited ``KERAS_HOME``, else
      :func:`default_keras_home`;
    - ``OMP_NUM_THREADS`` = ``threads`` (for any OpenMP-built kernel library);
    - ``TF_ENABLE_ONEDNN_OPTS`` for ``onednn`` (``auto``, ``on``, ``off``: a run's
      parameter), set or unset as cnnlab.train.devices.onednn_variable says.

    Warns on stderr when TensorFlow is already imported (then the log level comes too
    late, though threads can still be set if no op has run).
    """
    from cnnlab.train.devices import cpu_flags, onednn_variable

    threads = _check_threads(threads)
    before = {name: os.environ.get(name) for name in _ENVIRONMENT_NAMES}
    imported = "tensorflow" in sys.modules or "keras" in sys.modules
    # TensorFlow has read the variable once already: changing it now would only make the
    # saved states' identity (it names the variable) disagree with what runs
    onednn_value = before["TF_ENABLE_ONEDNN_OPTS"] if imported else onednn_variable(
        onednn, cpu_flags(), platform.machine(), before["TF_ENABLE_ONEDNN_OPTS"])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", str(log_level))
    os.environ["KERAS_BACKEND"] = "tensorflow"
    if keras_home is not None:
        os.environ["KERAS_HOME"] = str(keras_home)
    else:
        os.environ.setdefault("KERAS_HOME", str(default_keras_home()))
    Path(os.environ["KERAS_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if onednn_value is None:
        os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)
    else:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = onednn_value
    changed = [name for name in _ENVIRONMENT_NAMES if os.environ.get(name) != before[name]]
    if changed and imported:
        print(
            "cnnlab.train.runtime: TensorFlow was imported before the environment was set; "
            f"{', '.join(changed)} may not apply",
            file=sys.stderr,
        )
    return {
        "TF_CPP_MIN_LOG_LEVEL": os.environ["TF_CPP_MIN_LOG_LEVEL"],
        "KERAS_HOME": os.environ["KERAS_HOME"],
        "OMP_NUM_THREADS": os.environ["OMP_NUM_THREADS"],
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "onednn_asked": onednn,
    }


def leave_out_matplotlib() -> bool:
    """Keep a training process from importing matplotlib; True if it now cannot.

    Importing TensorFlow imports Keras, and Keras imports ``matplotlib.pyplot`` for its
    image-gallery helpers when it is installed: half a second of every training job's
    start, in a process that never plots. Keras guards that import (``except
    ImportError``), so marking matplotlib absent in ``sys.modules`` makes it skip it.
    Call it before TensorFlow is imported, and only in a process that plots nothing.
    """
    if "matplotlib" in sys.modules and sys.modules["matplotlib"] is not None:
        return False  # already imported: leave it usable
    sys.modules["matplotlib"] = None
    return True


def configure_tensorflow(
    threads: int, inter_op_threads: int = DEFAULT_INTER_OP_THREADS, seed: int | None = None
) -> dict:
    """Fix TensorFlow's thread pools, turn on op determinism and (optionally) seed.

    Raises RuntimeError when TensorFlow already runs with another intra-op thread
    count (its thread pools are fixed once the first op has run).
    """
    threads = _check_threads(threads)
    import tensorflow as tf

    for name, wanted, setter, getter in (
        (
            "intra-op",
            threads,
            tf.config.threading.set_intra_op_parallelism_threads,
            tf.config.threading.get_intra_op_parallelism_threads,
        ),
        (
            "inter-op",
            inter_op_threads,
            tf.config.threading.set_inter_op_parallelism_threads,
            tf.config.threading.get_inter_op_parallelism_threads,
        ),
    ):
        try:
            setter(wanted)
        except RuntimeError as error:
            raise RuntimeError(
                f"TensorFlow already runs with {getter()} {name} threads and cannot "
                f"switch to {wanted}: configure the runtime before the first TensorFlow "
                f"op ({error})"
            ) from error
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # the GPU is already initialised: leave it be
            pass
    tf.config.experimental.enable_op_determinism()
    if seed is not None:
        seed_everything(seed)
    return {
        "threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "op_determinism": True,
        "onednn": onednn_state(),
    }


def onednn_state() -> str | None:
    """``on`` or ``off``: whether TensorFlow, in this process, runs its oneDNN kernels (it
    decides once, when first asked); None where this TensorFlow cannot say."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return "on" if _pywrap_util_port.IsMklEnabled() else "off"


_configured: dict | None = None  # what configure() last applied to this process


def configure(
    threads: int,
    seed: int | None = None,
    keras_home: str | os.PathLike | None = None,
    inter_op_threads: int = DEFAULT_INTER_OP_THREADS,
    *,
    plots: bool = True,
    native_log: Path | None = None,
    onednn: str = "auto",
) -> dict:
    """:func:`configure_environment`, then matplotlib left out unless ``plots``
    (:func:`leave_out_matplotlib`) and TensorFlow's native stderr sent to ``native_log``
    if given (before TensorFlow prints its notices), then :func:`configure_tensorflow`.
    Returns the settings of both steps."""
    global _configured
    settings = configure_environment(threads, keras_home=keras_home, onednn=onednn)
    if not plots:
        leave_out_matplotlib()
    if native_log is not None:
        native_stderr_to(native_log)
    settings.update(configure_tensorflow(threads, inter_op_threads=inter_op_threads, seed=seed))
    _configured = dict(settings)
    return settings


_gpu_slot = None  # the GPU this training process holds (cnnlab.train.devices), for its lifetime


def configure_training_process(threads: int, native_log: Path | None = None, gpus: int = 0,
                               log=None, onednn: str = "auto") -> dict:
    """Set up a process that trains (scripts/train.py, bench/cnnlab_job.py) before it
    imports TensorFlow: one GPU of its own where its job declares `gpus` >= 1, none
    otherwise (cnnlab.train.devices), then :func:`configure` without plots. A training given a
    GPU that TensorFlow cannot see stops here, saying what to install. ``onednn`` is the
    run's (auto, on, off): TensorFlow reads it once, at import, so it is set here."""
    global _gpu_slot
    from cnnlab.errors import CnnlabError
    from cnnlab.train.devices import pin_training_device

    _gpu_slot = pin_training_device(gpus, log=log)
    if _gpu_slot is not None and log is not None:
        log(f"training on GPU {_gpu_slot.gpu} (CUDA_VISIBLE_DEVICES={_gpu_slot.gpu})")
    settings = configure(threads, plots=False, native_log=native_log, onednn=onednn)
    if _gpu_slot is not None and training_device()["kind"] != "GPU":
        raise CnnlabError(
            f"this training was given GPU {_gpu_slot.gpu}, but TensorFlow sees no GPU: "
            'install its CUDA build (pip install -e ".[gpu]") or run with --config '
            "training_device=cpu.")
    return settings


def training_settings(threads: int, onednn: str = "auto") -> dict:
    """The settings a training with ``threads`` runs with (its record states them).

    Those :func:`configure` applied to this process, where it applied that thread count
    and TensorFlow still runs with it; else (a caller that set nothing up) the process
    is configured now, as well as it still can be (see :func:`configure_environment`).
    """
    import tensorflow as tf

    if (
        _configured is not None
        and _configured["threads"] == threads
        and _configured["onednn_asked"] == onednn
        and tf.config.threading.get_intra_op_parallelism_threads() == threads
    ):
        return dict(_configured)
    return configure(threads, onednn=onednn)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras' global seed generator."""
    import keras

    keras.utils.set_random_seed(int(seed))


def training_device() -> dict:
    """The device Keras trains on: ``{"kind": "GPU" | "CPU", "name": ..., "count": ...}``.

    The first GPU TensorFlow sees (Keras places the model there), else the CPU by its
    model name and its number of logical cores.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name")
        except (RuntimeError, ValueError):
            name = None
        return {"kind": "GPU", "name": name or gpus[0].name, "count": len(gpus)}
    return {"kind": "CPU", "name": cpu_model(), "count": os.cpu_count()}


def resolve_precision(requested: str) -> str:
    """The Keras dtype policy a training trains in: ``float32`` and ``mixed_bfloat16`` as
    asked; ``auto`` decided here, in the training's own process, by the device it trains
    on (cnnlab.train.devices.auto_precision), so a cluster node decides for itself. The
    run keeps ``auto`` in its id (the same on every machine); the training's record names
    what it was resolved to."""
    from cnnlab.train.devices import PRECISIONS, auto_precision, cpu_flags

    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return requested
    device = training_device()
    capability = None
    if device["kind"] == "GPU":
        import tensorflow as tf

        try:
            details = tf.config.experimental.get_device_details(
                tf.config.list_physical_devices("GPU")[0])
            capability = details.get("compute_capability")
        except (RuntimeError, ValueError, IndexError):
            capability = None
    return auto_precision(device["kind"], cpu_flags(), capability)


def library_versions() -> dict:
    """The versions of Python and the libraries that make a training's numbers."""
    import keras
    import numpy as np
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def peak_memory_mb() -> float:
    """This process's peak resident memory (ru_maxrss) in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def process_started() -> float | None:
    """When this process started, on the ``time.perf_counter()`` clock (Linux), or None.

    Lets a training say how long its process ran before its first epoch: interpreter
    start, imports, data and model included (10 ms resolution).
    """
    try:
        with open("/proc/self/stat", encoding="utf-8") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="utf-8") as uptime:
            seconds_since_boot = float(uptime.read().split()[0])
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return time.perf_counter() - (seconds_since_boot - started_after_boot)


def _check_threads(threads) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    return threads


def native_stderr_to(log_path: Path) -> None:
    """Point file descriptor 2 at the log (appending); keep sys.stderr on the console."""
    sys.stderr.flush()
    console = os.dup(2)
    with open(log_path, "ab", buffering=0) as log_stream:
        os.dup2(log_stream.fileno(), 2)
    # open for the rest of the process: where run_entrypoint prints a one-line error
    sys.stderr = open(console, "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
