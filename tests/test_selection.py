"""6E's selection rule over crafted histories and predictions of its candidate tasks, and
the chosen run's lead over the runner-up."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from cnnlab.errors import CnnlabError
from cnnlab.plan.plan import plan_lab
from cnnlab.plan.selection import candidate_files, log_lines, select_setup
from cnnlab.plan.selection_seeds import lead_line
from cnnlab.store.files import write_predictions
from cnnlab.store.selection_file import read_selection

# 103 validation images, as many as the lab's own split: 25 melanomas first, then 78 nevi,
# so that calling everything Nev scores 0.757, near the histories' accuracies below
N_MEL, N_NEV = 25, 78
LABELS = np.array([0] * N_MEL + [1] * N_NEV, dtype=np.int8)


def write_history(path, accuracy, val_accuracy, epochs, val_loss=0.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"epoch": e, "loss": 0.6, "accuracy": accuracy, "val_loss": val_loss,
         "val_accuracy": val_accuracy, "seconds": 1.0}
        for e in range(1, epochs + 1)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)


def outputs_right_on(right, labels=LABELS):
    """BCE outputs that call each image right where `right` is true, wrong elsewhere."""
    called_nev = np.where(right, labels == 1, labels != 1)
    return np.where(called_nev, 0.9, 0.1)


def first_right(count, labels=LABELS):
    return np.arange(labels.size) < count


def write_outputs(root, training, outputs, labels=LABELS):
    """The same outputs after every epoch of the training (one row per epoch)."""
    write_predictions(root / training.predictions_npz, labels,
                      np.tile(outputs, (training.epochs, 1)))


@pytest.fixture
def lab(default_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = plan_lab(default_config)
    # every candidate overfits (gap 0.3) except two that generalise
    for training in plan.trainings.values():
        write_history(tmp_path / training.history_csv, 0.95, 0.65, training.epochs)
        write_outputs(tmp_path, training, outputs_right_on(first_right(67)))
    return plan, tmp_path


def candidate(plan, task, **params):
    for entry in plan.tasks[task].entries:
        if all(getattr(entry.spec, k) == v for k, v in params.items()):
            return entry
    raise LookupError(params)


def test_the_best_run_within_the_gap_is_chosen(lab):
    plan, root = lab
    batch_4 = candidate(plan, "6D", batch_size=4)
    batch_2 = candidate(plan, "6D", batch_size=2)
    write_history(root / batch_4.training.history_csv, 0.80, 0.76, 150)
    write_history(root / batch_2.training.history_csv, 0.85, 0.74, 150)
    result = select_setup(plan, "6E", root / "results/selection/6E.json")
    assert result["chosen"]["setup_id"] == batch_4.spec.setup_id
    assert result["chosen"]["params"] == {"batch_size": 4, "lr": 1e-5, "n_base": 8}
    assert not result["fallback"]
    stored = json.loads((root / "results/selection/6E.json").read_text())
    assert stored["chosen"] == result["chosen"]
    # the runs judged at 6E's 100 epochs with 6E's own parameters are refused for their gap
    overfitted = [c for c in stored["candidates"] if not c["eligible"]
                  and c["judged_epoch"] == 100 and not c["not_carried"]]
    assert overfitted and all("gap" in c["reason"] for c in overfitted)
    assert stored["meets_condition"] is True and stored["target_epochs"] == 100


def test_a_wider_gap_admits_the_overfitted_runs(lab, default_config):
    plan, root = lab
    default_config["tasks"]["6E"]["selection"]["max_gap"] = 0.5
    plan = plan_lab(default_config)
    batch_2 = candidate(plan, "6D", batch_size=2)
    write_history(root / batch_2.training.history_csv, 0.99, 0.90, 150)
    result = select_setup(plan, "6E", root / "6E.json")
    assert result["chosen"]["setup_id"] == batch_2.spec.setup_id


def test_when_every_run_overfits_the_smallest_gap_is_taken_and_said(lab):
    plan, root = lab
    batch_4 = candidate(plan, "6D", batch_size=4)
    write_history(root / batch_4.training.history_csv, 0.95, 0.70, 150)
    result = select_setup(plan, "6E", root / "6E.json")
    assert result["fallback"] is True and result["meets_condition"] is False
    assert result["chosen"]["setup_id"] == batch_4.spec.setup_id


def test_the_value_at_the_tasks_epoch_count_is_used_not_the_longer_training(lab):
    plan, root = lab
    # 6C asks for 150 and 350 epochs of one training: the 150-epoch prefix generalises
    six_c = candidate(plan, "6C")
    path = root / six_c.training.history_csv
    rows = [{"epoch": e, "loss": 0.5, "accuracy": 0.8 if e <= 150 else 0.99,
             "val_loss": 0.5, "val_accuracy": 0.78 if e <= 150 else 0.70, "seconds": 1}
            for e in range(1, 351)]
    pd.DataFrame(rows).to_csv(path, index=False)
    result = select_setup(plan, "6E", root / "6E.json")
    assert result["chosen"]["setup_id"] == six_c.spec.setup_id
    assert result["chosen"]["epochs"] == 150


def exact_mcnemar_p(only_a, only_b):
    """Two-sided exact binomial p of the discordant pairs against 1/2, summed by hand."""
    discordant = only_a + only_b
    tail = sum(math.comb(discordant, k) for k in range(min(only_a, only_b) + 1))
    return min(1.0, 2 * tail / 2**discordant)


def two_eligible(lab, chosen_right, runner_right):
    """6D's batch sizes 4 (chosen, 0.76) and 2 (runner-up, 0.74) generalise, the rest overfit;
    each right on the images its mask says."""
    plan, root = lab
    batch_4 = candidate(plan, "6D", batch_size=4)
    batch_2 = candidate(plan, "6D", batch_size=2)
    write_history(root / batch_4.training.history_csv, 0.80, 0.76, 150)
    write_history(root / batch_2.training.history_csv, 0.80, 0.74, 150)
    write_outputs(root, batch_4.training, outputs_right_on(chosen_right))
    write_outputs(root, batch_2.training, outputs_right_on(runner_right))
    return batch_4, batch_2


def discordant_masks(only_chosen, only_runner_up, both=60):
    """Right on `both` images together, then on `only_chosen` by the chosen alone, then on
    `only_runner_up` by the runner-up alone; both wrong on the rest."""
    index = np.arange(LABELS.size)
    together = index < both
    chosen = together | ((index >= both) & (index < both + only_chosen))
    start = both + only_chosen
    runner = together | ((index >= start) & (index < start + only_runner_up))
    return chosen, runner


def test_the_lead_counts_the_images_only_one_gets_right_and_tests_them_exactly(lab):
    plan, root = lab
    batch_4, batch_2 = two_eligible(lab, *discordant_masks(10, 1))
    result = select_setup(plan, "6E", root / "results/selection/6E.json")
    assert result["chosen"]["setup_id"] == batch_4.spec.setup_id
    assert result["runner_up"] == {"setup_id": batch_2.spec.setup_id, "task": "6D", "epochs": 150,
                                   "value": pytest.approx(0.74)}
    lead = result["lead"]
    assert lead["measure"] == "final_val_accuracy" and lead["test"] == "exact McNemar"
    assert lead["difference"] == pytest.approx(0.02)
    assert (lead["only_chosen"], lead["only_runner_up"], lead["n"]) == (10, 1, 103)
    assert lead["p"] == pytest.approx(exact_mcnemar_p(10, 1))  # 24 / 2048
    assert lead["beyond_noise"] is True
    stored = read_selection(root / "results/selection/6E.json")
    assert stored["lead"] == result["lead"] and stored["runner_up"] == result["runner_up"]
    assert lead_line(result["runner_up"], lead) == (
        f"lead over the runner-up {batch_2.spec.setup_id} (6D, 150 epochs): final_val_accuracy "
        "+0.02; exact McNemar on 103 image pairs: 10 right only for the chosen, 1 only for the "
        "runner-up, p = 0.0117: beyond the noise")
    lines = log_lines(result)  # what the selection job logs
    assert lines[0] == f"rule: {result['rule_text']}"
    assert lines[1].startswith(f"chosen: {batch_4.spec.setup_id} from 6D at 150 epochs")
    assert lines[-1] == lead_line(result["runner_up"], lead)
    assert all(line.startswith("not eligible: ") for line in lines[2:-1])


def test_one_image_more_for_the_runner_up_puts_the_lead_within_noise(lab):
    plan, root = lab
    chosen, runner = discordant_masks(10, 1)
    two_eligible(lab, chosen, runner)
    assert select_setup(plan, "6E", root / "6E.json")["lead"]["beyond_noise"] is True
    chosen_again, runner = discordant_masks(9, 2)
    batch_2 = candidate(plan, "6D", batch_size=2)
    write_outputs(root, batch_2.training, outputs_right_on(runner))
    write_outputs(root, candidate(plan, "6D", batch_size=4).training,
                  outputs_right_on(chosen_again))
    lead = select_setup(plan, "6E", root / "6E.json")["lead"]
    assert (lead["only_chosen"], lead["only_runner_up"]) == (9, 2)
    assert lead["p"] == pytest.approx(exact_mcnemar_p(9, 2))  # 134 / 2048
    assert lead["beyond_noise"] is False


def test_balanced_accuracy_passes_over_a_run_that_finds_no_melanoma(lab, default_config):
    plan, root = lab
    # batch 4 has the higher accuracy by calling every image Nev: it finds no melanoma
    batch_4, batch_2 = two_eligible(lab, LABELS == 1, first_right(70))
    by_accuracy = select_setup(plan, "6E", root / "6E.json")
    assert by_accuracy["chosen"]["setup_id"] == batch_4.spec.setup_id
    default_config["tasks"]["6E"]["selection"]["rule"] = "best_balanced_accuracy_within_gap"
    plan = plan_lab(default_config)
    by_balance = select_setup(plan, "6E", root / "6E.json")
    assert by_balance["chosen"]["setup_id"] == batch_2.spec.setup_id
    assert by_balance["rule_text"].startswith("the highest final balanced accuracy")
    rows = {row["setup_id"]: row for row in by_balance["candidates"] if row["task"] == "6D"}
    assert rows[batch_4.spec.setup_id]["final_sensitivity"] == 0
    assert rows[batch_4.spec.setup_id]["final_balanced_accuracy"] == pytest.approx(0.5)
    # batch 2 finds every melanoma and 45 of the 78 nevi
    assert rows[batch_2.spec.setup_id]["final_sensitivity"] == 1
    assert rows[batch_2.spec.setup_id]["final_balanced_accuracy"] == pytest.approx((1 + 45 / 78) / 2)
    assert by_balance["runner_up"]["setup_id"] == batch_4.spec.setup_id
    lead = by_balance["lead"]
    assert lead["measure"] == "final_balanced_accuracy"
    assert lead["difference"] == pytest.approx((1 + 45 / 78) / 2 - 0.5)
    # the melanomas batch 2 finds against the 33 nevi it flags
    assert (lead["only_chosen"], lead["only_runner_up"]) == (25, 33)


def test_the_predictions_are_read_at_the_epoch_a_run_is_judged(lab):
    plan, root = lab
    # 6C's run (6C's 150 and 350 epochs, 6D's batch size 8) is one 350-epoch training,
    # judged at 6E's 100 epochs: melanomas found only up to epoch 100
    six_c = candidate(plan, "6C")
    epochs = six_c.training.epochs
    outputs = np.tile(outputs_right_on(LABELS == 0), (epochs, 1))
    outputs[100:] = outputs_right_on(LABELS == 1)
    write_predictions(root / six_c.training.predictions_npz, LABELS, outputs)
    result = select_setup(plan, "6E", root / "6E.json")
    rows = [row for row in result["candidates"] if row["setup_id"] == six_c.spec.setup_id]
    assert len(rows) == 1  # one run, one candidate: its epoch counts are judged alike
    assert rows[0]["asked_by"] == [{"task": "6C", "epochs": 150}, {"task": "6C", "epochs": 350},
                                   {"task": "6D", "epochs": 150}]
    assert (rows[0]["task"], rows[0]["epochs"], rows[0]["judged_epoch"]) == ("6C", 150, 100)
    assert rows[0]["final_sensitivity"] == 1


def test_a_lower_loss_leads_by_a_positive_difference(lab, default_config):
    plan, root = lab
    default_config["tasks"]["6E"]["selection"]["rule"] = "lowest_val_loss"
    plan = plan_lab(default_config)
    batch_2 = candidate(plan, "6D", batch_size=2)
    write_history(root / batch_2.training.history_csv, 0.95, 0.65, 150, val_loss=0.3)
    result = select_setup(plan, "6E", root / "6E.json")
    assert result["chosen"]["setup_id"] == batch_2.spec.setup_id
    assert result["runner_up"]["value"] == pytest.approx(0.5)
    assert result["lead"]["measure"] == "final_val_loss"
    assert result["lead"]["difference"] == pytest.approx(0.2)


def test_without_another_eligible_run_there_is_no_runner_up_nor_lead(lab):
    plan, root = lab
    batch_4 = candidate(plan, "6D", batch_size=4)
    write_history(root / batch_4.training.history_csv, 0.80, 0.76, 150)
    result = select_setup(plan, "6E", root / "results/selection/6E.json")
    assert result["chosen"]["setup_id"] == batch_4.spec.setup_id and not result["fallback"]
    assert result["runner_up"] is None and result["lead"] is None
    stored = read_selection(root / "results/selection/6E.json")
    assert stored["runner_up"] is None and stored["lead"] is None
    assert lead_line(None, None) == ("no other candidate was eligible: no runner-up to measure "
                                     "the lead by")


def test_predictions_of_different_images_are_one_clear_error(lab):
    plan, root = lab
    batch_4, batch_2 = two_eligible(lab, first_right(80), first_right(70))
    other_labels = LABELS[::-1].copy()
    write_outputs(root, batch_2.training, outputs_right_on(first_right(70), other_labels),
                  labels=other_labels)
    with pytest.raises(CnnlabError) as error:
        select_setup(plan, "6E", root / "6E.json")
    message = str(error.value)
    assert batch_4.training.predictions_npz in message
    assert batch_2.training.predictions_npz in message
    assert "different validation images" in message


def test_a_selection_declares_every_history_and_predictions_file_it_reads(lab):
    plan, _ = lab
    files = candidate_files(plan, "6E")
    trainings = {entry.training.directory for task in ("6A", "6B", "6C", "6D")
                 for entry in plan.tasks[task].entries}
    assert files == sorted([f"{directory}/{name}" for directory in trainings
                            for name in ("history.csv", "predictions.npz")])
    assert set(plan.history_files(["6A", "6B", "6C", "6D"])) <= set(files)


def write_curve(path, epochs, accuracy, val_accuracy, loss=None, val_loss=None):
    """A history whose columns are functions of the epoch (constants where not given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"epoch": e, "loss": loss(e) if loss else 0.6, "accuracy": accuracy(e),
             "val_loss": val_loss(e) if val_loss else 0.5, "val_accuracy": val_accuracy(e),
             "seconds": 1.0} for e in range(1, epochs + 1)]
    pd.DataFrame(rows).to_csv(path, index=False)


