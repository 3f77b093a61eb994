# One job per training: a run trained to the largest epoch count any task asks of it.
# Its resume state lives outside the declared outputs, which Snakemake deletes on failure.


rule train:
    input:
        arrays="results/data/{dataset}/arrays.npz",
        selections=training_selections,
    output:
        history="results/runs/{dataset}/{run_id}/e{epochs}/history.csv",
        record="results/runs/{dataset}/{run_id}/e{epochs}/record.json",
        summary="results/runs/{dataset}/{run_id}/e{epochs}/summary.csv",
        predictions="results/runs/{dataset}/{run_id}/e{epochs}/predictions.npz",
        weights=directory("results/runs/{dataset}/{run_id}/e{epochs}/weights"),
    params:
        spec=training_job_spec,
        state_dir=training_state_directory,
    threads: training_threads
    priority: training_job_priority
    resources:
        mem_mb=training_memory_mb,
        gpu=TRAINING_GPUS,
        runtime=training_runtime_minutes,
    conda:
        "../envs/cnnlab.yaml"
    log:
        "logs/train/{dataset}/{run_id}/e{epochs}.log",
    script:
        "../scripts/train.py"
