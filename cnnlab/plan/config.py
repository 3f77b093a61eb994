"""Checking config.yaml once, first: the schema with its defaults filled in, then what a
schema cannot say.

Each mistake becomes one `CnnlabError` whose message names the key (as a dotted
path such as ``tasks.5A.runs[0].lr``) and says what to do, instead of the schema
dump that jsonschema prints by default. A config that passes has every default of
``schemas/config.schema.yaml`` filled in, so the code downstream reads the values
(``config["seeds"]``, ``config["datasets"][name]["image_size"]``) without restating them.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cnnlab.errors import CnnlabError
from cnnlab.plan.answer_kinds import CONCEPT_KINDS
from cnnlab.plan.yaml_reading import read_yaml

# a task with any of these keys trains runs of its own; one without only discusses others
# keys of earlier versions of cnnlab, by the name they have now
RENAMED_KEYS = {"optimum": "selection"}
TRAINING_KEYS = ("runs", "sweep", "set", "like", "selection")


def trains(task: dict) -> bool:
    return any(key in task for key in TRAINING_KEYS)


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """The schema, with the concept kinds a task's ``answer`` may name taken from their
    one list (cnnlab.plan.answer_kinds)."""
    with open(path, encoding="utf-8") as handle:
        schema = yaml.safe_load(handle)
    schema["$defs"]["task"]["properties"]["answer"]["enum"] = list(CONCEPT_KINDS)
    return schema


@functools.cache
def _schema() -> dict:
    # read once per process: every data set preparation checks its entry again
    return load_schema()


def read_config_files(*paths: str | Path) -> dict:
    """The first file updated by each later one, key by key, as `--configfile` does; a key
    given twice in one file is an error, as in the workflow."""
    config: dict = {}
    for path in paths:
        update_config(config, read_yaml(path) or {})
    return config


def check_unique_keys(*paths: str | Path) -> None:
    """Raise CnnlabError naming the file, the key and both lines of the first key given
    twice in one mapping of these YAML files; read again for it, because Snakemake has
    loaded them already, keeping the last of each."""
    for path in paths:
        read_yaml(path)


def in_lab_order(config: dict, *paths: str | Path) -> None:
    """Put ``config``'s tasks in the order of ``paths`` applied one after the other (the
    lab's own, then those an override adds): Snakemake merges the command line's files
    before config.yaml, which puts a task an override adds before the lab's (7A first)."""
    merged, tasks = read_config_files(*paths).get("tasks"), config.get("tasks")
    if isinstance(merged, dict) and isinstance(tasks, dict):
        rank = {task_id: index for index, task_id in enumerate(merged)}
        config["tasks"] = dict(sorted(tasks.items(), key=lambda item: rank.get(item[0], len(rank))))


