"""Data that cannot teach anything, built on disk and prepared by the real preparation: the
same picture under both labels, blank images, images blown up from a few pixels or
squashed from a strip. Each is said on the terminal and in the manifest; a contradictory or
information-free data set is refused unless its config allows it."""

import json

import numpy as np
import pytest
from PIL import Image

from cnnlab.data.prepare import prepare_dataset
from cnnlab.errors import CnnlabError
from tests.data_fixtures import leftovers, noise_image, write_course_layout

SIZE = 32


def prepare(tmp_path, **options):
    config = {"kind": "folder", "path": str(tmp_path / "data"), **options}
    out = tmp_path / "out"
    return prepare_dataset(config, out / "arrays.npz", out / "manifest.json", SIZE,
                           name="odd")


def save_everywhere(root, picture_of, counts):
    """root/<split>/<Class>_<n>.png, each image picture_of(split, class, n)."""
    for split, (n_mel, n_nev) in counts.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        for class_name, count in (("Mel", n_mel), ("Nev", n_nev)):
            for number in range(count):
                picture_of(split, class_name, number).save(
                    root / split / f"{class_name}_{number:03d}.png")


@pytest.mark.parametrize("counts", [{"train": (7, 5), "test": (3, 4)},
                                    {"train": (2, 2), "test": (1, 1)}])
def test_one_picture_under_both_labels_is_refused_in_one_line(tmp_path, capsys, counts):
    picture = noise_image(5, 20)
    save_everywhere(tmp_path / "data", lambda *_: picture, counts)
    with pytest.raises(CnnlabError) as error:
        prepare(tmp_path)
    message = str(error.value)
    assert message.startswith("datasets.odd: the train split holds no information")
    assert "allow_degenerate: true" in message and "\n" not in message
    said = capsys.readouterr().err
    assert "one and the same picture" in said and "identical pixels under both labels" in said
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert leftovers(tmp_path / "out") == []


def test_blank_images_are_refused_and_allowed_on_request(tmp_path, capsys):
    # a grey level per image, different ones: not identical, but constant
    save_everywhere(tmp_path / "data",
                    lambda split, name, n: Image.new("L", (24, 24), 10 * n + (name == "Nev")),
                    {"train": (4, 4), "test": (3, 3)})
    with pytest.raises(CnnlabError, match="holds no information"):
        prepare(tmp_path)
    assert "every image is of one grey level" in capsys.readouterr().err
    manifest = prepare(tmp_path, allow_degenerate=True)
    assert manifest["sanity"]["train"]["constant"] is True
    assert manifest["sanity"]["train"]["identical"] is False
    written = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert written["sanity"] == manifest["sanity"]


def test_a_few_contradictory_pairs_are_said_not_refused(tmp_path, capsys):
    write_course_layout(tmp_path / "data", {"train": (6, 6), "test": (3, 3)}, size=SIZE)
    # a nevus that is a copy of a melanoma: 2 of 13 training images contradict each other
    train = tmp_path / "data" / "train"
    Image.open(train / "Mel_0000.png").save(train / "Nev_copy.png")
    manifest = prepare(tmp_path)
    facts = manifest["sanity"]["train"]
    assert sorted(facts["contradictory"]) == ["train/Mel_0000.png", "train/Nev_copy.png"]
    assert facts["contradictory_share"] == pytest.approx(2 / 13)
    said = capsys.readouterr().err
    assert "cnnlab: warning: datasets.odd: the train split: 2 images have identical pixels" in said


@pytest.mark.parametrize(("width", "height", "finding"), [
    (1, 1, "blown up more than 4x"), (7, 7, "blown up more than 4x"),
    (5000, 10, "aspect ratio beyond 4:1"), (12, 200, "aspect ratio beyond 4:1"),
])
def test_tiny_or_squashed_images_are_said_and_recorded(tmp_path, capsys, width, height, finding):
    rng = np.random.default_rng(width * height)

    def picture(split, name, number):
        if split == "train" and number == 0:
            return Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8))
        return noise_image(int(rng.integers(1 << 30)), SIZE)

    save_everywhere(tmp_path / "data", picture, {"train": (3, 3), "test": (2, 2)})
    manifest = prepare(tmp_path)
    key = "upscaled" if "blown" in finding else "skewed"
    assert sorted(manifest["sanity"]["train"][key]) == ["train/Mel_000.png", "train/Nev_000.png"]
    assert manifest["sanity"]["test"][key] == []
    said = [line for line in capsys.readouterr().err.splitlines() if finding in line]
    assert len(said) == 1 and "train/Mel_000.png" in said[0]


def test_an_ordinary_data_set_says_nothing(tmp_path, capsys):
    write_course_layout(tmp_path / "data", {"train": (4, 4), "test": (2, 2)}, size=SIZE)
    manifest = prepare(tmp_path)
    assert "warning" not in capsys.readouterr().err
    assert not any(manifest["sanity"]["train"][key] for key in
                   ("contradictory", "identical", "constant", "upscaled", "skewed"))


