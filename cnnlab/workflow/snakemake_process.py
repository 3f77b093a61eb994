"""The Snakemake process behind a job or a folder: a job stops when its Snakemake is gone,
a retry of a job whose last attempt failed on a user's mistake fails at once, and a lock
left by a killed Snakemake is told from a live one.

A job's Snakemake is the outermost ``snakemake`` among the job's ancestor processes (a
local run starts each script as its child; on a cluster node the job runs under a
``snakemake --mode remote`` that the scheduler ends with the job). Killed with SIGKILL, a
Snakemake cannot stop its jobs: :func:`stop_with_snakemake` makes a job watch it and
exit once it is gone, after the file it is writing (its resume state is saved after
every epoch, so a rerun resumes from the last finished one).

Snakemake retries a failed job (``retries:`` in the profiles) whatever it failed on; a
:class:`~cnnlab.errors.CnnlabError` (a bad file, a full disk) fails the same way again.
:class:`Attempts` records such a failure beside the job's log, and the next attempt of
the same Snakemake fails at once, in one line, instead of printing the error again.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from cnnlab.store import files

WATCH_SECONDS = 1.0
STOPPED_STATUS = 75  # EX_TEMPFAIL: stopped, not failed; nobody is left to read it
NOT_RETRIED = "not retried: the same error as the attempt before"


def is_snakemake(process: psutil.Process) -> bool:
    """``snakemake ...``, ``python .../bin/snakemake ...`` or ``python -m snakemake ...``."""
    try:
        command = process.cmdline()
    except psutil.Error:
        return False
    if not command:
        return False
    if os.path.basename(command[0]) == "snakemake":
        return True
    # not a wrapper that runs it (`timeout 600 snakemake ...`, `nohup snakemake`)
    return os.path.basename(command[0]).startswith("python") and (
        command[1:2] != [] and os.path.basename(command[1]) == "snakemake"
        or command[1:3] == ["-m", "snakemake"])


def job_snakemake(pid: int | None = None) -> psutil.Process | None:
    """The outermost Snakemake among the ancestors of process ``pid`` (this one), or None."""
    found = None
    try:
        process = psutil.Process(pid).parent()
        while process is not None:
            if is_snakemake(process):
                found = process
            process = process.parent()
    except psutil.Error:
        pass
    return found


def alive(process: psutil.Process) -> bool:
    """Whether ``process`` still runs: psutil checks its start time (a reused pid is
    another process), and a killed Snakemake that nobody reaped yet is a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_with_snakemake(log: Callable[[str], None], snakemake: psutil.Process | None,
                        seconds: float = WATCH_SECONDS) -> None:
    """Watch ``snakemake`` (a job's, :func:`job_snakemake`) from a daemon thread; once it
    is gone, wait for the file being written (cnnlab.store.files.WRITING) and exit."""
    if snakemake is None:
        return

    def watch() -> None:
        while alive(snakemake):
            time.sleep(seconds)
        with files.WRITING:
            try:
                log(f"stopping: the Snakemake that started this job (pid {snakemake.pid}) is "
                    "gone; a rerun resumes a training from its last finished epoch")
            finally:
                os._exit(STOPPED_STATUS)

    threading.Thread(target=watch, name="watch-snakemake", daemon=True).start()


def remote_attempt(snakemake: psutil.Process | None) -> int | None:
    """The attempt a cluster job is (its ``snakemake --attempt N``), None for a local one."""
    if snakemake is None:
        return None
    try:
        command = snakemake.cmdline()
    except psutil.Error:
        return None
    for option, value in itertools.pairwise(command):
        if option == "--attempt" and value.isdigit():
            return int(value)
    return None


