"""cnnlab.train.checkpoints: the state hash, saving and restoring, usable checkpoints, resume.

tests/test_training.py covers them through whole trainings (resume after SIGKILL, a
longer training after a shorter one, stale states, the lock); these are the pieces.
"""

import json

import numpy as np
import pytest

from cnnlab.train import runtime

runtime.configure(threads=1)  # before any TensorFlow op runs in this test process

from cnnlab.train import checkpoints
from cnnlab.train.checkpoints import LATEST_STATE, Checkpoint

PARAMS = {"model": "mlp", "n_base": 0, "dense": [4], "dropout": 0.5, "optimizer": "adam",
          "lr": 0.01, "batch_size": 4, "loss": "bce", "seed": 1, "precision": "float32"}
# Keras' own save_weights trips a NumPy 2 deprecation warning, once per variable
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def compiled_model(seed=1):
    import keras

    from cnnlab.train.models import build_model

    runtime.seed_everything(seed)
    model = build_model(PARAMS, (4, 4, 1))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    model.optimizer.build(model.trainable_variables)
    return model


def row(epoch):
    return {"epoch": epoch, "loss": 0.5, "accuracy": 0.5, "val_loss": 0.5,
            "val_accuracy": 0.5, "seconds": 1.0}


def outputs(epochs, n=3):
    """Validation outputs of ``epochs`` epochs for ``n`` images, a NaN among them."""
    values = np.linspace(0, 1, epochs * n, dtype=np.float32).reshape(epochs, n)
    values[-1, 0] = np.nan
    return values


def test_the_state_hash_keeps_its_value(monkeypatch):
    """Checkpoints written before carry these hashes: a change would discard them all.
    (Format 2, which added the predictions, changed them on purpose.)"""
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    params = {"model": "lenet", "optimizer": "adam", "lr": 0.001, "batch_size": 8,
              "loss": "bce", "seed": 1}
    versions = {"python": "3", "tensorflow": "2.21.0", "keras": "3.13.0", "numpy": "2.3.0"}
    cpu = checkpoints.state_hash(params, "abc", versions, {"kind": "CPU", "name": "x"})
    assert cpu == "33c2e28656aadb20c6c203ac6aa8c6ae4309bd0b41c573097214dc811f2d3908"
    gpu = checkpoints.state_hash(dict(params, optimizer="sgd"), "abc", versions,
                                 {"kind": "GPU", "name": "H200"})
    assert gpu == "4b8ccc8f4de66144fb96a042f45013e018d1c4eab59461f9ce32708b8b54e99d"
    # the Python version is no part of it
    assert checkpoints.state_hash(params, "abc", dict(versions, python="4")) == cpu


def test_keras_leaves_dropout_seed_state_out_of_weights():
    """Why a checkpoint saves model.variables: save_weights misses the dropout seeds."""
    from cnnlab.train.models import build_model

    model = build_model({**PARAMS, "model": "alexnet", "n_base": 2, "dense": [8, 8],
                         "dropout": 0.3}, (16, 16, 1))
    weight_ids = {id(weight) for weight in model.weights}
    seed_states = [v for v in model.variables if "seed_generator" in v.path]
    assert len(seed_states) == 2 and not any(id(v) in weight_ids for v in seed_states)


def test_a_saved_checkpoint_restores_every_variable(tmp_path):
    saved_model = compiled_model(seed=1)
    history = [row(1), row(2)]
    saved = checkpoints.save(saved_model, tmp_path, Checkpoint(2, history, "loss is nan"),
                             "hash", keep=True, predictions=outputs(2))
    assert saved.path == tmp_path / "epoch0002.state.npz"
    assert (tmp_path / LATEST_STATE).samefile(saved.path)  # linked, not copied
    assert not list(tmp_path.glob(".*"))  # no temporary file left

    usable = checkpoints.usable(tmp_path, "hash", log=lambda _: None)
    assert list(usable) == [2] and usable[2].path == saved.path  # the kept file, not latest
    assert usable[2].history == history and usable[2].diverged_reason == "loss is nan"
    other_model = compiled_model(seed=2)
    predictions = checkpoints.restore(other_model, usable[2], "hash")
    assert predictions.dtype == np.float32
    assert predictions.tobytes() == outputs(2).tobytes()  # bit for bit, the NaN too
    for mine, theirs in zip(checkpoints._state_variables(saved_model),
                            checkpoints._state_variables(other_model), strict=True):
        assert np.array_equal(mine.numpy(), theirs.numpy()), mine.path
    with pytest.raises(RuntimeError, match="does not match"):
        checkpoints.restore(other_model, usable[2], "another hash")