def u_shaped(e):
    """A validation loss that falls to its minimum at epoch 40, then climbs for good."""
    return 0.5 - 0.005 * e if e <= 40 else 0.3 + 0.006 * (e - 40)


def falling(e):
    return 0.6 - 0.005 * e


def test_a_longer_training_is_judged_at_6es_epochs_not_at_its_end(lab):
    plan, root = lab
    # 6D's batch size 4 trains 150 epochs: good through epoch 100, overfitted by its end
    batch_4 = candidate(plan, "6D", batch_size=4)
    write_curve(root / batch_4.training.history_csv, 150,
                lambda e: 0.80 if e <= 100 else 0.99, lambda e: 0.76 if e <= 100 else 0.60)
    outputs = np.tile(outputs_right_on(first_right(80)), (150, 1))
    outputs[100:] = outputs_right_on(first_right(10))
    write_predictions(root / batch_4.training.predictions_npz, LABELS, outputs)
    result = select_setup(plan, "6E", root / "results/selection/6E.json")
    assert result["target_epochs"] == 100
    assert result["chosen"]["setup_id"] == batch_4.spec.setup_id
    assert (result["chosen"]["epochs"], result["chosen"]["judged_epoch"]) == (150, 100)
    row = next(r for r in result["candidates"] if r["setup_id"] == batch_4.spec.setup_id)
    assert (row["epochs"], row["trained_epochs"], row["judged_epoch"]) == (150, 150, 100)
    assert row["final_val_accuracy"] == pytest.approx(0.76)
    assert row["gap"] == pytest.approx(0.04)
    # right on the 25 melanomas and 55 nevi at epoch 100 (at epoch 150: 10 melanomas only)
    assert row["final_sensitivity"] == 1
    assert row["final_balanced_accuracy"] == pytest.approx((1 + 55 / 78) / 2)
    assert row["overfitted"] is False and row["eligible"] and result["meets_condition"]


