"""prepare_dataset / load_prepared, the entry-point helper and scripts/prepare_data.py."""

import json
import os
import runpy
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cnnlab.data.arrays import arrays_sha256, load_prepared
from cnnlab.data.prepare import prepare_dataset
from cnnlab.errors import CnnlabError
from cnnlab.plan.config import checked_dataset
from cnnlab.workflow.entrypoint import run_entrypoint
from tests.data_fixtures import leftovers, noise_image, write_course_layout
from tests.workflow_helpers import PROJECT_ROOT

SIZE = 16
SYNTHETIC = {"kind": "synthetic", "n_train": 16, "n_test": 8, "seed": 0, "image_size": SIZE}

MANIFEST_KEYS = {
    "dataset",
    "kind",
    "config",
    "source",
    "image_size",
    "resize",
    "classes",
    "counts",
    "majority_baseline",
    "original_images",
    "arrays",
    "arrays_sha256",
    "skipped",
    "ignored_files",
    "duplicates",
    "duplicates_within_split",
    "split",
    "cnnlab_version",
    "sanity",
}


def _outputs(folder):
    return folder / "arrays.npz", folder / "manifest.json"


def _prepare(config, folder, image_size=SIZE, **kwargs):
    arrays, manifest = _outputs(folder)
    return prepare_dataset(config, arrays, manifest, image_size, **kwargs)


