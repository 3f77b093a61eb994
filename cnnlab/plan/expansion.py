"""A task of the config expanded into its runs' parameter sets: defaults, `like`, the
selection's copied parameters, `set`, `runs` and `sweep`, in that order."""

from __future__ import annotations

import itertools

from cnnlab.errors import CnnlabError
from cnnlab.plan.config import trains
from cnnlab.plan.runs import Entry, RunSpec


class TaskExpansion:
    """Each task's runs as full parameter dicts, from a checked config
    (cnnlab.plan.config.checked_config: the schema's defaults are in it) and the choices
    selected so far (task id -> the chosen run's parameters)."""

    def __init__(self, config: dict, choices: dict[str, dict]):
        self.config = config
        self.choices = choices
        self.dataset = config["dataset"]
        self.seeds = list(config["seeds"])
        self.epoch_divisor = int(config["epoch_divisor"])
        self._resolved: dict[str, list[dict] | None] = {}

    def parameter_sets(self, task_id: str) -> list[dict] | None:
        """The task's runs as full parameter dicts (with epochs), or None while pending."""
        if task_id not in self._resolved:
            self._resolved[task_id] = self._expand(task_id)
        return self._resolved[task_id]

    def entries(self, parameter_sets: list[dict]) -> list[Entry]:
        """One entry per parameter set and seed, at the set's epochs over the divisor."""
        return [Entry(RunSpec.from_params(params, self.dataset, seed), self._epochs(params))
                for params in parameter_sets for seed in self.seeds]

    def entries_before_selection(self, task_id: str) -> list[Entry]:
        """A task's runs as if its selection gave nothing: what it trains besides the copied
        parameters, at its epochs; its selection judges the candidates by them."""
        parameter_sets = self._expand(task_id, with_selection=False)
        if parameter_sets is None:  # `like` waits for a selection too
            raise CnnlabError(f"tasks.{task_id}: its runs before the selection need a task to "
                              "start from that is trained before it.")
        return self.entries(parameter_sets)

    def after_selection(self, task_id: str) -> bool:
        """Whether the task's runs depend on a selection made from results."""
        task = self.config["tasks"][task_id]
        selection = task.get("selection")
        if selection and not selection.get("pinned"):
            return True
        return "like" in task and self.after_selection(task["like"])

    def _expand(self, task_id: str, with_selection: bool = True) -> list[dict] | None:
        task = self.config["tasks"][task_id]
        params = dict(self.config["defaults"])
        if "like" in task:
            liked = self.parameter_sets(task["like"])
            if liked is None:
                return None
            if not liked:
                raise CnnlabError(f"config: tasks.{task_id}.like: task {task['like']!r} has no "
                                  "runs to start from.")
            params.update(liked[0])
        if "selection" in task and with_selection:
            chosen = self._chosen_parameters(task_id, task["selection"])
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

    def _chosen_parameters(self, task_id: str, selection: dict) -> dict | None:
        pinned = selection.get("pinned")
        if pinned:
            missing = [name for name in selection["copy"] if name not in pinned]
            if missing:
                raise CnnlabError(
                    f"config: tasks.{task_id}.selection.pinned: lacks {', '.join(missing)}; "
                    f"a pinned selection gives every parameter in copy ({', '.join(selection['copy'])})."
                )
            return {name: pinned[name] for name in selection["copy"]}
        if task_id in self.choices:
            chosen = self.choices[task_id]
            return {name: chosen[name] for name in selection["copy"]}
        return None