def test_a_candidate_trained_fewer_epochs_than_6e_cannot_be_judged(lab):
    plan, root = lab
    # 6A (50 epochs) generalises better than anything else, but cannot show epoch 100
    six_a = candidate(plan, "6A")
    write_history(root / six_a.training.history_csv, 0.82, 0.80, 50)
    batch_4 = candidate(plan, "6D", batch_size=4)
    write_history(root / batch_4.training.history_csv, 0.80, 0.76, 150)
    result = select_setup(plan, "6E", root / "6E.json")
    assert result["chosen"]["setup_id"] == batch_4.spec.setup_id
    row = next(r for r in result["candidates"] if r["setup_id"] == six_a.spec.setup_id)
    assert not row["eligible"]
    assert row["reason"] == "trained 50 epochs, fewer than the 100 that 6E trains"
    assert (row["epochs"], row["judged_epoch"]) == (50, 50)


def test_the_epoch_divisor_divides_6es_epochs_as_it_divides_the_candidates(lab, default_config):
    _, root = lab
    default_config["epoch_divisor"] = 10
    plan = plan_lab(default_config)
    for training in plan.trainings.values():
        write_history(root / training.history_csv, 0.80, 0.76, training.epochs)
        write_outputs(root, training, outputs_right_on(first_right(78)))
    result = select_setup(plan, "6E", root / "6E.json")
    assert result["target_epochs"] == 10
    rows = {row["setup_id"]: row for row in result["candidates"]}
    six_a = candidate(plan, "6A")
    assert rows[six_a.spec.setup_id]["reason"] == "trained 5 epochs, fewer than the 10 that 6E trains"
    assert {row["judged_epoch"] for row in rows.values() if row["eligible"]} == {10}


