"""Tasks -> runs -> trainings: the plan of the lab.

A *task* (5A, 6B, ...) asks for runs at some epoch counts. A *run* is keyed by every
parameter that changes training except epochs, so a run several tasks ask for is
trained once. A *training* is one Snakemake job: it trains a run to the largest epoch
count any task asks of it and saves weights at every epoch count asked for (prefix
sharing). Tasks whose runs depend on 6E's selection are *pending* until the selection
exists; planning them later may add a longer training of a run that was already
trained, which resumes from that run's saved state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from cnnlab.errors import CnnlabError
from cnnlab.plan.expansion import TaskExpansion
from cnnlab.plan.runs import Entry, RunSpec, TaskPlan, Training, factors_between
from cnnlab.store import layout


@dataclass(frozen=True)
class ReferencePair:
    """One of a task's set-ups and an earlier task's set-up one factor away."""

    setup_id: str  # the task's set-up, at its most epochs
    epochs: int
    task: str  # the earlier task
    reference_setup_id: str
    reference_epochs: int
    factor: str  # a parameter's name, or 'epochs'


class Plan:
    """The tasks of a config expanded into runs and trainings."""

    def __init__(self, config: dict, choices: dict[str, dict] | None = None):
        self.config = config
        self.dataset = config["dataset"]
        # a checked config (cnnlab.plan.config.checked_config): the schema's defaults are in it
        self.seeds = list(config["seeds"])
        self.share_prefixes = bool(config["share_prefixes"])
        self.epoch_divisor = int(config["epoch_divisor"])
        self.choices = dict(choices or {})
        self.expansion: TaskExpansion | None = TaskExpansion(config, self.choices)
        self.tasks: dict[str, TaskPlan] = {}
        self.trainings: dict[str, Training] = {}
        self._plan()

    def entries_before_selection(self, task_id: str) -> list[Entry]:
        """A task's runs as if its selection gave nothing (cnnlab.plan.expansion)."""
        if self.expansion is None:  # read back without its config
            raise CnnlabError(f"tasks.{task_id}: its runs before the selection need the config "
                              "and a task to start from that is trained before it.")
        return self.expansion.entries_before_selection(task_id)

    def _plan(self) -> None:
        for task_id, task in self.config["tasks"].items():
            plan = TaskPlan(
                task_id=task_id,
                title=task["title"],
                question=task["question"],
                shows=list(task.get("shows", [])),
                answer=task.get("answer"), inspects=task.get("inspects"),
                compares=list(task.get("compares", [])),
            )
            if "selection" in task:
                plan.selection = {
                    "rule": task["selection"]["rule"],
                    "max_gap": task["selection"]["max_gap"],
                    "candidates": list(task["selection"]["candidates"]),
                    "copy": list(task["selection"]["copy"]),
                    "pinned": bool(task["selection"]["pinned"]),
                    "file": None if task["selection"]["pinned"] else layout.selection_json(self.dataset, task_id),
                }
            parameter_sets = self.expansion.parameter_sets(task_id)
            if parameter_sets is None:
                plan.pending = True
            else:
                plan.entries = self.expansion.entries(parameter_sets)
            self.tasks[task_id] = plan
        self._check_candidates()
        before = [t for t in self.tasks.values() if not self.expansion.after_selection(t.task_id)]
        after = [t for t in self.tasks.values() if self.expansion.after_selection(t.task_id)]
        for training in assign_trainings(before, after, self.share_prefixes):
            self.trainings[training.key] = training

    def _check_candidates(self) -> None:
        for task_id, task in self.tasks.items():
            if task.selection is None:
                continue
            for candidate in task.selection["candidates"]:
                if self.tasks[candidate].pending or candidate == task_id:
                    raise CnnlabError(
                        f"config: tasks.{task_id}.selection.candidates: task {candidate!r} itself "
                        "depends on the selection; candidates must be tasks trained before it."
                    )

    # -- queries the workflow and the report use ---------------------------------------

    @property
    def pending_tasks(self) -> list[str]:
        return [task_id for task_id, task in self.tasks.items() if task.pending]

    @property
    def selections_needed(self) -> list[str]:
        """Tasks whose selection must be made from results before they can be planned."""
        return [
            task_id
            for task_id, task in self.tasks.items()
            if task.selection and task.selection["file"] and task_id not in self.choices
        ]

    def trainings_selections_wait_for(self) -> set[str]:
        """Directories of the trainings that a selection still to be made waits for."""
        return {
            entry.training.directory
            for task_id in self.selections_needed
            for candidate in self.tasks[task_id].selection["candidates"]
            for entry in self.tasks[candidate].entries
        }

    def training(self, dataset: str, run: str, epochs: int | str) -> Training:
        key = layout.training_key(dataset, run, epochs)
        if key not in self.trainings:
            raise KeyError(f"no training {key} in this plan")
        return self.trainings[key]

    def compared_tasks(self, task_id: str) -> list[str]:
        """The earlier tasks whose set-ups the task's question compares it with in a
        parameter (:func:`reference_pairs`): its figure draws them too."""
        asked = set(self.tasks[task_id].compares) - {"epochs"}
        return list(dict.fromkeys(pair.task for pair in reference_pairs(self, task_id)
                                  if pair.factor in asked))

    def history_files(self, task_ids=None) -> list[str]:
        task_ids = list(self.tasks) if task_ids is None else task_ids
        files = {
            entry.training.history_csv
            for task_id in task_ids
            for entry in self.tasks[task_id].entries
        }
        return sorted(files)

    def entries_listed(self) -> int:
        """How many (run, epochs) pairs the tasks list one by one, seeds included."""
        return sum(len(task.entries) for task in self.tasks.values())

    def to_dict(self, task_ids: list[str] | None = None) -> dict:
        """The plan as data (:func:`plan_data`)."""
        return plan_data(self, task_ids)

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        """The plan again from what :meth:`to_dict` wrote: the rules hand the plan to their
        scripts as that data (a parameter, so that a change of the plan reruns them)."""
        plan = cls.__new__(cls)
        plan.config, plan.choices, plan.expansion = None, {}, None
        plan.dataset, plan.seeds = data["dataset"], list(data["seeds"])
        plan.share_prefixes, plan.epoch_divisor = data["share_prefixes"], data["epoch_divisor"]
        plan.trainings = {
            key: Training(RunSpec.from_dict(training["params"]), training["epochs"],
                          list(training["save_epochs"]), training["state_directory"])
            for key, training in data["trainings"].items()
        }
        by_directory = {training.directory: training for training in plan.trainings.values()}
        plan.tasks = {
            task_id: TaskPlan(
                task_id=task_id, title=task["title"], question=task["question"],
                shows=list(task["shows"]), selection=task["selection"], pending=task["pending"],
                answer=task["answer"], inspects=task["inspects"],
                compares=list(task.get("compares", [])),
                entries=[Entry(RunSpec.from_dict(entry["params"]), entry["epochs"],
                               by_directory[entry["training"]]) for entry in task["entries"]],
            )
            for task_id, task in data["tasks"].items()
        }
        return plan


