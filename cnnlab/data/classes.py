"""The two classes of a data set: name, label, file-name pattern and sub-folder, read from a
checked config entry and checked together (what a schema cannot say about them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class ClassSpec:
    """One class: its name, label, file-name pattern and sub-folder name."""

    name: str
    label: int
    pattern: str
    folder: str


DEFAULT_CLASSES = (
    ClassSpec(name="Mel", label=0, pattern="Mel", folder="Mel"),
    ClassSpec(name="Nev", label=1, pattern="Nev", folder="Nev"),
)


def classes_from_config(entries: Sequence[dict]) -> tuple[ClassSpec, ...]:
    """``classes: [{name, label, pattern?, folder?}, ...]`` of a checked entry as specs; a
    class's pattern and folder default to its name."""
    return tuple(
        ClassSpec(
            name=entry["name"],
            label=int(entry["label"]),
            pattern=entry.get("pattern", entry["name"]),
            folder=entry.get("folder", entry["name"]),
        )
        for entry in entries
    )


def check_classes(classes: Sequence[ClassSpec]) -> None:
    labels = sorted(spec.label for spec in classes)
    if labels != [0, 1]:
        raise CnnlabError(
            "classes must name exactly two classes with labels 0 and 1 "
            f"(0 = Mel, 1 = Nev in the lab), got labels {labels}."
        )
    for key in ("name", "pattern", "folder"):
        values = [getattr(spec, key) for spec in classes]
        if len(set(values)) != len(values):
            raise CnnlabError(f"classes: two classes have the same {key} {values[0]!r}.")
    for spec in classes:
        if "/" in spec.folder or "\\" in spec.folder or spec.folder in (".", ".."):
            raise CnnlabError(
                f"classes: folder {spec.folder!r} of class {spec.name} must be a plain "
                "folder name, without slashes."
            )
