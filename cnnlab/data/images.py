"""The folder loader: a folder of skin-lesion images -> labelled grayscale arrays.

Two layouts are understood, both with one folder per split (``train/``, ``test/``):

- ``filename`` (the course layout): a file's class is the class whose ``pattern``
  occurs in its file name (``train/Mel_0001.png`` -> Mel). Files may sit in nested
  folders below the split folder.
- ``subfolders``: a file's class is the class sub-folder it lies in
  (``train/Mel/…``, nested folders allowed below the class folder).
- ``auto`` picks ``subfolders`` when every class has its sub-folder in every split,
  else ``filename``.

Every image is read by :func:`cnnlab.data.image_file.read_image` (grayscale, the lab's size,
float32 in [0, 1]).

Problems with single files (unreadable, empty, truncated, corrupt, too large, not an
image, a name that matches no class or two) stop the load with one
:class:`~cnnlab.errors.CnnlabError` naming the file, or, with ``on_bad_image: skip``,
leave the file out and list it with its reason. Problems with the whole data set
(missing folder, empty split, a split with one class only) always stop the load.

Hidden files and folders (names starting with ``.``, such as ``.DS_Store`` or macOS's
``._`` companions) and ``__MACOSX`` folders are skipped silently; other files without
an image extension are listed as ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.data.classes import DEFAULT_CLASSES, ClassSpec, check_classes
from cnnlab.data.image_file import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    SKIP_HINT,
    BadImageError,
    LoadedImage,
    read_image,
)
from cnnlab.data.split_checks import check_both_classes, find_duplicates
from cnnlab.errors import CnnlabError
from cnnlab.plan.config import dataset_defaults

SPLITS = ("train", "test")

_DEFAULTS = dataset_defaults("folder")  # the schema's, the one place they are written


@dataclass(frozen=True)
class FolderOptions:
    """How to read a folder data set: the keys of a folder entry of ``datasets:``.

    The values are those of an entry checked by :mod:`cnnlab.plan.config` (each key against the
    schema, whose defaults these are); only what the schema cannot say about the classes,
    taken together, is checked here.
    """

    classes: tuple[ClassSpec, ...] = DEFAULT_CLASSES
    layout: str = _DEFAULTS["layout"]
    resize: str = _DEFAULTS["resize"]
    on_bad_image: str = _DEFAULTS["on_bad_image"]
    on_duplicate: str = _DEFAULTS["on_duplicate"]
    max_pixels: int = DEFAULT_MAX_PIXELS
    test_fraction: float | None = _DEFAULTS["test_fraction"]
    split_seed: int = _DEFAULTS["split_seed"]
    allow_degenerate: bool = _DEFAULTS["allow_degenerate"]  # read by cnnlab.data.prepare

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        check_classes(self.classes)


# ---------------------------------------------------------------------------------------
# A folder


@dataclass
class SplitImages:
    """The images of one split, in file order."""

    x: np.ndarray  # (N, H, W, 1) float32 in [0, 1]
    y: np.ndarray  # (N,) int8
    files: list[str]  # paths relative to the data root, with forward slashes
    widths: list[int]
    heights: list[int]
    modes: list[str]
    hashes: list[str]


@dataclass
class FolderData:
    """What :func:`load_folder` found."""

    root: Path
    layout: str  # the layout used: filename or subfolders
    classes: tuple[ClassSpec, ...]
    splits: dict[str, SplitImages]
    skipped: list[dict[str, str]] = field(default_factory=list)  # {file, reason}
    ignored: list[str] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)  # across splits
    duplicates_within_split: list[dict] = field(default_factory=list)
    held_out_split: dict | None = None


def load_folder(root: Path, image_size: int, options: FolderOptions | None = None) -> FolderData:
    """Load ``root/train`` and ``root/test`` (or a held-out part of train) as arrays."""
    options = options or FolderOptions()
    root = Path(root)
    split_dirs = _split_folders(root, options)
    layout = _resolve_layout(split_dirs, options)

    skipped: list[dict[str, str]] = []
    ignored: list[str] = []
    listed: dict[str, list[tuple[Path, int]]] = {}
    for split, split_dir in split_dirs.items():
        images, ignored_here = _scan(split_dir, root)
        ignored.extend(ignored_here)
        if not images:
            raise CnnlabError(
                f"{split_dir}: the {split} split holds no images "
                f"({', '.join(IMAGE_EXTENSIONS)}). Put the {split} images there."
            )
        listed[split] = _label_files(images, split_dir, root, layout, options, skipped)

    loaded = {split: _read_split(files, root, image_size, options, skipped)
              for split, files in listed.items()}

    held_out_split = None
    if "test" not in loaded:
        loaded["train"], loaded["test"], held_out_split = _hold_out(loaded["train"], options)

    for split in SPLITS:
        folder = split_dirs.get(split, split_dirs["train"])  # a held-out test comes from train
        check_both_classes(split, folder, loaded[split], options.classes, skipped)
    duplicates, within = find_duplicates(loaded)
    if duplicates and options.on_duplicate == "error":
        first = duplicates[0]
        raise CnnlabError(
            f"{root}: {len(duplicates)} image(s) appear in both train and test (same pixels), "
            f"for example {' and '.join(first['files'])}. Delete one copy of each, or set "
            "`on_duplicate: warn` in the data set's config to only list them."
        )
    return FolderData(
        root=root,
        layout=layout,
        classes=options.classes,
        splits={split: _stack(loaded[split], image_size) for split in SPLITS},
        skipped=skipped,
        ignored=ignored,
        duplicates=duplicates,
        duplicates_within_split=within,
        held_out_split=held_out_split,
    )


def _read_split(files: list[tuple[Path, int]], root: Path, image_size: int,
                options: FolderOptions, skipped: list[dict[str, str]]
                ) -> list[tuple[str, int, LoadedImage]]:
    """Each (file, label) of a split read as an image; a bad one stops the load, or, with
    ``on_bad_image: skip``, is listed in ``skipped`` with its reason."""
    records = []
    for path, label in files:
        relative = _relative(path, root)
        try:
            image = read_image(path, image_size, options.resize, options.max_pixels)
        except BadImageError as error:
            if options.on_bad_image == "skip":
                skipped.append({"file": relative, "reason": error.reason})
                continue
            raise
        records.append((relative, label, image))
    return records


def _split_folders(root: Path, options: FolderOptions) -> dict[str, Path]:
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise CnnlabError(
            f"{root}: the data folder {what}. Check the data set's `path` in the config "
            "(a relative path is taken from the workflow's folder)."
        )
    train_dir = root / "train"
    test_dir = root / "test"
    if not train_dir.is_dir():
        raise CnnlabError(
            f"{train_dir}: the train folder is missing. The data folder needs train/ and "
            "test/ sub-folders (or train/ alone with `test_fraction`)."
        )
    if test_dir.is_dir():
        if options.test_fraction is not None:
            raise CnnlabError(
                f"{test_dir}: the data set has a test folder and the config also asks for "
                f"test_fraction = {options.test_fraction}. Remove `test_fraction` to use the "
                "test folder, or move the test folder away to split train/ instead."
            )
        return {"train": train_dir, "test": test_dir}
    if options.test_fraction is None:
        raise CnnlabError(
            f"{test_dir}: the test folder is missing. Add it, or set `test_fraction` "
            "(for example 0.2) in the data set's config to hold out part of train/ as the "
            "test split."
        )
    return {"train": train_dir}


def _resolve_layout(split_dirs: dict[str, Path], options: FolderOptions) -> str:
    has_folders = all(
        (split_dir / spec.folder).is_dir()
        for split_dir in split_dirs.values()
        for spec in options.classes
    )
    if options.layout == "auto":
        return "subfolders" if has_folders else "filename"
    if options.layout == "subfolders" and not has_folders:
        for split_dir in split_dirs.values():
            for spec in options.classes:
                if not (split_dir / spec.folder).is_dir():
                    raise CnnlabError(
                        f"{split_dir / spec.folder}: the sub-folder of class {spec.name} is "
                        "missing; `layout: subfolders` needs one sub-folder per class in "
                        f"each split ({', '.join(s.folder for s in options.classes)}). "
                        "Create it, or use `layout: filename`."
                    )
    return options.layout


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _scan(split_dir: Path, root: Path) -> tuple[list[Path], list[str]]:
    """Image files below ``split_dir`` (sorted, recursive) and the non-image files."""

    def fail(error: OSError) -> None:
        raise CnnlabError(
            f"{error.filename}: the folder cannot be listed ({error.strerror}). "
            "Give read permission or move it out of the data folder."
        )

    images: list[Path] = []
    ignored: list[str] = []
    visited: set[str] = set()
    top = os.path.realpath(split_dir)
    for folder, dirnames, filenames in os.walk(split_dir, onerror=fail, followlinks=True):
        real = os.path.realpath(folder)
        # a linked folder seen before, or one that holds the split folder (a link to `..`
        # would read the other split's images into this one): do not loop
        if real in visited or (real != top and os.path.commonpath([real, top]) == real):
            dirnames[:] = []
            if real not in visited:
                ignored.append(_relative(Path(folder), root))
            continue
        visited.add(real)
        dirnames[:] = sorted(name for name in dirnames if not _is_hidden(name))
        for name in sorted(filenames):
            if _is_hidden(name):
                continue
            path = Path(folder) / name
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                images.append(path)
            else:
                ignored.append(_relative(path, root))
    images.sort(key=lambda path: path.relative_to(split_dir).as_posix())
    return images, ignored


def _label_files(
    images: list[Path],
    split_dir: Path,
    root: Path,
    layout: str,
    options: FolderOptions,
    skipped: list[dict[str, str]],
) -> list[tuple[Path, int]]:
    """(path, label) of each image; unlabelled files raise or are skipped."""
    by_folder = {spec.folder: spec for spec in options.classes}
    patterns = ", ".join(f"{spec.pattern!r} ({spec.name})" for spec in options.classes)
    labelled = []
    for path in images:
        reason = None
        if layout == "subfolders":
            parts = path.relative_to(split_dir).parts
            spec = by_folder.get(parts[0]) if len(parts) > 1 else None
            if spec is None:
                reason = (
                    f"lies outside the class sub-folders ({', '.join(by_folder)}) of {split_dir}"
                )
                advice = f"Move it into its class's sub-folder or delete it, {SKIP_HINT}"
            else:
                labelled.append((path, spec.label))
        else:
            matches = [spec for spec in options.classes if spec.pattern in path.name]
            if len(matches) == 1:
                labelled.append((path, matches[0].label))
            elif not matches:
                reason = f"the file name contains none of the class patterns {patterns}"
            else:
                reason = "the file name contains more than one class pattern: " + ", ".join(
                    f"{spec.pattern!r} ({spec.name})" for spec in matches
                )
            advice = (
                "Rename or delete the file, or change the classes' `pattern` in the data "
                f"set's config, {SKIP_HINT}"
            )
        if reason is not None:
            if options.on_bad_image == "skip":
                skipped.append({"file": _relative(path, root), "reason": reason})
            else:
                raise BadImageError(path, reason, advice)
    return labelled


def _hold_out(
    records: list[tuple[str, int, LoadedImage]], options: FolderOptions
) -> tuple[list, list, dict]:
    """Stratified, seeded split of train into train and test.

    Per class, the files in name order are permuted by a generator seeded with
    (split_seed, label), and the first round(n * test_fraction) go to test (at least one
    and at most n - 1 when the class has two images or more).
    """
    fraction = float(options.test_fraction)
    test_positions: set[int] = set()
    per_class = {}
    for label in sorted({label for _, label, _ in records}):
        positions = [i for i, (_, lab, _) in enumerate(records) if lab == label]
        count = len(positions)
        n_test = round(count * fraction)
        if count >= 2:
            n_test = min(max(n_test, 1), count - 1)
        else:
            n_test = 0
        order = np.random.default_rng([options.split_seed, label]).permutation(count)
        test_positions.update(positions[i] for i in order[:n_test])
        name = next(spec.name for spec in options.classes if spec.label == label)
        per_class[name] = {"train": count - n_test, "test": n_test}
    train = [record for i, record in enumerate(records) if i not in test_positions]
    test = [record for i, record in enumerate(records) if i in test_positions]
    description = {
        "from": "train",
        "test_fraction": fraction,
        "seed": int(options.split_seed),
        "method": (
            "stratified by class: per class, files in name order permuted by "
            "numpy.random.default_rng([seed, label]); the first round(n * test_fraction) "
            "go to test"
        ),
        "counts": per_class,
    }
    return train, test, description


def _stack(records: list[tuple[str, int, LoadedImage]], image_size: int) -> SplitImages:
    x = np.empty((len(records), image_size, image_size, 1), dtype=np.float32)
    for i, (_, _, image) in enumerate(records):
        x[i, :, :, 0] = image.pixels
    return SplitImages(
        x=x,
        y=np.array([label for _, label, _ in records], dtype=np.int8),
        files=[relative for relative, _, _ in records],
        widths=[image.width for _, _, image in records],
        heights=[image.height for _, _, image in records],
        modes=[image.mode for _, _, image in records],
        hashes=[image.sha256 for _, _, image in records],
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
