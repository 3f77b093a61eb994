"""How Snakemake's scripts turn a user's mistake into one message and exit status 1.

Every script under ``scripts/`` ends with::

    run_entrypoint(main, log_path=snakemake.log[0])

``main(log)`` does the work; ``log(text)`` appends a line to the job's log file. A
:class:`~cnnlab.errors.CnnlabError` prints its message alone (no traceback) to stderr
and to the log, and exits with status 1. Any other exception is a bug: its traceback
goes to the log too, and it propagates unchanged so that Snakemake shows it.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from cnnlab.errors import CnnlabError

Log = Callable[[str], None]


def run_entrypoint(main: Callable[[Log], object], log_path: str | Path | None = None) -> None:
    """Run ``main(log)``; on :class:`CnnlabError` report its message and exit 1."""
    log_file = Path(log_path) if log_path else None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text("")

    def log(text: str) -> None:
        if log_file is not None:
            with log_file.open("a", encoding="utf-8") as handle:
                handle.write(text.rstrip("\n") + "\n")

    try:
        main(log)
    except CnnlabError as error:
        message = str(error)
        log(f"error: {message}")
        print(message, file=sys.stderr)
        raise SystemExit(1) from None
    except BaseException:
        log(traceback.format_exc())
        raise