def update_config(config: dict, override: dict) -> None:
    """Merge `override` into `config`: mappings recursively, everything else replaced."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            update_config(config[key], value)
        else:
            config[key] = copy.deepcopy(value)


def checked_config(config: Any, source: str = "config") -> dict:
    """Check `config` and fill in the schema's defaults, in place; return it.

    In place, because Snakemake's `config` is one object that every rule reads. Raises
    CnnlabError naming the first mistake.
    """
    if not isinstance(config, dict):
        raise CnnlabError(f"{source}: the config must be a mapping of keys, not {type(config).__name__}.")
    schema = _schema()
    _check_finite(config, source, [])
    _check_against_schema(config, schema, source)
    _check_sweep_values(config, schema, source)
    _check_names(config, source)
    _check_references(config, source)
    _check_pinned(config, source)
    return config


def checked_dataset(dataset: Any, name: str) -> dict:
    """One entry of ``datasets:`` checked against the schema, as a new dict with the
    defaults of its kind filled in; mistakes are named ``datasets.<name>.<key>``.

    For callers that prepare a data set without the whole config (tests, the benchmark);
    an entry of a checked config passes unchanged.
    """
    schema = dict(_schema()["$defs"]["dataset"], **{"$defs": _schema()["$defs"]})
    dataset = copy.deepcopy(dataset)
    _check_against_schema(dataset, schema, source=None, where=["datasets", name])
    return dataset


def dataset_defaults(kind: str) -> dict:
    """The schema's defaults of a data set of `kind` (``folder``, ``synthetic``)."""
    required = {"path": "-"} if kind == "folder" else {}  # a folder entry must name its folder
    filled = checked_dataset({"kind": kind, **required}, kind)
    return {key: value for key, value in filled.items() if key != "kind" and key not in required}


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
        if unknown[0] in RENAMED_KEYS and RENAMED_KEYS[unknown[0]] in allowed:
            return path + unknown[:1], (f"unknown key {keys}: it is called "
                                        f"{RENAMED_KEYS[unknown[0]]!r} now; rename it.")
        return path + unknown[:1], f"unknown key {keys}: check its spelling.{hint}"
    if validator == "required":
        missing = [k for k in value if k not in error.instance]
        about = error.schema.get("properties", {}).get(missing[0], {}).get("description")
        return path + missing[:1], f"is missing: this key is required{f' ({about})' if about else ''}."
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
        hint = ""
        if "number" in (value if isinstance(value, list) else [value]) \
                and isinstance(error.instance, str) and _reads_as_number(error.instance):
            # YAML 1.1 (PyYAML, Snakemake) reads 1e-4 as text: it wants 1.0e-4
            hint = (" (YAML reads a number without a dot before its exponent as text: write "
                    f"{_with_dot(error.instance)})")
        return path, f"{error.instance!r} has the wrong type: expected {value}{hint}."
    if validator == "maxLength":
        shown = error.instance if len(error.instance) <= 24 else error.instance[:20] + "..."
        return path, (f"{shown!r} is too long: at most {value} characters, not "
                      f"{len(error.instance)}: choose a shorter name.")
    if validator == "pattern" or validator == "propertyNames":
        return path, f"{error.instance!r} is not a valid name (letters, digits, '_', '-' and '.')."
    if validator in ("minItems", "maxItems") and error.schema.get("minItems") == error.schema.get(
        "maxItems"
    ):
        return path, f"must have exactly {value} entries, not {len(error.instance)}."
    if validator == "minItems" and value > 1:
        return path, f"must have at least {value} entries, not {len(error.instance)}."
    if validator == "maxItems":
        return path, f"must have at most {value} entries, not {len(error.instance)}."
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


def _filling_properties(validator, properties, instance, schema) -> Iterator:
    """jsonschema's ``properties`` check that first sets each absent property that has a
    default (as ``snakemake.utils.validate(..., set_default=True)`` does). It runs only
    where the instance is checked against that subschema, so a ``then`` branch fills in the
    defaults of its data set kind alone."""
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if isinstance(subschema, dict) and "default" in subschema:
                instance.setdefault(name, copy.deepcopy(subschema["default"]))
    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](
        validator, properties, instance, schema
    )


FillingValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"properties": _filling_properties}
)


