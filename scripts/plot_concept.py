"""Snakemake entry point: the figure of a task's concept answer, as a PNG, and its numbers
as JSON (cnnlab.report.concept_figures, by the task's `answer` kind), the trained model
loaded by the training wing (cnnlab.train.models.trained_model)."""

from cnnlab.train import runtime
from cnnlab.train.devices import pin_training_device
from cnnlab.workflow.entrypoint import run_entrypoint


def main(snakemake, log) -> None:
    # before Keras is imported: no GPU (the rule declares none; no CUDA probing on a CPU
    # node), and TensorFlow's thread pools fixed to the job's threads, so a layer's
    # features (dense1 sums over every conv feature) are the same on any node
    pin_training_device(0)
    runtime.configure(threads=snakemake.threads or 1)
    from cnnlab.report.concept_figures import write_concept_figure
    from cnnlab.train.models import trained_model  # the report wing never imports training

    task_id = snakemake.wildcards.task
    png = write_concept_figure(snakemake.params.plan.data, task_id, snakemake.output.png,
                               snakemake.output.stats, load_model=trained_model)
    log(f"{task_id}: wrote {png} from {', '.join(snakemake.input.files)}")


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0] if snakemake.log else None,  # noqa: F821
)
