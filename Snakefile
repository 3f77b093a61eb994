# cnnlab: a course lab's grid of CNN experiments, from config.yaml to one HTML report.
# Read the stages from the includes and `rule all`; the logic lives in the cnnlab package.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/select.smk"
include: "rules/report.smk"
include: "rules/partial.smk"


rule all:
    input:
        "results/report/index.html",
