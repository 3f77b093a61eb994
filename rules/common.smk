# The plan of the lab (tasks -> runs -> trainings) and the input functions of the rules.

import sys
from pathlib import Path

from snakemake.logging import logger as snakemake_logger

from cnnlab.store import layout
from cnnlab.workflow import cluster, damaged, snakemake_process
from cnnlab.plan import concept_models
from cnnlab.plan.config import check_unique_keys, checked_config, in_lab_order
from cnnlab.plan.scheduling import (
    check_memory,
    estimated_model_mb,
    estimated_seconds,
    training_priority,
)
from cnnlab.train.devices import cuda_tensorflow_installed, training_gpus, visible_gpus
from cnnlab.errors import CnnlabError
from cnnlab.plan.plan import PlanParam, collapsed_epochs, plan_lab
from cnnlab.plan.complete_plan import complete_plan, unplanned_target, unplanned_training
from cnnlab.data.prepare import check_dataset

try:
    # workflow.configfiles lists the command line's files first and the Snakefile's own
    # (config.yaml) after them, though config.yaml applies first: name them in that order
    given = list(workflow.overwrite_configfiles)
    config_files = [*workflow.configfiles[len(given) :], *given]
    # Snakemake has loaded them already, keeping the last of a key given twice
    check_unique_keys(*config_files)
    in_lab_order(config, *config_files)
    # one check, first: one line that names the key, instead of a schema dump; it fills in
    # the schema's defaults in place, so everything below reads them from `config`
    # --config key=value pairs apply last of all
    given_values = ["--config"] if workflow.config_settings.config else []
    checked_config(config, source=" + ".join([*map(str, config_files), *given_values]))
    # the plan before any selection: what Snakemake can know when it starts
    PLAN = plan_lab(config)
    concept_models.check_concepts(PLAN)  # a concept answer with no model to inspect stops here
    check_memory(PLAN, config)
    check_dataset(config["datasets"][PLAN.dataset], f"datasets.{PLAN.dataset}")
    COLLAPSED = collapsed_epochs(PLAN)  # said, not refused: a quick try of the lab may mean it
    if COLLAPSED and workflow.is_main_process:
        print(f"cnnlab: warning: {COLLAPSED}", file=sys.stderr)
except CnnlabError as error:
    sys.exit(f"cnnlab: {error}")


def check_outputs_at_start():
    """Damaged outputs moved aside before Snakemake plans the jobs, so that this run makes
    them again (cnnlab.workflow.damaged); only in the run the user started (not in a job's own
    Snakemake on a cluster node), never in a command that runs no job, and in a dry run
    only said. A folder locked by another Snakemake is left alone and the lock explained."""
    if not workflow.is_main_process or snakemake_process.runs_no_job(sys.argv):
        return
    dry_run = workflow.output_settings.dryrun
    if not dry_run:
        lock = snakemake_process.lock_advice()
        if lock:
            print(lock, file=sys.stderr)
            return
    selections = [
        layout.selection_json(PLAN.dataset, task_id) for task_id in PLAN.selections_needed
    ]
    try:
        lines = damaged.set_aside_damaged(selections, dry_run=dry_run, plan=PLAN)
    except OSError as error:
        sys.exit(
            f"cnnlab: {error.filename}: cannot move a damaged output aside "
            f"({error.strerror}); move or delete it yourself, then run again."
        )
    for line in lines:
        print(line, file=sys.stderr)


check_outputs_at_start()


# on SLURM, a refused submission is said in SLURM's words, without the whole sbatch command
cluster.shorten_sbatch_refusals(snakemake_logger)


onstart:
    # on SLURM, what no retry can change (a partition that does not exist, memory beyond
    # every node, a controller that does not answer) is said once, before any submission
    plugin = workflow.executor_plugin
    if plugin is not None and plugin.name.endswith("slurm"):
        refusal = cluster.slurm_refusal(
            (job.rule.name, dict(job.resources.items())) for job in workflow.dag.needrun_jobs()
        )
        if refusal:
            sys.exit(f"cnnlab: {refusal}")


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    run_id=r"[^/]+",
    epochs=r"\d+",
    task=r"[A-Za-z0-9][A-Za-z0-9_-]*",


