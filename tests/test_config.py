"""Bad config stops with one message that names the key; a good one gets the schema's
defaults filled in."""

import copy

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.plan.config import (
    check_unique_keys,
    checked_config,
    checked_dataset,
    dataset_defaults,
    read_config_files,
)
from tests.conftest import PROJECT_ROOT, check_config


def test_the_project_configs_are_valid(default_config, small_config):
    check_config(default_config)
    check_config(small_config)


def test_the_schema_defaults_are_filled_in_in_place(default_config):
    for key in ("seeds", "share_prefixes", "epoch_divisor"):
        del default_config[key]
    selection = default_config["tasks"]["6E"]["selection"]
    for key in ("rule", "max_gap", "pinned"):
        del selection[key]
    default_config["datasets"]["real"] = {"kind": "folder", "path": "data"}
    checked = checked_config(default_config, source="config.yaml")
    assert checked is default_config  # Snakemake's config object itself is updated
    assert (checked["seeds"], checked["share_prefixes"], checked["epoch_divisor"]) == ([1], True, 1)
    assert selection == {
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
        "allow_degenerate": False,
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
INF, NAN = float("inf"), float("nan")


def pin(config, **keys):
    """Pin 6E's selection (batch_size, lr, n_base) with these keys changed; return the pin."""
    pinned = {"batch_size": 8, "lr": 1.0e-5, "n_base": 8, **keys}
    config["tasks"]["6E"]["selection"]["pinned"] = pinned
    return pinned


def add_task(config, task_id):
    config["tasks"][task_id] = {"title": "t", "question": "q", "like": "5A"}


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
    ("an earlier version's key", lambda c: c["tasks"]["6E"].update(optimum=c["tasks"]["6E"].pop("selection")), "tasks.6E.optimum: unknown key 'optimum': it is called 'selection' now; rename it."),
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
    ("unknown answer kind", lambda c: c["tasks"]["5E"].update(answer="dense"), "tasks.5E.answer: 'dense' is not one of 'conv_layers', 'dense_layers', 'architectures', 'output_layer'"),
    ("unknown inspected task", lambda c: c["tasks"]["5E"].update(inspects="5Z"), "tasks.5E.inspects: refers to task '5Z', which does not exist"),
    ("inspects a task without runs", lambda c: c["tasks"]["5E"].update(inspects="5D"), "tasks.5E.inspects: task '5D' trains no model"),
    ("unknown candidate", lambda c: c["tasks"]["6E"]["selection"].update(candidates=["6X"]), "tasks.6E.selection.candidates[0]: refers to task '6X'"),
    ("circular like", lambda c: c["tasks"]["5A"].update(like="5C"), "circular reference"),
    ("unknown data set", lambda c: c.update(dataset="course"), "dataset: 'course' is not a key of datasets"),
    ("missing question", lambda c: c["tasks"]["6A"].pop("question"), "tasks.6A.question: is missing"),
    ("unknown data set key", lambda c: c["datasets"]["synthetic"].update(n_trian=5), "datasets.synthetic.n_trian: unknown key"),
    # run parameters that cnnlab.train.models once checked again
    ("unknown precision", lambda c: c["defaults"].update(precision="float16"), "defaults.precision: 'float16' is not one of"),
    ("n_base 0", lambda c: c["tasks"]["6A"]["runs"][0].update(n_base=0), "tasks.6A.runs[0].n_base: 0 must be at least 1"),
    ("dense width 0", lambda c: c["tasks"]["5F"]["runs"][1].update(dense=[0]), "tasks.5F.runs[1].dense[0]: 0 must be at least 1"),
    # data set keys that cnnlab.data.prepare and cnnlab.data.images once checked again
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
    # synthetic bounds that only cnnlab.data.synthetic knew, so a config passed and its job failed
    ("synthetic image_size 12", lambda c: c["datasets"]["synthetic"].update(image_size=12), "datasets.synthetic.image_size: 12 must be at least 16"),
    ("ambiguous_fraction 0.5", lambda c: c["datasets"]["synthetic"].update(ambiguous_fraction=0.5), "datasets.synthetic.ambiguous_fraction: 0.5 must be less than 0.5"),
    ("n_train 1", lambda c: c["datasets"]["synthetic"].update(n_train=1), "datasets.synthetic.n_train: 1 must be at least 4"),
    ("synthetic image_size 8", lambda c: c["datasets"]["synthetic"].update(image_size=8), "datasets.synthetic.image_size: 8 must be at least 16"),
    ("synthetic image_size 15", lambda c: c["datasets"]["synthetic"].update(image_size=15), "datasets.synthetic.image_size: 15 must be at least 16"),
    # a pinned selection passes the checks of a run's parameters, and gives only what copy takes
    ("pinned lr -1", lambda c: pin(c, lr=-1), "tasks.6E.selection.pinned.lr: -1 must be greater than 0"),
    ("pinned n_base 0", lambda c: pin(c, n_base=0), "tasks.6E.selection.pinned.n_base: 0 must be at least 1"),
    ("pinned batch size a word", lambda c: pin(c, batch_size="eight"), "tasks.6E.selection.pinned.batch_size: 'eight' has the wrong type: expected integer"),
    ("pinned unknown key", lambda c: pin(c, nbase=8), "tasks.6E.selection.pinned.nbase: unknown key 'nbase': check its spelling. Allowed here: batch_size, dense, dropout, loss, lr, model, n_base, optimizer."),
    ("pinned epochs", lambda c: pin(c, epochs=20), "tasks.6E.selection.pinned.epochs: unknown key 'epochs'"),
    ("pinned key copy does not take", lambda c: pin(c, dropout=0.2), "tasks.6E.selection.pinned.dropout: copy does not take 'dropout' (batch_size, lr, n_base): add it to tasks.6E.selection.copy or remove it from pinned."),
    ("pinned lacks a copied key", lambda c: pin(c).pop("n_base"), "tasks.6E.selection.pinned: lacks n_base; a pinned selection gives every parameter in copy"),
    ("pinned not a mapping", lambda c: c["tasks"]["6E"]["selection"].update(pinned=8), "tasks.6E.selection.pinned: 8 has the wrong type"),
    # every number finite: a schema bound lets .inf or .nan through, and a run id cannot spell them
    ("lr .inf", lambda c: c["tasks"]["5A"]["runs"][0].update(lr=INF), "tasks.5A.runs[0].lr: .inf is not a finite number: give a finite value."),
    ("lr .nan", lambda c: c["tasks"]["5A"]["runs"][0].update(lr=NAN), "tasks.5A.runs[0].lr: .nan is not a finite number"),
    ("dropout .nan", lambda c: c["defaults"].update(dropout=NAN), "defaults.dropout: .nan is not a finite number"),
    ("swept lr -.inf", lambda c: c["tasks"]["6E"]["sweep"].update(lr=[1e-4, -INF]), "tasks.6E.sweep.lr[1]: -.inf is not a finite number"),
    ("max_gap .nan", lambda c: c["tasks"]["6E"]["selection"].update(max_gap=NAN), "tasks.6E.selection.max_gap: .nan is not a finite number"),
    ("mel_fraction .nan", lambda c: c["datasets"]["synthetic"].update(mel_fraction=NAN), "datasets.synthetic.mel_fraction: .nan is not a finite number"),
    ("pinned lr .inf", lambda c: pin(c, lr=INF), "tasks.6E.selection.pinned.lr: .inf is not a finite number"),
    # what becomes a file name or a wildcard value is bounded (File name too long, PeriodicWildcardError)
    ("task id of 41 characters", lambda c: add_task(c, "5" + "AB" * 20), "tasks: '5ABABABABABABABABABA...' is too long: at most 40 characters, not 41: choose a shorter name."),
    ("task id of 301 characters", lambda c: add_task(c, "T" + "x1" * 150), "tasks: 'Tx1x1x1x1x1x1x1x1x1x...' is too long: at most 40 characters, not 301"),
    ("task id of 300 repeated letters", lambda c: add_task(c, "x" * 300), "is too long: at most 40 characters, not 300"),
    ("task id ending in a letter 20 times", lambda c: add_task(c, "7" + "a" * 20), "tasks: '7aaaaaaaaaaaaaaaaaaaa' ends in 'a' repeated 20 times, which Snakemake takes for a runaway file name: choose another name."),
    ("data set name of 41 characters", lambda c: c["datasets"].update({"d" * 41: {"kind": "synthetic"}}), "datasets: 'dddddddddddddddddddd...' is too long: at most 40 characters, not 41"),
    ("data set name repeating", lambda c: c["datasets"].update({"ab" * 20: {"kind": "synthetic"}}), "datasets: 'abababababababababababababababababababab' ends in 'ab' repeated 20 times"),
    ("epochs 10**20", lambda c: c["tasks"]["5A"]["runs"][0].update(epochs=10**20), "tasks.5A.runs[0].epochs: 100000000000000000000 must be at most 100000."),
    ("swept epochs 100001", lambda c: c["tasks"]["6E"]["sweep"].update(epochs=[100001]), "tasks.6E.sweep.epochs[0]: 100001 must be at most 100000."),
    ("seed 2**32", lambda c: c.update(seeds=[1, 2**32]), "seeds[1]: 4294967296 must be at most 4294967295."),
    # PyYAML reads `lr: 1e-4` (no dot) as the text "1e-4"
    ("lr 1e-4 read as text", lambda c: c["defaults"].update(lr="1e-4"), "defaults.lr: '1e-4' has the wrong type: expected number (YAML reads a number without a dot before its exponent as text: write 1.0e-4)."),
    ("n_train 10**9", lambda c: c["datasets"]["synthetic"].update(n_train=10**9), "datasets.synthetic.n_train: 1000000000 must be at most 1000000."),
]


