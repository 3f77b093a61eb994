"""The expansion of tasks into runs and trainings, pinned on the default config."""

import copy
import re

import pytest

from cnnlab.plan.config import checked_config
from cnnlab.plan.plan import plan_lab
from cnnlab.plan.runs import RunSpec, format_number
from tests.conftest import PROJECT_ROOT, merged_config


# The plan is made from a checked config, as the workflow makes it: defaults filled in.
@pytest.fixture
def default_config() -> dict:
    return checked_config(merged_config())


@pytest.fixture
def small_config() -> dict:
    return checked_config(merged_config(PROJECT_ROOT / "tests" / "configs" / "small.yaml"))


def test_the_schema_defaults_are_what_the_plan_reads(default_config):
    bare = merged_config()
    for key in ("seeds", "share_prefixes", "epoch_divisor"):
        del bare[key]
    for key in ("rule", "max_gap", "pinned"):
        del bare["tasks"]["6E"]["selection"][key]
    # config.yaml states the schema's defaults: leaving them out plans the same lab
    assert plan_lab(checked_config(bare)).to_dict() == plan_lab(default_config).to_dict()


def trainings_of(plan, task_id):
    return [entry.training for entry in plan.tasks[task_id].entries]


def test_default_lab_trains_each_unique_run_once(default_config):
    plan = plan_lab(default_config)
    # 15 (run, epochs) pairs listed by the tasks known before 6E's selection ...
    assert plan.entries_listed() == 15
    # ... are 10 trainings, because tasks share runs and prefixes
    assert len(plan.trainings) == 10
    assert len({t.run_id for t in plan.trainings.values()}) == len(plan.trainings)


def test_5a_and_5b_share_one_training_saved_at_both_epoch_counts(default_config):
    plan = plan_lab(default_config)
    (five_a,), (five_b,) = trainings_of(plan, "5A"), trainings_of(plan, "5B")
    assert five_a is five_b
    assert five_a.epochs == 200 and five_a.save_epochs == [20, 200]
    assert five_a.run_id == "lenet-nb32-lr1e-05-bs8-adam-bce-s1"
    assert [e.epochs for e in plan.tasks["5A"].entries] == [20]


def test_6c_and_6d_batch_8_share_one_training(default_config):
    plan = plan_lab(default_config)
    six_c = trainings_of(plan, "6C")
    assert six_c[0] is six_c[1]
    assert six_c[0].epochs == 350 and six_c[0].save_epochs == [150, 350]
    batch_8 = [e.training for e in plan.tasks["6D"].entries if e.spec.batch_size == 8]
    assert batch_8 == [six_c[0]]
    assert {e.spec.batch_size for e in plan.tasks["6D"].entries} == {2, 4, 8}


def test_5f_reuses_the_5c_lenet_and_adds_an_mlp(default_config):
    plan = plan_lab(default_config)
    lenet, mlp = plan.tasks["5F"].entries
    assert lenet.training is plan.tasks["5C"].entries[0].training
    assert mlp.spec.model == "mlp" and mlp.spec.n_base == 0
    assert mlp.spec.run_id == "mlp-lr1e-04-bs8-adam-bce-s1"


def test_6b_dropout_runs_share_a_prefix(default_config):
    plan = plan_lab(default_config)
    dropout = [e for e in plan.tasks["6B"].entries if e.spec.dropout]
    assert [e.epochs for e in dropout] == [50, 150]
    assert dropout[0].training is dropout[1].training
    assert dropout[0].spec.run_id == "alexnet-nb8-do0.4-lr1e-04-bs8-adam-bce-s1"


def test_conceptual_tasks_show_other_tasks_and_train_nothing(default_config):
    plan = plan_lab(default_config)
    assert plan.tasks["5D"].kind == "concept" and plan.tasks["5D"].shows == ["5A", "5B", "5C"]
    assert plan.tasks["5D"].entries == []


def test_6e_and_6f_wait_for_the_selection(default_config):
    plan = plan_lab(default_config)
    assert plan.pending_tasks == ["6E", "6F"]
    assert plan.selections_needed == ["6E"]


def test_the_selection_waits_for_the_trainings_of_6a_to_6d_alone(default_config):
    plan = plan_lab(default_config)
    waited_for = plan.trainings_selections_wait_for()
    candidates = {e.training.directory for t in ("6A", "6B", "6C", "6D") for e in plan.tasks[t].entries}
    assert waited_for == candidates and len(waited_for) == 7
    assert not any("/lenet-" in d or "/mlp-" in d for d in waited_for)
    # once selected, nothing waits any more; with the selection pinned, nothing ever waits
    assert plan_lab(default_config, {"6E": {"batch_size": 8, "lr": 1e-5, "n_base": 8}}).trainings_selections_wait_for() == set()
    default_config["tasks"]["6E"]["selection"]["pinned"] = {"batch_size": 4, "lr": 1e-5, "n_base": 8}
    assert plan_lab(default_config).trainings_selections_wait_for() == set()