def test_a_candidate_with_dropout_is_refused_as_6e_trains_without(lab):
    plan, root = lab
    # 6B's dropout run (150 epochs) is the best at epoch 100, but 6E trains with dropout 0
    # and does not copy it: its numbers would not describe 6E's model
    dropout = candidate(plan, "6B", dropout=0.4)
    write_history(root / dropout.training.history_csv, 0.82, 0.80, 150)
    batch_4 = candidate(plan, "6D", batch_size=4)
    write_history(root / batch_4.training.history_csv, 0.80, 0.76, 150)
    result = select_setup(plan, "6E", root / "6E.json")
    assert result["chosen"]["setup_id"] == batch_4.spec.setup_id
    assert "dropout" not in result["copy"] and result["target_params"]["dropout"] == 0.0
    assert "optimizer" not in result["target_params"]  # 6E sweeps it: its own comparison
    row = next(r for r in result["candidates"] if r["setup_id"] == dropout.spec.setup_id)
    assert (row["epochs"], row["judged_epoch"]) == (150, 100)
    assert row["not_carried"] == ["dropout 0.4"] and not row["eligible"]
    assert row["reason"] == "its dropout 0.4 would not be carried into 6E"


def test_a_candidate_whose_validation_loss_turns_upwards_is_refused(lab):
    plan, root = lab
    # batch size 4 has the higher accuracy and a small gap, but overfits by its val loss
    batch_4 = candidate(plan, "6D", batch_size=4)
    batch_2 = candidate(plan, "6D", batch_size=2)
    write_curve(root / batch_4.training.history_csv, 150, lambda e: 0.80, lambda e: 0.76,
                loss=falling, val_loss=u_shaped)
    # batch size 2's val loss turns upwards only after epoch 100: not within 6E's epochs
    write_curve(root / batch_2.training.history_csv, 150, lambda e: 0.80, lambda e: 0.74,
                loss=falling, val_loss=lambda e: 0.5 - 0.002 * e if e <= 100 else u_shaped(e - 60))
    result = select_setup(plan, "6E", root / "6E.json")
    rows = {row["setup_id"]: row for row in result["candidates"]}
    assert rows[batch_4.spec.setup_id]["overfitted"] is True
    onset = rows[batch_4.spec.setup_id]["overfitting_epoch"]
    assert 35 <= onset <= 45  # the minimum of the raw curve, or of its moving average
    assert rows[batch_4.spec.setup_id]["reason"] == f"overfits from epoch {onset}"
    assert rows[batch_2.spec.setup_id]["overfitted"] is False
    assert result["chosen"]["setup_id"] == batch_2.spec.setup_id
    assert result["meets_condition"] is True and not result["fallback"]


