"""The prepared arrays (``arrays.npz``): their keys, their content hash and their readers.

cnnlab.data.prepare writes the file (:func:`cnnlab.data.prepare.prepare_dataset`); this module is
its reader beside it, for both of its readers:

- :func:`load_prepared`: every array of the contract as NumPy holds it (float32 images),
  for tests and notebooks;
- :func:`load_training_arrays`: what a training holds in memory, read in one pass.

The content hash (:func:`arrays_sha256`, the data manifest's ``arrays_sha256`` and a
training record's ``data_sha256``) is sha256 over each array in sorted key order: its
key, dtype and shape (:func:`_hash_header`), then its C-order bytes. The training's
reader feeds the same digest chunk by chunk as it reads, so both give the same value.

Memory
    A training holds each split once: images as 8-bit codes (a quarter of float32's
    memory) whenever every pixel is exactly an 8-bit level ``k / 255`` (always so for
    8-bit images and the synthetic data), else as float32. The file is read in chunks
    of 4 MiB, each hashed and coded as it is read, so no second copy of the images is
    ever made.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.errors import CnnlabError

ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test", "train_files", "test_files")
"""The arrays of the contract; arrays.npz also holds ``class_names`` (by label)."""
TRAINING_KEYS = ("x_train", "y_train", "x_test", "y_test")
"""The arrays a training holds in memory."""
_IMAGE_KEYS = ("x_train", "x_test")

# the float32 value of each 8-bit code, computed as cnnlab.data.images does (pixel / 255);
# float32 division is exact-rounded, so TensorFlow's code / 255 gives the same bits
EIGHT_BIT_SCALE = 255.0
EIGHT_BIT_VALUES = np.arange(256, dtype=np.float32) / np.float32(EIGHT_BIT_SCALE)
_READ_CHUNK_VALUES = 1 << 20  # images are read, hashed and coded 4 MiB at a time


# -- the content hash -------------------------------------------------------------------


def arrays_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """Content hash of arrays: sha256 over each array in sorted key order
    (key, dtype, shape, then its C-order bytes)."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        _hash_array(digest, key, arrays[key])
    return digest.hexdigest()


def _hash_array(digest, key: str, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array)
    _hash_header(digest, key, array.dtype, array.shape)
    digest.update(memoryview(array.reshape(-1).view(np.uint8)))


def _hash_header(digest, key: str, dtype: np.dtype, shape: tuple) -> None:
    """What the hash takes of an array before its bytes (a reader that streams the
    bytes feeds them to ``digest`` itself)."""
    digest.update(f"{key};{np.dtype(dtype).str};{tuple(shape)};".encode())


# -- every array, as NumPy holds it -----------------------------------------------------


@dataclass(frozen=True)
class PreparedData:
    """A prepared data set as NumPy holds it."""

    x_train: np.ndarray  # (N, H, W, 1) float32 in [0, 1]
    y_train: np.ndarray  # (N,) int8, 0 = Mel, 1 = Nev
    x_test: np.ndarray
    y_test: np.ndarray
    train_files: np.ndarray  # str, paths relative to the data root
    test_files: np.ndarray
    class_names: tuple[str, ...] = ("Mel", "Nev")  # by label

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[1])


def load_prepared(arrays_path: Path) -> PreparedData:
    """Read an ``arrays.npz`` written by :func:`cnnlab.data.prepare.prepare_dataset`."""
    arrays_path = Path(arrays_path)
    if not arrays_path.is_file():
        raise CnnlabError(
            f"{arrays_path}: the prepared data is missing. Run the prepare_data rule "
            "(snakemake makes it before training)."
        )
    try:
        with np.load(arrays_path, allow_pickle=False) as stored:
            missing = [key for key in ARRAY_KEYS if key not in stored.files]
            if missing:
                raise CnnlabError(
                    f"{arrays_path}: the prepared data lacks {', '.join(missing)}; it was "
                    "not written by this cnnlab. Delete it and run the prepare_data rule."
                )
            arrays = {key: stored[key] for key in ARRAY_KEYS}
            names = (
                tuple(str(n) for n in stored["class_names"]) if "class_names" in stored else None
            )
    except (OSError, ValueError) as error:
        raise _unreadable(arrays_path, error) from None
    return PreparedData(**arrays, class_names=names or ("Mel", "Nev"))


def load_test_split(arrays_path: Path) -> SplitArrays:
    """The validation (test split) images and labels of an ``arrays.npz``, read without the
    training split: for the report's figures and the partial report."""
    arrays_path = Path(arrays_path)
    if not arrays_path.is_file():
        load_prepared(arrays_path)  # raises its one clear message
    try:
        with np.load(arrays_path, allow_pickle=False) as stored:
            if "x_test" not in stored.files or "y_test" not in stored.files:
                load_prepared(arrays_path)  # raises its one clear message
            return SplitArrays(np.asarray(stored["x_test"], np.float32),
                               np.asarray(stored["y_test"], np.int8))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise _unreadable(arrays_path, error) from None


def _unreadable(arrays_path: Path, error: Exception) -> CnnlabError:
    return CnnlabError(
        f"{arrays_path}: the prepared data cannot be read ({error}). Delete it and run "
        "the prepare_data rule."
    )


# -- what a training holds --------------------------------------------------------------


