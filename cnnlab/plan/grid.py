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

import itertools
from dataclasses import asdict, dataclass, field

from cnnlab.errors import CnnlabError
from cnnlab.plan.config import trains
from cnnlab.store import layout

DEFAULT_DENSE = {"lenet": (64,), "alexnet": (64, 64), "mlp": (64,)}


@dataclass(frozen=True)
class RunSpec:
    """Every parameter that changes a training's numbers, except the number of epochs."""

    dataset: str
    model: str
    n_base: int
    dense: tuple[int, ...]
    dropout: float
    optimizer: str
    lr: float
    batch_size: int
    loss: str
    seed: int
    threads: int
    precision: str

    @classmethod
    def from_params(cls, params: dict, dataset: str, seed: int) -> RunSpec:
        model = params["model"]
        dense = tuple(params.get("dense") or DEFAULT_DENSE[model])
        return cls(
            dataset=dataset,
            model=model,
            # the MLP has no convolutions: its n_base must not split otherwise equal runs
            n_base=0 if model == "mlp" else int(params["n_base"]),
            dense=dense,
            dropout=float(params["dropout"]),
            optimizer=params["optimizer"],
            lr=float(params["lr"]),
            batch_size=int(params["batch_size"]),
            loss=params["loss"],
            seed=int(seed),
            threads=int(params["threads"]),
            precision=params["precision"],
        )

    @property
    def run_id(self) -> str:
        return run_id(self)

    @property
    def variant(self) -> str:
        """The run id without its seed: what replicates of one set-up share."""
        return run_id(self, with_seed=False)

    def to_dict(self) -> dict:
        params = asdict(self)
        params["dense"] = list(self.dense)
        return params

    @classmethod
    def from_dict(cls, params: dict) -> RunSpec:
        """The spec again from :meth:`to_dict`'s data."""
        return cls(**dict(params, dense=tuple(params["dense"])))


def format_number(value: float) -> str:
    """1e-05 -> '1e-05', 0.0001 -> '1e-04', 2.5e-4 -> '2.5e-04', 0.4 -> '0.4'."""
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:g}"
    mantissa, exponent = f"{value:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{exponent}"


def run_id(spec: RunSpec, with_seed: bool = True) -> str:
    """A readable id, stable across machines and safe as a file name.

    Parameters at their built-in defaults (dense widths of the model, no dropout,
    one thread, float32) are left out; the data set names the folder the run lies in.
    """
    parts = [spec.model]
    if spec.model != "mlp":
        parts.append(f"nb{spec.n_base}")
    if spec.dense != DEFAULT_DENSE[spec.model]:
        parts.append("d" + "x".join(str(width) for width in spec.dense))
    if spec.dropout:
        parts.append(f"do{format_number(spec.dropout)}")
    parts += [f"lr{format_number(spec.lr)}", f"bs{spec.batch_size}", spec.optimizer, spec.loss]
    if spec.threads != 1:
        parts.append(f"t{spec.threads}")
    if spec.precision != "float32":  # `auto` stays auto: the same id on every machine
        parts.append("bf16" if spec.precision == "mixed_bfloat16" else spec.precision)
    if with_seed:
        parts.append(f"s{spec.seed}")
    return "-".join(parts)


@dataclass
class Entry:
    """One curve a task shows: a run at an epoch count, read from a training."""

    spec: RunSpec
    epochs: int
    training: Training | None = None

    def to_dict(self) -> dict:
        return {
            "run_id": self.spec.run_id,
            "variant": self.spec.variant,
            "seed": self.spec.seed,
            "epochs": self.epochs,
            "training": self.training.directory if self.training else None,
            "trained_epochs": self.training.epochs if self.training else None,
            "params": self.spec.to_dict(),
        }


@dataclass
class Training:
    """One Snakemake training job: a run trained to `epochs`, weights at `save_epochs`."""

    spec: RunSpec
    epochs: int
    save_epochs: list[int]
    state_directory: str

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    @property
    def directory(self) -> str:
        return layout.training_directory(self.spec.dataset, self.run_id, self.epochs)

    @property
    def history_csv(self) -> str:
        return f"{self.directory}/history.csv"

    @property
    def predictions_npz(self) -> str:
        return f"{self.directory}/predictions.npz"

    def job_spec(self) -> dict:
        """What scripts/train.py receives: everything the job needs, as plain data."""
        return {
            "run_id": self.run_id,
            "params": self.spec.to_dict(),
            "epochs": self.epochs,
            "save_epochs": list(self.save_epochs),
        }


@dataclass
class TaskPlan:
    task_id: str
    title: str
    question: str
    shows: list[str]
    entries: list[Entry] = field(default_factory=list)
    optimum: dict | None = None
    pending: bool = False
    answer: str | None = None  # the kind of concept answer (config: tasks.<id>.answer)
    inspects: str | None = None  # the task whose trained model that answer inspects

    @property
    def kind(self) -> str:
        return "concept" if self.shows and not self.entries and not self.pending else "train"

    def differs(self) -> list[str]:
        """Parameter names whose value is not the same in all of this task's runs."""
        if not self.entries:
            return []
        rows = [dict(entry.spec.to_dict(), epochs=entry.epochs) for entry in self.entries]
        names = [name for name in rows[0] if name not in ("dataset", "seed")]
        return [name for name in names if len({str(row[name]) for row in rows}) > 1]

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "question": self.question,
            "kind": self.kind,
            "shows": list(self.shows),
            "entries": [entry.to_dict() for entry in self.entries],
            "differs": self.differs(),
            "pending": self.pending,
            "optimum": self.optimum,
            "answer": self.answer, "inspects": self.inspects,
        }