def _check_against_schema(
    instance: Any, schema: dict, source: str | None, where: list | None = None
) -> None:
    """Fill in the defaults of `schema` and raise the first mistake as one line."""
    errors = sorted(
        FillingValidator(schema).iter_errors(instance),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if not errors:
        return
    leaves = sorted(_leaf_errors(errors[0]), key=lambda e: -len(e.absolute_path))
    path, sentence = _describe(leaves[0])
    key = key_path([*(where or []), *path])
    raise CnnlabError(f"{source}: {key}: {sentence}" if source else f"{key}: {sentence}")


def _run_params_validator(schema: dict) -> jsonschema.Draft202012Validator:
    params_schema = dict(schema["$defs"]["run_params"])
    params_schema["$defs"] = schema["$defs"]
    return jsonschema.Draft202012Validator(params_schema)


def run_params_problem(params: Any) -> str | None:
    """What is wrong with a run's parameters as a config's run would give them (a
    selection's chosen set-up, read back: cnnlab.plan.selection_check), or None."""
    if not isinstance(params, dict):
        return f"the parameters are {type(params).__name__}, not a mapping"
    try:
        _check_finite(params, "", [])
    except CnnlabError as error:
        return str(error).removeprefix(": ")
    for error in _run_params_validator(_schema()).iter_errors(params):
        path, sentence = _describe(error)
        return f"{key_path(path)}: {sentence}" if path else sentence
    return None


def _check_sweep_values(config: dict, schema: dict, source: str) -> None:
    validator = _run_params_validator(schema)
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
            if shown == task_id:
                raise CnnlabError(f"{source}: tasks.{task_id}.shows[{index}]: a task cannot show "
                                  "itself: name the tasks whose runs it discusses.")
        if "inspects" in task:
            require_task(task["inspects"], ["tasks", task_id, "inspects"])
            inspected = tasks[task["inspects"]]
            if not trains(inspected):
                raise CnnlabError(
                    f"{source}: tasks.{task_id}.inspects: task {task['inspects']!r} trains no "
                    "model to inspect: name a task with runs."
                )
        selection = task.get("selection")
        if selection:
            for index, candidate in enumerate(selection["candidates"]):
                require_task(candidate, ["tasks", task_id, "selection", "candidates", index])
        if not trains(task) and "shows" not in task:
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


def _check_finite(value: Any, source: str, where: list) -> None:
    """YAML's .inf and .nan are floats, so a schema's minimum lets .inf and every bound
    lets .nan through (each comparison with NaN is false); a run id cannot spell them."""
    if isinstance(value, float) and not math.isfinite(value):
        spelled = ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
        raise CnnlabError(
            f"{source}: {key_path(where)}: {spelled} is not a finite number: give a finite value."
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, source, [*where, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite(item, source, [*where, index])


# Snakemake refuses a wildcard value that ends in one part repeated 20 times or more
# (PeriodicWildcardError, snakemake.io.PeriodicityDetector): a name like that is refused here
_PERIODIC = re.compile(r"(.+)\1{19,}$")


def _check_names(config: dict, source: str) -> None:
    for section in ("datasets", "tasks"):
        for name in config[section]:
            repeated = _PERIODIC.search(name)
            if repeated:
                raise CnnlabError(
                    f"{source}: {section}: {name!r} ends in {repeated.group(1)!r} repeated "
                    f"{len(repeated.group(0)) // len(repeated.group(1))} times, which Snakemake "
                    "takes for a runaway file name: choose another name."
                )


def _check_pinned(config: dict, source: str) -> None:
    """A pinned selection stands for the selection's choice: it gives what copy takes, nothing else
    (a key copy does not take would be dropped silently); the schema checked each value."""
    for task_id, task in config["tasks"].items():
        selection = task.get("selection")
        if not selection or not selection["pinned"]:
            continue
        pinned, copied = selection["pinned"], selection["copy"]
        where = f"{source}: tasks.{task_id}.selection.pinned"
        extra = [name for name in pinned if name not in copied]
        if extra:
            raise CnnlabError(
                f"{where}.{extra[0]}: copy does not take {extra[0]!r} ({', '.join(copied)}): "
                f"add it to tasks.{task_id}.selection.copy or remove it from pinned."
            )
        missing = [name for name in copied if name not in pinned]
        if missing:
            raise CnnlabError(
                f"{where}: lacks {', '.join(missing)}; a pinned selection gives every parameter "
                f"in copy ({', '.join(copied)})."
            )


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _with_dot(text: str) -> str:
    """'1e-4' -> '1.0e-4', the spelling YAML 1.1 reads as a float."""
    mantissa, _, exponent = text.lower().partition("e")
    if exponent and "." not in mantissa:
        return f"{mantissa}.0e{exponent}"
    return text