def selected_plan():
    """The plan with every selection made (cnnlab.plan.complete_plan.complete_plan); asking for it
    waits for the selections' checkpoints. A dry run plans past a damaged selection as if
    it chose its first candidate (its start-up line says a real run makes it again)."""
    if not PLAN.selections_needed:
        return PLAN
    for task_id in PLAN.selections_needed:
        checkpoints.select_setup.get(dataset=PLAN.dataset, task=task_id)
    return complete_plan(config, stand_in=workflow.output_settings.dryrun)


def training_key(wildcards):
    return layout.training_key(wildcards.dataset, wildcards.run_id, wildcards.epochs)


def planned_training(wildcards):
    """The training a train job's wildcards name, looked up before any selection first."""
    key = training_key(wildcards)
    if key in PLAN.trainings:
        return PLAN.trainings[key]
    trainings = selected_plan().trainings
    if key not in trainings:
        problem = unplanned_training(
            trainings, wildcards.dataset, wildcards.run_id, wildcards.epochs
        )
        sys.exit(f"cnnlab: {problem}")
    return trainings[key]


def check_planned(wildcards):
    """A target that no selection could make a training of this plan (another
    epoch_divisor's file, a mistyped run id) stops here, in one line naming the nearest
    planned training, before Snakemake asks its other functions about it."""
    problem = unplanned_target(PLAN, wildcards.dataset, wildcards.run_id, wildcards.epochs)
    if problem:
        sys.exit(f"cnnlab: {problem}")


def training_selections(wildcards):
    """A training planned after a selection declares it as input: a job on a cluster node
    plans the workflow again, and may only read a checkpoint it depends on."""
    check_planned(wildcards)
    if training_key(wildcards) in PLAN.trainings:
        return []
    return [layout.selection_json(PLAN.dataset, task_id) for task_id in PLAN.selections_needed]


def training_job_spec(wildcards):
    return planned_training(wildcards).job_spec()


def training_state_directory(wildcards):
    return planned_training(wildcards).state_directory


def training_threads(wildcards):
    return planned_training(wildcards).spec.threads


# a selection (seconds) starts before any training, so what it unlocks can start early
SELECTION_PRIORITY = 10**8


def training_job_priority(wildcards):
    """cnnlab.plan.scheduling.training_priority of the job's training."""
    dataset = config["datasets"][wildcards.dataset]
    return training_priority(
        PLAN, planned_training(wildcards), dataset["image_size"], dataset.get("n_train", 1000)
    )


# a training job's gpu resource: 1 where trainings run on a GPU (each job then holds one:
# cnnlab.train.devices), else 0; decided once, where the workflow runs (a cluster's jobs get
# theirs from the scheduler)
TRAINING_GPUS = training_gpus(
    config["training_device"], visible_gpus(), cuda_tensorflow_installed()
)


def training_memory_mb(wildcards, input, attempt):
    """TensorFlow's own ~1 GB plus the arrays (held as NumPy arrays and as tensors) plus
    the model (cnnlab.plan.scheduling: weights, gradients, optimizer state, a batch's activations);
    a retry, after running out of memory or being killed, gets twice, three times..."""
    model_mb = estimated_model_mb(planned_training(wildcards).spec, dataset_image_size(wildcards))
    # a retry asks for no more than the largest node has (SLURM would refuse it)
    return cluster.capped_memory_mb((1500 + 3 * int(input.size_mb) + int(model_mb)) * attempt)


