# Figures per task and the HTML lab report. Rendering reads results only: editing a
# template or a task's text re-renders the page and retrains nothing.


rule plot_task:
    input:
        trainings=task_figure_inputs,
        manifest=manifest_json,
    output:
        curves=report(
            "results/figures/{task}.png",
            caption="../report/task_figure.rst",
            category="{task}",
        ),
        roc=report(
            "results/figures/roc/{task}.png",
            caption="../report/roc_figure.rst",
            category="{task}",
        ),
    log:
        "logs/figures/{task}.log",
    conda:
        "../envs/cnnlab.yaml"
    params:
        plan=task_plan_param,
        plan_digest=task_plan_digest,
    script:
        "../scripts/plot_task.py"


rule plot_concept:
    input:
        files=concept_figure_inputs,
    output:
        png=report(
            "results/figures/concept/{task}.png",
            caption="../report/concept_figure.rst",
            category="{task}",
        ),
        stats="results/figures/concept/{task}.json",
    log:
        "logs/figures/concept-{task}.log",
    conda:
        "../envs/cnnlab.yaml"
    threads: 1
    params:
        plan=concept_plan_param,
        plan_digest=concept_plan_digest,
    script:
        "../scripts/plot_concept.py"


rule report:
    input:
        trainings=report_training_files,
        selected_trainings=report_training_files_after_selection,
        manifest=manifest_json,
        selections=selection_files,
        figures=figure_files,
        roc_figures=roc_figure_files,
        concept_figures=concept_figure_files,
        concept_stats=concept_stats_files,
        templates=report_templates,
    output:
        report(
            "results/report/index.html", caption="../report/lab_report.rst", category="Lab report"
        ),
        # the same numbers as tidy tables (cnnlab.report.tidy), written with the page
        tables=[layout.table_csv(PLAN.dataset, name) for name in layout.TABLE_NAMES],
    log:
        "logs/report.log",
    conda:
        "../envs/cnnlab.yaml"
    params:
        plan=selected_plan_param,
        plan_digest=selected_plan_digest,
        report_dir=report_directory,
    script:
        "../scripts/render_report.py"
