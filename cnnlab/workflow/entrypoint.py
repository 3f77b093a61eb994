"""How Snakemake's scripts turn a user's mistake into one message and exit status 1.

Every script under ``scripts/`` ends with::

    run_entrypoint(main, log_path=snakemake.log[0])

``main(log)`` does the work; ``log(text)`` appends a line to the job's log file. A
:class:`~cnnlab.errors.CnnlabError` prints its message alone (no traceback) to stderr
and to the log, and exits with status 1. A full disk, wherever a write met it, is such
a message too (the file, and that the disk is full). Any other exception is a bug: its
traceback goes to the log too, and it propagates unchanged so that Snakemake shows it.

A job stops when the Snakemake that started it is gone, and a retry of a job that failed
on a CnnlabError fails at once, in one line (cnnlab.workflow.snakemake_process).
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.store import files
from cnnlab.workflow import snakemake_process

Log = Callable[[str], None]


def run_entrypoint(main: Callable[[Log], object], log_path: str | Path | None = None) -> None:
    """Run ``main(log)``; on :class:`CnnlabError` report its message and exit 1."""
    log_file = Path(log_path) if log_path else None
    snakemake = snakemake_process.job_snakemake()
    attempts = snakemake_process.Attempts(log_file, snakemake) if log_file else None
    retried = attempts is not None and attempts.failed_before()

    def log(text: str) -> None:
        if log_file is not None:
            with log_file.open("a", encoding="utf-8") as handle:
                handle.write(text.rstrip("\n") + "\n")

    try:
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            if retried:  # said once, by the attempt before; the log keeps it in full
                # the log keeps the message (the attempt before's log is gone, made anew);
                # the terminal said it once already
                log_file.write_text(f"{snakemake_process.NOT_RETRIED}: {attempts.message}\n")
                print(f"{snakemake_process.NOT_RETRIED} (said above; also in {log_file})",
                      file=sys.stderr)
                raise SystemExit(1)
            log_file.write_text("")
        snakemake_process.stop_with_snakemake(log, snakemake)
        main(log)
    except CnnlabError as error:
        fail(str(error), log, attempts)
    except SystemExit:
        raise
    except MemoryError as error:
        # one line; not recorded as a CnnlabError: a retry gets more memory (rules/train.smk)
        with contextlib.suppress(OSError):
            log(traceback.format_exc())
        print(f"out of memory: {error or 'an allocation failed'}; a retry asks for more, or "
              "lower what the job holds (image_size, n_train, n_base, batch_size).",
              file=sys.stderr)
        raise SystemExit(1) from None
    except BaseException as error:
        if files.disk_full(error):
            where = getattr(error, "filename", None) or "a file"
            fail(files.disk_full_message(where), log, attempts)
        with contextlib.suppress(OSError):
            log(traceback.format_exc())
        raise


def fail(message: str, log: Log, attempts) -> None:
    """Say ``message`` once (stderr and the log) and exit 1; a retry will not run it again."""
    with contextlib.suppress(OSError):  # the log may sit on the full disk
        log(f"error: {message}")
    if attempts is not None:
        attempts.record_failure(message)
    print(message, file=sys.stderr)
    raise SystemExit(1) from None