def test_synthetic_arrays_manifest_and_images(tmp_path):
    folder = tmp_path / "results" / "data" / "synthetic"
    manifest = _prepare(SYNTHETIC, folder)
    arrays_path, manifest_path = _outputs(folder)

    assert json.loads(manifest_path.read_text()) == manifest
    assert set(manifest) == MANIFEST_KEYS
    assert manifest["dataset"] == "synthetic" and manifest["kind"] == "synthetic"
    assert manifest["counts"] == {
        "train": {"Mel": 8, "Nev": 8, "total": 16},
        "test": {"Mel": 4, "Nev": 4, "total": 8},
    }
    assert manifest["majority_baseline"]["test"]["fraction"] == 0.5
    assert manifest["original_images"]["all"]["most_common_sizes"] == [["16x16", 24]]
    assert manifest["source"]["parameters"]["seed"] == 0

    with np.load(arrays_path) as stored:
        assert stored["x_train"].shape == (16, SIZE, SIZE, 1)
        assert stored["x_train"].dtype == np.float32 and stored["y_test"].dtype == np.int8
        assert 0 <= stored["x_test"].min() and stored["x_test"].max() <= 1
        assert stored["class_names"].tolist() == ["Mel", "Nev"]
        assert manifest["arrays_sha256"] == arrays_sha256({k: stored[k] for k in stored.files})
        for name, label in zip(stored["train_files"], stored["y_train"]):
            assert name.startswith("train/") and label == (0 if "/Mel_" in name else 1)
            assert (folder / "images" / name).is_file()  # the PNGs stay beside the arrays
    assert leftovers(folder) == ["arrays.npz", "images", "manifest.json"]
    assert oct(arrays_path.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


def test_synthetic_preparation_is_reproducible(tmp_path):
    first = _prepare(SYNTHETIC, tmp_path / "a")
    second = _prepare(SYNTHETIC, tmp_path / "b")
    again = _prepare(SYNTHETIC, tmp_path / "a")  # over the old images and outputs
    assert first["arrays_sha256"] == second["arrays_sha256"] == again["arrays_sha256"]
    other = _prepare({**SYNTHETIC, "seed": 1}, tmp_path / "c")
    assert other["arrays_sha256"] != first["arrays_sha256"]


def test_folder_data_set_manifest(tmp_path):
    data = tmp_path / "data"
    write_course_layout(data, {"train": (3, 5), "test": (2, 2)})
    noise_image(77, 48, "RGB").save(data / "train" / "Nev_big.jpg")
    (data / "train" / "notes.txt").write_text("ignored")
    (data / "test" / "Mel_bad.png").write_bytes(b"")
    config = {"kind": "folder", "path": "data", "on_bad_image": "skip", "resize": "area"}

    manifest = _prepare(config, tmp_path / "out", name="mine", base_dir=tmp_path)
    assert manifest["dataset"] == "mine" and manifest["resize"] == "area"
    assert manifest["counts"]["train"] == {"Mel": 3, "Nev": 6, "total": 9}
    assert manifest["majority_baseline"]["train"] == {
        "class": "Nev",
        "label": 1,
        "fraction": round(6 / 9, 6),
    }
    sizes = manifest["original_images"]["all"]
    assert sizes["width"] == {"min": 32, "median": 32, "max": 48}
    assert sizes["modes"] == {"L": 12, "RGB": 1}
    assert manifest["skipped"] == [{"file": "test/Mel_bad.png", "reason": "is empty (0 bytes)"}]
    assert manifest["ignored_files"] == ["train/notes.txt"]
    assert manifest["source"]["path"] == "data"
    assert manifest["source"]["resolved_path"] == str(data.resolve())
    assert manifest["source"]["layout"] == "filename"
    prepared = load_prepared(tmp_path / "out" / "arrays.npz")
    assert "train/Nev_big.jpg" in prepared.train_files.tolist()


def test_held_out_split_is_recorded(tmp_path):
    write_course_layout(tmp_path / "data", {"train": (5, 5)})
    config = {"kind": "folder", "path": str(tmp_path / "data"), "test_fraction": 0.4}
    manifest = _prepare(config, tmp_path / "out")
    assert manifest["counts"]["test"] == {"Mel": 2, "Nev": 2, "total": 4}
    assert manifest["split"]["test_fraction"] == 0.4 and manifest["split"]["seed"] == 0


def _spoil_with_a_bad_image(data):
    (data / "train" / "Nev_broken.png").write_bytes(b"GIF89a not really")


@pytest.mark.parametrize(
    ("spoil", "expected_in_message"),
    [
        (_spoil_with_a_bad_image, "Nev_broken.png"),
        (lambda data: shutil.rmtree(data / "test"), "test folder is missing"),
        (lambda data: noise_image(1).save(data / "test" / "unknown.png"), "unknown.png"),
    ],
)
def test_failure_leaves_no_outputs_and_no_temporary_files(tmp_path, spoil, expected_in_message):
    data = tmp_path / "data"
    write_course_layout(data)
    out = tmp_path / "out"
    out.mkdir()
    for stale in _outputs(out):  # an older, good result must not survive a failure
        stale.write_text("stale")
    spoil(data)
    with pytest.raises(CnnlabError, match=expected_in_message):
        _prepare({"kind": "folder", "path": str(data)}, out)
    assert leftovers(out) == []


def test_failure_after_writing_removes_everything(tmp_path, monkeypatch):
    # A failure at the very end (renaming the manifest into place) must undo the arrays.
    real_replace = os.replace

    def failing_replace(source, target):
        if str(target).endswith("manifest.json"):
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr("cnnlab.data.prepare.os.replace", failing_replace)
    out = tmp_path / "out"
    with pytest.raises(CnnlabError, match=r"manifest\.json: could not be written: the disk is full"):
        _prepare(SYNTHETIC, out)
    assert leftovers(out) == ["images"]  # the generated PNGs were complete; no outputs


@pytest.mark.parametrize(
    ("config", "image_size", "message"),
    [
        # the config check's messages (cnnlab.plan.config.checked_dataset), named by the entry
        ({"kind": "kaggle"}, SIZE, r"datasets\.out\.kind: 'kaggle' is not one of 'synthetic', 'folder'"),
        ({**SYNTHETIC, "n_trian": 5}, SIZE, r"datasets\.out\.n_trian: unknown key 'n_trian'"),
        ({"kind": "folder"}, SIZE, r"datasets\.out\.path: is missing.*folder with train/ and test/"),
        ({"kind": "folder", "path": "x", "layout": "flat"}, SIZE, r"datasets\.out\.layout: 'flat'"),
        (
            {"kind": "folder", "path": "x", "classes": [{"name": "A", "label": 0}]},
            SIZE,
            r"datasets\.out\.classes: must have exactly 2 entries, not 1",
        ),
        ({"kind": "synthetic"}, 4, r"datasets\.out\.image_size: 4 must be at least 8"),
        ({**SYNTHETIC, "n_train": 1}, SIZE, r"datasets\.out\.n_train: 1 must be at least 4"),
        # what the schema cannot see: the caller's image size against the entry's
        (SYNTHETIC, 32, r"datasets\.out\.image_size is 16 but the workflow asks for 32"),
        # and what only the classes together say
        (
            {"kind": "folder", "path": "x", "classes": [{"name": "A", "label": 0}] * 2},
            SIZE,
            r"datasets\.out\.classes must name exactly two classes with labels 0 and 1",
        ),
    ],
)
def test_config_mistakes_are_named(tmp_path, config, image_size, message):
    with pytest.raises(CnnlabError, match=message):
        _prepare(config, tmp_path / "out", image_size=image_size)
    assert leftovers(tmp_path / "out") == []


def test_a_checked_entry_is_read_as_it_is(tmp_path):
    # the workflow hands over its checked entry (defaults filled in); no image_size needed
    entry = checked_dataset(dict(SYNTHETIC, mel_fraction=0.25), "out")
    manifest = prepare_dataset(entry, *_outputs(tmp_path / "out"))
    assert manifest["config"] == entry and manifest["image_size"] == SIZE
    assert manifest["counts"]["train"] == {"Mel": 4, "Nev": 12, "total": 16}


def test_load_prepared_round_trip_and_missing_file(tmp_path):
    _prepare(SYNTHETIC, tmp_path)
    prepared = load_prepared(tmp_path / "arrays.npz")
    assert prepared.x_train.shape == (16, SIZE, SIZE, 1) and prepared.image_size == SIZE
    assert prepared.y_train.dtype == np.int8 and prepared.class_names == ("Mel", "Nev")
    assert len(prepared.test_files) == len(prepared.y_test) == 8
    with pytest.raises(CnnlabError, match="prepare_data rule") as raised:
        load_prepared(tmp_path / "missing" / "arrays.npz")
    assert str(tmp_path / "missing" / "arrays.npz") in str(raised.value)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CnnlabError, match="cannot be read"):
        load_prepared(tmp_path / "junk.npz")