@dataclass
class SplitArrays:
    """One split in memory: images (N, H, W, 1) and labels (N,) int8.

    ``images`` holds either 8-bit codes (``coded``, uint8) whose float32 values are
    ``code / 255`` (EIGHT_BIT_VALUES), bit for bit the prepared float32 pixels, or the
    float32 pixels themselves, when some pixel is not an 8-bit level.
    """

    images: np.ndarray
    labels: np.ndarray
    coded: bool = False

    def float_images(self) -> np.ndarray:
        return EIGHT_BIT_VALUES[self.images] if self.coded else self.images


@dataclass
class TrainingArrays:
    """A prepared arrays.npz as a training holds it: both splits and the content hash."""

    train: SplitArrays
    test: SplitArrays
    sha256: str  # arrays_sha256 of every array in the file

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(size) for size in self.train.images.shape[1:])

    @property
    def storage(self) -> str:
        """``uint8`` when both splits are held as 8-bit codes, else ``float32``."""
        return "uint8" if self.train.coded and self.test.coded else "float32"


def load_training_arrays(arrays_path: str | os.PathLike, compact: bool = True) -> TrainingArrays:
    """Read a prepared arrays.npz in one pass.

    Each array is read once, in chunks: hashed on the way (:func:`arrays_sha256`) and,
    for the images, turned into 8-bit codes where every pixel is exactly an 8-bit level
    (``compact``; a quarter of the memory), else kept as float32.
    """
    arrays_path = Path(arrays_path)
    if not arrays_path.is_file():
        load_prepared(arrays_path)  # raises its one clear message
    try:
        with zipfile.ZipFile(arrays_path) as archive:
            arrays, sha256 = _read_archive(archive, arrays_path, compact)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise _unreadable(arrays_path, error) from None
    splits = {split: _checked_split(arrays, split, arrays_path) for split in ("train", "test")}
    if splits["train"].images.shape[1:] != splits["test"].images.shape[1:]:
        raise CnnlabError(f"{arrays_path}: train and test images differ in size")
    return TrainingArrays(splits["train"], splits["test"], sha256)


def _read_archive(archive: zipfile.ZipFile, arrays_path: Path, compact: bool):
    """({key: array, or (images, coded) for the images}, content hash) of TRAINING_KEYS."""
    members = {name[: -len(".npy")]: name for name in archive.namelist() if name.endswith(".npy")}
    if any(key not in members for key in ARRAY_KEYS):
        load_prepared(arrays_path)  # raises its one clear message
    digest = hashlib.sha256()
    arrays: dict[str, np.ndarray | tuple] = {}
    for key in sorted(members):  # the order of arrays_sha256
        if key in _IMAGE_KEYS:
            arrays[key] = _read_images(archive, members[key], key, digest, compact)
        else:
            with archive.open(members[key]) as stream:
                array = np.lib.format.read_array(stream, allow_pickle=False)
            _hash_array(digest, key, array)
            if key in TRAINING_KEYS:
                arrays[key] = array
    return arrays, digest.hexdigest()


def _checked_split(arrays: dict, split: str, arrays_path: Path) -> SplitArrays:
    images, coded = arrays[f"x_{split}"]
    labels = arrays[f"y_{split}"]
    if images.ndim != 4 or images.shape[-1] != 1 or len(images) != len(labels.reshape(-1)):
        raise CnnlabError(
            f"{arrays_path}: x_{split} must be (N, H, W, 1) with one label per image, "
            f"got {images.shape} and {labels.shape}; prepare the data again"
        )
    if len(images) == 0:
        raise CnnlabError(f"{arrays_path}: the {split} split holds no images")
    return SplitArrays(images, labels.reshape(-1).astype(np.int8), coded)


def _read_images(archive, member: str, key: str, digest, compact: bool):
    """(images, coded) of one image array, read in chunks, hashed as it is read."""
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        header = None
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(stream)
        if header is not None and not header[1] and header[2] == np.dtype("<f4"):
            return _read_float32_chunks(stream, key, header[0], digest, compact)
    # not the layout cnnlab.data.prepare writes: read it whole, the plain way
    with archive.open(member) as stream:
        array = np.lib.format.read_array(stream, allow_pickle=False)
    _hash_array(digest, key, array)
    return np.ascontiguousarray(array, dtype=np.float32), False


def _read_float32_chunks(stream, key: str, shape: tuple, digest, compact: bool):
    _hash_header(digest, key, np.dtype("<f4"), shape)
    count = math.prod(shape)
    codes = np.empty(count, np.uint8) if compact else None
    pixels = None if compact else np.empty(count, np.float32)
    level_bits = EIGHT_BIT_VALUES.view(np.uint32)
    position = 0
    while position < count:
        size = min(_READ_CHUNK_VALUES, count - position)
        raw = stream.read(4 * size)
        if len(raw) != 4 * size:
            raise ValueError(f"{key} is truncated")
        digest.update(raw)
        chunk = np.frombuffer(raw, dtype="<f4")
        if codes is not None:
            with np.errstate(invalid="ignore"):
                chunk_codes = np.clip(np.rint(chunk * np.float32(255.0)), 0, 255).astype(np.uint8)
            # exact, bit for bit (also -0.0 and NaN are told apart from a level)
            if np.array_equal(level_bits[chunk_codes], chunk.view(np.uint32)):
                codes[position : position + size] = chunk_codes
            else:
                pixels = np.empty(count, np.float32)
                pixels[:position] = EIGHT_BIT_VALUES[codes[:position]]
                codes = None
        if codes is None:
            pixels[position : position + size] = chunk
        position += size
    if codes is not None:
        return codes.reshape(shape), True
    return pixels.reshape(shape), False