def training_runtime_minutes(wildcards, input, attempt):
    """Wall time per attempt: four times cnnlab.plan.scheduling's estimate (fitted on one core of a
    fast CPU; a slower node must fit), at least 30 minutes. The images are counted from
    the prepared arrays (float32, train and test), so a folder data set is counted too.
    A training killed at its limit is resubmitted with twice, then three times as much and
    resumes from its last finished epoch (cnnlab.train.training): the time spent is not lost."""
    size = dataset_image_size(wildcards)
    images = max(1, round(input.size_mb * 2**20 / (4 * size * size)))
    training = planned_training(wildcards)
    seconds = estimated_seconds(training.spec, training.epochs, size, images)
    # a retry asks for no more than the cluster's time limit (SLURM would refuse it)
    return cluster.capped_minutes(max(30, -(-4 * int(seconds) // 60)) * attempt)


# each plan param is handed over untracked (cnnlab.plan.plan.PlanParam), beside its digest
def selected_plan_param(wildcards):
    return PlanParam(selected_plan().to_dict())


def selected_plan_digest(wildcards):
    return selected_plan_param(wildcards).digest


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def dataset_image_size(wildcards):
    return config["datasets"][wildcards.dataset]["image_size"]


def candidate_files(wildcards):
    """What a selection reads: each candidate training's history.csv and predictions.npz."""
    from cnnlab.plan import selection  # the module that reads them spells their names

    return selection.candidate_files(PLAN, wildcards.task)


def selection_config(wildcards):
    return config["tasks"][wildcards.task]["selection"]


def plan_for_task(task_id):
    """The plan before selection where it knows the task, so its jobs need not wait."""
    return selected_plan() if PLAN.tasks[task_id].pending else PLAN


def task_plan_param(wildcards):
    """The plan of a task, the tasks it shows and those its comparisons reach into: editing
    another task redraws nothing."""
    plan = plan_for_task(wildcards.task)
    return PlanParam(
        plan.to_dict(
            [
                wildcards.task,
                *plan.tasks[wildcards.task].shows,
                *plan.compared_tasks(wildcards.task),
            ]
        )
    )


def task_plan_digest(wildcards):
    return task_plan_param(wildcards).digest


def task_figure_inputs(wildcards):
    return layout.task_inputs(plan_for_task(wildcards.task), wildcards.task)


def manifest_json(wildcards):
    return layout.manifest_json(PLAN.dataset)


def prepared_arrays(wildcards):
    return layout.arrays_npz(PLAN.dataset)


def concept_plan(task_id):
    """The plan of a concept figure: after the selection where a task it reads waits for
    one (5G reads 6F's hinge run)."""
    related = concept_models.related_tasks(PLAN, task_id)
    return selected_plan() if any(PLAN.tasks[name].pending for name in related) else PLAN


def concept_plan_param(wildcards):
    plan = concept_plan(wildcards.task)
    return PlanParam(plan.to_dict(concept_models.related_tasks(plan, wildcards.task)))


def concept_plan_digest(wildcards):
    return concept_plan_param(wildcards).digest


def concept_figure_inputs(wildcards):
    """What the concept figure of the task's `answer` kind reads (cnnlab.plan.concept_models); a model's
    weights as its folder, which is the train job's output."""
    return concept_models.concept_inputs(concept_plan(wildcards.task), wildcards.task)


def report_training_files(wildcards):
    return layout.report_inputs(PLAN)


def report_training_files_after_selection(wildcards):
    """Training files that only a selection can name; asking for them waits for it."""
    before = set(layout.report_inputs(PLAN))
    return sorted(set(layout.report_inputs(selected_plan())) - before)


def selection_files(wildcards):
    return layout.selection_inputs(PLAN)


def figure_files(wildcards):
    return layout.figure_inputs(PLAN)


def roc_figure_files(wildcards):
    return layout.roc_inputs(PLAN)


def concept_figure_files(wildcards):
    return concept_models.concept_figure_files(PLAN)


def concept_stats_files(wildcards):
    return concept_models.concept_stats_files(PLAN)


def report_directory(wildcards):
    return str(Path(workflow.basedir, "report"))


def report_templates(wildcards):
    return sorted(
        str(path) for path in Path(report_directory(wildcards)).rglob("*") if path.is_file()
    )
