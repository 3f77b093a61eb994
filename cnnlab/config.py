"""Checking config.yaml: the schema first, then what a schema cannot say.

Each mistake becomes one `CnnlabError` whose message names the key (as a dotted
path such as ``tasks.5A.runs[0].lr``) and says what to do, instead of the schema
dump that jsonschema prints by default.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cnnlab.errors import CnnlabError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

RUN_PARAMETERS = (
    "model", "n_base", "dense", "dropout", "optimizer", "lr",
    "batch_size", "loss", "epochs", "threads", "precision",
)


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_config(path: str | Path) -> dict:
    """Read a config file and check it; the returned dict is what Snakemake would see."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
    except FileNotFoundError:
        raise CnnlabError(f"{path}: config file not found.") from None
    except yaml.YAMLError as error:
        raise CnnlabError(f"{path}: not valid YAML: {error}") from None
    check_config(config, source=str(path))
    return config


def read_config_files(*paths: str | Path) -> dict:
    """The first file updated by each later one, key by key, as `--configfile` does."""
    config: dict = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            update_config(config, yaml.safe_load(handle) or {})
    return config


def update_config(config: dict, override: dict) -> None:
    """Merge `override` into `config`: mappings recursively, everything else replaced."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            update_config(config[key], value)
        else:
            config[key] = copy.deepcopy(value)


def check_config(config: Any, source: str = "config") -> None:
    """Raise CnnlabError naming the first mistake in `config`, else return."""
    if not isinstance(config, dict):
        raise CnnlabError(f"{source}: the config must be a mapping of keys, not {type(config).__name__}.")
    schema = load_schema()
    _check_against_schema(config, schema, source)
    _check_sweep_values(config, schema, source)
    _check_references(config, source)


def key_path(parts) -> str:
    """['tasks', '5A', 'runs', 0, 'lr'] -> 'tasks.5A.runs[0].lr'."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _describe(error: jsonschema.ValidationError) -> tuple[list, str]:
    """The key an error is about and a sentence a user can act on."""
    path = list(error.absolute_path)
    validator, value = error.validator, error.validator_value
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        keys = ", ".join(repr(k) for k in unknown)
        hint = f" Allowed here: {', '.join(allowed)}." if allowed else ""
        return path + unknown[:1], f"unknown key {keys}: check its spelling.{hint}"
    if validator == "required":
        missing = [k for k in value if k not in error.instance]
        return path + missing[:1], "is missing: this key is required."
    if validator == "enum":
        choices = ", ".join(repr(v) for v in value)
        return path, f"{error.instance!r} is not one of {choices}."
    if validator == "exclusiveMinimum":
        return path, f"{error.instance!r} must be greater than {value}."
    if validator == "minimum":
        return path, f"{error.instance!r} must be at least {value}."
    if validator == "exclusiveMaximum":
        return path, f"{error.instance!r} must be less than {value}."
    if validator == "maximum":
        return path, f"{error.instance!r} must be at most {value}."
    if validator == "type":
        return path, f"{error.instance!r} has the wrong type: expected {value}."
    if validator == "pattern" or validator == "propertyNames":
        return path, f"{error.instance!r} is not a valid name (letters, digits, '_', '-' and '.')."
    if validator in ("minItems", "minProperties"):
        return path, "must not be empty."
    if validator == "uniqueItems":
        return path, "must not repeat a value."
    return path, error.message


def _leaf_errors(error: jsonschema.ValidationError):
    """Descend into allOf/anyOf wrappers to the errors that name a concrete key."""
    if error.context:
        for child in error.context:
            yield from _leaf_errors(child)
    else:
        yield error


def _check_against_schema(config: dict, schema: dict, source: str) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    leaves = sorted(_leaf_errors(errors[0]), key=lambda e: -len(e.absolute_path))
    path, sentence = _describe(leaves[0])
    raise CnnlabError(f"{source}: {key_path(path)}: {sentence}")


def _check_sweep_values(config: dict, schema: dict, source: str) -> None:
    params_schema = dict(schema["$defs"]["run_params"])
    params_schema["$defs"] = schema["$defs"]
    validator = jsonschema.Draft202012Validator(params_schema)
    for task_id, task in config["tasks"].items():
        for name, values in task.get("sweep", {}).items():
            for index, value in enumerate(values):
                for error in validator.iter_errors({name: value}):
                    _, sentence = _describe(error)
                    where = key_path(["tasks", task_id, "sweep", name, index])
                    raise CnnlabError(f"{source}: {where}: {sentence}")


def _check_references(config: dict, source: str) -> None:
    tasks = config["tasks"]
    if config["dataset"] not in config["datasets"]:
        raise CnnlabError(
            f"{source}: dataset: {config['dataset']!r} is not a key of datasets "
            f"(there: {', '.join(config['datasets'])})."
        )

    def require_task(reference: str, where: list) -> None:
        if reference not in tasks:
            raise CnnlabError(
                f"{source}: {key_path(where)}: refers to task {reference!r}, which does not exist "
                f"(tasks: {', '.join(tasks)})."
            )

    for task_id, task in tasks.items():
        if "like" in task:
            require_task(task["like"], ["tasks", task_id, "like"])
        for index, shown in enumerate(task.get("shows", [])):
            require_task(shown, ["tasks", task_id, "shows", index])
        optimum = task.get("optimum")
        if optimum:
            for index, candidate in enumerate(optimum["candidates"]):
                require_task(candidate, ["tasks", task_id, "optimum", "candidates", index])
        trains = any(key in task for key in ("runs", "sweep", "set", "like", "optimum"))
        if not trains and "shows" not in task:
            raise CnnlabError(
                f"{source}: tasks.{task_id}: has neither runs (runs, sweep, set, like) "
                "nor shows: give it runs to train or the tasks whose runs it discusses."
            )

    for task_id in tasks:
        seen = [task_id]
        current = tasks[task_id].get("like")
        while current is not None:
            if current in seen:
                chain = " -> ".join(seen + [current])
                raise CnnlabError(f"{source}: tasks.{task_id}.like: circular reference {chain}.")
            seen.append(current)
            current = tasks[current].get("like")
