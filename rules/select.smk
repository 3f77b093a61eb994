# 6E's selection is chosen from the results of its candidate tasks, so the runs of 6E
# (and of 6F, which starts from 6E) are only known after this checkpoint.


checkpoint select_setup:
    input:
        candidate_files,
    output:
        "results/selection/{dataset}/{task}.json",
    log:
        "logs/selection/{dataset}/{task}.log",
    priority: SELECTION_PRIORITY
    conda:
        "../envs/cnnlab.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        selection=selection_config,
    script:
        "../scripts/select_setup.py"
