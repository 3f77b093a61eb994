"""Checks of a data set's loaded splits as a whole: both classes in each split, images
with identical pixels (across splits, within one), and whether the data can teach anything.

:func:`sanity` finds what makes a data set contradictory or information-free, or its
images poor: identical pixels under both labels, a split whose images are all one
picture or all of one grey level, images blown up more than ``MAX_UPSCALE`` times to the
lab's size, or with an aspect ratio beyond ``MAX_ASPECT`` to 1 (squashed square). The
preparation says each on the terminal and records it in the manifest; a contradictory or
information-free data set is refused unless its config says ``allow_degenerate: true``.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnlab.data.image_file import IMAGE_EXTENSIONS
from cnnlab.errors import CnnlabError

if TYPE_CHECKING:
    from cnnlab.data.classes import ClassSpec
    from cnnlab.data.image_file import LoadedImage

SPLITS = ("train", "test")
MAX_UPSCALE = 4  # a side blown up more than this: the image holds little detail
MAX_ASPECT = 4  # longer side over shorter side
CONTRADICTORY_SHARE = 0.5  # of a split's images in sets of identical pixels with both labels
EXAMPLES = 3  # files named per finding


def check_both_classes(
    split: str,
    split_dir: Path,
    records: list[tuple[str, int, LoadedImage]],
    classes: Sequence[ClassSpec],
    skipped: Sequence[dict] = (),
) -> None:
    if not records:
        left_out = [f"{shown(item['file'])} ({item['reason']})" for item in skipped
                    if item["file"].startswith(f"{split}/")]
        raise CnnlabError(
            f"{split_dir}: no usable image is left in the {split} split"
            + (f"; left out: {_examples(left_out)}" if left_out else "")
            + ". Fix or replace the images."
        )
    present = {label for _, label, _ in records}
    missing = [spec for spec in classes if spec.label not in present]
    if missing:
        have = [spec.name for spec in classes if spec.label in present]
        raise CnnlabError(
            f"{split_dir}: the {split} split holds images of class {', '.join(have)} only, "
            f"none of class {', '.join(spec.name for spec in missing)}. Each split needs "
            "both classes: add images, or check the classes' patterns or folders in the "
            "config."
        )


def find_duplicates(
    loaded: dict[str, list[tuple[str, int, LoadedImage]]],
) -> tuple[list[dict], list[dict]]:
    """Sets of files with identical pixels: across splits, and within one split."""
    by_pixels: dict[str, list[tuple[str, str, int]]] = collections.defaultdict(list)
    for split in SPLITS:
        for relative, label, image in loaded[split]:
            by_pixels[image.sha256].append((split, relative, label))
    across, within = [], []
    for digest, members in by_pixels.items():
        if len(members) < 2:
            continue
        entry = {
            "sha256": digest,
            "files": [relative for _, relative, _ in members],
            "splits": [split for split, _, _ in members],
            "labels": [label for _, _, label in members],
        }
        (across if len({split for split, _, _ in members}) > 1 else within).append(entry)
    return across, within


def sanity(splits: dict, image_size: int) -> dict:
    """What makes the data poor, by split (``splits``: cnnlab.data.images.SplitImages):
    ``contradictory`` (sets of identical pixels under both labels, with the share of
    the split they hold), ``identical`` / ``constant`` (every image of the split one
    picture / of one grey level), ``upscaled`` and ``skewed`` (files)."""
    found: dict = {}
    for split in SPLITS:
        images = splits[split]
        labels_by_hash: dict[str, set[int]] = collections.defaultdict(set)
        for digest, label in zip(images.hashes, images.y.tolist(), strict=True):
            labels_by_hash[digest].add(label)
        both = {digest for digest, labels in labels_by_hash.items() if len(labels) > 1}
        clashing = [name for name, digest in zip(images.files, images.hashes, strict=True)
                    if digest in both]
        flat = images.x.reshape(len(images.x), -1)
        short = [min(w, h) for w, h in zip(images.widths, images.heights, strict=True)]
        found[split] = {
            "images": len(images.files),
            "contradictory": clashing,
            "contradictory_share": round(len(clashing) / max(1, len(images.files)), 6),
            "identical": len(set(images.hashes)) == 1,
            "constant": bool(np.all(flat.max(axis=1) == flat.min(axis=1))),
            "upscaled": [name for name, side in zip(images.files, short, strict=True)
                         if side * MAX_UPSCALE < image_size],
            "skewed": [name for name, w, h in zip(images.files, images.widths, images.heights,
                                                  strict=True)
                       if max(w, h) > MAX_ASPECT * max(1, min(w, h))],
        }
    return found


def sanity_lines(found: dict, where: str) -> list[str]:
    """One line per finding of :func:`sanity`, naming the data set, the split and examples."""
    lines = []
    for split, facts in found.items():
        head = f"{where}: the {split} split"
        if facts["identical"]:
            lines.append(f"{head}: all {facts['images']} images are one and the same picture")
        elif facts["constant"]:
            lines.append(f"{head}: every image is of one grey level (blank)")
        if facts["contradictory"]:
            lines.append(f"{head}: {len(facts['contradictory'])} images have identical pixels "
                         f"under both labels, e.g. {_examples(facts['contradictory'])}")
        if facts["upscaled"]:
            lines.append(f"{head}: {len(facts['upscaled'])} images are blown up more than "
                         f"{MAX_UPSCALE}x to the lab's size, e.g. {_examples(facts['upscaled'])}")
        if facts["skewed"]:
            lines.append(f"{head}: {len(facts['skewed'])} images have an aspect ratio beyond "
                         f"{MAX_ASPECT}:1 (squashed square), e.g. {_examples(facts['skewed'])}")
    return lines


def leak_lines(across: list[dict], where: str) -> list[str]:
    """One line for the sets of :func:`find_duplicates` that span train and test: the
    model is tested on pictures it was trained on."""
    if not across:
        return []
    pairs = [" = ".join(shown(name) for name in copies["files"][:2]) for copies in across]
    test_count = sum(split == "test" for copies in across for split in copies["splits"])
    line = (f"{where}: {test_count} test image(s) have the same pixels as train images (a "
            f"train/test leak: the test scores come out too good), e.g. {_examples(pairs)}. "
            "Delete one copy of each, or set `on_duplicate: error` to refuse such data")
    return [line]


def left_out_lines(skipped: list[dict], ignored: list[str], where: str) -> list[str]:
    """One line for the files the preparation left out as unusable (``on_bad_image:
    skip``), one for the files it does not read: a few named, then a count."""
    lines = []
    if skipped:
        named = [f"{shown(item['file'])} ({item['reason']})" for item in skipped]
        lines.append(f"{where}: {len(skipped)} file(s) left out as unusable (on_bad_image: "
                     f"skip): {_examples(named)}. Fix or replace them to train on them")
    if ignored:
        lines.append(f"{where}: {len(ignored)} file(s) left out, not being images of a kind "
                     f"cnnlab reads ({', '.join(IMAGE_EXTENSIONS)}): {_examples(ignored)}. "
                     "Convert them to PNG to train on them, or move them out of the data folder")
    return lines


def shown(name: str) -> str:
    """A file name as one printable line: quoted and escaped when it holds a newline or
    another control character."""
    return name if name.isprintable() else repr(name)


def degenerate(found: dict) -> str | None:
    """Why the data cannot teach anything, or None: a split all one picture or blank, or
    mostly identical pixels under both labels."""
    for split, facts in found.items():
        if facts["identical"] or facts["constant"]:
            return f"the {split} split holds no information (all one picture, or blank)"
        if facts["contradictory_share"] >= CONTRADICTORY_SHARE:
            return (f"{facts['contradictory_share']:.0%} of the {split} split are identical "
                    "pixels under both labels (contradictory)")
    return None


def _examples(names: list[str]) -> str:
    listed = ", ".join(shown(name) for name in names[:EXAMPLES])
    return listed + (f" and {len(names) - EXAMPLES} more" if len(names) > EXAMPLES else "")
