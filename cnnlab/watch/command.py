"""The ``cnnlab`` command: ``cnnlab status`` and ``cnnlab report --partial`` on a lab's folder.

Both read the lab's config as the workflow does (``config.yaml``, then each
``--configfile`` in order, key by key, checked with the schema's defaults filled in),
take no Snakemake lock and write nothing but the partial report, so they can run while
``snakemake`` runs. A user's mistake (a bad config, no config) is one message and exit
status 1, as in the workflow's scripts.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path

from cnnlab.errors import CnnlabError


def config_values(pairs: list[str]) -> dict:
    """``--config KEY=VALUE ...`` read by Snakemake's own parser (snakemake.cli.parse_config:
    an int, a float, True/False, else YAML's base loader, whose values are text), so the
    lab planned here is the lab ``snakemake --config`` plans."""
    from snakemake.cli import parse_config

    try:
        return parse_config(pairs)
    except ValueError as error:
        raise CnnlabError(f"--config {' '.join(pairs)}: {error} Write KEY=VALUE, e.g. "
                          "epoch_divisor=5.") from None


def lab_config(directory: Path, configfiles: list[str], pairs: list[str] = ()) -> dict:
    """config.yaml of ``directory`` updated by each file of ``configfiles`` in order, then
    by the ``--config`` pairs, as snakemake applies them."""
    from cnnlab.plan.config import checked_config, read_config_files, update_config

    files = [directory / "config.yaml"]
    for name in configfiles:
        path = Path(name)
        files.append(path if path.is_absolute() or path.exists() else directory / path)
    for path in files:
        if not path.exists():
            raise CnnlabError(f"{path}: config file not found (is {directory} the lab's folder?)")
    config = read_config_files(*files)  # a key given twice is refused there
    update_config(config, config_values(list(pairs)))
    sources = [str(path) for path in files] + (["--config"] if pairs else [])
    return checked_config(config, source=" + ".join(sources))


def watch_seconds(text: str) -> float:
    """``--watch``: a finite number of seconds, at least 1 (a redraw needs the time)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 1:
        raise argparse.ArgumentTypeError(f"{text} seconds: give a finite number of seconds, "
                                         "at least 1 (e.g. --watch 10)")
    return seconds


def core_count(text: str) -> int:
    """``--cores``: a whole number of cores, at least 1, as snakemake --cores takes."""
    try:
        cores = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of cores") from None
    if cores < 1:
        raise argparse.ArgumentTypeError(f"{cores}: give at least 1 core (e.g. --cores 4)")
    return cores


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configfile", "--configfiles", action="extend", nargs="+",
                        default=[], metavar="FILE",
                        help="config files that override config.yaml, as given to snakemake")
    parser.add_argument("--config", "-C", action="extend", nargs="+", default=[],
                        metavar="KEY=VALUE", help="config values, as given to snakemake "
                        "(e.g. --config epoch_divisor=5)")
    parser.add_argument("--directory", "-d", type=Path, default=Path("."),
                        help="the lab's folder (where snakemake runs); default: here")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="cnnlab", description=__doc__.splitlines()[0])
    commands = main.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="one line per training, and the time left")
    _common(status)
    status.add_argument("--cores", "-c", type=core_count, default=None,
                        help="the cores the lab runs on (snakemake --cores); default: all")
    status.add_argument("--watch", nargs="?", const=10.0, type=watch_seconds, default=None,
                        metavar="SECONDS", help="refresh every SECONDS (default 10)")
    report = commands.add_parser("report", help="the lab report of what exists now")
    _common(report)
    report.add_argument("--partial", action="store_true", required=True,
                        help="render results/report/partial.html from the epochs so far "
                             "(the full report is the workflow's: snakemake)")
    return main


def show_status(config: dict, directory: Path, cores: int | None, watch: float | None) -> None:
    from cnnlab.watch.status import lab_status, status_text

    tty = sys.stdout.isatty()
    while True:
        width = shutil.get_terminal_size((80, 24)).columns if tty else 80
        status = lab_status(config, directory, cores)
        text = status_text(status, width=max(60, width))
        if watch is None:
            print(text)
            return
        # a terminal is redrawn in place; a file or pipe gets one block per refresh
        print(("\033[H\033[2J" if tty else "\n") + time.strftime("%H:%M:%S ") + text,
              flush=True)
        if status.finished:
            return
        time.sleep(watch)


def say_other_configuration(config: dict, directory: Path) -> None:
    """One line on stderr where the folder holds another configuration's results."""
    from cnnlab.plan.plan import plan_lab
    from cnnlab.watch.other_labs import other_configuration

    line = other_configuration(plan_lab(config), directory)
    if line:
        print(f"cnnlab: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        config = lab_config(arguments.directory, arguments.configfile, arguments.config)
        say_other_configuration(config, arguments.directory)
        if arguments.command == "status":
            show_status(config, arguments.directory, arguments.cores, arguments.watch)
        else:
            from cnnlab.watch.partial import write_partial_report

            path = write_partial_report(config, arguments.directory)
            print(f"wrote {path}")
    except CnnlabError as error:
        print(f"cnnlab: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `cnnlab status | head`
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
