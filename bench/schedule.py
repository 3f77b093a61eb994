#!/usr/bin/env python3
"""The order of the lab's training jobs: both orders simulated on N cores, and a measured
run's schedule drawn as a Gantt figure.

    python bench/schedule.py                         # bench/results/schedule.md
    python bench/schedule.py --times-from WORKDIR    # epoch times measured in a lab run there
    python bench/schedule.py --gantt WORKDIR --figure bench/results/schedule-small.png

The simulation is list scheduling, as Snakemake does it: whenever a core is free, the
ready job of the highest priority starts. The jobs are the default lab's trainings
(one core each), 6E's selection (which waits for the trainings of 6A-6D it judges) and
the trainings it unlocks (6E's and 6F's). Which run the selection chooses is not known
before the lab has run, so every candidate is simulated as the choice. A training lasts
its epochs times an epoch's seconds, from the measured figures in docs/speed.md (or a lab run's
histories, ``--times-from``); the priorities are what the workflow computes in a fresh
clone (the cost formula, no measured times). Data preparation, figures and the report
are left out: seconds, against trainings of minutes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import table
from bench.jobs import lab_record_files
from cnnlab.plan import scheduling
from cnnlab.plan.config import checked_config
from cnnlab.plan.plan import Plan, plan_lab
from cnnlab.plan.runs import RunSpec, Training
from cnnlab.store.files import read_record

RESULTS = ROOT / "bench" / "results"
SELECTION_SECONDS = 5.0
# docs/speed.md, "Epoch times measured": seconds per epoch of 1000 training and 200
# validation images, one thread per job, by (model, n_base, batch size); LeNet b8 6-10 s
# and AlexNet n_base 32 b8 16-20 s there, their middles here
DESIGN_EPOCH_SECONDS = {("lenet", 32, 8): 8.0, ("alexnet", 32, 8): 18.0,
                        ("alexnet", 16, 8): 5.0, ("alexnet", 8, 8): 2.3,
                        ("alexnet", 8, 4): 2.5, ("alexnet", 8, 2): 3.7}


@dataclass
class Job:
    name: str
    seconds: float
    priority: float
    after: set[str] = field(default_factory=set)


def simulate(jobs: list[Job], cores: int) -> dict[str, tuple[float, float]]:
    """Each job's (start, end) when the ready job of the highest priority starts whenever
    a core is free (one core per job)."""
    by_name = {job.name: job for job in jobs}
    done: dict[str, float] = {}
    running: dict[str, float] = {}  # name -> end
    schedule: dict[str, tuple[float, float]] = {}
    now = 0.0
    while len(done) < len(jobs):
        ready = [job for job in jobs if job.name not in schedule
                 and all(name in done for name in job.after)]
        for job in sorted(ready, key=lambda job: (-job.priority, job.name)):
            if len(running) >= cores:
                break
            schedule[job.name] = (now, now + job.seconds)
            running[job.name] = now + job.seconds
        if not running:
            raise ValueError("jobs wait for each other in a circle")
        now = min(running.values())
        for name in [name for name, end in running.items() if end <= now]:
            done[name] = running.pop(name)
    assert set(schedule) == set(by_name)
    return schedule


def critical_path(jobs: list[Job]) -> float:
    """The longest chain of jobs that wait for each other: no number of cores ends sooner."""
    by_name = {job.name: job for job in jobs}
    finish: dict[str, float] = {}

    def end(name: str) -> float:
        if name not in finish:
            job = by_name[name]
            finish[name] = job.seconds + max((end(before) for before in job.after), default=0)
        return finish[name]

    return max(end(job.name) for job in jobs)


def table_epoch_seconds(times: dict, fallback: Callable[[RunSpec], float]):
    """An epoch's seconds by (model, n_base, batch size), else ``fallback`` (the MLP)."""
    def epoch_seconds(spec: RunSpec) -> float:
        return times.get((spec.model, spec.n_base, spec.batch_size)) or fallback(spec)
    return epoch_seconds


