"""The lab on real images: ../shared/data/skin-real (see its SOURCE.md).

Two claims are tested here:

- the whole workflow runs on the real images (``--configfile tests/configs/small-real.yaml``:
  32 x 32 pixels, a fiftieth of the epochs) and its report shows their class balance;
- the same loader, pointed at a folder of real images that the project has never seen
  (other formats, pixel modes, sizes, layouts), prepares it without changes to the code.

Without ../shared/data/skin-real these tests are skipped; with ``CNNLAB_REQUIRE_DATA=1`` in
the environment they fail instead, so that a CI job that must have the data notices its
absence.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from cnnlab.data.arrays import load_prepared
from cnnlab.data.image_file import read_image
from cnnlab.data.prepare import prepare_dataset
from cnnlab.plan.complete_plan import complete_plan
from cnnlab.plan.plan import plan_lab
from tests.conftest import PROJECT_ROOT, check_config, merged_config
from tests.workflow_helpers import copy_workflow, run_snakemake

REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "skin-real"
"""Where config-real.yaml's `path: ../shared/data/skin-real` points from the project."""

REAL_CONFIG = PROJECT_ROOT / "config-real.yaml"
SMALL_REAL = "tests/configs/small-real.yaml"
PATH_OVERRIDE = "real-data-path.yaml"

# SOURCE.md's table: (Mel, Nev) per split
REAL_COUNTS = {"train": (179, 278), "test": (43, 60)}


def require_real_data() -> Path:
    """The real data folder, or skip (fail with CNNLAB_REQUIRE_DATA=1) when it is absent."""
    if (REAL_DATA / "train").is_dir() and (REAL_DATA / "test").is_dir():
        return REAL_DATA
    reason = (
        f"the real images are absent: {REAL_DATA} has no train/ and test/ "
        "(they are not part of the repository; see docs/own-data.md)"
    )
    if os.environ.get("CNNLAB_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason}, and CNNLAB_REQUIRE_DATA=1 requires them")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def real_data() -> Path:
    return require_real_data()


def _expected_counts() -> dict:
    return {
        split: {"Mel": mel, "Nev": nev, "total": mel + nev}
        for split, (mel, nev) in REAL_COUNTS.items()
    }


def test_absent_real_data_skips_or_with_cnnlab_require_data_fails(monkeypatch, tmp_path):
    monkeypatch.setitem(globals(), "REAL_DATA", tmp_path / "nowhere")
    monkeypatch.delenv("CNNLAB_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="real images are absent"):
        require_real_data()
    monkeypatch.setenv("CNNLAB_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="CNNLAB_REQUIRE_DATA=1 requires them"):
        require_real_data()


# ---------------------------------------------------------------------------------------
# The config files


@pytest.mark.parametrize("override", [REAL_CONFIG, PROJECT_ROOT / SMALL_REAL])
def test_real_data_configs_are_valid_and_name_the_shared_folder(override):
    config = merged_config(override)
    check_config(config, source=str(override))
    assert config["dataset"] == "skin-real"
    dataset = config["datasets"]["skin-real"]
    assert dataset["kind"] == "folder" and dataset["layout"] == "filename"
    assert dataset["path"] == "../shared/data/skin-real"
    assert (PROJECT_ROOT / dataset["path"]).resolve() == REAL_DATA.resolve()
    assert [(c["name"], c["label"]) for c in dataset["classes"]] == [("Mel", 0), ("Nev", 1)]
    assert dataset["image_size"] == (128 if override == REAL_CONFIG else 32)
    assert config["tasks"] == merged_config()["tasks"]  # only the data changes
    assert len(plan_lab(config).trainings) == len(plan_lab(merged_config()).trainings)


# ---------------------------------------------------------------------------------------
# The workflow on the real images


def _real_workdir(destination: Path, data: Path) -> Path:
    """A copy of the workflow whose small-real config points at the real data.

    The copy lives in a temporary folder, where `../shared/data/skin-real` leads nowhere;
    a second config file (merged over the first by `--configfile`) gives the absolute path.
    """
    workdir = copy_workflow(destination)
    override = {"datasets": {"skin-real": {"path": str(data.resolve())}}}
    (workdir / PATH_OVERRIDE).write_text(yaml.safe_dump(override))
    return workdir


def _check_real_manifest(manifest: dict, image_size: int) -> None:
    assert manifest["dataset"] == "skin-real" and manifest["kind"] == "folder"
    assert manifest["counts"] == _expected_counts()
    assert manifest["majority_baseline"]["train"]["class"] == "Nev"
    assert manifest["majority_baseline"]["train"]["fraction"] == pytest.approx(278 / 457, abs=1e-6)
    assert manifest["majority_baseline"]["test"]["fraction"] == pytest.approx(60 / 103, abs=1e-6)
    assert manifest["image_size"] == image_size
    assert manifest["source"]["layout"] == "filename"
    assert manifest["original_images"]["all"]["most_common_sizes"] == [["128x128", 560]]
    assert manifest["original_images"]["all"]["modes"] == {"L": 560}
    assert manifest["skipped"] == [] and manifest["duplicates"] == []
    assert manifest["arrays"]["x_train"] == [457, image_size, image_size, 1]


@pytest.mark.workflow
def test_workflow_prepares_the_real_images(real_data, tmp_path):
    """Only the data rule: quick, and independent of training and the report."""
    workdir = _real_workdir(tmp_path / "lab", real_data)
    target = "results/data/skin-real/manifest.json"
    result = run_snakemake(
        workdir, target, "--cores", "2", "--configfile", SMALL_REAL, PATH_OVERRIDE, timeout=600
    )  # the target first: --configfile takes every word after it
    assert result.returncode == 0, result.stdout[-8000:]
    manifest = json.loads((workdir / target).read_text())
    _check_real_manifest(manifest, image_size=32)
    assert manifest["source"]["resolved_path"] == str(real_data.resolve())
    data = load_prepared(workdir / "results/data/skin-real/arrays.npz")
    assert data.class_names == ("Mel", "Nev")
    for name, label in zip(data.test_files, data.y_test):
        assert label == (0 if Path(str(name)).name.startswith("Mel_") else 1)


@pytest.fixture(scope="module")
def real_lab(real_data, tmp_path_factory):
    """The 13 tasks on the real images at 32 x 32 and a fiftieth of the epochs, run once."""
    workdir = _real_workdir(tmp_path_factory.mktemp("real-lab"), real_data)
    result = run_snakemake(
        workdir, "--cores", "2", "--configfile", SMALL_REAL, PATH_OVERRIDE, timeout=2400
    )
    assert result.returncode == 0, result.stdout[-8000:]
    return workdir


def _table_rows(html: str) -> list[list[str]]:
    """The cells of every table row, as text."""
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.DOTALL):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.DOTALL)
        rows.append([re.sub(r"<[^>]+>|\s+", " ", cell).strip() for cell in cells])
    return rows