class Plan:
    """The tasks of a config expanded into runs and trainings."""

    def __init__(self, config: dict, optima: dict[str, dict] | None = None):
        self.config = config
        self.dataset = config["dataset"]
        # a checked config (cnnlab.plan.config.checked_config): the schema's defaults are in it
        self.seeds = list(config["seeds"])
        self.share_prefixes = bool(config["share_prefixes"])
        self.epoch_divisor = int(config["epoch_divisor"])
        self.optima = dict(optima or {})
        self._resolved: dict[str, list[dict] | None] = {}
        self.tasks: dict[str, TaskPlan] = {}
        self.trainings: dict[str, Training] = {}
        self._plan()

    # -- expansion of one task into parameter sets ------------------------------------

    def task_parameter_sets(self, task_id: str) -> list[dict] | None:
        """The task's runs as full parameter dicts (with epochs), or None while pending."""
        if task_id not in self._resolved:
            self._resolved[task_id] = self._expand_task(task_id)
        return self._resolved[task_id]

    def _expand_task(self, task_id: str, with_optimum: bool = True) -> list[dict] | None:
        task = self.config["tasks"][task_id]
        params = dict(self.config["defaults"])
        if "like" in task:
            liked = self.task_parameter_sets(task["like"])
            if liked is None:
                return None
            if not liked:
                raise CnnlabError(f"config: tasks.{task_id}.like: task {task['like']!r} has no "
                                  "runs to start from.")
            params.update(liked[0])
        if "optimum" in task and with_optimum:
            chosen = self._chosen_parameters(task_id, task["optimum"])
            if chosen is None:
                return None
            params.update(chosen)
        params.update(task.get("set", {}))
        if not trains(task):
            return []
        sweep = task.get("sweep", {})
        combinations = [dict(zip(sweep, values)) for values in itertools.product(*sweep.values())]
        return [
            {**params, **run, **combination}
            for run in task.get("runs", [{}])
            for combination in combinations
        ]

    def _epochs(self, params: dict) -> int:
        return -(-int(params["epochs"]) // self.epoch_divisor)

    def entries_before_optimum(self, task_id: str) -> list[Entry]:
        """A task's runs as if its optimum gave nothing: what it trains besides the copied
        parameters, at its epochs; its selection judges the candidates by them."""
        parameter_sets = self._expand_task(task_id, with_optimum=False) if self.config else None
        if parameter_sets is None:  # read back without its config, or `like` waits too
            raise CnnlabError(f"tasks.{task_id}: its runs before the optimum need the config "
                              "and a task to start from that is trained before it.")
        return [Entry(RunSpec.from_params(params, self.dataset, seed), self._epochs(params))
                for params in parameter_sets for seed in self.seeds]

    def _chosen_parameters(self, task_id: str, optimum: dict) -> dict | None:
        pinned = optimum.get("pinned")
        if pinned:
            missing = [name for name in optimum["copy"] if name not in pinned]
            if missing:
                raise CnnlabError(
                    f"config: tasks.{task_id}.optimum.pinned: lacks {', '.join(missing)}; "
                    f"a pinned optimum gives every parameter in copy ({', '.join(optimum['copy'])})."
                )
            return {name: pinned[name] for name in optimum["copy"]}
        if task_id in self.optima:
            chosen = self.optima[task_id]
            return {name: chosen[name] for name in optimum["copy"]}
        return None

    # -- the plan ---------------------------------------------------------------------

    def _plan(self) -> None:
        for task_id, task in self.config["tasks"].items():
            plan = TaskPlan(
                task_id=task_id,
                title=task["title"],
                question=task["question"],
                shows=list(task.get("shows", [])),
                answer=task.get("answer"), inspects=task.get("inspects"),
            )
            if "optimum" in task:
                plan.optimum = {
                    "rule": task["optimum"]["rule"],
                    "max_gap": task["optimum"]["max_gap"],
                    "candidates": list(task["optimum"]["candidates"]),
                    "copy": list(task["optimum"]["copy"]),
                    "pinned": bool(task["optimum"]["pinned"]),
                    "selection": None if task["optimum"]["pinned"] else layout.selection_json(task_id),
                }
            parameter_sets = self.task_parameter_sets(task_id)
            if parameter_sets is None:
                plan.pending = True
            else:
                plan.entries = [
                    Entry(RunSpec.from_params(params, self.dataset, seed), self._epochs(params))
                    for params in parameter_sets
                    for seed in self.seeds
                ]
            self.tasks[task_id] = plan
        self._check_candidates()
        self._assign_trainings()

    def _check_candidates(self) -> None:
        for task_id, task in self.tasks.items():
            if task.optimum is None:
                continue
            for candidate in task.optimum["candidates"]:
                if self.tasks[candidate].pending or candidate == task_id:
                    raise CnnlabError(
                        f"config: tasks.{task_id}.optimum.candidates: task {candidate!r} itself "
                        "depends on the selection; candidates must be tasks trained before it."
                    )

    def _after_selection(self, task_id: str) -> bool:
        """Whether the task's runs depend on a selection made from results."""
        task = self.config["tasks"][task_id]
        optimum = task.get("optimum")
        if optimum and not optimum.get("pinned"):
            return True
        return "like" in task and self._after_selection(task["like"])

    def _assign_trainings(self) -> None:
        """Give every entry a training, one per run where prefixes may be shared.

        Tasks planned after a selection never change the trainings planned before it:
        they reuse a training that is long enough, or get a longer one of their own
        that resumes from the run's saved state.
        """
        before = [t for t in self.tasks.values() if not self._after_selection(t.task_id)]
        after = [t for t in self.tasks.values() if self._after_selection(t.task_id)]
        existing = self._add_trainings([e for t in before for e in t.entries], {})
        remaining = []
        for entry in (e for t in after for e in t.entries):
            reusable = existing.get(self._training_key(entry))
            if reusable is not None and self.share_prefixes and reusable.epochs >= entry.epochs:
                entry.training = reusable
            else:
                remaining.append(entry)
        self._add_trainings(remaining, {})

    def _training_key(self, entry: Entry) -> str:
        if self.share_prefixes:
            return entry.spec.run_id
        return f"{entry.spec.run_id}/{entry.epochs}"

    def _add_trainings(self, entries: list[Entry], by_key: dict) -> dict[str, Training]:
        groups: dict[str, list[Entry]] = {}
        for entry in entries:
            groups.setdefault(self._training_key(entry), []).append(entry)
        for key, group in groups.items():
            spec = group[0].spec
            epochs = sorted({entry.epochs for entry in group})
            # with sharing off, each training keeps its own state, so none resumes another's
            state = layout.state_directory(spec.dataset, spec.run_id)
            if not self.share_prefixes:
                state += f"/e{epochs[-1]}"
            training = Training(spec, epochs[-1], epochs, state)
            self.trainings[f"{spec.dataset}/{spec.run_id}/e{training.epochs}"] = training
            for entry in group:
                entry.training = training
            by_key[key] = training
        return by_key

    # -- queries the workflow and the report use ---------------------------------------

    @property
    def pending_tasks(self) -> list[str]:
        return [task_id for task_id, task in self.tasks.items() if task.pending]

    @property
    def selections_needed(self) -> list[str]:
        """Tasks whose optimum must be selected from results before they can be planned."""
        return [
            task_id
            for task_id, task in self.tasks.items()
            if task.optimum and task.optimum["selection"] and task_id not in self.optima
        ]

    def trainings_selections_wait_for(self) -> set[str]:
        """Directories of the trainings that a selection still to be made waits for."""
        return {
            entry.training.directory
            for task_id in self.selections_needed
            for candidate in self.tasks[task_id].optimum["candidates"]
            for entry in self.tasks[candidate].entries
        }

    def training(self, dataset: str, run: str, epochs: int | str) -> Training:
        key = f"{dataset}/{run}/e{epochs}"
        if key not in self.trainings:
            raise KeyError(f"no training {key} in this plan")
        return self.trainings[key]

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
        """The plan as data; with ``task_ids``, only those tasks and the runs and
        trainings they use, so that editing another task leaves it unchanged."""
        tasks = {
            task_id: task
            for task_id, task in self.tasks.items()
            if task_ids is None or task_id in task_ids
        }
        trainings = {
            key: training
            for key, training in self.trainings.items()
            if task_ids is None
            or any(entry.training is training for task in tasks.values() for entry in task.entries)
        }
        return {
            "dataset": self.dataset,
            "seeds": self.seeds,
            "share_prefixes": self.share_prefixes,
            "epoch_divisor": self.epoch_divisor,
            "tasks": {task_id: task.to_dict() for task_id, task in tasks.items()},
            "runs": {training.run_id: training.spec.to_dict() for training in trainings.values()},
            "trainings": {
                key: dict(training.job_spec(), directory=training.directory,
                          state_directory=training.state_directory)
                for key, training in trainings.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        """The plan again from what :meth:`to_dict` wrote: the rules hand the plan to their
        scripts as that data (a parameter, so that a change of the plan reruns them)."""
        plan = cls.__new__(cls)
        plan.config, plan.optima, plan._resolved = None, {}, {}
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
                shows=list(task["shows"]), optimum=task["optimum"], pending=task["pending"],
                answer=task["answer"], inspects=task["inspects"],
                entries=[Entry(RunSpec.from_dict(entry["params"]), entry["epochs"],
                               by_directory[entry["training"]]) for entry in task["entries"]],
            )
            for task_id, task in data["tasks"].items()
        }
        return plan


def plan_lab(config: dict, optima: dict[str, dict] | None = None) -> Plan:
    return Plan(config, optima)