def assign_trainings(before: list[TaskPlan], after: list[TaskPlan],
                     share_prefixes: bool) -> list[Training]:
    """Give every entry a training, one per run where prefixes may be shared.

    Tasks planned after a selection (``after``) never change the trainings planned before
    it: they reuse a training that is long enough, or get a longer one of their own that
    resumes from the run's saved state.
    """
    existing = _add_trainings([e for t in before for e in t.entries], share_prefixes)
    remaining = []
    for entry in (e for t in after for e in t.entries):
        reusable = existing.get(_training_key(entry, share_prefixes))
        if reusable is not None and share_prefixes and reusable.epochs >= entry.epochs:
            entry.training = reusable
        else:
            remaining.append(entry)
    later = _add_trainings(remaining, share_prefixes)
    return [*existing.values(), *later.values()]


def _training_key(entry: Entry, share_prefixes: bool) -> str:
    if share_prefixes:
        return entry.spec.run_id
    return f"{entry.spec.run_id}/{entry.epochs}"


def _add_trainings(entries: list[Entry], share_prefixes: bool) -> dict[str, Training]:
    by_training: dict[str, list[Entry]] = {}
    for entry in entries:
        by_training.setdefault(_training_key(entry, share_prefixes), []).append(entry)
    trainings = {}
    for key, shared in by_training.items():
        spec = shared[0].spec
        epochs = sorted({entry.epochs for entry in shared})
        # with sharing off, each training keeps its own state, so none resumes another's
        state = layout.state_directory(spec.dataset, spec.run_id,
                                       None if share_prefixes else epochs[-1])
        training = Training(spec, epochs[-1], epochs, state)
        for entry in shared:
            entry.training = training
        trainings[key] = training
    return trainings


def plan_data(plan: Plan, task_ids: list[str] | None = None) -> dict:
    """The plan as data; with ``task_ids``, only those tasks and the runs and trainings
    they use, so that editing another task leaves it unchanged."""
    tasks = {
        task_id: task
        for task_id, task in plan.tasks.items()
        if task_ids is None or task_id in task_ids
    }
    trainings = {
        key: training
        for key, training in plan.trainings.items()
        if task_ids is None
        or any(entry.training is training for task in tasks.values() for entry in task.entries)
    }
    return {
        "dataset": plan.dataset,
        "seeds": plan.seeds,
        "share_prefixes": plan.share_prefixes,
        "epoch_divisor": plan.epoch_divisor,
        "tasks": {task_id: task.to_dict() for task_id, task in tasks.items()},
        "runs": {training.run_id: training.spec.to_dict() for training in trainings.values()},
        "trainings": {
            key: dict(training.job_spec(), directory=training.directory,
                      state_directory=training.state_directory)
            for key, training in trainings.items()
        },
    }


