# Figures per task and the HTML lab report; rendering never retrains anything.


rule report:
    input:
        histories=histories_before_selection,
        selected_histories=histories_after_selection,
    output:
        "results/report/index.html",
    params:
        plan=complete_plan_as_dict,
    conda:
        "../envs/cnnlab.yaml"
    log:
        "logs/report.log",
    script:
        "../scripts/render_report.py"
