"""Helpers that write small, real image folders for the data-path tests, and crafted
validation predictions for the report's tests."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32


def noise_image(seed: int, size: int = SIZE, mode: str = "L") -> Image.Image:
    """A random image, different for every seed (so no accidental duplicates)."""
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size, size, channels), dtype=np.uint8)
    if channels == 1:
        pixels = pixels[:, :, 0]
    return Image.fromarray(pixels, mode=mode)


def write_course_layout(
    root: Path,
    counts: dict[str, tuple[int, int]] | None = None,
    size: int = SIZE,
    seed: int = 0,
    extension: str = ".png",
) -> dict[str, list[Path]]:
    """root/<split>/Mel_<n>.png and Nev_<n>.png; counts are (Mel, Nev) per split."""
    counts = counts or {"train": (4, 4), "test": (2, 2)}
    written: dict[str, list[Path]] = {}
    number = seed * 10_000
    for split, (n_mel, n_nev) in counts.items():
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for class_name, count in (("Mel", n_mel), ("Nev", n_nev)):
            for _ in range(count):
                path = folder / f"{class_name}_{number:04d}{extension}"
                noise_image(number, size).save(path)
                paths.append(path)
                number += 1
        written[split] = paths
    return written


def write_subfolder_layout(
    root: Path,
    counts: dict[str, tuple[int, int]] | None = None,
    folders: tuple[str, str] = ("Mel", "Nev"),
    size: int = SIZE,
) -> dict[str, list[Path]]:
    """root/<split>/<class folder>/[nested/]img_<n>.png: names carry no class."""
    counts = counts or {"train": (4, 4), "test": (2, 2)}
    written: dict[str, list[Path]] = {}
    number = 0
    for split, class_counts in counts.items():
        paths = []
        for folder, count in zip(folders, class_counts):
            for index in range(count):
                nested = "batch1" if index % 2 else "."
                path = root / split / folder / nested / f"img_{number:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                noise_image(number, size).save(path)
                paths.append(path.resolve())
                number += 1
        written[split] = paths
    return written


def png_claiming_size(path: Path, width: int, height: int) -> None:
    """A 1x1 PNG whose header claims width x height (a decompression bomb's header)."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:20] = width.to_bytes(4, "big")
    data[20:24] = height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    path.write_bytes(bytes(data))


def leftovers(folder: Path) -> list[str]:
    """Every file or folder in ``folder`` (to show that nothing was left behind)."""
    return sorted(os.listdir(folder)) if folder.exists() else []


# labels of a crafted validation split: 80 Mel, 120 Nev (tests/test_report.py's MANIFEST)
TEST_LABELS = np.array([0] * 80 + [1] * 120, dtype=np.int8)


def crafted_predictions(val_accuracy: np.ndarray, seed: int, all_nev: bool = False) -> np.ndarray:
    """Outputs (epochs, images) that call round(accuracy * n) images right after each epoch:
    the easiest ones, by a difficulty fixed per image, so that runs disagree on few images
    when their accuracies are close. `all_nev` calls every image Nev (a model that finds no
    melanoma)."""
    rng = np.random.default_rng(seed)
    n = len(TEST_LABELS)
    difficulty = rng.permutation(n)
    margin = 0.05 + 0.4 * rng.random(n)
    outputs = np.empty((len(val_accuracy), n), dtype=np.float32)
    for row, accuracy in enumerate(val_accuracy):
        right = difficulty < round(float(accuracy) * n)
        if all_nev:
            right = TEST_LABELS == 1
        says_nev = np.where(right, TEST_LABELS == 1, TEST_LABELS == 0)
        outputs[row] = np.where(says_nev, 0.5 + margin, 0.5 - margin)
    return outputs