def lab_jobs(config: dict, chosen: RunSpec, epoch_seconds, priority) -> list[Job]:
    """The lab's training jobs and selections, 6E's selection choosing ``chosen``'s run."""
    plan = plan_lab(config)
    jobs = [Job(key, training.epochs * epoch_seconds(training.spec), priority(plan, training))
            for key, training in plan.trainings.items()]
    choices = {task_id: chosen.to_dict() for task_id in plan.selections_needed}
    waits = plan.trainings_selections_wait_for()
    waited = {key for key, training in plan.trainings.items() if training.directory in waits}
    for task_id in plan.selections_needed:
        jobs.append(Job(f"select {task_id}", SELECTION_SECONDS, 10**8, waited))
    complete = Plan(config, choices)
    selections = {f"select {task_id}" for task_id in plan.selections_needed}
    jobs += [Job(key, training.epochs * epoch_seconds(training.spec),
                 priority(plan, training), selections)
             for key, training in complete.trainings.items() if key not in plan.trainings]
    return jobs


def choices(config: dict) -> list[RunSpec]:
    """The candidate runs 6E's selection may choose, one per set-up it copies."""
    plan = plan_lab(config)
    found: dict[tuple, RunSpec] = {}
    for task_id in plan.selections_needed:
        selection = plan.tasks[task_id].selection
        for candidate in selection["candidates"]:
            for entry in plan.tasks[candidate].entries:
                copied = tuple(getattr(entry.spec, name) for name in selection["copy"])
                found.setdefault(copied, entry.spec)
    return list(found.values())


def orders(config: dict, fresh_root: Path, image_size: int, n_train: int) -> dict:
    """The two orders' priority functions: the critical path (as a fresh clone computes
    it: ``fresh_root`` holds no results) and every candidate of a selection first."""
    return {
        "critical path": lambda plan, training: scheduling.training_priority(
            plan, training, image_size, n_train, root=fresh_root),
        "candidates first": lambda plan, training: candidates_first_priority(
            plan, training, image_size, n_train),
    }


SELECTION_WAITS_PRIORITY = 10**7  # above every training's estimated seconds


def candidates_first_priority(plan: Plan, training: Training, image_size: int,
                              n_train: int) -> int:
    """The order before the critical path, which the workflow ran before: longest first,
    but every training a selection waits for before all others."""
    seconds = int(scheduling.estimated_seconds(training.spec, training.epochs, image_size, n_train))
    if training.directory in plan.trainings_selections_wait_for():
        return SELECTION_WAITS_PRIORITY + seconds
    return seconds


def short(name: str) -> str:
    """A training's key without the data set and the seed: ``alexnet-nb8-...-bce/e350``."""
    parts = name.split("/")
    return f"{parts[1].rsplit('-s', 1)[0]}/{parts[2]}" if len(parts) == 3 else name


@dataclass
class Simulated:
    order: str
    cores: int
    chosen: str
    makespan: float
    critical: float
    first_four: list[str]
    work: float  # the seconds of all jobs together

    @property
    def bound(self) -> float:
        """No schedule ends sooner: the critical path, or the work spread over the cores."""
        return max(self.critical, self.work / self.cores)


def simulations(config: dict, epoch_seconds, cores_list: list[int], fresh_root: Path
                ) -> list[Simulated]:
    dataset = config["datasets"][config["dataset"]]
    priorities = orders(config, fresh_root, dataset["image_size"], dataset.get("n_train", 1000))
    rows = []
    for chosen in choices(config):
        for order, priority in priorities.items():
            jobs = lab_jobs(config, chosen, epoch_seconds, priority)
            for cores in cores_list:
                schedule = simulate(jobs, cores)
                started = sorted(schedule, key=lambda name: (schedule[name][0],
                                                            -next(job.priority for job in jobs
                                                                  if job.name == name)))
                rows.append(Simulated(order, cores, chosen.setup_id,
                                      max(end for _, end in schedule.values()),
                                      critical_path(jobs), [short(n) for n in started[:4]],
                                      sum(job.seconds for job in jobs)))
    return rows