class Attempts:
    """What a job's earlier attempt of the same Snakemake failed on, kept in
    ``<log>.failed``: the Snakemake (pid and start time; on a cluster the attempt number
    that the remote Snakemake is given) and the message."""

    def __init__(self, log_file: Path, snakemake: psutil.Process | None):
        self.marker = log_file.with_name(log_file.name + ".failed")
        self.snakemake = snakemake
        self.attempt = remote_attempt(snakemake)
        self.message = ""  # the earlier attempt's, once failed_before() found one

    def _identity(self) -> list | None:
        try:
            return [self.snakemake.pid, self.snakemake.create_time()]
        except (AttributeError, psutil.Error):
            return None

    def failed_before(self) -> bool:
        """Whether this is a retry of an attempt that failed on a CnnlabError; an attempt
        that is not forgets an older failure."""
        if self.snakemake is None:
            return False
        try:
            earlier = json.loads(self.marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if self.attempt is not None:
            retried = self.attempt > 1
        else:
            retried = earlier.get("snakemake") == self._identity()
        if not retried:
            self.marker.unlink(missing_ok=True)
        self.message = str(earlier.get("message", ""))
        return retried

    def record_failure(self, message: str) -> None:
        if self.snakemake is None:
            return
        try:
            self.marker.write_text(json.dumps({"snakemake": self._identity(),
                                               "message": message}) + "\n", encoding="utf-8")
        except OSError:  # a full disk: the retry then runs and fails the same way
            pass


def others_in(folder: str | os.PathLike) -> list[psutil.Process]:
    """Snakemake processes on this machine working in ``folder``, other than this one
    and its own ancestors and children (a job of this Snakemake is one of them)."""
    folder = os.path.realpath(folder)
    own = {os.getpid()}
    try:
        me = psutil.Process()
        own |= {process.pid for process in me.parents()}
        own |= {process.pid for process in me.children(recursive=True)}
    except psutil.Error:
        pass
    found = []
    for process in psutil.process_iter(["pid"]):
        if process.pid in own or not is_snakemake(process) or not alive(process):
            continue
        try:
            if os.path.realpath(process.cwd()) == folder:
                found.append(process)
        except psutil.Error:
            continue
    return found


def lock_advice(folder: str | os.PathLike = ".") -> str | None:
    """A line for a run that meets Snakemake's lock in ``folder``/.snakemake/locks: what
    holds it, and what to run; None where there is no lock."""
    locks = Path(folder, ".snakemake", "locks")
    try:
        if not any(locks.iterdir()):
            return None
    except OSError:
        return None
    running = others_in(folder)
    if running:
        pids = ", ".join(str(process.pid) for process in running)
        return (f"cnnlab: another Snakemake (pid {pids}) works in this folder and holds its "
                "lock: wait for it to finish (or stop it), then run your command again.")
    return ("cnnlab: this folder's lock (.snakemake/locks) is left over from a Snakemake "
            "that was killed or lost its machine; no Snakemake runs here on this machine. "
            "Unless one runs on another machine on this folder, run `snakemake --unlock` "
            "here (with the same --configfile options, if any), then your command again.")


# the options of a Snakemake command that runs no job: it must move or change nothing.
# Matched whole: --report-after-run and --reporter begin like --report and do run jobs
INSPECTING_OPTIONS = frozenset((
    "--unlock", "--touch", "--lint", "--list", "--list-rules", "--list-target-rules",
    "--list-changes", "--list-input-changes", "--list-params-changes",
    "--list-untracked", "--list-conda-envs", "--summary", "--detailed-summary", "--dag",
    "--rulegraph", "--filegraph", "--d3dag", "--report", "--cleanup-metadata", "--cm",
    "--delete-all-output", "--delete-temp-output", "--archive", "--containerize",
    "--generate-unit-tests", "--print-compilation", "--export-cwl", "--conda-create-envs-only",
    "--conda-cleanup-envs", "--cleanup-shadow", "--lc", "--lu", "--lt", "--li", "--lp",
    "--version", "--help",
))
INSPECTING_SHORT = set("tSDlvh")  # -t --touch, -S --summary, -D, -l --list, -v, -h


def runs_no_job(argv: list[str]) -> bool:
    """Whether a Snakemake command line (``sys.argv``) only inspects, unlocks or touches
    the workflow (a dry run is told by Snakemake itself: workflow.output_settings)."""
    for argument in argv[1:]:
        if argument == "--":
            break
        name = argument.split("=", 1)[0]
        if name in INSPECTING_OPTIONS:
            return True
        if re.fullmatch(r"-[A-Za-z]+", name) and INSPECTING_SHORT & set(name[1:]):
            return True
    return False
