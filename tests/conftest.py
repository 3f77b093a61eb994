"""Shared fixtures: the project's own config files, read as the workflow reads them."""

from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def merged_config(*overrides: str | Path) -> dict:
    """config.yaml updated by override files, recursively, as `--configfile` does."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    for override in overrides:
        _update(config, yaml.safe_load(Path(override).read_text()))
    return config


def _update(config: dict, override: dict) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _update(config[key], value)
        else:
            config[key] = value


@pytest.fixture
def default_config() -> dict:
    return merged_config()


@pytest.fixture
def small_config() -> dict:
    return merged_config(PROJECT_ROOT / "tests" / "configs" / "small.yaml")
