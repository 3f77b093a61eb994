# Each data set is prepared once into arrays and a manifest that every training job reads.


rule prepare_data:
    output:
        arrays="results/data/{dataset}/arrays.npz",
        manifest="results/data/{dataset}/manifest.json",
    log:
        "logs/data/{dataset}.log",
    conda:
        "../envs/cnnlab.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        dataset=dataset_config,
        image_size=dataset_image_size,
    script:
        "../scripts/prepare_data.py"
