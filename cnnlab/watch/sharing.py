"""Trainings that share the machine's cores: how much slower each ran than it would alone,
and when a lab's jobs end where the workflow runs more of them than the machine has cores.

``snakemake --cores 4`` on a 2-core machine runs four one-thread trainings at once, each
at about half its speed alone. A speed measured while sharing is not the speed alone:
:func:`slowdowns` works out, from when each job ran (its heartbeat's start and last beat),
how many threads shared the machine with it, and :func:`schedule` runs the jobs left at
their speeds alone, sharing the machine's cores again as the workflow will start them.
Other work on the machine is not seen: it slows the jobs measured and the jobs to come
alike, as long as it lasts (the one-minute load average, tried as a measure of it, follows
a machine's changing load too slowly and counts more than the work that takes the cores).
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from itertools import pairwise


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one),
    which the trainings it starts share."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this system
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Span:
    """When a job ran on this machine, and with how many threads."""

    start: float
    end: float
    threads: int


def slowdowns(spans: list[Span | None], machine_cores: int | None) -> list[float]:
    """For each span, how many times slower than alone its job ran: the mean over its
    time of (threads running on the machine / its cores), at least 1; 1 for a job whose
    span is not known or where the machine's cores are not (trainings on other hosts)."""
    known = [span for span in spans if span is not None and span.end > span.start]
    result = []
    for span in spans:
        if machine_cores is None or span is None or span.end <= span.start:
            result.append(1.0)
            continue
        cuts = sorted({span.start, span.end} | {
            edge for other in known for edge in (other.start, other.end)
            if span.start < edge < span.end})
        weighted = 0.0
        for begin, finish in pairwise(cuts):
            middle = (begin + finish) / 2
            busy = sum(job.threads for job in known if job.start <= middle < job.end)
            weighted += (finish - begin) * max(1.0, busy / machine_cores)
        result.append(weighted / (span.end - span.start))
    return result


def most_threads_at_once(spans: list[Span | None]) -> int:
    """The most threads of these jobs that ran at one time."""
    events = sorted(event for span in spans if span is not None
                    for event in ((span.start, span.threads), (span.end, -span.threads)))
    most = used = 0
    for _, change in events:
        used += change
        most = max(most, used)
    return most


def schedule(running: list[tuple[float, int]], queued: list[tuple[float, int]],
             cores: int, machine_cores: int | None = None) -> float:
    """When the last of these jobs ends. Each is (seconds it needs alone, threads):
    ``running`` hold their share of the workflow's ``cores`` from now on, ``queued`` start
    in the order given as soon as enough of them are free. While the running jobs' threads
    outnumber ``machine_cores`` (default: ``cores``), each goes at machine_cores / threads
    of its speed alone."""
    cores = max(1, cores)
    machine = max(1, machine_cores or cores)
    active = [[float(seconds), min(threads, cores)] for seconds, threads in running]
    waiting = deque((float(seconds), min(threads, cores)) for seconds, threads in queued)
    free = cores - sum(threads for _, threads in active)
    now = 0.0
    while True:
        while waiting and free >= waiting[0][1]:
            seconds, threads = waiting.popleft()
            active.append([seconds, threads])
            free -= threads
        if not active:
            return now
        rate = min(1.0, machine / sum(threads for _, threads in active))
        step = min(left for left, _ in active) / rate
        now += step
        for job in active:
            job[0] -= step * rate
        for job in [job for job in active if job[0] <= 1e-9]:
            active.remove(job)
            free += job[1]