def test_when_every_candidate_overfits_the_selection_says_no_candidate_met_it(lab):
    plan, root = lab
    # the fixture's candidates overfit by their gap; batch size 4 by its val loss instead
    batch_4 = candidate(plan, "6D", batch_size=4)
    write_curve(root / batch_4.training.history_csv, 150, lambda e: 0.80, lambda e: 0.76,
                loss=falling, val_loss=u_shaped)
    result = select_setup(plan, "6E", root / "results/selection/6E.json")
    assert result["fallback"] is True and result["meets_condition"] is False
    assert all(row["overfitted"] for row in result["candidates"] if row["judged_epoch"] == 100)
    # the smallest gap among the candidates judged like 6E
    assert result["chosen"]["setup_id"] == batch_4.spec.setup_id
    assert read_selection(root / "results/selection/6E.json")["meets_condition"] is False


def test_a_noise_aware_diagnose_is_told_the_number_of_validation_images(lab, monkeypatch):
    from cnnlab.analysis import diagnostics

    plan, root = lab
    seen = []
    original = diagnostics.diagnose

    def noise_aware(history, status=None, thresholds=diagnostics.THRESHOLDS,
                    recorded_reason=None, n_test=None):
        seen.append(n_test)
        return original(history, status, thresholds, recorded_reason)

    monkeypatch.setattr(diagnostics, "diagnose", noise_aware)
    select_setup(plan, "6E", root / "6E.json")
    assert seen and set(seen) == {LABELS.size}


