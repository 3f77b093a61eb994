"""cnnlab.data.arrays: the content hash, and the training's reader (exact pixels, 8-bit codes).

``make_arrays`` and ``make_8bit_arrays`` write toy files in the prepared-arrays format;
tests/test_training.py trains on them.
"""

import numpy as np
import pytest

from cnnlab.data.arrays import arrays_sha256, load_test_split, load_training_arrays
from cnnlab.errors import CnnlabError


def make_arrays(path, seed=0, train_count=48, test_count=16, size=16):
    """A learnable toy problem in the prepared-arrays format (label 1 = brighter)."""
    rng = np.random.default_rng(seed)

    def split(count):
        labels = (np.arange(count) % 2).astype(np.int8)
        rng.shuffle(labels)
        images = rng.random((count, size, size, 1), dtype=np.float32) * 0.6
        images += 0.3 * labels[:, None, None, None]
        return images.astype(np.float32), labels

    x_train, y_train = split(train_count)
    x_test, y_test = split(test_count)
    np.savez(
        path,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        train_files=np.array([f"train/{i}.png" for i in range(train_count)]),
        test_files=np.array([f"test/{i}.png" for i in range(test_count)]),
    )
    return path


def make_8bit_arrays(path, seed=0):
    """Like make_arrays, but every pixel an 8-bit level k / 255 (as prepared PNGs are)."""
    make_arrays(path, seed=seed)
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    for key in ("x_train", "x_test"):
        levels = np.rint(arrays[key] * 255).astype(np.uint8)
        arrays[key] = levels.astype(np.float32) / np.float32(255.0)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    return make_arrays(tmp_path_factory.mktemp("data") / "arrays.npz")


def test_the_content_hash_keeps_its_value():
    """Data manifests and training states written before hold this hash: it must not move."""
    arrays = {
        "y": np.array([0, 1, 1], np.int8),
        "x": np.arange(8, dtype=np.float32).reshape(2, 2, 2, 1) / 255,
        "names": np.array(["Mel", "Nev"]),
    }
    expected = "a20393b22b84b9838cc8bdfd2f5c5763c012dee8ce3f1aa827bbc80bbc86a3bf"
    assert arrays_sha256(arrays) == expected
    assert arrays_sha256(dict(reversed(list(arrays.items())))) == expected  # key order
    assert arrays_sha256({**arrays, "x": np.asfortranarray(arrays["x"])}) == expected  # C order


def test_loader_keeps_the_exact_pixels_and_the_manifest_hash(tmp_path, arrays):
    levels = make_8bit_arrays(tmp_path / "levels.npz")
    for path, storage in ((levels, "uint8"), (arrays, "float32")):
        loaded = load_training_arrays(path)
        assert loaded.storage == storage
        with np.load(path) as stored:
            assert loaded.sha256 == arrays_sha256({key: stored[key] for key in stored.files})
            for split in ("train", "test"):
                pixels = getattr(loaded, split).float_images()
                assert pixels.dtype == np.float32
                assert pixels.tobytes() == stored[f"x_{split}"].tobytes()  # bit for bit
                assert np.array_equal(getattr(loaded, split).labels, stored[f"y_{split}"])


def test_one_pixel_off_the_8bit_levels_keeps_float32(tmp_path, monkeypatch):
    path = make_8bit_arrays(tmp_path / "levels.npz")
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["x_train"][-1, -1, -1, 0] = np.nextafter(arrays["x_train"][-1, -1, -1, 0], np.float32(2))
    np.savez(path, **arrays)
    monkeypatch.setattr("cnnlab.data.arrays._READ_CHUNK_VALUES", 1000)  # the odd pixel in the last chunk
    loaded = load_training_arrays(path)
    assert not loaded.train.coded and loaded.test.coded
    assert loaded.storage == "float32"
    assert loaded.train.float_images().tobytes() == arrays["x_train"].tobytes()


def test_a_file_without_the_contract_arrays_gives_one_clear_message(tmp_path, arrays):
    with np.load(arrays) as stored:
        partial = {key: stored[key] for key in stored.files if key != "test_files"}
    np.savez(tmp_path / "partial.npz", **partial)
    with pytest.raises(CnnlabError, match="lacks test_files"):
        load_training_arrays(tmp_path / "partial.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CnnlabError, match="cannot be read"):
        load_training_arrays(tmp_path / "junk.npz")


def test_the_test_split_reader_reads_the_validation_images_and_names_a_damaged_file(tmp_path,
                                                                                    arrays):
    split = load_test_split(arrays)
    with np.load(arrays) as stored:
        np.testing.assert_array_equal(split.images, stored["x_test"])
        np.testing.assert_array_equal(split.labels, stored["y_test"])
    with pytest.raises(CnnlabError, match=r"missing\.npz: the prepared data is missing"):
        load_test_split(tmp_path / "missing.npz")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(arrays.read_bytes()[:1000])
    with pytest.raises(CnnlabError, match=r"cut\.npz: the prepared data cannot be read"):
        load_test_split(cut)
