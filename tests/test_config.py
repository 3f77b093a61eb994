"""Bad config stops with one message that names the key; a good one gets the schema's
defaults filled in."""

import copy

import pytest

from cnnlab.config import check_config, checked_config, checked_dataset, dataset_defaults
from cnnlab.errors import CnnlabError


def test_the_project_configs_are_valid(default_config, small_config):
    check_config(default_config)
    check_config(small_config)


def test_the_schema_defaults_are_filled_in_in_place(default_config):
    for key in ("seeds", "share_prefixes", "epoch_divisor"):
        del default_config[key]
    optimum = default_config["tasks"]["6E"]["optimum"]
    for key in ("rule", "max_gap", "pinned"):
        del optimum[key]
    default_config["datasets"]["real"] = {"kind": "folder", "path": "data"}
    checked = checked_config(default_config, source="config.yaml")
    assert checked is default_config  # Snakemake's config object itself is updated
    assert (checked["seeds"], checked["share_prefixes"], checked["epoch_divisor"]) == ([1], True, 1)
    assert optimum == {
        "candidates": ["6A", "6B", "6C", "6D"],
        "copy": ["batch_size", "lr", "n_base"],
        "rule": "best_val_accuracy_within_gap",
        "max_gap": 0.1,
        "pinned": None,
    }
    # each kind gets the defaults of its own keys, and no other kind's
    assert checked["datasets"]["synthetic"]["ambiguous_fraction"] == 0.06
    assert checked["datasets"]["real"] == {"kind": "folder", "path": "data", **dataset_defaults("folder")}
    assert "n_train" not in checked["datasets"]["real"] and "resize" not in checked["datasets"]["synthetic"]
    checked["seeds"].append(2)  # a filled-in default is the config's own copy ...
    again = copy.deepcopy(default_config)
    del again["seeds"]
    assert checked_config(again)["seeds"] == [1]  # ... not the schema's


def test_dataset_defaults_by_kind():
    assert dataset_defaults("synthetic") == {
        "image_size": 128, "n_train": 1000, "n_test": 200, "seed": 0,
        "mel_fraction": 0.5, "ambiguous_fraction": 0.06,
    }
    assert dataset_defaults("folder") == {
        "image_size": 128, "layout": "auto", "resize": "bilinear", "on_bad_image": "error",
        "on_duplicate": "warn", "test_fraction": None, "split_seed": 0, "max_pixels": 50_000_000,
    }


def test_checked_dataset_fills_a_copy_and_names_the_entry():
    entry = {"kind": "synthetic", "n_train": 16}
    checked = checked_dataset(entry, "mine")
    assert entry == {"kind": "synthetic", "n_train": 16}
    assert checked == {"kind": "synthetic", "n_train": 16, **dict(dataset_defaults("synthetic"), n_train=16)}
    assert checked_dataset(checked, "mine") == checked  # a checked entry passes unchanged
    with pytest.raises(CnnlabError, match=r"^datasets\.mine\.n_test: 1 must be at least 2\.$"):
        checked_dataset({"kind": "synthetic", "n_test": 1}, "mine")


NEV = {"name": "Nev", "label": 1}


def folder(config, **keys):
    """Add a folder data set `real` with these keys."""
    config["datasets"]["real"] = {"kind": "folder", "path": "data", **keys}


def broken(config, edit):
    config = copy.deepcopy(config)
    edit(config)
    return config


