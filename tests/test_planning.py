"""Planning the workflow costs nothing but reading the config: what rules/common.smk
imports, and the real `snakemake -n`, load neither matplotlib nor jinja2 nor TensorFlow."""

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.workflow_helpers import PROJECT_ROOT, SMALL_CONFIG, copy_workflow

HEAVY = ("matplotlib", "jinja2", "tensorflow", "keras")


def loaded_modules(code: str, cwd: Path) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def packages(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_the_plan_and_every_input_list_load_no_heavy_package(tmp_path):
    imports = "\n".join(re.findall(r"^(?:from cnnlab\S* import (?:\([^)]*\)|.*)|import cnnlab.*)$",
                                   (PROJECT_ROOT / "rules/common.smk").read_text(), re.MULTILINE))
    assert re.search(r"^from cnnlab.store import .*\blayout\b", imports, re.MULTILINE), imports
    code = f"""
{imports}
from cnnlab.plan.config import read_config_files
from cnnlab.plan import concept_models
from cnnlab.plan.plan import plan_lab
from cnnlab.plan.complete_plan import complete_plan, guessed_plans
from cnnlab.store import layout
config = read_config_files({str(PROJECT_ROOT / 'config.yaml')!r}, {str(PROJECT_ROOT / SMALL_CONFIG)!r})
checked_config(config)
plan = plan_lab(config)
assert complete_plan(config).to_dict() == plan.to_dict()  # no selection made in an empty folder
guessed_plans(plan)
for task_id in plan.tasks:
    layout.task_inputs(plan, task_id)
layout.report_inputs(plan), layout.selection_inputs(plan), layout.figure_inputs(plan)
concept_models.check_concepts(plan), concept_models.concept_figure_files(plan)
concept_models.concept_stats_files(plan)
for task_id in concept_models.concept_tasks(plan):
    concept_models.concept_inputs(plan, task_id)
"""
    loaded = packages(loaded_modules(code, tmp_path))
    assert "cnnlab" in loaded
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_snakemake_dry_run_plans_without_the_report_or_tensorflow(tmp_path):
    """Snakemake imports jinja2 itself (its own report); the workflow adds none of them."""
    workdir = copy_workflow(tmp_path / "lab")
    code = (f"import sys\nsys.argv = ['snakemake', '-n', '--cores', '1', '--configfile', "
            f"{SMALL_CONFIG!r}]\nfrom snakemake.cli import main\ntry:\n    main()\n"
            "except SystemExit as stop:\n    assert not stop.code, stop.code")
    modules = loaded_modules(code, workdir)
    assert "cnnlab.plan.plan" in modules and "cnnlab.store.layout" in modules
    assert not {"cnnlab.report.page", "cnnlab.report.figures", "cnnlab.report.tables"} & modules
    assert not packages(modules) & {"matplotlib", "tensorflow", "keras"}