def summary_rows(rows: list[Simulated]) -> list[list[str]]:
    """Per order and cores: the mean and the worst makespan over the choices, in minutes,
    and their ratios to the critical path and to the lower bound."""
    out = []
    for cores in sorted({row.cores for row in rows}):
        for order in dict.fromkeys(row.order for row in rows):
            mine = [row for row in rows if row.cores == cores and row.order == order]
            ratios = [row.makespan / row.critical for row in mine]
            bounds = [row.makespan / row.bound for row in mine]
            out.append([str(cores), order,
                        f"{statistics.mean(row.makespan for row in mine) / 60:.1f}",
                        f"{max(row.makespan for row in mine) / 60:.1f}",
                        f"{statistics.mean(ratios):.3f}", f"{max(ratios):.3f}",
                        f"{statistics.mean(bounds):.3f}", f"{max(bounds):.3f}"])
    return out


def detail_rows(rows: list[Simulated]) -> list[list[str]]:
    return [[row.chosen, str(row.cores), row.order, f"{row.makespan / 60:.1f}",
             f"{row.critical / 60:.1f}", f"{row.bound / 60:.1f}",
             f"{row.makespan / row.critical:.3f}", f"{row.makespan / row.bound:.3f}"]
            for row in rows]


# -- a measured run's schedule ---------------------------------------------------------------

def measured_bars(workdir: Path) -> list[tuple[str, float, float]]:
    """(training, start, end) in seconds from the first start, from each record.json's
    ``started_at`` and ``finished_at`` (Unix times)."""
    bars = []
    for record_json in lab_record_files(workdir):
        record = read_record(record_json)
        if "started_at" not in record:
            continue
        name = f"{record_json.parent.parent.name.rsplit('-s', 1)[0]}/{record_json.parent.name}"
        bars.append((name, record["started_at"], record["finished_at"]))
    if not bars:
        raise SystemExit(f"{workdir}: no record.json with started_at/finished_at under "
                         "results/runs/: run the lab there first.")
    zero = min(start for _, start, _ in bars)
    return sorted(((name, start - zero, end - zero) for name, start, end in bars),
                  key=lambda bar: bar[1])


def draw_gantt(bars: list[tuple[str, float, float]], title: str, path: Path) -> Path:
    """One row per training, a bar from its start to its end; colour by architecture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"lenet": "tab:blue", "alexnet": "tab:orange", "mlp": "tab:green"}
    figure, axes = plt.subplots(figsize=(7, 0.28 * len(bars) + 1.2), dpi=80)
    for row, (name, start, end) in enumerate(bars):
        axes.barh(row, end - start, left=start, height=0.7,
                  color=colours.get(name.split("-")[0], "tab:gray"))
    axes.set_yticks(range(len(bars)), [name for name, _, _ in bars], fontsize=6)
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the first training started")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def measured_report(bars: list[tuple[str, float, float]], figure: Path) -> str:
    """The measured schedule in words: the order the trainings started in, and how busy
    the cores were (trainings' seconds over the span from the first start to the last end)."""
    span = max(end for _, _, end in bars)
    busy = sum(end - start for _, start, end in bars)
    rows = [[name, f"{start:.1f}", f"{end:.1f}", f"{end - start:.1f}"]
            for name, start, end in bars]
    return "\n".join([
        f"# A measured schedule: {len(bars)} trainings", "",
        (f"Figure: `{figure.name}` (`python bench/schedule.py --gantt WORKDIR --figure "
        f"{figure.name}`), from each record.json's `started_at` and `finished_at`. From the "
        f"first training's start to the last one's end: {span:.1f} s; the trainings' "
        f"processes together: {busy:.1f} s ({busy / span:.2f} cores busy on average)."), "",
        table(["training (in order of start)", "start s", "end s", "seconds"], rows), ""])


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 4, 16])
    parser.add_argument("--times-from", type=Path, default=None,
                        help="a lab's folder whose histories give the epoch times "
                             "(default: the epoch times in docs/speed.md)")
    parser.add_argument("--output", type=Path, default=RESULTS / "schedule.md")
    parser.add_argument("--gantt", type=Path, default=None,
                        help="a lab's folder: draw its measured schedule instead")
    parser.add_argument("--figure", type=Path, default=RESULTS / "schedule-gantt.png")
    return parser.parse_args(argv)