@pytest.mark.workflow
def test_real_lab_end_to_end(real_lab):
    workdir = real_lab
    manifest = json.loads((workdir / "results/data/skin-real/manifest.json").read_text())
    _check_real_manifest(manifest, image_size=32)

    # every training of the plan, 6E's and 6F's included, has its full history
    config = merged_config(workdir / SMALL_REAL, workdir / PATH_OVERRIDE)
    plan = complete_plan(config, workdir)
    assert not plan.pending_tasks
    for training in plan.trainings.values():
        assert training.history_csv.startswith("results/runs/skin-real/")
        history = pd.read_csv(workdir / training.history_csv)
        assert history["epoch"].tolist() == list(range(1, training.epochs + 1))

    # the report's data section shows the real class balance and majority-class baselines
    html = (workdir / "results/report/index.html").read_text(encoding="utf-8")
    section = re.search(r'<section[^>]*id="data"[^>]*>(.*?)</section>', html, re.DOTALL)
    assert section, "the report has no data section"
    assert "skin-real" in section.group(1)
    rows = _table_rows(section.group(1))
    header = next(row for row in rows if row and row[0] == "split")
    assert header[1:3] == ["Mel", "Nev"]
    by_split = {row[0].split()[0]: row[1:] for row in rows if row and row[0] != "split"}
    assert by_split["train"] == ["179", "278", "457", "60.8%"]
    assert by_split["test"] == ["43", "60", "103", "58.3%"]


# ---------------------------------------------------------------------------------------
# A folder of real images that the project has never seen


def _rgb_200x150_jpeg(image: Image.Image, path: Path) -> None:
    image.convert("RGB").resize((200, 150), Image.Resampling.BICUBIC).save(path, quality=95)


def _bmp(image: Image.Image, path: Path) -> None:
    image.save(path, format="BMP")


def _tiff_16_bit(image: Image.Image, path: Path) -> None:
    values = np.asarray(image, dtype=np.uint16) * 257  # 255 -> 65535: the same brightness
    Image.fromarray(values).save(path, format="TIFF")


def _palette_png(image: Image.Image, path: Path) -> None:
    image.convert("P").save(path, format="PNG")


def _png(image: Image.Image, path: Path) -> None:
    image.save(path, format="PNG")


def _exif_rotated_jpeg(image: Image.Image, path: Path) -> None:
    # stored turned on its side (120 wide x 160 high); orientation 6 says "rotate 90
    # degrees clockwise to display", which gives back the upright 160 x 120 picture
    stored = image.resize((160, 120), Image.Resampling.BICUBIC).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, format="JPEG", quality=95, exif=exif)