def test_stale_unreadable_and_half_written_states_are_deleted(tmp_path):
    model = compiled_model()
    checkpoints.save(model, tmp_path, Checkpoint(1, [row(1)]), "old", keep=True,
                     predictions=outputs(1))
    checkpoints.save(model, tmp_path, Checkpoint(2, [row(1), row(2)]), "new", keep=False,
                     predictions=outputs(2))
    (tmp_path / "epoch0003.state.npz").write_bytes(b"not a zip")
    (tmp_path / ".latest.state.npz.123.abcd.tmp").write_bytes(b"killed half-way")
    (tmp_path / "notes.state.npz").write_text("not a checkpoint name: left alone")
    logs = []
    usable = checkpoints.usable(tmp_path, "new", log=logs.append)
    assert list(usable) == [2] and usable[2].path.name == LATEST_STATE
    assert sorted(path.name for path in tmp_path.iterdir()) == [LATEST_STATE, "notes.state.npz"]
    assert any("discarding stale state epoch0001" in line for line in logs)
    assert any("discarding unreadable state epoch0003" in line for line in logs)


def test_resume_from_the_newest_state_that_can_rewrite_the_save_epochs():
    found = {epoch: Checkpoint(epoch, [row(e) for e in range(1, epoch + 1)])
             for epoch in (2, 5, 8)}
    assert checkpoints.choose_resume(found, 10, [2, 5, 10]).epoch == 8
    assert checkpoints.choose_resume(found, 6, [2, 6]).epoch == 5  # not past the target
    assert checkpoints.choose_resume(found, 10, [3, 10]).epoch == 2  # 3's weights are gone
    assert checkpoints.choose_resume(found, 1, [1]) is None


def test_link_or_copy_replaces_the_target(tmp_path):
    (tmp_path / "source").write_text("new")
    (tmp_path / "target").write_text("old")
    checkpoints.link_or_copy(tmp_path / "source", tmp_path / "target")
    assert (tmp_path / "target").read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["source", "target"]


def test_a_checkpoint_file_is_an_npz_with_its_meta(tmp_path):
    """The layout that tests and tools read (tests/test_faults.py reads the epoch)."""
    model = compiled_model()
    checkpoints.save(model, tmp_path, Checkpoint(1, [row(1)]), "hash", keep=False,
                     predictions=outputs(1))
    with np.load(tmp_path / LATEST_STATE, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        assert meta["epoch"] == 1 and meta["format"] == checkpoints.STATE_FORMAT
        # meta, predictions and one member per variable
        assert len(stored.files) == 2 + len(meta["variables"])
        assert stored["predictions"].shape == (1, 3)


def test_a_state_needs_the_predictions_of_its_epochs(tmp_path):
    model = compiled_model()
    with pytest.raises(ValueError, match="predictions of 2 epochs"):
        checkpoints.save(model, tmp_path, Checkpoint(2, [row(1), row(2)]), "hash",
                         keep=False, predictions=outputs(1))


def test_a_state_of_the_format_before_the_predictions_is_stale(tmp_path):
    """Format 1 held no predictions: resuming from it would lose the earlier epochs'."""
    model = compiled_model()
    checkpoints.save(model, tmp_path, Checkpoint(1, [row(1)]), "hash", keep=True,
                     predictions=outputs(1))
    path = tmp_path / "epoch0001.state.npz"
    with np.load(path, allow_pickle=False) as stored:
        members = {name: stored[name] for name in stored.files if name != "predictions"}
    meta = json.loads(str(members["meta"]))
    members["meta"] = np.array(json.dumps(dict(meta, format=1)))
    (tmp_path / LATEST_STATE).unlink()
    np.savez(path, **members)
    logs = []
    assert checkpoints.usable(tmp_path, "hash", log=logs.append) == {}
    assert any("discarding stale state epoch0001" in line for line in logs)
    assert not path.exists()