def test_selection_plans_6e_and_6f_without_changing_earlier_trainings(default_config):
    before = plan_lab(default_config)
    after = plan_lab(default_config, {"6E": {"batch_size": 8, "lr": 1e-4, "n_base": 8}})
    assert set(before.trainings) <= set(after.trainings)
    six_e = after.tasks["6E"].entries
    assert [e.spec.optimizer for e in six_e] == ["adam", "sgd", "rmsprop"]
    assert {e.epochs for e in six_e} == {100}
    # the adam run was trained to 50 epochs for 6B; 6E gets a longer training of the same
    # run, which resumes from the run's state instead of starting over
    adam = six_e[0].training
    assert adam.run_id == "alexnet-nb8-lr1e-04-bs8-adam-bce-s1" and adam.epochs == 100
    shorter = before.training("synthetic", adam.run_id, 50)
    assert shorter.state_directory == adam.state_directory
    (hinge,) = after.tasks["6F"].entries
    assert hinge.spec.loss == "hinge" and hinge.spec.optimizer == "adam"
    assert hinge.spec.n_base == 8 and hinge.epochs == 100


def test_selection_reuses_a_long_enough_training(default_config):
    before = plan_lab(default_config)
    after = plan_lab(default_config, {"6E": {"batch_size": 8, "lr": 1e-5, "n_base": 8}})
    adam = after.tasks["6E"].entries[0]
    # 100 epochs of the 350-epoch 6C run are a prefix: no new training for it
    assert adam.training.epochs == 350
    assert len(after.trainings) == len(before.trainings) + 3


def test_pinned_selection_plans_everything_up_front(default_config):
    default_config["tasks"]["6E"]["selection"]["pinned"] = {"batch_size": 4, "lr": 1e-5, "n_base": 8}
    plan = plan_lab(default_config)
    assert plan.pending_tasks == [] and plan.selections_needed == []
    assert {e.spec.batch_size for e in plan.tasks["6E"].entries} == {4}


def test_seeds_are_an_axis(default_config):
    default_config["seeds"] = [1, 2, 3]
    plan = plan_lab(default_config)
    assert len(plan.trainings) == 30
    entries = plan.tasks["5A"].entries
    assert [e.spec.seed for e in entries] == [1, 2, 3]
    assert len({e.spec.setup_id for e in entries}) == 1
    assert entries[2].spec.run_id.endswith("-s3")


def test_prefix_sharing_can_be_turned_off(default_config):
    default_config["share_prefixes"] = False
    plan = plan_lab(default_config)
    (five_a,), (five_b,) = trainings_of(plan, "5A"), trainings_of(plan, "5B")
    assert five_a is not five_b
    assert (five_a.epochs, five_b.epochs) == (20, 200)
    assert five_a.state_directory != five_b.state_directory
    assert len(plan.trainings) == 13


def test_epoch_divisor_shortens_every_task_alike(small_config):
    plan = plan_lab(small_config)
    assert [e.epochs for e in plan.tasks["6C"].entries] == [3, 7]
    assert [e.epochs for e in plan.tasks["5A"].entries] == [1]
    assert len(plan.trainings) == 10


def test_run_ids_are_readable_and_safe_as_file_names(default_config):
    plan = plan_lab(default_config)
    for training in plan.trainings.values():
        assert re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", training.run_id), training.run_id


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({}, "alexnet-nb8-lr1e-05-bs8-adam-bce-s1"),
        ({"lr": 2.5e-4}, "alexnet-nb8-lr2.5e-04-bs8-adam-bce-s1"),
        ({"dense": [128, 32]}, "alexnet-nb8-d128x32-lr1e-05-bs8-adam-bce-s1"),
        ({"threads": 2, "precision": "mixed_bfloat16"}, "alexnet-nb8-lr1e-05-bs8-adam-bce-t2-bf16-s1"),
        ({"loss": "hinge", "optimizer": "rmsprop"}, "alexnet-nb8-lr1e-05-bs8-rmsprop-hinge-s1"),
    ],
)
def test_run_id_names_what_differs_from_the_built_in_defaults(changes, expected):
    params = {
        "model": "alexnet", "n_base": 8, "dropout": 0.0, "optimizer": "adam", "lr": 1e-5,
        "batch_size": 8, "loss": "bce", "threads": 1, "precision": "float32", **changes,
    }
    assert RunSpec.from_params(params, "synthetic", 1).run_id == expected