def _shared_folder() -> Path:
    configured = os.environ.get("CNNLAB_SHARED")
    return Path(configured) if configured else PROJECT_ROOT.parent / "shared"


def test_the_shared_real_data_set(tmp_path):
    root = _shared_folder() / "data" / "skin-real"
    if not (root / "train").is_dir():
        pytest.skip(f"{root} is absent (set CNNLAB_SHARED to the shared folder)")
    manifest = _prepare({"kind": "folder", "path": str(root)}, tmp_path, image_size=32)
    assert manifest["counts"]["train"] == {"Mel": 179, "Nev": 278, "total": 457}
    assert manifest["counts"]["test"] == {"Mel": 43, "Nev": 60, "total": 103}
    assert manifest["majority_baseline"]["test"]["class"] == "Nev"
    assert manifest["skipped"] == [] and manifest["duplicates"] == []
    assert load_prepared(tmp_path / "arrays.npz").x_test.shape == (103, 32, 32, 1)


# ---------------------------------------------------------------------------------------
# The entry point


def test_run_entrypoint_turns_a_user_error_into_one_message(tmp_path, capsys):
    log_path = tmp_path / "logs" / "job.log"

    def main(log):
        log("starting")
        raise CnnlabError("data/train/Mel_1.png: is empty (0 bytes). Replace it.")

    with pytest.raises(SystemExit) as raised:
        run_entrypoint(main, log_path=log_path)
    assert raised.value.code == 1
    assert capsys.readouterr().err == "data/train/Mel_1.png: is empty (0 bytes). Replace it.\n"
    assert log_path.read_text().splitlines() == [
        "starting",
        "error: data/train/Mel_1.png: is empty (0 bytes). Replace it.",
    ]


def test_run_entrypoint_lets_bugs_through_with_their_traceback_in_the_log(tmp_path):
    log_path = tmp_path / "job.log"

    def main(log):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_entrypoint(main, log_path=log_path)
    assert "Traceback" in log_path.read_text() and "KeyError" in log_path.read_text()


def _fake_snakemake(tmp_path, dataset):
    out = tmp_path / "results" / "data" / "tiny"
    return SimpleNamespace(
        params=SimpleNamespace(dataset=dataset, image_size=SIZE),
        output=SimpleNamespace(arrays=str(out / "arrays.npz"), manifest=str(out / "manifest.json")),
        log=[str(tmp_path / "logs" / "data" / "tiny.log")],
        wildcards=SimpleNamespace(dataset="tiny"),
    )


def test_prepare_data_script(tmp_path, capsys):
    script = str(PROJECT_ROOT / "scripts" / "prepare_data.py")
    snakemake = _fake_snakemake(tmp_path, dict(SYNTHETIC))
    runpy.run_path(script, init_globals={"snakemake": snakemake}, run_name="__main__")
    manifest = json.loads(Path(snakemake.output.manifest).read_text())
    assert manifest["dataset"] == "tiny" and manifest["counts"]["test"]["total"] == 8
    assert "arrays_sha256" in Path(snakemake.log[0]).read_text()

    broken = _fake_snakemake(tmp_path, {"kind": "folder", "path": str(tmp_path / "absent")})
    with pytest.raises(SystemExit) as raised:
        runpy.run_path(script, init_globals={"snakemake": broken}, run_name="__main__")
    assert raised.value.code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(tmp_path / "absent") in error
    assert not Path(broken.output.arrays).exists()
