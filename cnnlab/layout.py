"""Every path the workflow reads or writes, in one place: the project's own files, and
the results/ tree (data, trainings, selections, figures, report) with the rules' input lists.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# what a fresh clone needs to run the lab (tests/configs: the test scenarios' overrides)
WORKFLOW_FILES = ("Snakefile", "config.yaml", "rules", "scripts", "schemas", "report", "profiles",
                  "envs", "tests/configs")


def copy_workflow(destination: Path, source_root: Path = PROJECT_ROOT) -> Path:
    """The workflow's own files, without results or logs, as a fresh clone has them."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = source_root / name
        if source.is_dir():
            shutil.copytree(source, destination / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination
