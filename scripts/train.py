"""Snakemake entry point: one training of a run (cnnlab.train.training.train).

Reads ``snakemake.params.spec`` (cnnlab.plan.runs.Training.job_spec's data, read back once
by Training.from_job_spec),
``snakemake.input.arrays``, ``snakemake.output.history`` (its folder is the training's
output folder), ``snakemake.params.state_dir`` and ``snakemake.log[0]``.

The TensorFlow runtime (thread count, log level, KERAS_HOME, determinism) is configured
before anything imports TensorFlow: the thread count must be fixed before the first op
and changes the numbers. TensorFlow's native stderr lines (oneDNN notices and the like)
go to the job's log; Python's stderr stays on the console for a one-line error message
and, when the training has ended, a line with the lab's progress and time left.
"""

import sys
from pathlib import Path

from cnnlab.plan.runs import Training
from cnnlab.store.heartbeat import Heartbeat
from cnnlab.train import runtime
from cnnlab.workflow.entrypoint import run_entrypoint


def main(snakemake, log) -> None:
    training = Training.from_job_spec(snakemake.params.spec, snakemake.params.state_dir)
    threads = training.spec.threads
    history_csv = Path(snakemake.output.history)
    # `cnnlab status` shows the job as training from now on (cnnlab.store.heartbeat)
    beat = Heartbeat.of_job(training.run_id, training.epochs, history_csv.parent,
                            training.state_directory)
    beat.announce()
    # one GPU of its own, or none (the job's gpu resource), before TensorFlow is imported
    runtime.configure_training_process(threads, native_log=Path(snakemake.log[0]),
                                       gpus=int(getattr(snakemake.resources, "gpu", 0)),
                                       log=log, onednn=training.spec.onednn)

    from cnnlab.train.training import train  # imports TensorFlow: only now

    train(
        training,
        Path(snakemake.input.arrays),
        history_csv.parent,
        Path(training.state_directory),
        log=log,
        beat=beat,
    )
    # the lab's progress, on the terminal where snakemake runs
    from cnnlab.watch.status import job_summary

    summary = job_summary(dict(snakemake.config), threads)
    if summary:
        print(f"cnnlab {summary}", file=sys.stderr, flush=True)


run_entrypoint(
    lambda log: main(snakemake, log),  # noqa: F821 - Snakemake provides `snakemake`
    log_path=snakemake.log[0],  # noqa: F821
)
