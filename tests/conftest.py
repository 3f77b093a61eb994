"""Shared fixtures: the project's own config files, read as the workflow reads them."""

import copy
from pathlib import Path
from typing import Any

import pytest

from cnnlab.plan.config import checked_config, read_config_files
from tests.workflow_helpers import PROJECT_ROOT, SMALL_CONFIG, copy_workflow, run_snakemake


def merged_config(*overrides: str | Path) -> dict:
    """config.yaml updated by override files, recursively, as `--configfile` does, then
    checked with the schema's defaults filled in, as the workflow does first."""
    return checked_config(read_config_files(PROJECT_ROOT / "config.yaml", *overrides))


def check_config(config: Any, source: str = "config") -> None:
    """Raise CnnlabError naming the first mistake in `config`, else return; `config` itself
    is left as it is (checked_config fills in the defaults in place, so it checks a copy)."""
    checked_config(copy.deepcopy(config), source)


@pytest.fixture(scope="session")
def small_lab(tmp_path_factory):
    """The 13 tasks on tiny data and epochs, run once by the real snakemake for the session.

    Tests that change it work on a copy (see `copy_of_small_lab`).
    """
    workdir = copy_workflow(tmp_path_factory.mktemp("small-lab"))
    result = run_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG, timeout=1500)
    assert result.returncode == 0, result.stdout[-8000:]
    return workdir, result.stdout


@pytest.fixture
def copy_of_small_lab(small_lab, tmp_path):
    """A private copy of the finished small lab, results and snakemake's metadata included."""
    import shutil

    workdir = tmp_path / "lab"
    shutil.copytree(small_lab[0], workdir, symlinks=True)
    return workdir


@pytest.fixture
def default_config() -> dict:
    return merged_config()


@pytest.fixture
def small_config() -> dict:
    return merged_config(PROJECT_ROOT / "tests" / "configs" / "small.yaml")
