"""The folder loader (cnnlab.data.images) on real, tiny image files."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from cnnlab.data.classes import DEFAULT_CLASSES, classes_from_config
from cnnlab.data.image_file import read_image
from cnnlab.data.images import FolderOptions, load_folder
from cnnlab.errors import CnnlabError
from cnnlab.plan.config import dataset_defaults
from tests.data_fixtures import (
    noise_image,
    png_claiming_size,
    write_course_layout,
    write_subfolder_layout,
)

SIZE = 16


# ---------------------------------------------------------------------------------------
# Layouts


def test_course_layout_labels_files_and_arrays(tmp_path):
    written = write_course_layout(tmp_path, {"train": (3, 5), "test": (2, 1)})
    data = load_folder(tmp_path, SIZE)

    assert data.layout == "filename"
    train, test = data.splits["train"], data.splits["test"]
    assert train.x.shape == (8, SIZE, SIZE, 1) and train.x.dtype == np.float32
    assert 0.0 <= train.x.min() and train.x.max() <= 1.0
    assert train.y.dtype == np.int8
    assert sorted(train.files) == sorted(f"train/{p.name}" for p in written["train"])
    for name, label in zip(train.files, train.y):
        assert label == (0 if "/Mel_" in name else 1)
    assert test.y.tolist().count(0) == 2 and test.y.tolist().count(1) == 1
    assert train.widths == [32] * 8 and set(train.modes) == {"L"}
    assert data.skipped == [] and data.duplicates == [] and data.held_out_split is None


def test_pixels_are_the_resized_image_scaled_to_unit_range(tmp_path):
    write_course_layout(tmp_path)
    data = load_folder(tmp_path, SIZE)
    first = tmp_path / data.splits["train"].files[0]
    expected = np.asarray(Image.open(first).resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(data.splits["train"].x[0, :, :, 0], expected / 255.0, atol=1e-6)


def test_subfolders_with_nested_folders_are_detected(tmp_path):
    written = write_subfolder_layout(tmp_path, {"train": (3, 4), "test": (2, 2)})
    data = load_folder(tmp_path, SIZE)
    assert data.layout == "subfolders"
    train = data.splits["train"]
    assert len(train.files) == 7
    assert any("/batch1/" in name for name in train.files)
    labels = dict(zip(train.files, train.y.tolist()))
    for path in written["train"]:
        relative = path.relative_to(tmp_path.resolve()).as_posix()
        assert labels[relative] == (0 if "/Mel/" in relative else 1)


def test_auto_falls_back_to_file_names_when_a_split_lacks_class_folders(tmp_path):
    write_course_layout(tmp_path)
    (tmp_path / "train" / "Mel").mkdir()  # only train has it: not the sub-folder layout
    shutil.move(tmp_path / "train" / "Mel_0000.png", tmp_path / "train" / "Mel" / "Mel_0000.png")
    data = load_folder(tmp_path, SIZE)
    assert data.layout == "filename"
    assert "train/Mel/Mel_0000.png" in data.splits["train"].files


def test_explicit_subfolders_layout_names_the_missing_class_folder(tmp_path):
    write_course_layout(tmp_path)
    with pytest.raises(CnnlabError) as raised:
        load_folder(tmp_path, SIZE, FolderOptions(layout="subfolders"))
    message = str(raised.value)
    assert str(tmp_path / "train" / "Mel") in message and "layout: filename" in message


def test_custom_patterns_and_folders(tmp_path):
    classes = classes_from_config(
        [
            {"name": "melanoma", "label": 0, "pattern": "mel-", "folder": "malignant"},
            {"name": "nevus", "label": 1, "pattern": "nev-", "folder": "benign"},
        ]
    )
    for split, count in (("train", 3), ("test", 2)):
        (tmp_path / split).mkdir()
        for index in range(count):
            noise_image(index).save(tmp_path / split / f"isic-mel-{index}.png")
            noise_image(100 + index).save(tmp_path / split / f"isic-nev-{index}.png")
    data = load_folder(tmp_path, SIZE, FolderOptions(classes=classes))
    assert data.splits["train"].y.tolist() == [0, 0, 0, 1, 1, 1]

    sub = tmp_path / "sub"
    write_subfolder_layout(sub, folders=("malignant", "benign"))
    data = load_folder(sub, SIZE, FolderOptions(classes=classes))
    assert data.layout == "subfolders"
    assert data.splits["test"].y.tolist() == [1, 1, 0, 0]  # benign/ sorts before malignant/


def test_image_outside_the_class_folders_is_named(tmp_path):
    write_subfolder_layout(tmp_path)
    stray = tmp_path / "train" / "stray.png"
    noise_image(999).save(stray)
    with pytest.raises(CnnlabError, match="outside the class sub-folders") as raised:
        load_folder(tmp_path, SIZE)
    assert str(stray) in str(raised.value)


# ---------------------------------------------------------------------------------------
# Formats and modes


def _single(tmp_path, name, image, **save):
    """A data set whose train/ holds ``name`` (a Mel image) beside plain PNGs."""
    write_course_layout(tmp_path, {"train": (1, 2), "test": (1, 1)}, seed=1)
    path = tmp_path / "train" / name
    image.save(path, **save)
    data = load_folder(tmp_path, SIZE)
    index = data.splits["train"].files.index(f"train/{name}")
    return data.splits["train"], index


@pytest.mark.parametrize(
    ("name", "mode", "save"),
    [
        ("Mel_x.png", "L", {}),
        ("Mel_x.PNG", "RGB", {}),
        ("Mel_x.jpg", "RGB", {"quality": 95}),
        ("Mel_x.JPEG", "L", {"format": "JPEG"}),
        ("Mel_x.bmp", "RGB", {}),
        ("Mel_x.tif", "RGB", {}),
        ("Mel_x.TIFF", "L", {"format": "TIFF"}),
        ("Mel_x.png", "RGBA", {}),
        ("Mel_x.png", "P", {}),
        ("Mel_x.png", "LA", {}),
        ("Mel_x.png", "1", {}),
    ],
)
def test_formats_modes_and_extension_case(tmp_path, name, mode, save):
    base = noise_image(7, 32, "RGB")
    image = base.convert(mode)
    train, index = _single(tmp_path, name, image, **save)
    assert train.modes[index] == mode
    pixels = train.x[index, :, :, 0]
    assert pixels.shape == (SIZE, SIZE) and pixels.dtype == np.float32
    gray = image.convert("RGBA").convert("L")
    expected = np.asarray(gray.resize((SIZE, SIZE), Image.Resampling.BILINEAR)) / 255.0
    tolerance = 0.2 if "jp" in name.lower() else 1e-6  # JPEG is lossy
    assert np.abs(pixels - expected).mean() < tolerance


def test_sixteen_bit_images_are_scaled_by_65535(tmp_path):
    values = np.full((32, 32), 32768, dtype=np.uint16)
    values[:, 16:] = 65535
    for name in ("Mel_16.png", "Mel_16.tif"):
        folder = tmp_path / name
        train, index = _single(folder, name, Image.fromarray(values))
        assert train.modes[index].startswith("I")
        pixels = train.x[index, :, :, 0]
        np.testing.assert_allclose(pixels[:, :6], 32768 / 65535, atol=1e-6)
        np.testing.assert_allclose(pixels[:, -6:], 1.0, atol=1e-6)


def test_exif_orientation_is_applied_and_original_size_recorded(tmp_path):
    # Stored 40 wide x 20 high, left half black; orientation 6 = rotate 90 degrees
    # clockwise to display: 20 wide x 40 high with the black half on top.
    pixels = np.full((20, 40), 255, dtype=np.uint8)
    pixels[:, :20] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    train, index = _single(tmp_path, "Mel_exif.jpg", Image.fromarray(pixels), exif=exif)
    assert (train.widths[index], train.heights[index]) == (20, 40)
    upright = train.x[index, :, :, 0]
    assert upright[: SIZE // 2 - 2].mean() < 0.1 and upright[SIZE // 2 + 2 :].mean() > 0.9


def test_resize_methods(tmp_path):
    checker = np.indices((32, 32)).sum(0) % 2 * 255  # 1-pixel checkerboard
    image = Image.fromarray(checker.astype(np.uint8))
    path = tmp_path / "checker.png"
    image.save(path)
    area = read_image(path, 16, "area").pixels
    nearest = read_image(path, 16, "nearest").pixels
    np.testing.assert_allclose(area, 0.5, atol=0.01)  # each 2x2 block averaged
    assert set(np.unique(nearest).tolist()) <= {0.0, 1.0}
    for method in ("bilinear", "bicubic", "lanczos"):
        assert read_image(path, 16, method).pixels.shape == (16, 16)
    # an unknown method is the config check's to refuse (tests/test_config.py)


# ---------------------------------------------------------------------------------------
# Bad data sets


def test_missing_data_folder(tmp_path):
    with pytest.raises(CnnlabError, match="does not exist") as raised:
        load_folder(tmp_path / "nowhere", SIZE)
    assert str(tmp_path / "nowhere") in str(raised.value)


def test_missing_train_and_test_folders(tmp_path):
    with pytest.raises(CnnlabError, match="train folder is missing") as raised:
        load_folder(tmp_path, SIZE)
    assert str(tmp_path / "train") in str(raised.value)
    write_course_layout(tmp_path, {"train": (2, 2)})
    with pytest.raises(CnnlabError, match="test_fraction") as raised:
        load_folder(tmp_path, SIZE)
    assert str(tmp_path / "test") in str(raised.value)


def test_empty_split_ignores_non_image_files(tmp_path):
    write_course_layout(tmp_path, {"train": (2, 2)})
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "README.md").write_text("no images here")
    (tmp_path / "test" / ".DS_Store").write_bytes(b"\0\1")
    with pytest.raises(CnnlabError, match="holds no images") as raised:
        load_folder(tmp_path, SIZE)
    assert str(tmp_path / "test") in str(raised.value)


def test_split_with_one_class_only(tmp_path):
    write_course_layout(tmp_path, {"train": (2, 2), "test": (2, 0)})
    with pytest.raises(CnnlabError, match="class Mel only, none of class Nev") as raised:
        load_folder(tmp_path, SIZE)
    assert str(tmp_path / "test") in str(raised.value)


def test_file_name_matching_no_class_is_named_with_the_patterns(tmp_path):
    write_course_layout(tmp_path)
    (tmp_path / "train" / "notes.txt").write_text("ignored")
    (tmp_path / "train" / "._Mel_0000.png").write_bytes(b"macOS companion, ignored")
    stray = tmp_path / "train" / "ISIC_0001.png"
    noise_image(500).save(stray)
    with pytest.raises(CnnlabError) as raised:
        load_folder(tmp_path, SIZE)
    message = str(raised.value)
    assert str(stray) in message and "'Mel' (Mel)" in message and "'Nev' (Nev)" in message


def test_file_name_matching_both_classes_is_named(tmp_path):
    write_course_layout(tmp_path)
    both = tmp_path / "test" / "Mel_or_Nev.png"
    noise_image(501).save(both)
    with pytest.raises(CnnlabError, match="more than one class pattern") as raised:
        load_folder(tmp_path, SIZE)
    assert str(both) in str(raised.value)


def test_non_image_files_are_listed_as_ignored(tmp_path):
    write_course_layout(tmp_path)
    (tmp_path / "train" / "labels.csv").write_text("a,b\n")
    (tmp_path / "train" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "test" / "__MACOSX").mkdir()
    (tmp_path / "test" / "__MACOSX" / "Mel_9.png").write_bytes(b"not an image")
    data = load_folder(tmp_path, SIZE)
    assert data.ignored == ["train/labels.csv"]


def _bad_file_cases():
    def zero_bytes(path):
        path.write_bytes(b"")

    def truncated(path):
        noise_image(600, 64).save(path)
        content = path.read_bytes()
        path.write_bytes(content[: len(content) // 2])

    def corrupt(path):
        noise_image(601, 64).save(path)
        content = bytearray(path.read_bytes())
        start = content.index(b"IDAT") + 4
        content[start : start + 200] = bytes(range(200))  # garbage in the compressed pixels
        path.write_bytes(bytes(content))

    def bad_header(path):
        noise_image(602, 64).save(path)
        content = path.read_bytes()
        path.write_bytes(content[:33] + bytes(range(256)) * 8)  # signature + IHDR, then garbage

    def not_an_image(path):
        path.write_text("<html>this is a web page saved as .png</html>")

    return [
        ("zero_bytes", zero_bytes, "is empty (0 bytes)"),
        ("truncated", truncated, "truncated or corrupt"),
        ("corrupt", corrupt, "truncated or corrupt"),
        ("bad_header", bad_header, "not an image that Pillow can read"),
        ("not_an_image", not_an_image, "not an image that Pillow can read"),
        # no writer ever opens the FIFO: a plain open() of it would wait forever
        ("fifo", os.mkfifo, "is not a regular file but a FIFO (named pipe)"),
        ("device", lambda path: path.symlink_to("/dev/zero"), "is not a regular file but a device"),
    ]


@pytest.mark.parametrize(("case", "spoil", "reason"), _bad_file_cases())
def test_bad_image_stops_the_load_naming_the_file(tmp_path, case, spoil, reason):
    write_course_layout(tmp_path)
    bad = tmp_path / "train" / f"Mel_{case}.png"
    spoil(bad)
    with pytest.raises(CnnlabError) as raised:
        load_folder(tmp_path, SIZE)
    message = str(raised.value)
    assert message.startswith(f"{bad}: ")
    assert reason in message and "on_bad_image: skip" in message
    assert "\n" not in message


@pytest.mark.parametrize(("case", "spoil", "reason"), _bad_file_cases())
def test_skip_policy_lists_the_bad_file_with_its_reason(tmp_path, case, spoil, reason):
    write_course_layout(tmp_path)
    spoil(tmp_path / "train" / f"Mel_{case}.png")
    noise_image(700).save(tmp_path / "test" / "unlabelled.png")
    data = load_folder(tmp_path, SIZE, FolderOptions(on_bad_image="skip"))
    skipped = {entry["file"]: entry["reason"] for entry in data.skipped}
    assert reason in skipped[f"train/Mel_{case}.png"]
    assert "none of the class patterns" in skipped["test/unlabelled.png"]
    assert len(data.splits["train"].files) == 8 and len(data.splits["test"].files) == 4


def test_skip_policy_still_needs_both_classes(tmp_path):
    write_course_layout(tmp_path, {"train": (2, 2), "test": (1, 1)})
    (tmp_path / "test" / "Nev_0005.png").write_bytes(b"")
    with pytest.raises(CnnlabError, match="none of class Nev"):
        load_folder(tmp_path, SIZE, FolderOptions(on_bad_image="skip"))


def test_decompression_bomb_guard_uses_max_pixels(tmp_path):
    write_course_layout(tmp_path)  # 32 x 32 = 1,024 pixels each
    with pytest.raises(CnnlabError, match="max_pixels = 1,000 pixels") as raised:
        load_folder(tmp_path, SIZE, FolderOptions(max_pixels=1000))
    assert str(tmp_path / "train") in str(raised.value)
    assert load_folder(tmp_path, SIZE, FolderOptions(max_pixels=1024)).splits


def test_decompression_bomb_header_is_caught_without_decoding(tmp_path):
    # Pillow itself refuses this header (400 megapixels) before decoding anything.
    bomb = tmp_path / "bomb.png"
    png_claiming_size(bomb, 20_000, 20_000)
    with pytest.raises(CnnlabError, match="decompression-bomb guard") as raised:
        read_image(bomb, SIZE)
    assert str(bomb) in str(raised.value) and "max_pixels" in str(raised.value)


def test_pillow_limit_is_restored_after_a_read(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    path = tmp_path / "a.png"
    noise_image(1).save(path)
    read_image(path, SIZE, max_pixels=123_456)
    assert Image.MAX_IMAGE_PIXELS == before


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root reads files whatever their permissions; see the monkeypatched test below",
)
def test_unreadable_file_is_named(tmp_path):
    write_course_layout(tmp_path)
    locked = tmp_path / "train" / "Mel_0000.png"
    locked.chmod(0)
    try:
        with pytest.raises(CnnlabError, match="permission denied") as raised:
            load_folder(tmp_path, SIZE)
        assert str(locked) in str(raised.value)
    finally:
        locked.chmod(0o644)


def test_permission_denied_while_opening_is_named(tmp_path, monkeypatch):
    # Tests run as root here, where chmod cannot make a file unreadable; make the open
    # of that file raise the PermissionError that a normal user would get instead.
    write_course_layout(tmp_path)
    locked = tmp_path / "train" / "Mel_0001.png"
    real_open = os.open

    def guarded_open(path, *args, **kwargs):
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("cnnlab.data.image_file.os.open", guarded_open)
    with pytest.raises(CnnlabError, match="permission denied") as raised:
        load_folder(tmp_path, SIZE)
    assert str(raised.value).startswith(f"{locked}: ") and "chmod" in str(raised.value)
    data = load_folder(tmp_path, SIZE, FolderOptions(on_bad_image="skip"))
    assert data.skipped == [
        {"file": "train/Mel_0001.png", "reason": "cannot be read (permission denied)"}
    ]


# ---------------------------------------------------------------------------------------
# Duplicates and the held-out split


def test_duplicates_across_splits_are_listed(tmp_path):
    write_course_layout(tmp_path)
    shutil.copy(tmp_path / "train" / "Mel_0000.png", tmp_path / "test" / "Mel_copy.png")
    shutil.copy(tmp_path / "train" / "Nev_0004.png", tmp_path / "train" / "Nev_again.png")
    data = load_folder(tmp_path, SIZE)
    assert len(data.duplicates) == 1
    assert data.duplicates[0]["files"] == ["train/Mel_0000.png", "test/Mel_copy.png"]
    assert data.duplicates[0]["splits"] == ["train", "test"]
    assert [entry["files"] for entry in data.duplicates_within_split] == [
        ["train/Nev_0004.png", "train/Nev_again.png"]
    ]

    with pytest.raises(CnnlabError, match="appear in both train and test") as raised:
        load_folder(tmp_path, SIZE, FolderOptions(on_duplicate="error"))
    assert "train/Mel_0000.png and test/Mel_copy.png" in str(raised.value)


def test_duplicate_pixels_in_another_format_are_found(tmp_path):
    write_course_layout(tmp_path)
    Image.open(tmp_path / "train" / "Nev_0005.png").save(tmp_path / "test" / "Nev_x.bmp")
    data = load_folder(tmp_path, SIZE)
    assert [entry["files"] for entry in data.duplicates] == [
        ["train/Nev_0005.png", "test/Nev_x.bmp"]
    ]


def test_held_out_split_is_stratified_and_seeded(tmp_path):
    write_course_layout(tmp_path, {"train": (10, 15)})
    options = FolderOptions(test_fraction=0.2, split_seed=3)
    data = load_folder(tmp_path, SIZE, options)
    test, train = data.splits["test"], data.splits["train"]
    assert test.y.tolist().count(0) == 2 and test.y.tolist().count(1) == 3
    assert train.y.tolist().count(0) == 8 and train.y.tolist().count(1) == 12
    assert not set(test.files) & set(train.files)
    assert all(name.startswith("train/") for name in test.files)
    assert data.held_out_split["counts"] == {
        "Mel": {"train": 8, "test": 2},
        "Nev": {"train": 12, "test": 3},
    }
    assert data.held_out_split["seed"] == 3 and data.held_out_split["test_fraction"] == 0.2

    again = load_folder(tmp_path, SIZE, options)
    assert again.splits["test"].files == test.files
    other = load_folder(tmp_path, SIZE, FolderOptions(test_fraction=0.2, split_seed=4))
    assert other.splits["test"].files != test.files


def test_test_folder_and_test_fraction_together_are_refused(tmp_path):
    write_course_layout(tmp_path)
    with pytest.raises(CnnlabError, match="Remove `test_fraction`") as raised:
        load_folder(tmp_path, SIZE, FolderOptions(test_fraction=0.2))
    assert str(tmp_path / "test") in str(raised.value)


# ---------------------------------------------------------------------------------------
# Options


# Each option's own value is checked by the config check (tests/test_config.py, which has
# the cases once here); what remains here is what only the classes together say.


def test_the_options_default_to_the_schema_defaults():
    defaults = dataset_defaults("folder")
    options = FolderOptions()
    assert {key: getattr(options, key) for key in defaults if key != "image_size"} == {
        key: value for key, value in defaults.items() if key != "image_size"
    }
    assert options.classes == DEFAULT_CLASSES


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"name": "Mel", "label": 0}], "exactly two classes with labels 0 and 1"),
        ([{"name": "Mel", "label": 1}, {"name": "Nev", "label": 1}], "exactly two classes"),
        ([{"name": "Mel", "label": 0}, {"name": "Mel", "label": 1}], "same name"),
        (
            [{"name": "Mel", "label": 0}, {"name": "Nev", "label": 1, "pattern": "Mel"}],
            "same pattern 'Mel'",
        ),
        ([{"name": "Mel", "label": 0, "folder": ".."}, {"name": "Nev", "label": 1}], "plain"),
    ],
)
def test_bad_class_entries_are_refused(entries, message):
    with pytest.raises(CnnlabError, match=message):
        FolderOptions(classes=classes_from_config(entries))


def test_a_class_pattern_and_folder_default_to_its_name():
    (spec,) = classes_from_config([{"name": "Mel", "label": 0}])
    assert (spec.pattern, spec.folder) == ("Mel", "Mel")


def test_a_link_to_a_folder_above_the_split_is_not_followed(tmp_path):
    # `train/loop -> ..` would read test/'s images into the training split
    write_course_layout(tmp_path)
    expected = load_folder(tmp_path, SIZE)
    os.symlink("..", tmp_path / "train" / "loop")
    data = load_folder(tmp_path, SIZE)
    assert data.splits["train"].files == expected.splits["train"].files
    assert data.splits["test"].files == expected.splits["test"].files
    assert "train/loop" in data.ignored


def test_a_bad_file_whose_name_holds_a_newline_is_named_on_one_line(tmp_path):
    write_course_layout(tmp_path)
    bad = tmp_path / "train" / "Mel_two\nlines.png"
    bad.write_bytes(b"")
    with pytest.raises(CnnlabError) as raised:
        load_folder(tmp_path, SIZE)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(repr(str(bad)) + ": is empty (0 bytes)")
