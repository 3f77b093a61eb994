"""One image file -> a grayscale array of the lab's size: decoding with Pillow, EXIF
orientation, luma, resizing and scaling, and the one clear error a bad file gets.

Every image is decoded with Pillow, turned upright by its EXIF orientation, converted
to grayscale (ITU-R 601-2 luma, alpha dropped, as ``keras.utils.load_img`` does),
resized to ``image_size`` x ``image_size`` (aspect ratio not kept) and scaled to
float32 in [0, 1] (8-bit by 255, 16-bit by 65535).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnlab.errors import CnnlabError
from cnnlab.plan.config import dataset_defaults

# the schema's default, the one place it is written
DEFAULT_MAX_PIXELS = dataset_defaults("folder")["max_pixels"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""File extensions read as images, in any letter case."""

RESAMPLING_METHODS = {
    "bilinear": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
}
"""``resize`` choices. ``area`` averages the source pixels each target pixel covers."""


_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
SKIP_HINT = "or set `on_bad_image: skip` in the data set's config to leave such files out"


class BadImageError(CnnlabError):
    """One file that cannot be used; ``reason`` says why without naming the file."""

    def __init__(self, path: Path, reason: str, advice: str):
        # a name with a newline (or another control character) is shown quoted, so that
        # the message stays one line
        shown = str(path) if str(path).isprintable() else repr(str(path))
        super().__init__(f"{shown}: {reason}. {advice}.")
        self.path = path
        self.reason = reason



@dataclass(frozen=True)
class LoadedImage:
    """One decoded image: pixels (image_size, image_size) float32 in [0, 1], and facts
    about the original file (size after EXIF orientation, Pillow mode) and the hash of
    the prepared pixels."""

    pixels: np.ndarray
    width: int
    height: int
    mode: str
    sha256: str


@contextlib.contextmanager
def _pixel_limit(max_pixels: int) -> Iterator[None]:
    """Make Pillow's own decompression-bomb check use ``max_pixels``; warnings are errors.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` and refuses above twice that. The
    module-level limit is restored afterwards.
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def read_image(
    path: Path,
    image_size: int,
    resize: str = "bilinear",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Decode one image file to a (image_size, image_size) float32 grayscale array.

    Raises :class:`BadImageError` (a :class:`CnnlabError`) naming the file when it cannot
    be used.
    """
    path = Path(path)
    advice = f"Replace or delete the file, {SKIP_HINT}"
    try:
        stream = _open_regular_file(path, advice)
    except PermissionError:
        raise BadImageError(
            path,
            "cannot be read (permission denied)",
            f"Give read permission (for example `chmod a+r`), {SKIP_HINT}",
        ) from None
    except FileNotFoundError:
        raise BadImageError(
            path, "cannot be read (it vanished, or is a broken link)", advice
        ) from None
    except OSError as error:
        raise BadImageError(path, f"cannot be read ({error.strerror or error})", advice) from None
    with stream:
        return _decode(stream, path, image_size, resize, max_pixels, advice)


def _open_regular_file(path: Path, advice: str):
    """``path`` opened for reading, after checking that it is a regular file with bytes.

    It is opened without blocking and then checked through its descriptor: a FIFO (or a
    device, a socket) named like an image would block a plain ``open`` or read forever,
    and a check before opening could be raced by swapping the file."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            kind = "a FIFO (named pipe)" if stat.S_ISFIFO(status.st_mode) else "a device or socket"
            raise BadImageError(path, f"is not a regular file but {kind}", advice)
        if status.st_size == 0:
            raise BadImageError(path, "is empty (0 bytes)", advice)
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _decode(stream, path: Path, image_size: int, resize: str, max_pixels: int,
            advice: str) -> LoadedImage:
    """The image in ``stream`` (the opened ``path``), decoded, or one BadImageError."""
    too_big = f"has more than max_pixels = {max_pixels:,} pixels (decompression-bomb guard)"
    too_big_advice = (
        "Shrink the image, raise `max_pixels` in the data set's config if it is a real "
        f"image, {SKIP_HINT}"
    )
    try:
        with _pixel_limit(max_pixels), Image.open(stream) as opened:
            width, height = opened.size
            if width * height > max_pixels:
                raise BadImageError(path, f"{too_big}: {width} x {height}", too_big_advice)
            opened.load()
            upright = ImageOps.exif_transpose(opened)
    except BadImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImageError(path, too_big, too_big_advice) from None
    except UnidentifiedImageError:
        raise BadImageError(
            path,
            f"is not an image that Pillow can read (not really a {path.suffix} file, or "
            "its header is corrupt)",
            advice,
        ) from None
    except Exception as error:  # noqa: BLE001 - Pillow plugins raise many types on bad data
        raise BadImageError(path, f"is truncated or corrupt (Pillow: {error})", advice) from None

    pixels = _to_gray_array(upright, path, image_size, RESAMPLING_METHODS[resize], advice)
    # the hash of what the model sees: an RGB re-save of a grayscale PNG, or the same
    # picture as a TIFF, is the same image to the model, so a leak or a contradiction
    digest = hashlib.sha256(f"{pixels.shape};".encode() + pixels.tobytes()).hexdigest()
    return LoadedImage(
        pixels=pixels,
        width=upright.width,
        height=upright.height,
        mode=upright.mode,
        sha256=digest,
    )


def _to_gray_array(
    image: Image.Image, path: Path, image_size: int, method: int, advice: str
) -> np.ndarray:
    """Grayscale, resized, float32 in [0, 1]."""
    target = (image_size, image_size)
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if image.mode == "F":
            scale = 1.0
            if values.size and (np.nanmin(values) < 0 or np.nanmax(values) > 1):
                raise BadImageError(
                    path,
                    "holds 32-bit floating-point pixels outside [0, 1]",
                    f"Convert it to an 8- or 16-bit image, {SKIP_HINT}",
                )
        else:
            scale = 65535.0
            if values.size and (values.min() < 0 or values.max() > 65535):
                raise BadImageError(
                    path,
                    "holds 32-bit integer pixels beyond the 16-bit range",
                    f"Convert it to an 8- or 16-bit image, {SKIP_HINT}",
                )
        floating = Image.fromarray((values / scale).astype(np.float32), mode="F")
        if floating.size != target:
            floating = floating.resize(target, method)
        return np.clip(np.asarray(floating, dtype=np.float32), 0.0, 1.0)
    try:
        if image.mode in ("P", "PA"):
            image = image.convert("RGBA")
        gray = image if image.mode == "L" else image.convert("L")
    except Exception as error:  # noqa: BLE001 - an exotic mode Pillow cannot convert
        raise BadImageError(
            path, f"has pixel mode {image.mode} that cannot be made grayscale ({error})", advice
        ) from None
    if gray.size != target:
        gray = gray.resize(target, method)
    return np.asarray(gray, dtype=np.float32) / np.float32(255.0)