@pytest.mark.parametrize("edit, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_config_names_the_key(default_config, edit, expected):
    with pytest.raises(CnnlabError) as raised:
        checked_config(broken(default_config, edit), source="config.yaml")
    message = str(raised.value)
    assert message.startswith("config.yaml: ")
    assert expected in message
    assert "\n" not in message


def test_a_pinned_selection_of_the_copied_keys_passes(default_config):
    pin(default_config, lr=1.0e-4)
    assert checked_config(default_config)["tasks"]["6E"]["selection"]["pinned"] == {
        "batch_size": 8, "lr": 1.0e-4, "n_base": 8}
    default_config["tasks"]["6E"]["selection"]["copy"].append("dropout")
    pin(default_config, dropout=0.25)
    check_config(default_config)


def test_synthetic_image_size_16_is_the_smallest_that_passes(default_config):
    default_config["datasets"]["synthetic"]["image_size"] = 16
    check_config(default_config)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("defaults:\n  lr: 1.0e-5\n  epochs: 20\n  lr: 1.0e-4\n", "key 'lr' is given twice in one mapping, at lines 2 and 4"),
        ("tasks:\n  5A:\n    title: a\n  5B: {title: b}\n  5A:\n    title: c\n", "key '5A' is given twice in one mapping, at lines 2 and 5"),
        ("defaults: {lr: 1.0e-5, lr: 1.0e-4}\n", "key 'lr' is given twice in one mapping, at line 1"),
        ("runs:\n  - {lr: 1, seed: 2}\n  - {lr: 1, lr: 2}\n", "key 'lr' is given twice in one mapping, at line 3"),
    ],
    ids=["defaults", "task", "one-line", "in-a-list"],
)
def test_a_key_given_twice_names_the_file_the_key_and_both_lines(tmp_path, text, expected):
    path = tmp_path / "override.yaml"
    path.write_text(text)
    with pytest.raises(CnnlabError) as raised:
        check_unique_keys(path)
    assert str(raised.value) == f"{path}: {expected}: keep one (YAML would keep the last silently)."
    with pytest.raises(CnnlabError, match="given twice"):
        read_config_files(path)  # the tests' and the benchmark's reader refuses it too


