"""The synthetic skin-lesion generator: layout, determinism, and partial separability."""

import re

import numpy as np
import pytest
from PIL import Image

from cnnlab.data.synthetic import generate, render_lesion
from cnnlab.errors import CnnlabError

NAME = re.compile(r"^(Mel|Nev)_\d{6}\.png$")


def test_layout_names_counts_and_format(tmp_path):
    written = generate(tmp_path, n_train=12, n_test=6, image_size=32, seed=0, mel_fraction=0.25)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == sorted(
        p.name for p in written["train"]
    )
    for split, count, n_mel in (("train", 12, 3), ("test", 6, 2)):
        names = [path.name for path in written[split]]
        assert len(names) == count and all(NAME.match(name) for name in names)
        assert sum(name.startswith("Mel") for name in names) == n_mel
    # numbered across both splits: a name is unique in the whole data set
    all_names = [path.name for paths in written.values() for path in paths]
    assert len(set(all_names)) == 18
    with Image.open(written["test"][0]) as image:
        assert image.format == "PNG" and image.mode == "L" and image.size == (32, 32)


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    first = generate(tmp_path / "a", n_train=8, n_test=4, image_size=32, seed=5)
    second = generate(tmp_path / "b", n_train=8, n_test=4, image_size=32, seed=5)
    third = generate(tmp_path / "c", n_train=8, n_test=4, image_size=32, seed=6)
    for split in ("train", "test"):
        assert [p.name for p in first[split]] == [p.name for p in second[split]]
        for one, two in zip(first[split], second[split]):
            assert one.read_bytes() == two.read_bytes()
    first_bytes = [p.read_bytes() for p in first["train"]]
    assert first_bytes != [p.read_bytes() for p in third["train"]]


def test_render_lesion_depends_on_its_generator_alone():
    one = render_lesion(np.random.default_rng(42), melanoma=True, size=48)
    np.random.seed(0)  # the global generator must not matter
    two = render_lesion(np.random.default_rng(42), melanoma=True, size=48)
    assert one.dtype == np.uint8 and one.shape == (48, 48)
    np.testing.assert_array_equal(one, two)
    assert one.min() < 100 < one.max()  # a dark lesion on lighter skin


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_train": 1}, "n_train must be an integer >= 2"),
        ({"n_test": 2.5}, "n_test must be an integer >= 2"),
        ({"image_size": 8}, "image_size must be an integer >= 16"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"mel_fraction": 1.0}, "mel_fraction must be a number between 0 and 1"),
        ({"n_test": 3, "mel_fraction": 0.1}, "would hold only one class"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, arguments, message):
    with pytest.raises(CnnlabError, match=message):
        generate(tmp_path, **{"n_train": 10, "n_test": 4, "image_size": 32, **arguments})
    assert not (tmp_path / "train").exists()


def _features(path):
    """Simple, hand-made lesion features: dark area, darkness, spread, centre darkness."""
    pixels = np.asarray(Image.open(path), dtype=np.float64) / 255.0
    skin = np.percentile(pixels, 75)
    lesion = pixels < 0.8 * skin
    inside = pixels[lesion] if lesion.sum() > 2 else pixels.ravel()
    size = pixels.shape[0]
    centre = pixels[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4]
    return [lesion.mean(), (skin - inside.mean()) / skin, inside.std(), 1 - centre.mean() / skin]


def _logistic_regression_accuracy(x_train, y_train, x_test, y_test):
    mean, spread = x_train.mean(0), x_train.std(0) + 1e-9
    x_train = np.c_[(x_train - mean) / spread, np.ones(len(x_train))]
    x_test = np.c_[(x_test - mean) / spread, np.ones(len(x_test))]
    weights = np.zeros(x_train.shape[1])
    for _ in range(2000):
        predicted = 1 / (1 + np.exp(-x_train @ weights))
        weights -= 0.1 * x_train.T @ (predicted - y_train) / len(y_train)
    return float(((x_test @ weights > 0) == y_test).mean())


def test_classes_differ_by_abcd_but_overlap(tmp_path):
    written = generate(tmp_path, n_train=240, n_test=120, image_size=64, seed=0)
    arrays = {}
    for split, paths in written.items():
        features = np.array([_features(path) for path in paths])
        labels = np.array([0 if path.name.startswith("Mel") else 1 for path in paths])
        arrays[split] = (features, labels)
    features, labels = arrays["train"]

    # Melanomas are larger and darker on average (D and C of the ABCD rule) ...
    assert features[labels == 0, 0].mean() > 1.2 * features[labels == 1, 0].mean()
    assert features[labels == 0, 1].mean() > features[labels == 1, 1].mean()
    # ... but the distributions overlap: some melanomas are smaller than a typical nevus.
    assert (features[labels == 0, 0] < np.median(features[labels == 1, 0])).mean() > 0.1

    accuracy = _logistic_regression_accuracy(*arrays["train"], *arrays["test"])
    assert 0.6 <= accuracy <= 0.95, accuracy
