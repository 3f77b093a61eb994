# One job per training: a run trained to the largest epoch count any task asks of it.
# Its resume state lives outside the declared outputs, which Snakemake deletes on failure.
# Its files are named by cnnlab.store.layout, here with the wildcards as the folder's parts.

TRAINING_DIRECTORY = layout.training_directory("{dataset}", "{run_id}", "{epochs}")


rule train:
    input:
        arrays="results/data/{dataset}/arrays.npz",
        selections=training_selections,
    output:
        history=layout.history_csv(TRAINING_DIRECTORY),
        record=layout.record_json(TRAINING_DIRECTORY),
        summary=layout.summary_csv(TRAINING_DIRECTORY),
        predictions=layout.predictions_npz(TRAINING_DIRECTORY),
        weights=directory(layout.weights_directory(TRAINING_DIRECTORY)),
    log:
        "logs/train/{dataset}/{run_id}/e{epochs}.log",
    priority: training_job_priority
    conda:
        "../envs/cnnlab.yaml"
    threads: training_threads
    resources:
        mem_mb=training_memory_mb,
        gpu=TRAINING_GPUS,
        runtime=training_runtime_minutes,
    params:
        spec=training_job_spec,
        state_dir=training_state_directory,
    script:
        "../scripts/train.py"