# name, extension (letter case as written), writer, pixel mode and size the loader
# records, how close the prepared pixels stay to the original's (mean absolute difference;
# JPEG at quality 95 stays within 0.001, a picture turned by 90 degrees is off by 0.02 or more)
ENCODINGS = [
    ("jpeg-rgb", ".jpg", _rgb_200x150_jpeg, "RGB", "200x150", 0.005),
    ("bmp", ".BMP", _bmp, "L", "128x128", 1e-6),
    ("tiff16", ".tif", _tiff_16_bit, "I;16", "128x128", 1 / 255),
    ("palette", ".png", _palette_png, "P", "128x128", 1e-6),
    ("upper-png", ".PNG", _png, "L", "128x128", 1e-6),
    ("exif-jpeg", ".JPG", _exif_rotated_jpeg, "L", "160x120", 0.005),
]

SUBSET = {"train": 2, "test": 1}  # images per class and encoding
SIZE = 32


def _pick(real_data: Path, split: str, class_name: str, count: int) -> list[Path]:
    """Every n-th file of a class, so both sources (isic, uda1) of Mel take part."""
    files = sorted((real_data / split).glob(f"{class_name}_*.png"))
    step = max(1, len(files) // count)
    return files[::step][:count]


def _write_unseen_folder(real_data: Path, root: Path, layout: str) -> dict[str, dict]:
    """Re-encode a subset of the real images into a new folder; {relative path: facts}.

    ``filename``: root/<split>/<encoding>/scans/Mel_uda1_0000002<ext> (nested folders,
    the class in the name). ``subfolders``: root/<split>/<melanoma|nevus>/<encoding>/
    scans/ISIC_0000002<ext> (the class only in the folder).
    """
    written = {}
    per_class = len(ENCODINGS)
    for split, repeats in SUBSET.items():
        for class_name, folder in (("Mel", "melanoma"), ("Nev", "nevus")):
            sources = _pick(real_data, split, class_name, per_class * repeats)
            for index, source in enumerate(sources):
                encoding, extension, write, mode, size, tolerance = ENCODINGS[index % per_class]
                isic_name = "ISIC_" + source.stem.rsplit("_", 1)[1]
                if layout == "filename":
                    relative = Path(split, encoding, "scans", source.stem + extension)
                else:
                    relative = Path(split, folder, encoding, "scans", isic_name + extension)
                path = root / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                with Image.open(source) as original:
                    write(original, path)
                written[relative.as_posix()] = {
                    "source": source,
                    "label": 0 if class_name == "Mel" else 1,
                    "mode": mode,
                    "size": size,
                    "tolerance": tolerance,
                }
    # what people's folders also hold: notes, and the operating system's hidden files
    (root / "train" / "labels.csv").write_text("file,diagnosis\n")
    (root / "train" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return written


@pytest.mark.parametrize("layout", ["filename", "subfolders"])
def test_a_never_seen_folder_of_real_images_is_prepared_as_it_is(real_data, tmp_path, layout):
    root = tmp_path / "never-seen"
    written = _write_unseen_folder(real_data, root, layout)
    config = {"kind": "folder", "path": "never-seen", "image_size": SIZE}
    if layout == "subfolders":  # the class is only in the folder name
        config["classes"] = [
            {"name": "Mel", "label": 0, "folder": "melanoma"},
            {"name": "Nev", "label": 1, "folder": "nevus"},
        ]
    out = tmp_path / "results" / "data" / "never-seen"
    manifest = prepare_dataset(
        config, out / "arrays.npz", out / "manifest.json", SIZE, base_dir=tmp_path
    )

    assert manifest["source"]["layout"] == layout
    n = len(ENCODINGS)
    assert manifest["counts"] == {
        split: {"Mel": n * repeats, "Nev": n * repeats, "total": 2 * n * repeats}
        for split, repeats in SUBSET.items()
    }
    assert manifest["skipped"] == [] and manifest["duplicates"] == []
    assert manifest["ignored_files"] == ["train/labels.csv"]
    originals = manifest["original_images"]["all"]
    assert originals["modes"] == {
        mode: sum(1 for facts in written.values() if facts["mode"] == mode)
        for mode in sorted({facts["mode"] for facts in written.values()})
    }
    assert {size for size, _ in originals["most_common_sizes"]} == {"128x128", "200x150", "160x120"}

    data = load_prepared(out / "arrays.npz")
    assert data.x_train.shape == (2 * n * SUBSET["train"], SIZE, SIZE, 1)
    for split in ("train", "test"):
        x, y, files = (
            getattr(data, f"x_{split}"),
            getattr(data, f"y_{split}"),
            getattr(data, f"{split}_files"),
        )
        assert sorted(map(str, files)) == sorted(name for name in written if name.startswith(split))
        for pixels, label, name in zip(x, y, files):
            facts = written[str(name)]
            assert label == facts["label"], name
            # the same picture as the original prepared the same way, up to JPEG's loss
            reference = read_image(facts["source"], SIZE).pixels
            difference = np.abs(pixels[:, :, 0] - reference).mean()
            assert difference <= facts["tolerance"], (name, difference)
