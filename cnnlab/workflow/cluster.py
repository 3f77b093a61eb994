"""A SLURM cluster's refusals that no retry can change, found before the first job is
submitted: a controller that does not answer, a partition that does not exist, a job's
memory beyond every node of its partition. Each is said once, in one line naming the
setting to change, instead of three submissions each quoting the whole sbatch command.

The rules call :func:`slurm_refusal` when the workflow starts on the SLURM executor
(``onstart``, rules/common.smk); what it learns of the nodes also caps a retry's memory
(:func:`capped_memory_mb`), so that a retry after running out of memory asks for no more
than the largest node has, which SLURM would refuse.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping

SINFO_SECONDS = 20  # SLURM's own client waits minutes for a controller that is down
DEFAULT = ""  # the key of the cluster's default partition
NOTHING_SUBMITTED = "nothing was submitted"

# the largest node's memory (MB) of each partition, once slurm_refusal has asked the cluster
NODE_MEMORY_MB: dict[str, int] = {}


def node_memory() -> dict[str, int] | str:
    """{partition: the largest node's memory in MB} (the default partition also under
    ``DEFAULT``), from ``sinfo``; or why the cluster did not say."""
    try:
        result = subprocess.run(["sinfo", "--Node", "--noheader", "--format=%P %m"],
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
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) != 2 or not re.match(r"\d+", parts[1]):
            continue
        name, megabytes = parts[0], int(re.match(r"\d+", parts[1]).group())
        for key in (name.rstrip("*"), *([DEFAULT] if name.endswith("*") else [])):
            memory[key] = max(memory.get(key, 0), megabytes)
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
    return None


def capped_memory_mb(megabytes: int, partition: str | None = None) -> int:
    """``megabytes``, but no more than the largest node of ``partition`` (not given: of
    any partition) has; unchanged where the cluster was not asked."""
    if not NODE_MEMORY_MB:
        return megabytes
    largest = NODE_MEMORY_MB.get(partition or "") if partition else None
    return min(megabytes, largest or max(NODE_MEMORY_MB.values()))
