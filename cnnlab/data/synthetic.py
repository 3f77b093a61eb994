"""A deterministic generator of synthetic skin-lesion images (melanoma vs nevus).

The course data is not public, so the workflow's default data set is made here. Each
image is an 8-bit grayscale PNG of one pigmented lesion on skin, written in the course
layout (``root/train/Mel_000123.png``, ``root/test/Nev_001042.png``).

The two classes differ the way the dermatologists' ABCD rule says:

- **A**symmetry: a melanoma is more elongated and lopsided (low-order harmonics of its
  outline are larger);
- **B**order: a melanoma's outline is ragged and notched (high-order harmonics and a
  noisy edge), a nevus's outline is round and smooth;
- **C**olour: a melanoma is variegated (several dark blotches, lighter regression
  areas, uneven pigment), a nevus is evenly pigmented;
- **D**iameter: a melanoma is larger on average.

Every image draws one latent *severity* in [0, 1] from a class-dependent Beta
distribution, and every ABCD feature from that severity plus its own noise. The two
Beta distributions overlap, and a fraction of the images (``ambiguous_fraction``) draw
their severity from the other class's distribution, so that no model can reach 100 %:
a small CNN gets clearly above chance and clearly below perfect, and a big one
overfits. Nuisances that are the same for both classes: skin texture, a few hairs,
an uneven illumination gradient, vignetting and sometimes the dark ring of a
dermatoscope's lens, exposure and sensor noise.

Every image has its own random generator, seeded by (seed, split, index), so the files
do not depend on the order in which they are made, and the same seed gives
byte-identical files.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cnnlab.errors import CnnlabError

CLASS_NAMES = ("Mel", "Nev")
"""Class names by label: 0 = Mel (melanoma), 1 = Nev (nevus)."""

SPLITS = ("train", "test")

MIN_IMAGE_SIZE = 16

# Severity ~ Beta(a, b) for melanoma, Beta(b, a) for nevus: overlapping on purpose.
_SEVERITY_BETA = (5.0, 2.0)
_DEFAULT_AMBIGUOUS_FRACTION = 0.06
_ANGLE_STEPS = 360


def generate(
    root: Path,
    n_train: int = 1000,
    n_test: int = 200,
    image_size: int = 128,
    seed: int = 0,
    mel_fraction: float = 0.5,
    *,
    ambiguous_fraction: float = _DEFAULT_AMBIGUOUS_FRACTION,
) -> dict[str, list[Path]]:
    """Write a synthetic data set under ``root`` in the course layout.

    ``root/train/`` gets ``n_train`` images and ``root/test/`` gets ``n_test``; in each
    split ``round(n * mel_fraction)`` are melanomas. Files are numbered across both
    splits (``Mel_000000.png`` ...), so a file name is unique in the whole data set.
    Returns the written paths per split, in file-number order.
    """
    _check_arguments(n_train, n_test, image_size, seed, mel_fraction, ambiguous_fraction)
    root = Path(root)
    written: dict[str, list[Path]] = {}
    first_number = 0
    for split_code, (split, count) in enumerate(zip(SPLITS, (n_train, n_test))):
        split_dir = root / split
        split_dir.mkdir(parents=True, exist_ok=True)
        labels = _split_labels(count, mel_fraction, seed, split_code)
        paths = []
        for index, label in enumerate(labels):
            rng = np.random.default_rng([seed, split_code, index, 1])
            pixels = render_lesion(
                rng, melanoma=label == 0, size=image_size, ambiguous_fraction=ambiguous_fraction
            )
            path = split_dir / f"{CLASS_NAMES[label]}_{first_number + index:06d}.png"
            Image.fromarray(pixels, mode="L").save(path, format="PNG")
            paths.append(path)
        written[split] = paths
        first_number += count
    return written


def _check_arguments(n_train, n_test, image_size, seed, mel_fraction, ambiguous_fraction):
    for name, value, minimum in (("n_train", n_train, 2), ("n_test", n_test, 2)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < minimum:
            raise CnnlabError(
                f"synthetic data set: {name} must be an integer >= {minimum} "
                f"(both classes in each split), got {value!r}."
            )
    if (
        not isinstance(image_size, int | np.integer)
        or isinstance(image_size, bool)
        or image_size < MIN_IMAGE_SIZE
    ):
        raise CnnlabError(
            f"synthetic data set: image_size must be an integer >= {MIN_IMAGE_SIZE}, "
            f"got {image_size!r}."
        )
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise CnnlabError(f"synthetic data set: seed must be an integer >= 0, got {seed!r}.")
    if not isinstance(mel_fraction, int | float) or not 0 < mel_fraction < 1:
        raise CnnlabError(
            f"synthetic data set: mel_fraction must be a number between 0 and 1 "
            f"(exclusive), got {mel_fraction!r}."
        )
    if not isinstance(ambiguous_fraction, int | float) or not 0 <= ambiguous_fraction < 0.5:
        raise CnnlabError(
            f"synthetic data set: ambiguous_fraction must be a number in [0, 0.5), "
            f"got {ambiguous_fraction!r}."
        )
    for split, count in zip(SPLITS, (n_train, n_test)):
        n_mel = round(count * mel_fraction)
        if n_mel < 1 or n_mel > count - 1:
            raise CnnlabError(
                f"synthetic data set: with mel_fraction {mel_fraction} the {split} split of "
                f"{count} images would hold only one class; raise the count or move "
                f"mel_fraction towards 0.5."
            )


def _split_labels(count: int, mel_fraction: float, seed: int, split_code: int) -> np.ndarray:
    """Labels of one split: exactly round(count * mel_fraction) zeros, in seeded order."""
    n_mel = round(count * mel_fraction)
    labels = np.array([0] * n_mel + [1] * (count - n_mel), dtype=np.int8)
    return np.random.default_rng([seed, split_code, 0]).permutation(labels)


def render_lesion(
    rng: np.random.Generator,
    melanoma: bool,
    size: int = 128,
    ambiguous_fraction: float = _DEFAULT_AMBIGUOUS_FRACTION,
) -> np.ndarray:
    """One synthetic lesion image: uint8 array (size, size), drawn from ``rng`` alone."""
    x, y = _grid(size)

    # Severity: the latent variable behind every ABCD feature.
    looks_malignant = melanoma if rng.random() >= ambiguous_fraction else not melanoma
    a, b = _SEVERITY_BETA
    severity = rng.beta(a, b) if looks_malignant else rng.beta(b, a)

    # Shape: star-shaped outline r(theta) around a jittered centre.
    centre_x, centre_y = np.clip(rng.normal(0.0, 0.12, 2), -0.3, 0.3).tolist()
    radius = float(np.clip(0.26 + 0.34 * severity + rng.normal(0.0, 0.07), 0.14, 0.8))
    outline = _outline(rng, severity, radius)
    dx, dy = x - centre_x, y - centre_y
    theta = np.arctan2(dy, dx)
    angle_index = ((theta + math.pi) * (_ANGLE_STEPS / (2 * math.pi))).astype(np.intp)
    distance = np.hypot(dx, dy) / outline[angle_index % _ANGLE_STEPS]
    ragged = _smooth_noise(rng, size, int(rng.integers(8, 16)))
    distance = distance + ragged * (0.01 + 0.11 * severity)
    softness = rng.uniform(0.025, 0.07)
    lesion = _sigmoid((1.0 - distance) / softness)

    # Pigment: darker centre, uneven pigment, dark blotches, light regression areas.
    contrast = float(np.clip(0.28 + 0.30 * severity + rng.normal(0.0, 0.08), 0.12, 0.8))
    profile = 0.7 + 0.3 * np.clip(1.0 - distance**2, 0.0, 1.0)
    darkness = contrast * profile
    uneven = _smooth_noise(rng, size, int(rng.integers(4, 8)))
    darkness = darkness + (0.02 + 0.14 * severity) * uneven
    blotch_field = _smooth_noise(rng, size, int(rng.integers(5, 10)))
    blotch_threshold = 1.5 - 1.6 * severity + rng.normal(0.0, 0.25)
    blotches = np.clip((blotch_field - blotch_threshold) / 0.6, 0.0, 1.0)
    darkness = darkness + rng.uniform(0.1, 0.3) * blotches
    if rng.random() < 0.45 * severity:
        regression_field = _smooth_noise(rng, size, int(rng.integers(3, 6)))
        regression = np.clip((regression_field - 0.9) / 0.5, 0.0, 1.0)
        darkness = darkness - rng.uniform(0.1, 0.25) * regression
    granules = _smooth_noise(rng, size, max(4, size // 4))
    darkness = darkness + rng.uniform(0.02, 0.06) * granules
    darkness = np.clip(darkness, 0.0, 0.92)

    # Skin: base tone, texture, lesion.
    skin_tone = rng.uniform(0.6, 0.86)
    texture = 0.02 * _smooth_noise(rng, size, int(rng.integers(12, 24)))
    texture += 0.015 * _smooth_noise(rng, size, max(4, size // 2))
    image = skin_tone * (1.0 + texture) * (1.0 - lesion * darkness)

    image = _with_nuisances(rng, image, x, y, size)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def _with_nuisances(rng: np.random.Generator, image: np.ndarray, x: np.ndarray, y: np.ndarray,
                    size: int) -> np.ndarray:
    """The lesion's image as a camera takes it: hairs, an illumination gradient, vignetting,
    sometimes a lens ring, an exposure and noise (drawn from ``rng`` in this order)."""
    image = image * (1.0 - _hairs(rng, size))
    direction = rng.uniform(0.0, 2 * math.pi)
    gradient = rng.uniform(0.0, 0.14)
    image = image * (1.0 + gradient * (math.cos(direction) * x + math.sin(direction) * y))
    corner = np.clip((x * x + y * y) / 2.0, 0.0, 1.0)
    image = image * (1.0 - rng.uniform(0.05, 0.45) * corner ** rng.uniform(1.2, 3.0))
    if rng.random() < 0.25:
        ring_radius = rng.uniform(1.0, 1.35)
        inside = _sigmoid((ring_radius - np.hypot(x, y)) / rng.uniform(0.015, 0.05))
        image = image * (0.06 + 0.94 * inside)
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    return image * rng.uniform(0.9, 1.08) + np.float32(0.012) * noise


def _outline(rng: np.random.Generator, severity: float, radius: float) -> np.ndarray:
    """Lesion radius for each of _ANGLE_STEPS angles in [-pi, pi)."""
    angles = np.linspace(-math.pi, math.pi, _ANGLE_STEPS, endpoint=False)
    # Elongation (asymmetry A): an ellipse of equal area.
    aspect = 1.0 + rng.uniform(0.0, 0.12 + 0.5 * severity)
    tilt = rng.uniform(0.0, math.pi)
    ellipse = 1.0 / np.sqrt(
        (np.cos(angles - tilt) / math.sqrt(aspect)) ** 2
        + (np.sin(angles - tilt) * math.sqrt(aspect)) ** 2
    )
    # Lopsidedness (A) from low harmonics, raggedness (B) from high ones.
    orders = np.arange(1, 25)
    spread = np.where(
        orders <= 3,
        0.02 + 0.11 * severity,
        (0.003 + 0.022 * severity) * np.sqrt(5.0 / orders),
    )
    amplitudes = rng.normal(0.0, 1.0, orders.size) * spread
    phases = rng.uniform(0.0, 2 * math.pi, orders.size)
    wobble = (amplitudes[:, None] * np.cos(orders[:, None] * angles + phases[:, None])).sum(0)
    return (radius * ellipse * np.clip(1.0 + wobble, 0.35, None)).astype(np.float32)


def _hairs(rng: np.random.Generator, size: int) -> np.ndarray:
    """Darkening (0 = none .. <1) by a few thin curved hairs, antialiased."""
    count = min(int(rng.poisson(1.3)), 7)
    if count == 0:
        return np.zeros((size, size), dtype=np.float32)
    scale = 2  # draw at twice the size, then average down: antialiased, sub-pixel width
    canvas = Image.new("L", (size * scale, size * scale), 0)
    draw = ImageDraw.Draw(canvas)
    steps = np.linspace(0.0, 1.0, 24)[:, None]
    extent = size * scale
    for _ in range(count):
        start, control, end = rng.uniform(-0.2, 1.2, (3, 2)) * extent
        curve = (1 - steps) ** 2 * start + 2 * (1 - steps) * steps * control + steps**2 * end
        width = int(rng.integers(1, 3)) * max(1, size // 128)
        shade = int(rng.integers(120, 230))
        draw.line([tuple(point) for point in curve.tolist()], fill=shade, width=width)
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / np.float32(255.0)


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1] (x to the right, y downwards)."""
    axis = ((np.arange(size) + 0.5) / size * 2.0 - 1.0).astype(np.float32)
    x, y = np.meshgrid(axis, axis)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


@functools.lru_cache(maxsize=64)
def _interpolation(size: int, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``size`` pixels: the coarse cell below it and the two cells' weights."""
    position = (np.arange(size) + 0.5) / size * cells
    lower = np.floor(position).astype(np.intp)
    fraction = position - lower
    upper_weight = (fraction * fraction * (3.0 - 2.0 * fraction)).astype(np.float32)  # smoothstep
    lower_weight = np.float32(1.0) - upper_weight
    for array in (lower, lower_weight, upper_weight):
        array.flags.writeable = False
    return lower, lower_weight, upper_weight


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field of about unit standard deviation with ``cells`` blobs a side.

    A coarse (cells + 1)^2 grid of normal values, interpolated with smoothstep weights
    first along rows, then along columns (elementwise: no BLAS threads involved).
    """
    coarse = rng.standard_normal((cells + 1, cells + 1), dtype=np.float32)
    lower, lower_weight, upper_weight = _interpolation(size, cells)
    rows = coarse[lower] * lower_weight[:, None] + coarse[lower + 1] * upper_weight[:, None]
    field = rows[:, lower] * lower_weight + rows[:, lower + 1] * upper_weight
    field -= field.mean()
    field /= field.std() + np.float32(1e-6)
    return field


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))
