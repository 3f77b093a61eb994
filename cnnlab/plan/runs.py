"""A run, a training and a task as the plan holds them: what a training job receives.

A :class:`RunSpec` is every parameter that changes a training's numbers but the epochs, and
names the run (:func:`run_id`); an :class:`Entry` is one curve a task shows; a
:class:`Training` is one Snakemake job, written for the job by :meth:`Training.job_spec` and
read back, once, by :meth:`Training.from_job_spec`; a :class:`TaskPlan` is one task's part
of the plan (cnnlab.plan.plan).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
    # oneDNN's kernels (auto, on, off): they change the numbers in their last digits, as the
    # thread count does. `auto`, the default, is left out of the run's id and parameters,
    # so that every run keeps the id and the job spec it had before the setting existed
    onednn: str = "auto"

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
            onednn=onednn_setting(params.get("onednn", "auto")),
        )

    @property
    def run_id(self) -> str:
        return run_id(self)

    @property
    def setup_id(self) -> str:
        """The run id without its seed: what the seeds of one set-up share."""
        return run_id(self, with_seed=False)

    def to_dict(self) -> dict:
        params = asdict(self)
        params["dense"] = list(self.dense)
        if self.onednn == "auto":
            del params["onednn"]
        return params

    @classmethod
    def from_dict(cls, params: dict) -> RunSpec:
        """The spec again from :meth:`to_dict`'s data."""
        return cls(**dict(params, dense=tuple(params["dense"])))


def onednn_setting(value) -> str:
    """``auto``, ``on`` or ``off`` from a config's value: YAML reads a bare ``on`` and
    ``off`` as true and false."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


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
    one thread, float32, oneDNN auto) are left out; the data set names the folder the run lies in.
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
    if spec.onednn != "auto":
        parts.append(f"onednn{spec.onednn}")
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
            "setup_id": self.spec.setup_id,
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
    def key(self) -> str:
        """Its name in :attr:`cnnlab.plan.plan.Plan.trainings`."""
        return layout.training_key(self.spec.dataset, self.run_id, self.epochs)

    @property
    def history_csv(self) -> str:
        return layout.history_csv(self.directory)

    @property
    def predictions_npz(self) -> str:
        return layout.predictions_npz(self.directory)

    def job_spec(self) -> dict:
        """What scripts/train.py receives (a rule's parameter, so that a change reruns the
        job): everything the job needs, as plain data; :meth:`from_job_spec` reads it."""
        return {
            "run_id": self.run_id,
            "params": self.spec.to_dict(),
            "epochs": self.epochs,
            "save_epochs": list(self.save_epochs),
        }

    @classmethod
    def from_job_spec(cls, data: dict, state_directory: str) -> Training:
        """The training :meth:`job_spec` wrote, trusted as the plan made it (the schema
        and the plan checked every value); its run id follows from its parameters."""
        return cls(RunSpec.from_dict(data["params"]), int(data["epochs"]),
                   list(data["save_epochs"]), str(state_directory))


#: parameters that never make two set-ups different experiments
NOT_FACTORS = ("dataset", "seed")


def factors_between(a: dict, b: dict) -> list[str]:
    """The run parameters in which two set-ups differ (dicts of :meth:`RunSpec.to_dict`);
    another model is one factor, the architecture, whatever its n_base and dense widths."""
    factors = [name for name in a if name not in NOT_FACTORS
               and str(a.get(name)) != str(b.get(name))]
    if "model" in factors:
        factors = [name for name in factors if name not in ("n_base", "dense")]
    return factors


@dataclass
class TaskPlan:
    task_id: str
    title: str
    question: str
    shows: list[str]
    entries: list[Entry] = field(default_factory=list)
    selection: dict | None = None
    pending: bool = False
    answer: str | None = None  # the kind of concept answer (config: tasks.<id>.answer)
    inspects: str | None = None  # the task whose trained model that answer inspects
    compares: list[str] = field(default_factory=list)  # the factors its question asks about

    @property
    def kind(self) -> str:
        return "concept" if self.shows and not self.entries and not self.pending else "train"

    def differs(self) -> list[str]:
        """Parameter names whose value is not the same in all of this task's runs."""
        if not self.entries:
            return []
        rows = [dict(entry.spec.to_dict(), epochs=entry.epochs) for entry in self.entries]
        # a parameter at its default may be absent from a run's (`onednn: auto`)
        names = list(dict.fromkeys(name for row in rows for name in row))
        names = [name for name in names if name not in NOT_FACTORS]
        return [name for name in names if len({str(row.get(name)) for row in rows}) > 1]

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "question": self.question,
            "kind": self.kind,
            "shows": list(self.shows),
            "entries": [entry.to_dict() for entry in self.entries],
            "differs": self.differs(),
            "pending": self.pending,
            "selection": self.selection,
            "answer": self.answer, "inspects": self.inspects,
            "compares": list(self.compares),
        }
