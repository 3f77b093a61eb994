# The report of what exists now, while the trainings run: results/report/partial.html
# (cnnlab.watch.partial), the same page as `cnnlab report --partial`. Its only input is the
# data's manifest, so it waits for no training; it has no output (a rule without one
# runs whenever it is asked for), so each call renders what exists at that moment.
# While another snakemake runs in this folder, ask for it with --nolock (it writes
# nothing Snakemake tracks): `snakemake partial_report --cores 1 --nolock`.


rule partial_report:
    input:
        manifest=manifest_json,
    log:
        "logs/partial_report.log",
    localrule: True
    conda:
        "../envs/cnnlab.yaml"
    params:
        report_dir=report_directory,
    script:
        "../scripts/render_partial_report.py"
