"""One cnnlab training, run the way a Snakemake ``train`` job runs it (scripts/train.py).

    python bench/cnnlab_job.py SPEC_JSON ARRAYS_NPZ OUT_DIR STATE_DIR

``SPEC_JSON`` holds a training spec (``{run_id, params, epochs, save_epochs}``, as
``cnnlab.plan.runs.Training.job_spec`` makes it). As in scripts/train.py, the runtime (thread
count from the run's params, log level, KERAS_HOME, determinism) is configured before
TensorFlow is imported, then ``cnnlab.train.training.train`` writes history.csv, record.json,
summary.csv and weights into ``OUT_DIR``. Its log lines go to stderr.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the cnnlab beside bench/

from cnnlab.train import devices, runtime


def main(argv: list[str]) -> None:
    if len(argv) != 5:
        raise SystemExit(__doc__)
    spec = json.loads(Path(argv[1]).read_text())
    threads = int(spec["params"].get("threads", 1))
    # one GPU per job where TensorFlow can train on one, as the workflow's auto does
    gpus = devices.training_gpus("auto", devices.visible_gpus(), devices.cuda_tensorflow_installed())
    runtime.configure_training_process(threads, gpus=gpus,
                                       onednn=spec["params"].get("onednn", "auto"))

    from cnnlab.plan.runs import Training
    from cnnlab.train.training import train  # imports TensorFlow: only now

    train(
        Training.from_job_spec(spec, argv[4]),
        Path(argv[2]),
        Path(argv[3]),
        Path(argv[4]),
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )


if __name__ == "__main__":
    main(sys.argv)