def test_the_reports_data_section_says_what_the_terminal_said(tmp_path, capsys):
    """The report's data section, visible above its folded tables, repeats each finding
    the preparation said on the terminal; an ordinary data set's says none."""
    from cnnlab.report.page import data_section
    from cnnlab.store.files import read_manifest

    rng = np.random.default_rng(3)

    def picture(split, name, number):
        if split == "train" and number == 0:  # 3 x 3 pixels blown up to 32 x 32
            return Image.fromarray(rng.integers(0, 256, (3, 3), dtype=np.uint8))
        return noise_image(int(rng.integers(1 << 30)), SIZE)

    save_everywhere(tmp_path / "data", picture, {"train": (3, 3), "test": (2, 2)})
    prepare(tmp_path)
    said = [line for line in capsys.readouterr().err.splitlines() if "blown up" in line]
    section = data_section(read_manifest(tmp_path / "out" / "manifest.json"))
    assert len(said) == 1 and len(section["sanity"]) == 1
    assert section["sanity"][0] in said[0] and "train/Mel_000.png" in section["sanity"][0]

    write_course_layout(tmp_path / "plain", {"train": (4, 4), "test": (2, 2)}, size=SIZE)
    out = tmp_path / "plain-out"
    prepare_dataset({"kind": "folder", "path": str(tmp_path / "plain")}, out / "arrays.npz",
                    out / "manifest.json", SIZE, name="plain")
    assert data_section(read_manifest(out / "manifest.json"))["sanity"] == []


def test_a_leak_and_a_contradiction_in_another_format_are_found_on_the_pixels(tmp_path, capsys):
    """A test image that is an RGB TIFF re-save of a grayscale training PNG is the same
    picture to the model: a train/test leak said on the terminal with both files; the same
    picture as a grayscale PNG (Mel) and an RGB JPEG-free TIFF (Nev) in one split
    contradicts itself."""
    write_course_layout(tmp_path / "data", {"train": (6, 6), "test": (3, 3)}, size=SIZE)
    train, test = tmp_path / "data" / "train", tmp_path / "data" / "test"
    Image.open(train / "Mel_0001.png").convert("RGB").save(test / "Mel_resaved.tif")
    Image.open(train / "Mel_0002.png").convert("RGB").save(train / "Nev_other.tiff")
    manifest = prepare(tmp_path)
    leak = manifest["duplicates"]
    assert [sorted(group["files"]) for group in leak] == [
        ["test/Mel_resaved.tif", "train/Mel_0001.png"]]
    assert sorted(manifest["sanity"]["train"]["contradictory"]) == [
        "train/Mel_0002.png", "train/Nev_other.tiff"]
    said = [line for line in capsys.readouterr().err.splitlines() if "leak" in line]
    assert len(said) == 1 and said[0].startswith("cnnlab: warning: datasets.odd: 1 test image")
    assert "train/Mel_0001.png = test/Mel_resaved.tif" in said[0]


def test_every_file_left_out_is_named_on_one_line_each(tmp_path, capsys):
    """WebP and GIF files are not read: named on the terminal, a few and then a count;
    a skipped file whose name holds a newline is shown escaped, on one line."""
    write_course_layout(tmp_path / "data", {"train": (4, 4), "test": (2, 2)}, size=SIZE)
    train = tmp_path / "data" / "train"
    for number in range(5):
        noise_image(40 + number, SIZE).save(train / f"Mel_extra{number}.webp")
    noise_image(50, SIZE).save(train / "Nev_anim.gif")
    (train / "Mel_broken\nname.png").write_bytes(b"not a png")
    manifest = prepare(tmp_path, on_bad_image="skip")
    assert len(manifest["ignored_files"]) == 6
    said = capsys.readouterr().err.splitlines()
    ignored = [line for line in said if "not being images" in line]
    assert len(ignored) == 1 and "6 file(s) left out" in ignored[0]
    assert "train/Mel_extra0.webp" in ignored[0] and "and 3 more" in ignored[0]
    assert "Convert them to PNG" in ignored[0]
    skipped = [line for line in said if "unusable" in line]
    assert len(skipped) == 1 and "'train/Mel_broken\\nname.png'" in skipped[0]
    assert "is not an image that Pillow can read" in skipped[0]
    assert all(line.startswith("cnnlab: warning: ") for line in said)


def test_a_split_left_empty_by_skipped_files_names_them(tmp_path):
    write_course_layout(tmp_path / "data", {"train": (4, 4), "test": (2, 2)}, size=SIZE)
    for path in (tmp_path / "data" / "test").iterdir():
        path.write_bytes(b"")
    with pytest.raises(CnnlabError) as error:
        prepare(tmp_path, on_bad_image="skip")
    message = str(error.value)
    assert "no usable image is left in the test split; left out: test/" in message
    assert "(is empty (0 bytes))" in message and "and 1 more" in message
    assert "see the skipped" not in message and "\n" not in message
