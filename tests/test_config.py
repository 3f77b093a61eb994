"""Bad config stops with one message that names the key."""

import copy

import pytest

from cnnlab.config import check_config
from cnnlab.errors import CnnlabError


def test_the_project_configs_are_valid(default_config, small_config):
    check_config(default_config)
    check_config(small_config)


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
]


@pytest.mark.parametrize("edit, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_config_names_the_key(default_config, edit, expected):
    with pytest.raises(CnnlabError) as raised:
        check_config(broken(default_config, edit), source="config.yaml")
    message = str(raised.value)
    assert message.startswith("config.yaml: ")
    assert expected in message
    assert "\n" not in message
