# The plan of the lab (tasks -> runs -> trainings) and the input functions of the rules.

import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from cnnlab.config import check_config
from cnnlab.errors import CnnlabError
from cnnlab.grid import plan_lab, selection_json
from cnnlab.selection import read_optima

try:
    # our own check first: one line that names the key, instead of a schema dump
    check_config(config, source=" + ".join(str(f) for f in reversed(workflow.configfiles)))
    PLAN = plan_lab(config)
except CnnlabError as error:
    sys.exit(f"cnnlab: {error}")
validate(config, "../schemas/config.schema.yaml")


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    run_id=r"[^/]+",
    epochs=r"\d+",
    task=r"[A-Za-z0-9][A-Za-z0-9_-]*",


def complete_plan():
    """The plan with every selection made; asking for it waits for the checkpoints."""
    selections = {}
    for task_id in PLAN.selections_needed:
        selections[task_id] = checkpoints.select_optimum.get(task=task_id).output[0]
    if not selections:
        return PLAN
    return plan_lab(config, read_optima(selections))


def planned_training(wildcards):
    """The training a train job's wildcards name, looked up before any selection first."""
    key = f"{wildcards.dataset}/{wildcards.run_id}/e{wildcards.epochs}"
    if key in PLAN.trainings:
        return PLAN.trainings[key]
    trainings = complete_plan().trainings
    if key not in trainings:
        raise WorkflowError(f"{key} is not a training of this lab's plan (see config.yaml).")
    return trainings[key]


def training_job_spec(wildcards):
    return planned_training(wildcards).job_spec()


def training_state_directory(wildcards):
    return planned_training(wildcards).state_directory


def training_threads(wildcards):
    return planned_training(wildcards).spec.threads


def training_memory_mb(wildcards, attempt):
    # a retry after running out of memory gets more
    return 1500 * attempt


def training_runtime_minutes(wildcards, attempt):
    return 240 * attempt


def complete_plan_as_dict(wildcards):
    return complete_plan().to_dict()


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def dataset_image_size(wildcards):
    return config["datasets"][wildcards.dataset].get("image_size", 128)


def candidate_histories(wildcards):
    candidates = PLAN.tasks[wildcards.task].optimum["candidates"]
    return PLAN.history_files(candidates)


def optimum_config(wildcards):
    return config["tasks"][wildcards.task]["optimum"]


def histories_before_selection(wildcards):
    return PLAN.history_files()


def histories_after_selection(wildcards):
    """Histories that only a selection can name; asking for them waits for it."""
    return sorted(set(complete_plan().history_files()) - set(PLAN.history_files()))