def default_config() -> dict:
    import yaml

    return checked_config(yaml.safe_load((ROOT / "config.yaml").read_text()), "config.yaml")


def main(argv=None) -> None:
    arguments = parse_arguments(argv)
    if arguments.gantt is not None:
        bars = measured_bars(arguments.gantt)
        draw_gantt(bars, f"measured schedule of {arguments.gantt.name}", arguments.figure)
        text = measured_report(bars, arguments.figure)
        arguments.figure.with_suffix(".md").write_text(text)
        print(text)
        return
    config = default_config()
    dataset = config["datasets"][config["dataset"]]
    size, n_train = dataset["image_size"], dataset.get("n_train", 1000)
    if arguments.times_from is not None:
        epoch_seconds = scheduling.measured_epochs(config["dataset"], size, n_train,
                                             arguments.times_from).epoch_seconds
        source = f"histories measured in {arguments.times_from}"
    else:
        epoch_seconds = table_epoch_seconds(
            DESIGN_EPOCH_SECONDS, lambda spec: scheduling.estimated_seconds(spec, 1, size, n_train))
        source = "the epoch times measured in docs/speed.md (the MLP: the cost formula)"
    rows = simulations(config, epoch_seconds, arguments.cores, ROOT / "bench" / "no-results")
    text = report(rows, source)
    arguments.output.write_text(text)
    print(text)


def order_ratios(rows: list[Simulated]) -> dict[int, float]:
    """Per number of cores: the critical path order's mean makespan over the other's."""
    def mean(order, cores):
        return statistics.mean(row.makespan for row in rows
                               if row.order == order and row.cores == cores)
    return {cores: mean("critical path", cores) / mean("candidates first", cores)
            for cores in sorted({row.cores for row in rows})}


def report(rows: list[Simulated], source: str) -> str:
    first = [row for row in rows if row.cores == min(r.cores for r in rows)]
    starts = {row.order: ", ".join(row.first_four) for row in first}
    return "\n".join([
        "# The order of the lab's trainings, simulated", "",
        (f"Command: `python bench/schedule.py`. Epoch times: {source}. Priorities: as the "
        "workflow computes them in a fresh clone (the cost formula). Every run 6E's "
        "selection may choose is simulated as the choice; makespans in minutes."), "",
        table(["cores", "order", "mean makespan", "worst makespan", "mean / critical path",
               "worst / critical path", "mean / bound", "worst / bound"],
              summary_rows(rows)), "",
        ("The bound: no order ends sooner than the larger of the critical path (the longest "
        "chain of trainings that wait for each other) and all trainings' time over the "
        "cores."), "",
        "Mean makespan, critical path / candidates first: " + "; ".join(
            f"{cores} cores {ratio:.3f}" for cores, ratio in order_ratios(rows).items()) + ".",
        "",
        f"The first four trainings to start on {first[0].cores} cores:", "",
        *[f"- {order}: {names}" for order, names in starts.items()], "",
        "<details><summary>Every choice of 6E's selection</summary>", "",
        table(["6E chooses", "cores", "order", "makespan", "critical path", "bound",
               "/ critical path", "/ bound"],
              detail_rows(rows)), "", "</details>", ""])


if __name__ == "__main__":
    main()
