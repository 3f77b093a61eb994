"""A SLURM cluster's refusals that no retry can change, found before the first job is
submitted: a controller that does not answer, a partition that does not exist, a job's
memory beyond every node of its partition, or its wall time beyond the partition's limit. Each is said once, in one line naming the
setting to change, instead of three submissions each quoting the whole sbatch command. A
refusal found only at submission is said in SLURM's words (:class:`SbatchRefusal`).

The rules call :func:`slurm_refusal` when the workflow starts on the SLURM executor
(``onstart``, rules/common.smk); what it learns of the nodes also caps a retry's memory
(:func:`capped_memory_mb`) and time (:func:`capped_minutes`), so that a retry asks for no
more than the cluster gives, which SLURM would refuse.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Iterable, Mapping

SINFO_SECONDS = 20  # SLURM's own client waits minutes for a controller that is down
DEFAULT = ""  # the key of the cluster's default partition
NOTHING_SUBMITTED = "nothing was submitted"

# the largest node's memory (MB) and the time limit (minutes, None: none) of each
# partition, once slurm_refusal has asked the cluster
NODE_MEMORY_MB: dict[str, int] = {}
TIME_LIMIT_MINUTES: dict[str, int | None] = {}


def minutes(limit: str) -> int | None:
    """SLURM's ``[days-]hours:minutes:seconds`` (or ``minutes``, ``infinite``) in
    minutes; None for no limit."""
    if limit in ("infinite", "UNLIMITED", "n/a", ""):
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(part) for part in clock.split(":") if part.isdigit()]
    # minutes, minutes:seconds, or hours:minutes:seconds
    hours, mins = (parts[0], parts[1]) if len(parts) >= 3 else (0, parts[0] if parts else 0)
    return (int(days) if days.isdigit() else 0) * 1440 + hours * 60 + mins


def node_memory() -> dict[str, int] | str:
    """{partition: the largest node's memory in MB} (the default partition also under
    ``DEFAULT``), from ``sinfo``; or why the cluster did not say."""
    try:
        result = subprocess.run(["sinfo", "--Node", "--noheader", "--format=%P %m %l"],
                                capture_output=True, text=True, timeout=SINFO_SECONDS,
                                check=False)
    except FileNotFoundError:
        return "`sinfo` is not on PATH (no SLURM client on this machine)"
    except subprocess.TimeoutExpired:
        return f"`sinfo` got no answer within {SINFO_SECONDS} s"
    if result.returncode != 0:
        said = next((line.strip() for line in result.stderr.splitlines() if line.strip()),
                    f"exit status {result.returncode}")
        return f"`sinfo` failed: {said}"
    memory: dict[str, int] = {}
    TIME_LIMIT_MINUTES.clear()
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) != 3 or not re.match(r"\d+", parts[1]):
            continue
        name, megabytes = parts[0], int(re.match(r"\d+", parts[1]).group())
        for key in (name.rstrip("*"), *([DEFAULT] if name.endswith("*") else [])):
            memory[key] = max(memory.get(key, 0), megabytes)
            TIME_LIMIT_MINUTES[key] = minutes(parts[2])
    return memory


def slurm_refusal(jobs: Iterable[tuple[str, Mapping]]) -> str | None:
    """Why SLURM would refuse one of ``jobs`` ((rule name, resources) of each job to
    run) whatever a retry changes, in one line; None when it would take them all."""
    memory = node_memory()
    if isinstance(memory, str):
        return (f"the SLURM controller does not answer ({memory}): check that it runs "
                "(`scontrol ping`), or ask the cluster's admins, then run again; "
                f"{NOTHING_SUBMITTED}.")
    NODE_MEMORY_MB.clear()
    NODE_MEMORY_MB.update(memory)
    names = ", ".join(sorted(name for name in memory if name != DEFAULT)) or "none"
    for rule, resources in jobs:
        asked = str(resources.get("slurm_partition") or DEFAULT)
        partitions = [name.strip() for name in asked.split(",")]
        unknown = [name for name in partitions if name not in memory]
        if asked == DEFAULT and DEFAULT not in memory:
            return (f"rule {rule} names no slurm_partition and this cluster has no default "
                    f"partition (there: {names}): set slurm_partition under default-resources "
                    f"in profiles/slurm/config.yaml; {NOTHING_SUBMITTED}.")
        if unknown:
            return (f"slurm_partition {asked!r} of rule {rule} is not a partition of this "
                    f"cluster (there: {names}): set slurm_partition in profiles/slurm/config.yaml "
                    f"(default-resources, or set-resources for the rule) or with "
                    f"--set-resources to one of them; {NOTHING_SUBMITTED}.")
        largest = max(memory[name] for name in partitions)
        wanted = resources.get("mem_mb")
        if isinstance(wanted, int | float) and wanted > largest:
            where = "partition " + asked if asked else "the default partition"
            return (f"rule {rule} asks for mem_mb = {int(wanted):,} MB, more than any node of "
                    f"{where} has ({largest:,} MB): set slurm_partition to a partition with "
                    "larger nodes, or make the job smaller (a training: image_size, "
                    f"batch_size, n_base; another rule: its mem_mb); {NOTHING_SUBMITTED}.")
        limits = [TIME_LIMIT_MINUTES.get(name) for name in partitions]
        limit = None if None in limits else max(limits)
        runtime = resources.get("runtime")
        if limit is not None and isinstance(runtime, int | float) and runtime > limit:
            where = "partition " + asked if asked else "the default partition"
            return (f"rule {rule} asks for runtime = {int(runtime):,} minutes, beyond the time "
                    f"limit of {where} ({limit:,} minutes): set slurm_partition to a partition "
                    "that allows it, or lower runtime (for a training: epoch_divisor, or fewer "
                    f"epochs); {NOTHING_SUBMITTED}.")
    return None


def capped_memory_mb(megabytes: int, partition: str | None = None) -> int:
    """``megabytes``, but no more than the largest node of ``partition`` (not given: of
    any partition) has; unchanged where the cluster was not asked."""
    if not NODE_MEMORY_MB:
        return megabytes
    largest = NODE_MEMORY_MB.get(partition or "") if partition else None
    return min(megabytes, largest or max(NODE_MEMORY_MB.values()))


def capped_minutes(minutes_asked: int, partition: str | None = None) -> int:
    """``minutes_asked``, but no more than the time limit of ``partition`` (not given: the
    longest of any partition) allows; unchanged where the cluster was not asked."""
    if not TIME_LIMIT_MINUTES:
        return minutes_asked
    if partition:
        limit = TIME_LIMIT_MINUTES.get(partition)
    else:
        limits = list(TIME_LIMIT_MINUTES.values())
        limit = None if None in limits else max(limits)
    return minutes_asked if limit is None else min(minutes_asked, limit)


SBATCH_FAILED = re.compile(r"^SLURM sbatch failed\. The error message was '(.*?)'\.\s*\n\s*sbatch call:",
                           re.DOTALL)


class SbatchRefusal(logging.Filter):
    """A refused submission's message cut to SLURM's own words: the executor plugin
    quotes the whole sbatch command (1.5 kB) and its script after them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = getattr(record, "rule_msg", None)
        found = SBATCH_FAILED.match(message) if isinstance(message, str) else None
        if found:
            lines = [line.strip().removeprefix("sbatch: error: ").removeprefix("sbatch: ")
                     for line in found.group(1).splitlines() if line.strip()]
            record.rule_msg = f"SLURM refused the job (sbatch: {'; '.join(lines)})"
        return True


def shorten_sbatch_refusals(logger: logging.Logger) -> None:
    """Install :class:`SbatchRefusal` on Snakemake's logger, once."""
    if not any(isinstance(existing, SbatchRefusal) for existing in logger.filters):
        logger.addFilter(SbatchRefusal())