def test_every_parameter_that_changes_training_changes_the_run_id():
    base = {
        "model": "alexnet", "n_base": 8, "dropout": 0.0, "optimizer": "adam", "lr": 1e-5,
        "batch_size": 8, "loss": "bce", "threads": 1, "precision": "float32",
    }
    variations = [
        {"model": "lenet"}, {"n_base": 16}, {"dense": [32, 32]}, {"dropout": 0.2},
        {"optimizer": "sgd"}, {"lr": 3e-5}, {"batch_size": 4}, {"loss": "hinge"},
        {"threads": 2}, {"precision": "mixed_bfloat16"},
    ]
    ids = {RunSpec.from_params({**base, **change}, "synthetic", 1).run_id for change in variations}
    ids.add(RunSpec.from_params(base, "synthetic", 2).run_id)
    assert len(ids) == len(variations) + 1


@pytest.mark.parametrize(
    "value, text", [(1e-5, "1e-05"), (1e-4, "1e-04"), (0.01, "0.01"), (2.5e-4, "2.5e-04"), (0.4, "0.4"), (1000.0, "1000")]
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_a_tasks_plan_holds_only_what_it_uses_and_ignores_other_tasks(default_config):
    plan = plan_lab(default_config).to_dict(["5A"])
    assert list(plan["tasks"]) == ["5A"]
    assert list(plan["runs"]) == ["lenet-nb32-lr1e-05-bs8-adam-bce-s1"]
    assert [training["epochs"] for training in plan["trainings"].values()] == [200]

    edited = copy.deepcopy(default_config)
    edited["tasks"]["6B"]["runs"][0]["n_base"] = 4
    assert plan_lab(edited).to_dict(["5A"]) == plan
    assert plan_lab(edited).to_dict(["6B"]) != plan_lab(default_config).to_dict(["6B"])


def test_the_complete_plan_of_a_folder_reads_the_selections_made_so_far(default_config, tmp_path):
    from cnnlab.errors import CnnlabError
    from cnnlab.plan.complete_plan import complete_plan, guessed_plans
    from cnnlab.store import layout
    from cnnlab.store.selection_file import write_selection

    before = plan_lab(default_config)
    assert complete_plan(default_config, tmp_path).to_dict() == before.to_dict()
    chosen = before.tasks["6B"].entries[0]
    # a set-up's parameters: a run's without its data set and seed (cnnlab.plan.selection_seeds)
    chosen_params = {key: value for key, value in chosen.spec.to_dict().items()
                     if key not in ("dataset", "seed")}
    selection_json = tmp_path / layout.selection_json(before.dataset, "6E")
    selection_json.parent.mkdir(parents=True)
    selection_json.write_text('{"task": "6E", "rule":')  # cut short by a full disk
    with pytest.raises(CnnlabError, match="6E.json"):
        complete_plan(default_config, tmp_path)
    # a watcher takes a damaged selection for one not made yet (the workflow redoes it)
    assert complete_plan(default_config, tmp_path, skip_unreadable=True).to_dict() == before.to_dict()
    write_selection(selection_json, {
        "task": "6E", "rule": "max_val_accuracy", "rule_text": "", "runner_up": None,
        "lead": None, "candidates": [], "fallback": False,
        "target_epochs": 100, "meets_condition": True,
        "chosen": {"setup_id": chosen.spec.setup_id, "task": "6B", "epochs": chosen.epochs,
                   "params": chosen_params,
                   "values": {"final_val_accuracy": 0.7, "final_balanced_accuracy": 0.6,
                              "gap": 0.05}}})
    complete = complete_plan(default_config, tmp_path)
    expected = plan_lab(default_config, {"6E": chosen_params})
    assert complete.to_dict() == expected.to_dict() != before.to_dict()
    assert not complete.selections_needed and not complete.pending_tasks
    # before the selection, the estimate plans 6E as if it chose its first candidate
    (guess,) = guessed_plans(before).values()
    first = before.tasks["6A"].entries[0].spec
    assert guess.to_dict() == plan_lab(default_config, {"6E": first.to_dict()}).to_dict()


def test_a_training_job_reads_back_the_training_its_spec_was_written_from(default_config):
    import json

    from cnnlab.plan.runs import Training

    for training in plan_lab(default_config).trainings.values():
        spec = json.loads(json.dumps(training.job_spec()))  # as Snakemake hands it over
        read = Training.from_job_spec(spec, training.state_directory)
        assert read == training and read.job_spec() == training.job_spec()
        assert read.key in plan_lab(default_config).trainings