def test_without_prefix_sharing_each_run_is_read_from_its_longest_training(default_config):
    default_config["share_prefixes"] = False
    plan = plan_lab(default_config)
    files = candidate_files(plan, "6E")
    six_c = {entry.epochs: entry.training for entry in plan.tasks["6C"].entries}
    assert six_c[150] is not six_c[350]  # two trainings of one run
    assert six_c[350].history_csv in files and six_c[150].history_csv not in files
    assert len(files) == 2 * len({entry.spec.run_id for task in ("6A", "6B", "6C", "6D")
                                  for entry in plan.tasks[task].entries})


def test_the_reports_condition_agrees_with_the_selections_eligibility(lab):
    """The report says which of 6E's own set-ups meet 6E's condition by the selection's rule
    (cnnlab.plan.selection.not_overfitted): on the same curves, both say the same."""
    from cnnlab.analysis import diagnostics
    from cnnlab.report.answers import selection
    from cnnlab.report.setups import Run, SetUp

    plan, root = lab
    write_curve(root / candidate(plan, "6D", batch_size=4).training.history_csv, 150,
                lambda e: 0.80, lambda e: 0.76, loss=falling, val_loss=u_shaped)
    write_history(root / candidate(plan, "6D", batch_size=2).training.history_csv,
                  0.80, 0.74, 150)
    result = select_setup(plan, "6E", root / "6E.json")
    seen = set()
    for row in result["candidates"]:
        if row["trained_epochs"] < result["target_epochs"] or row["not_carried"]:
            continue  # not eligible for what 6E does not ask of its own set-ups
        setup = SetUp(task=row["task"], setup_id=row["setup_id"], epochs=result["target_epochs"],
                      params=row["params"], label=row["setup_id"])
        for seed_row in row["seeds"]:
            training = candidate(plan, row["task"], seed=seed_row["seed"],
                                 setup_id=row["setup_id"]).training
            history = diagnostics.prefix(pd.read_csv(root / training.history_csv),
                                         result["target_epochs"])
            setup.runs.append(Run(
                run_id=seed_row["run_id"], seed=seed_row["seed"], history=history,
                values=diagnostics.run_values(history),
                diagnosis=diagnostics.diagnose(history, "completed"), status="completed",
                training=training.directory, trained_epochs=training.epochs, loss="bce",
                labels=LABELS, final_outputs=outputs_right_on(first_right(67)),
                best_outputs=None))
        assert selection.meets_condition(setup, result["max_gap"]) is row["eligible"], row["setup_id"]
        seen.add(row["eligible"])
    assert seen == {True, False}  # both answers were asked