def plan_lab(config: dict, choices: dict[str, dict] | None = None) -> Plan:
    """The plan of a checked config, with the selections ``choices`` (task id -> the chosen
    run's parameters) made; the complete plan of a lab folder is cnnlab.plan.complete_plan's."""
    return Plan(config, choices)


def collapsed_epochs(plan: Plan) -> str | None:
    """What ``plan``'s epoch_divisor makes one training of two epoch counts of a run that
    its tasks keep apart (5A's 20 epochs and 5B's 200, both 1 epoch at 1000), said in
    one line with the largest divisor that keeps every count apart; None when it keeps
    all apart."""
    asked: dict[str, set[tuple[int, str]]] = {}  # run id -> (epochs in the config, task)
    for task_id, task in plan.tasks.items():
        if task.pending or plan.expansion is None:
            continue
        for params in plan.expansion.parameter_sets(task_id) or []:
            run_id = RunSpec.from_params(params, plan.dataset, plan.seeds[0]).run_id
            asked.setdefault(run_id, set()).add((int(params["epochs"]), task_id))

    def clash(divisor: int) -> tuple[str, list[tuple[int, str]]] | None:
        for run_id, counts in asked.items():
            by_training: dict[int, list[tuple[int, str]]] = {}
            for epochs, task_id in sorted(counts):
                by_training.setdefault(-(-epochs // divisor), []).append((epochs, task_id))
            for same in by_training.values():
                if len({epochs for epochs, _ in same}) > 1:
                    return run_id, same
        return None

    found = clash(plan.epoch_divisor)
    if found is None:
        return None
    run_id, same = found
    keeps = next(d for d in range(plan.epoch_divisor - 1, 0, -1) if clash(d) is None)
    tasks = " and ".join(f"{task_id} ({epochs} epochs)" for epochs, task_id in same)
    trained = -(-same[0][0] // plan.epoch_divisor)
    return (f"epoch_divisor: {plan.epoch_divisor} makes {tasks} one training of run "
            f"{run_id} ({trained} epoch{'s' * (trained != 1)}): they will show the same "
            f"numbers. Set epoch_divisor to {keeps} (the largest that keeps every count apart).")


class PlanParam:
    """A plan's data (:meth:`Plan.to_dict`) handed to a job as a rule's param (``data``),
    with its ``digest`` for the rule's tracked param.

    Snakemake reruns a job whose params changed, comparing their reprs, and prints both
    reprs when one did: a plan's is pages long (an edited question printed 29 kB). It
    neither tracks nor prints an object of a class of its own, so a rule hands the plan
    over in this and tracks its short digest, which changes whenever the plan does."""

    def __init__(self, data: dict):
        self.data = data

    @property
    def digest(self) -> str:
        text = json.dumps(self.data, sort_keys=True, default=str)
        return "plan sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def reference_pairs(plan: Plan, task_id: str) -> list[ReferencePair]:
    """Each of the task's set-ups (at its most epochs) with an earlier task's set-up one
    factor away: in a factor the task's question asks about (its `compares`), or, for a
    task that asks none and varies no parameter itself, in any. The same set-up at fewer
    epochs in an earlier task is one 'epochs' away. Of several earlier tasks with the
    same set-up, the one at equal epochs, then the latest, then the longest is paired."""
    task = plan.tasks[task_id]
    if task.compares:
        allowed = set(task.compares)
    elif set(task.differs()) - {"epochs"}:
        return []
    else:
        allowed = None  # any factor, for the evidence
    order = list(plan.tasks)
    own: dict[str, Entry] = {}
    for entry in task.entries:
        if entry.spec.setup_id not in own or entry.epochs > own[entry.spec.setup_id].epochs:
            own[entry.spec.setup_id] = entry
    chosen: dict[tuple, tuple] = {}
    for earlier in order[: order.index(task_id)]:
        for probe in plan.tasks[earlier].entries:
            for mine in own.values():
                factors = factors_between(mine.spec.to_dict(), probe.spec.to_dict())
                if not factors and probe.epochs < mine.epochs:
                    factor = "epochs"
                elif len(factors) == 1:
                    factor = factors[0]
                else:
                    continue
                if allowed is not None and factor not in allowed:
                    continue
                if factor != "epochs" and probe.spec.setup_id in own:
                    continue  # one of the task's own set-ups: compared within the task
                key = (mine.spec.setup_id, probe.spec.setup_id, factor)
                rank = (probe.epochs == mine.epochs, order.index(earlier), probe.epochs)
                if key not in chosen or rank > chosen[key][0]:
                    chosen[key] = (rank, ReferencePair(
                        mine.spec.setup_id, mine.epochs, earlier, probe.spec.setup_id,
                        probe.epochs, factor))
    return [pair for _, pair in chosen.values()]