def test_keys_given_once_pass_the_duplicate_check(tmp_path):
    check_unique_keys(PROJECT_ROOT / "config.yaml", PROJECT_ROOT / "tests" / "configs" / "small.yaml")
    # the same key in different mappings, and a key overriding one merged in by <<, are fine
    path = tmp_path / "ok.yaml"
    path.write_text("base: &base {lr: 1, epochs: 2}\na: {lr: 1}\nb: {lr: 1}\nc:\n  <<: *base\n  lr: 3\n")
    check_unique_keys(path)
    assert read_config_files(path)["c"] == {"lr": 3, "epochs": 2}


def test_the_duplicate_check_names_a_missing_or_broken_file(tmp_path):
    with pytest.raises(CnnlabError, match=r"missing\.yaml: config file not found\.$"):
        check_unique_keys(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1\n")
    with pytest.raises(CnnlabError, match=r"broken\.yaml: not valid YAML: ") as raised:
        check_unique_keys(tmp_path / "broken.yaml")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("reader", [check_unique_keys, read_config_files])
def test_a_config_file_that_is_not_utf8_text_or_not_a_file_is_named(tmp_path, reader):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("title: Nävus\n".encode("latin-1"))
    with pytest.raises(CnnlabError, match=r"latin1\.yaml: not a UTF-8 text file \(byte 8\); "):
        reader(latin1)
    folder = tmp_path / "configs"
    folder.mkdir()
    with pytest.raises(CnnlabError, match=r"configs: the config file could not be read: Is a "):
        reader(folder)
