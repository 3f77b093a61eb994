"""A data set -> ``arrays.npz`` + ``manifest.json``, atomically.

A data set is one entry of ``datasets:`` in config.yaml, either generated
(``kind: synthetic``, :mod:`cnnlab.data.synthetic`) or read from a folder (``kind: folder``,
:mod:`cnnlab.data.images`). Synthetic images are written as PNG files into
``images/`` beside the arrays and then read by the same folder loader, so one loader
serves both kinds.

The entry is checked by :func:`cnnlab.plan.config.checked_dataset` (the schema, which also
fills in the defaults of its kind); an entry of the workflow's checked config passes it
unchanged. Both outputs are written by :mod:`cnnlab.store.files`' atomic writer (a temporary
file beside each, renamed into place), the arrays first, the manifest last. On any
failure neither output (nor a temporary file) is left, also not an older one.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cnnlab import __version__
from cnnlab.data.arrays import arrays_sha256
from cnnlab.data.classes import DEFAULT_CLASSES, classes_from_config
from cnnlab.data.images import SPLITS, FolderData, FolderOptions, load_folder
from cnnlab.data.split_checks import (
    degenerate,
    leak_lines,
    left_out_lines,
    sanity,
    sanity_lines,
)
from cnnlab.data.synthetic import generate
from cnnlab.errors import CnnlabError
from cnnlab.plan.config import checked_dataset
from cnnlab.store import files


def prepare_dataset(
    dataset_config: Mapping,
    arrays_path: Path,
    manifest_path: Path,
    image_size: int | None = None,
    *,
    name: str | None = None,
    base_dir: Path | None = None,
) -> dict:
    """Prepare one data set; returns the manifest that it wrote.

    ``image_size``, when given, is what the caller asks for: it stands for an entry's
    absent ``image_size`` and must agree with a present one. ``name`` is the data set's
    key in ``datasets:`` (default: the arrays' folder name); ``base_dir`` is where a
    relative ``path`` starts (default: the working directory).
    """
    arrays_path = Path(arrays_path)
    manifest_path = Path(manifest_path)
    name = name or arrays_path.parent.name
    where = f"datasets.{name}"
    config = checked_dataset(_with_image_size(dataset_config, image_size, where), name)

    for output in (arrays_path, manifest_path):  # no stale output may survive a failure
        output.unlink(missing_ok=True)
        output.parent.mkdir(parents=True, exist_ok=True)

    # a preparation killed half-way (SIGKILL) could not clean up after itself
    for leftover in arrays_path.parent.glob(".images-*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)

    staging = None
    try:
        images_dir = arrays_path.parent / "images"
        if config["kind"] == "synthetic":
            staging = Path(
                tempfile.mkdtemp(prefix=".images-", suffix=".tmp", dir=images_dir.parent)
            )
            staging.chmod(0o777 & ~_umask())
            data, source = _prepare_synthetic(config, staging, images_dir)
        else:
            data, source = _prepare_folder(config, base_dir, where)
        found = checked_sanity(data, config, where)
        arrays = _arrays(data)
        manifest = {**_manifest(name, config, source, data, arrays), "sanity": found}
        with files.atomic_open(arrays_path, binary=True) as stream:
            np.savez(stream, **arrays)
            if staging is not None:  # the images the arrays were read from, beside them
                if images_dir.exists():
                    shutil.rmtree(images_dir)
                os.replace(staging, images_dir)
                staging = None
        files.write_manifest(manifest_path, manifest)  # last: it vouches for the arrays
    except BaseException:
        for output in (arrays_path, manifest_path):
            output.unlink(missing_ok=True)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return manifest


# ---------------------------------------------------------------------------------------
# Configuration


def _with_image_size(dataset_config: object, image_size: int | None, where: str) -> object:
    """The entry with the caller's ``image_size`` in it; a disagreement is the one check
    here, as the schema sees only the entry."""
    if image_size is None or not isinstance(dataset_config, Mapping):
        return dataset_config
    configured = dataset_config.get("image_size")
    if configured is not None and configured != image_size:
        raise CnnlabError(
            f"{where}.image_size is {configured!r} but the workflow asks for "
            f"{image_size}. Make them agree."
        )
    return {**dataset_config, "image_size": image_size}


def check_dataset(config: dict, where: str) -> None:
    """The checks of a checked entry that the schema cannot make (a folder's classes: two,
    labelled 0 and 1, no name, pattern or folder twice), made when the workflow starts."""
    if config["kind"] == "folder":
        _folder_options(config, where)


def _folder_options(config: dict, where: str) -> FolderOptions:
    try:
        # no schema default: a class's pattern and folder default to its name
        classes = classes_from_config(config["classes"]) if "classes" in config else DEFAULT_CLASSES
        return FolderOptions(
            classes=classes,
            layout=config["layout"],
            resize=config["resize"],
            on_bad_image=config["on_bad_image"],
            on_duplicate=config["on_duplicate"],
            max_pixels=config["max_pixels"],
            test_fraction=config["test_fraction"],
            split_seed=config["split_seed"],
            allow_degenerate=config["allow_degenerate"],
        )
    except CnnlabError as error:
        raise CnnlabError(f"{where}.{error}") from None


# ---------------------------------------------------------------------------------------
# The two kinds


def _prepare_synthetic(config: dict, staging: Path, images_dir: Path) -> tuple[FolderData, dict]:
    """Generate the images into ``staging`` and load them; they will live in
    ``images_dir``."""
    generate(
        staging,
        n_train=config["n_train"],
        n_test=config["n_test"],
        image_size=config["image_size"],
        seed=config["seed"],
        mel_fraction=config["mel_fraction"],
        ambiguous_fraction=config["ambiguous_fraction"],
    )
    data = load_folder(staging, config["image_size"], FolderOptions(layout="filename"))
    data.root = images_dir
    source = {
        "generator": "cnnlab.data.synthetic.generate",
        "images_path": str(data.root),
        "parameters": {
            key: config[key]
            for key in ("n_train", "n_test", "seed", "mel_fraction", "ambiguous_fraction")
        },
        "layout": data.layout,
    }
    return data, source


def _prepare_folder(config: dict, base_dir: Path | None, where: str) -> tuple[FolderData, dict]:
    options = _folder_options(config, where)
    configured = config["path"]
    path = Path(os.path.expandvars(os.path.expanduser(configured)))
    if not path.is_absolute():
        path = Path(base_dir or Path.cwd()) / path
    data = load_folder(path, config["image_size"], options)
    source = {
        "path": configured,
        "resolved_path": str(path.resolve()),
        "layout": data.layout,
        "classes": [
            {"name": c.name, "label": c.label, "pattern": c.pattern, "folder": c.folder}
            for c in data.classes
        ],
    }
    return data, source


def findings_lines(found: dict, duplicates: list[dict], skipped: list[dict],
                   ignored: list[str], where: str) -> list[str]:
    """Every finding about the data, one line each: poor data (``found``, of
    cnnlab.data.split_checks.sanity), a train/test leak, the files left out."""
    return [*sanity_lines(found, where), *leak_lines(duplicates, where),
            *left_out_lines(skipped, ignored, where)]


def checked_sanity(data: FolderData, config: dict, where: str) -> dict:
    """What makes the data poor (cnnlab.data.split_checks.sanity), each finding (and a
    train/test leak, the files left out) said on the terminal (stderr, which reaches the console from the prepare job); a contradictory or
    information-free data set refused unless the config allows it."""
    found = sanity(data.splits, config["image_size"])
    for line in findings_lines(found, data.duplicates, data.skipped, data.ignored, where):
        print(f"cnnlab: warning: {line}", file=sys.stderr, flush=True)
    problem = degenerate(found)
    if problem and not config.get("allow_degenerate", False):
        raise CnnlabError(f"{where}: {problem}, so no model can learn from it. Fix the images "
                          f"or their labels, or set `allow_degenerate: true` in {where} to "
                          "train on it anyway.")
    return found


# ---------------------------------------------------------------------------------------
# Outputs


def _arrays(data: FolderData) -> dict[str, np.ndarray]:
    names = [spec.name for spec in sorted(data.classes, key=lambda spec: spec.label)]
    arrays = {}
    for split in SPLITS:
        images = data.splits[split]
        arrays[f"x_{split}"] = images.x
        arrays[f"y_{split}"] = images.y.astype(np.int8)
        arrays[f"{split}_files"] = np.array(images.files, dtype=str)
    arrays["class_names"] = np.array(names, dtype=str)
    return arrays


def _manifest(
    name: str,
    config: dict,
    source: dict,
    data: FolderData,
    arrays: dict[str, np.ndarray],
) -> dict:
    by_label = {spec.label: spec.name for spec in data.classes}
    counts, baseline = {}, {}
    for split in SPLITS:
        labels = data.splits[split].y
        per_class = {by_label[label]: int((labels == label).sum()) for label in sorted(by_label)}
        counts[split] = {**per_class, "total": int(labels.size)}
        majority = max(sorted(by_label), key=lambda label: int((labels == label).sum()))
        baseline[split] = {
            "class": by_label[majority],
            "label": majority,
            "fraction": round(per_class[by_label[majority]] / labels.size, 6),
        }
    return {
        "dataset": name,
        "kind": config["kind"],
        "config": dict(config),
        "source": source,
        "image_size": config["image_size"],
        "resize": config.get("resize"),  # None: synthetic images are made at image_size
        "classes": {str(label): class_name for label, class_name in sorted(by_label.items())},
        "counts": counts,
        "majority_baseline": baseline,
        "original_images": {
            "all": _size_statistics([data.splits[split] for split in SPLITS]),
            **{split: _size_statistics([data.splits[split]]) for split in SPLITS},
        },
        "arrays": {key: list(value.shape) for key, value in arrays.items()},
        "arrays_sha256": arrays_sha256(arrays),
        "skipped": data.skipped,
        "ignored_files": data.ignored,
        "duplicates": data.duplicates,
        "duplicates_within_split": data.duplicates_within_split,
        "split": data.held_out_split,
        "cnnlab_version": __version__,
    }


def _size_statistics(parts: list) -> dict:
    widths = [width for part in parts for width in part.widths]
    heights = [height for part in parts for height in part.heights]
    modes = Counter(mode for part in parts for mode in part.modes)
    sizes = Counter(f"{w}x{h}" for w, h in zip(widths, heights))

    def summary(values: list[int]) -> dict:
        return {"min": min(values), "median": statistics.median(values), "max": max(values)}

    return {
        "count": len(widths),
        "width": summary(widths),
        "height": summary(heights),
        "most_common_sizes": [[size, count] for size, count in sizes.most_common(10)],
        "modes": dict(sorted(modes.items())),
    }


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