CASES = [
    ("typo in a top-level key", lambda c: c.update(seed=c.pop("seeds")), "seed: unknown key 'seed'"),
    ("typo in a run key", lambda c: c["tasks"]["5A"]["runs"][0].update(epoch=3), "tasks.5A.runs[0].epoch: unknown key"),
    ("negative learning rate", lambda c: c["tasks"]["5A"]["runs"][0].update(lr=-1), "tasks.5A.runs[0].lr: -1 must be greater than 0"),
    ("zero learning rate", lambda c: c["defaults"].update(lr=0), "defaults.lr: 0 must be greater than 0"),
    ("batch size 0", lambda c: c["tasks"]["6A"]["runs"][0].update(batch_size=0), "tasks.6A.runs[0].batch_size: 0 must be at least 1"),
    ("epochs 0", lambda c: c["tasks"]["5B"]["runs"][0].update(epochs=0), "tasks.5B.runs[0].epochs: 0 must be at least 1"),
    ("dropout 1", lambda c: c["tasks"]["6B"]["runs"][2].update(dropout=1.0), "tasks.6B.runs[2].dropout: 1.0 must be less than 1"),
    ("unknown model", lambda c: c["tasks"]["6A"]["runs"][0].update(model="resnet"), "tasks.6A.runs[0].model: 'resnet' is not one of"),
    ("unknown optimizer", lambda c: c["tasks"]["6E"]["sweep"].update(optimizer=["adam", "adagrad"]), "tasks.6E.sweep.optimizer[1]: 'adagrad' is not one of"),
    ("unknown loss", lambda c: c["defaults"].update(loss="mse"), "defaults.loss: 'mse' is not one of"),
    ("wrong type", lambda c: c["defaults"].update(batch_size="eight"), "defaults.batch_size: 'eight' has the wrong type"),
    ("unknown task in like", lambda c: c["tasks"]["5B"].update(like="5Z"), "tasks.5B.like: refers to task '5Z', which does not exist"),
    ("unknown task in shows", lambda c: c["tasks"]["5D"].update(shows=["5A", "7A"]), "tasks.5D.shows[1]: refers to task '7A'"),
    ("unknown candidate", lambda c: c["tasks"]["6E"]["optimum"].update(candidates=["6X"]), "tasks.6E.optimum.candidates[0]: refers to task '6X'"),
    ("circular like", lambda c: c["tasks"]["5A"].update(like="5C"), "circular reference"),
    ("unknown data set", lambda c: c.update(dataset="course"), "dataset: 'course' is not a key of datasets"),
    ("missing question", lambda c: c["tasks"]["6A"].pop("question"), "tasks.6A.question: is missing"),
    ("unknown data set key", lambda c: c["datasets"]["synthetic"].update(n_trian=5), "datasets.synthetic.n_trian: unknown key"),
    # run parameters that cnnlab.models once checked again
    ("unknown precision", lambda c: c["defaults"].update(precision="float16"), "defaults.precision: 'float16' is not one of"),
    ("n_base 0", lambda c: c["tasks"]["6A"]["runs"][0].update(n_base=0), "tasks.6A.runs[0].n_base: 0 must be at least 1"),
    ("dense width 0", lambda c: c["tasks"]["5F"]["runs"][1].update(dense=[0]), "tasks.5F.runs[1].dense[0]: 0 must be at least 1"),
    # data set keys that cnnlab.prepare and cnnlab.images once checked again
    ("unknown data set kind", lambda c: folder(c, kind="kaggle"), "datasets.real.kind: 'kaggle' is not one of 'synthetic', 'folder'"),
    ("folder without path", lambda c: c["datasets"].update(real={"kind": "folder"}), "datasets.real.path: is missing: this key is required (folder with train/ and test/"),
    ("unknown layout", lambda c: folder(c, layout="flat"), "datasets.real.layout: 'flat' is not one of 'auto', 'filename', 'subfolders'"),
    ("unknown resize", lambda c: folder(c, resize="cubic"), "datasets.real.resize: 'cubic' is not one of 'nearest', 'bilinear', 'bicubic', 'lanczos', 'area'"),
    ("unknown bad-image policy", lambda c: folder(c, on_bad_image="ignore"), "datasets.real.on_bad_image: 'ignore' is not one of 'error', 'skip'"),
    ("unknown duplicate policy", lambda c: folder(c, on_duplicate="skip"), "datasets.real.on_duplicate: 'skip' is not one of 'warn', 'error'"),
    ("max_pixels 0", lambda c: folder(c, max_pixels=0), "datasets.real.max_pixels: 0 must be at least 1"),
    ("test_fraction 1", lambda c: folder(c, test_fraction=1.0), "datasets.real.test_fraction: 1.0 must be less than 1"),
    ("split_seed -1", lambda c: folder(c, split_seed=-1), "datasets.real.split_seed: -1 must be at least 0"),
    ("one class", lambda c: folder(c, classes=[{"name": "Mel", "label": 0}]), "datasets.real.classes: must have exactly 2 entries, not 1"),
    ("classes not a list", lambda c: folder(c, classes="Mel,Nev"), "datasets.real.classes: 'Mel,Nev' has the wrong type: expected array"),
    ("unknown class key", lambda c: folder(c, classes=[{"name": "Mel", "label": 0, "colour": "red"}, NEV]), "datasets.real.classes[0].colour: unknown key 'colour'"),
    ("class without name", lambda c: folder(c, classes=[{"label": 0}, NEV]), "datasets.real.classes[0].name: is missing"),
    ("class label a string", lambda c: folder(c, classes=[{"name": "Mel", "label": "0"}, NEV]), "datasets.real.classes[0].label: '0' has the wrong type: expected integer"),
    ("image_size 4", lambda c: c["datasets"]["synthetic"].update(image_size=4), "datasets.synthetic.image_size: 4 must be at least 8"),
    # synthetic bounds that only cnnlab.synthetic knew, so a config passed and its job failed
    ("synthetic image_size 12", lambda c: c["datasets"]["synthetic"].update(image_size=12), "datasets.synthetic.image_size: 12 must be at least 16"),
    ("ambiguous_fraction 0.5", lambda c: c["datasets"]["synthetic"].update(ambiguous_fraction=0.5), "datasets.synthetic.ambiguous_fraction: 0.5 must be less than 0.5"),
    ("n_train 1", lambda c: c["datasets"]["synthetic"].update(n_train=1), "datasets.synthetic.n_train: 1 must be at least 4"),
]


@pytest.mark.parametrize("edit, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_config_names_the_key(default_config, edit, expected):
    with pytest.raises(CnnlabError) as raised:
        checked_config(broken(default_config, edit), source="config.yaml")
    message = str(raised.value)
    assert message.startswith("config.yaml: ")
    assert expected in message
    assert "\n" not in message
