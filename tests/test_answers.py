"""Answers follow the numbers: crafted histories of clear shapes give the matching words."""

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from test_diagnostics import crafted_history

from cnnlab.analysis import diagnostics, statistics
from cnnlab.report import formatting, significance
from cnnlab.report.answers import (
    Facts,
    architectures,
    conv_layers,
    dense_layers,
    evidence,
    hinge,
    output_layer,
    phrases,
    selection,
    trained,
)
from cnnlab.report.comparisons import add_significance_tests
from cnnlab.report.setups import Comparison, Run, SetUp
from tests.data_fixtures import TEST_LABELS, crafted_predictions

BASELINES = {"train": 0.60, "test": 0.58}
PARAMS = {"model": "alexnet", "n_base": 8, "dense": [64, 64], "dropout": 0.0,
          "optimizer": "adam", "lr": 1e-5, "batch_size": 8, "loss": "bce", "threads": 1,
          "precision": "float32"}


def make_setup(shape_or_histories, label="n_base 8", epochs=40, seeds=1, status="completed",
               level=0.0, all_nev=False, **params) -> SetUp:
    if isinstance(shape_or_histories, str):
        histories = [crafted_history(shape_or_histories, epochs, seed=seed, level=level)
                     for seed in range(seeds)]
    else:
        histories = shape_or_histories
    setup = SetUp(task="6B", setup_id="v", epochs=epochs, params={**PARAMS, **params},
                  label=label)
    for seed, history in enumerate(histories, start=1):
        values = diagnostics.run_values(history)
        outputs = crafted_predictions(history["val_accuracy"].to_numpy(), seed,
                                      all_nev=all_nev)
        best = values["best_epoch"]
        setup.runs.append(Run(run_id=f"v-s{seed}", seed=seed, history=history, values=values,
                              diagnosis=diagnostics.diagnose(history, status), status=status,
                              training="results/runs/x", trained_epochs=epochs, loss="bce",
                              labels=TEST_LABELS, final_outputs=outputs[len(history) - 1],
                              best_outputs=outputs[best - 1] if best else None))
    return setup


def text(setup: SetUp) -> str:
    return " ".join(evidence.describe_setup(setup, BASELINES))


def facts_of(setups: list[SetUp], comparisons: list[Comparison] | None = None,
             question: str = "What is the effect?", **more) -> Facts:
    """A task's facts without a plan: the question and what differs are all an answer asks."""
    task = SimpleNamespace(question=question, differs=lambda: ["n_base"])
    plan = SimpleNamespace(tasks={"6B": task})
    return Facts(plan, "6B", None, BASELINES, {"Mel": 80, "Nev": 120}, setups,
                 comparisons or [], **more)


def decimals(text: str) -> list[str]:
    """The numbers with a decimal point a reader sees, as report_words counts them."""
    return re.findall(r"\d+\.\d+%?", text)


def test_overfitting_run_is_called_overfitting_with_its_onset_and_gap():
    setup = make_setup("overfitting")
    words = text(setup)
    onset = setup.runs[0].diagnosis.overfitting.epoch
    assert f"It overfits from epoch {onset}" in words
    assert formatting.percent(setup.runs[0].values["final_val_accuracy"]) in words
    assert "58.0%" not in words  # the baseline is said once for the whole report
    found = trained.answer(facts_of([setup]))
    answer = " ".join(found.answer)
    assert "58.0%" not in answer and f"It overfits from epoch {onset}:" in answer
    assert formatting.percent(setup.mean("final_val_accuracy")) in answer
    assert len(decimals(answer)) == len(set(decimals(answer)))  # each number said once
    assert len(found.glance.split()) <= 30 and "overfits" in found.glance
    assert "under-trained" not in words and "diverged" not in words


def test_under_trained_run_says_more_epochs_would_help():
    words = text(make_setup("under-trained"))
    assert "It is under-trained" in words and "more epochs would still help" in words
    assert "overfits" not in words


def test_flat_run_learned_nothing_beyond_the_baseline():
    words = text(make_setup("flat"))
    assert "within the sampling noise of the majority baseline" in words
    assert "overfits" not in words and "under-trained" not in words


def test_diverged_run_names_the_epoch():
    words = text(make_setup("diverged", status="diverged"))
    assert "It diverged" in words and "at epoch 21" in words


def test_run_that_stopped_when_it_diverged_says_where_it_stopped():
    stopped = crafted_history("diverged").iloc[:21]  # the training stops at the divergence
    words = text(make_setup([stopped], status="diverged"))
    assert "after 21 of the 40 epochs asked (it stopped there)" in words
    assert "It diverged" in words

    seeds = make_setup([stopped, crafted_history("settled")], status="diverged")
    assert "after 40 epochs (1 of 2 seeds stopped early, at epoch 21)" in text(seeds)
    assert "after 40 epochs," in text(make_setup("settled"))


def test_changing_the_history_changes_the_answer():
    first = make_setup("settled")
    second_history = crafted_history("settled", level=0.05)
    second = make_setup([second_history])
    assert text(first) != text(second)
    assert formatting.percent(second.runs[0].values["final_val_accuracy"]) in text(second)
    assert formatting.percent(first.runs[0].values["final_val_accuracy"]) in text(first)


def test_several_seeds_report_mean_and_spread_and_counts():
    setup = make_setup("overfitting", seeds=3)
    words = text(setup)
    spread = setup.spread("final_val_accuracy")
    assert f"{formatting.percent(spread.mean)} ± {formatting.percent(spread.sd)} over 3 seeds" in words
    assert "in 3 of 3 seeds" in words


def test_one_seed_is_tested_on_the_paired_validation_calls():
    comparison, = add_significance_tests([Comparison(
        make_setup("settled", "bs 2"), make_setup("settled", "bs 8", level=0.03),
        ["batch_size"])])
    words = " ".join(evidence.compare(comparison, BASELINES))
    assert "Effect of the batch size" in words
    test = comparison.mcnemar
    assert f"Exact McNemar test on the {len(TEST_LABELS)} validation calls" in words
    images = f"{test.only_a} image{'' if test.only_a == 1 else 's'}"
    assert (f"bs 2 is right where bs 8 is wrong on {images}, the reverse on "
            f"{test.only_b}") in words
    assert comparison.welch is None and "Welch" not in words
    paragraphs = trained.details(facts_of([comparison.a, comparison.b], [comparison]))
    summary = next(p for p in paragraphs if p.startswith("Significance (exact McNemar"))
    assert "bs 2 against bs 8" in summary
    assert sum("Significance (" in p for p in paragraphs) == 1
    # what one seed does not cover is said once for the whole report, not here
    assert not any("randomness" in p for p in paragraphs)
    answer = " ".join(trained.answer(facts_of([comparison.a, comparison.b], [comparison])).answer)
    assert f"Effect of the batch size: bs 2 against bs 8: {formatting.points(-0.03)}" not in answer
    assert significance.p_text(comparison.mcnemar.p) in answer


def test_clear_difference_over_seeds_exceeds_the_spread():
    better = make_setup("settled", "optimizer adam", seeds=3, level=0.08)
    worse = make_setup("settled", "optimizer sgd", seeds=3)
    comparison, = add_significance_tests([Comparison(better, worse, ["optimizer"])])
    words = " ".join(evidence.compare(comparison, BASELINES))
    assert "58.0%" not in words  # said once for the whole report
    assert "Welch's t-test" in words and "exceeds the seed-to-seed spread" in words
    assert "+8.0 points" in words


def test_overlapping_seeds_do_not_exceed_the_spread():
    def noisy(level_by_seed):
        return [crafted_history("settled", seed=seed, level=level)
                for seed, level in enumerate(level_by_seed)]
    a = make_setup(noisy([0.00, 0.04, -0.04]), "bs 2")
    b = make_setup(noisy([0.01, -0.03, 0.03]), "bs 4")
    words = significance.significance(a, b)
    assert "does not exceed the seed-to-seed spread" in words


def test_more_epochs_comparison_and_behaviour_contrast():
    longer = make_setup("overfitting", "150 epochs", epochs=60)
    shorter = make_setup([crafted_history("overfitting", 60).iloc[:15]], "50 epochs", epochs=15)
    words = " ".join(evidence.compare(Comparison(longer, shorter, ["epochs"]), BASELINES))
    assert "training on from 15 to 60 epochs" in words
    assert "150 epochs overfits" in words


def test_whether_a_set_up_can_decide_follows_its_curves():
    assert trained.decision([make_setup("under-trained")], 0.58)[0].startswith("not enough")
    assert "Not yet" in trained.decision([make_setup("under-trained")], 0.58)[1]
    assert trained.decision([make_setup("settled")], 0.58)[1].startswith("Enough to decide? Yes")
    flat = make_setup("flat", "LeNet", all_nev=True)
    assert "No:" in trained.decision([flat], 0.6)[1]


def history_at_the_baseline_with_a_falling_loss(epochs: int = 20) -> pd.DataFrame:
    """5A on the real images: every image called Nev while the training loss still falls."""
    epoch = np.arange(1, epochs + 1)
    return pd.DataFrame({"epoch": epoch, "loss": 0.69 - 0.01 * epoch,
                         "accuracy": np.full(epochs, 0.6), "val_loss": np.full(epochs, 0.68),
                         "val_accuracy": np.full(epochs, 0.6), "seconds": np.full(epochs, 1.0)})


def test_a_model_at_the_baseline_whose_loss_still_falls_has_not_learned_yet_and_cannot_decide():
    setup = make_setup([history_at_the_baseline_with_a_falling_loss()], "LeNet", epochs=20,
                       all_nev=True)
    question = ("What are the training and validation accuracies? What do the learning curves "
                "show? Is this set-up enough to decide anything?")
    found = trained.answer(facts_of([setup], question=question))
    answer = " ".join(found.answer)
    assert "settled" not in answer and "settled" not in found.glance
    assert "It is still learning: both losses still fall" in answer
    assert "it is still learning" in found.glance
    # the three questions, three answers: the accuracies, the curves, whether it can decide
    assert "Training and validation accuracy after 20 epochs: both 60.0% (95% CI" in answer
    assert "Enough to decide anything? No" in answer
    assert "not enough to decide anything" in found.glance
    assert "It finds 0 of 80 melanomas." in answer
    assert len(answer.split()) <= 80 and len(found.glance.split()) <= 30
    assert len(decimals(answer)) == len(set(decimals(answer)))


def test_selection_answer_names_rule_run_and_rejections():
    written = {
        "task": "6E", "rule": "best_val_accuracy_within_gap", "fallback": False,
        "target_epochs": 100, "meets_condition": True, "max_gap": 0.1,
        "rule_text": "the highest final validation accuracy among runs whose gap is at most 0.1",
        "chosen": {"setup_id": "alexnet-nb8-lr1e-05-bs8-adam-bce-s1", "task": "6C", "epochs": 150,
                   "judged_epoch": 100, "params": {"batch_size": 8, "lr": 1e-5, "n_base": 8},
                   "values": {"final_val_accuracy": 0.81, "gap": 0.04,
                              "final_balanced_accuracy": 0.78}},
        "candidates": [
            {"setup_id": "alexnet-nb8-lr1e-05-bs8-adam-bce-s1", "task": "6C", "epochs": 150,
             "judged_epoch": 100, "overfitted": False, "eligible": True, "reason": "",
             "final_val_accuracy": 0.81, "final_balanced_accuracy": 0.78,
             "final_sensitivity": 0.7, "gap": 0.04},
            {"setup_id": "alexnet-nb8-lr1e-05-bs2-adam-bce-s1", "task": "6D", "epochs": 150,
             "judged_epoch": 100, "overfitted": True, "eligible": False,
             "reason": "gap 0.200 > 0.1", "final_val_accuracy": 0.7,
             "final_balanced_accuracy": 0.66, "final_sensitivity": 0.5, "gap": 0.2}],
        "runner_up": None, "lead": None,
    }
    setups = [make_setup("settled", "Adam", level=0.02),
              make_setup("overfitting", "SGD")]
    comparisons = add_significance_tests([Comparison(setups[0], setups[1], ["optimizer"])])
    found = selection.answer(facts_of(setups, comparisons, selection=written))
    answer, details = " ".join(found.answer), " ".join(found.details)
    assert answer.startswith("Rule: the highest validation accuracy at epoch 100 among set-ups "
                             "that do not overfit and keep a gap of at most 10.0 points. It "
                             "picked batch size 8, lr 1e-05 and n_base 8 from 6C")
    assert "alexnet-nb8" not in answer  # run ids only in the details
    assert "picked alexnet-nb8-lr1e-05-bs8-adam-bce-s1 from task 6C, judged at epoch 100" in details
    assert "lr 1e-05" in details and "unmeasured: no other candidate" in answer
    assert "no runner-up" in details
    # the accuracy first, as the question asks, every optimizer's
    assert (f"Validation accuracy: {formatting.percent(setups[0].mean('final_val_accuracy'))} "
            "(Adam)") in answer and "(SGD)" in answer
    assert "Outside the task's condition (overfitted, diverged or too wide a gap): SGD." in answer
    table = found.tables[0]
    assert [row[-2]["text"] for row in table["rows"]] == ["chosen", "no"]
    assert [row[-1]["text"] for row in table["rows"]] == ["", "gap 0.200 > 0.1"]
    ahead = dict(written, runner_up={"setup_id": "alexnet-nb8-lr1e-05-bs4-adam-bce-s1",
                                       "task": "6D", "epochs": 150, "value": 0.78},
                 lead={"measure": "final_val_accuracy", "difference": 0.03,
                       "test": "exact McNemar", "only_chosen": 9, "only_runner_up": 6, "n": 103,
                       "p": 0.607, "beyond_noise": False})
    found = selection.answer(facts_of(setups, comparisons, selection=ahead))
    words = " ".join(found.details)
    interval = statistics.accuracy_interval(0.78, 103)
    assert ("lead over the runner-up, alexnet-nb8-lr1e-05-bs4-adam-bce-s1 from task 6D at 150 "
            f"epochs (validation accuracy 78.0% (95% CI {100 * interval.low:.1f}-"
            f"{100 * interval.high:.1f}%)), is 3.0 points") in words
    assert "finds 9 images that only the chosen model gets right and 6" in words
    assert "p = 0.607: the lead is within the noise" in words
    assert "its lead over the runner-up is within the noise (p = 0.607)" in found.answer[0]


def test_hinge_answer_states_the_ceiling_of_plain_accuracy():
    words = hinge.hinge_note({"Mel": 42, "Nev": 58})
    assert "at most the share of Nev images (here the majority baseline)" in words
    assert "sign" in words


LENET_SUMMARY = [
    {"layer": "conv1", "type": "Conv2D", "output_shape": "(None, 128, 128, 32)", "parameters": 320},
    {"layer": "pool1", "type": "MaxPooling2D", "output_shape": "(None, 64, 64, 32)", "parameters": 0},
    {"layer": "conv2", "type": "Conv2D", "output_shape": "(None, 64, 64, 64)",
     "parameters": 18496},
    {"layer": "pool2", "type": "MaxPooling2D", "output_shape": "(None, 32, 32, 64)", "parameters": 0},
    {"layer": "flatten", "type": "Flatten", "output_shape": "(None, 65536)", "parameters": 0},
    {"layer": "dense1", "type": "Dense", "output_shape": "(None, 64)", "parameters": 4194368},
    {"layer": "output", "type": "Dense", "output_shape": "(None, 1)", "parameters": 65},
]


def test_dense_answer_counts_parameters_from_the_summary():
    hidden, output = LENET_SUMMARY[-2], LENET_SUMMARY[-1]
    words = " ".join(dense_layers.answer_dense(hidden, output, 4213249,
                                        [make_setup("overfitting", "5C")], 0.58))
    assert "dense1 has 4,194,368 parameters" in words and "of the model's 4,213,249" in words
    assert "5C in 6B, final gap" in words
    calm = " ".join(dense_layers.answer_dense(hidden, output, 4213249, [make_setup("settled", "5C")],
                                       0.58))
    assert "None of the runs shown overfits" in calm


def test_dense_features_are_judged_against_the_conv_features_and_the_folds():
    def stats(dense_accuracy):
        rows = [{"name": "conv features", "dimensions": 4096, "accuracy": 0.70, "fold_sd": 0.03,
                 "fold_min": 0.66, "fold_max": 0.74, "explained": [0.3, 0.1]},
                {"name": "dense features", "dimensions": 64, "accuracy": dense_accuracy,
                 "fold_sd": 0.03, "fold_min": 0.7, "fold_max": 0.9, "explained": [0.5, 0.2]}]
        tests = [{"a": "dense features", "b": "conv features", "only_a": 25, "only_b": 5,
                  "n": 200, "p": p}]
        return {"representations": rows, "baseline": 0.6, "n": 200,
                "method": "logistic regression", "tests": tests}
    p = 0.0003
    assert "easier to separate" in dense_layers.separability(stats(0.80))[0]
    assert "10.0 points better" in dense_layers.separability(stats(0.80))[1]
    p = 0.2  # a difference the paired test does not find is not called better
    assert "no different by the exact McNemar p = 0.200" in dense_layers.separability(stats(0.80))[0]
    assert "better" not in dense_layers.separability(stats(0.80))[1]
    untested = dict(stats(0.80), tests=[])
    assert "untested" in dense_layers.separability(untested)[0]
    assert "no better than the majority baseline" in dense_layers.separability(stats(0.62))[0]
    assert dense_layers.separability({}) is None
    assert "not measured" in dense_layers.separability_evidence({})[0]


def test_architecture_and_output_layer_answers_use_the_summaries():
    mlp = [{"layer": "flatten", "type": "Flatten", "output_shape": "(None, 16384)",
            "parameters": 0},
           {"layer": "dense1", "type": "Dense", "output_shape": "(None, 64)",
            "parameters": 1048640},
           {"layer": "output", "type": "Dense", "output_shape": "(None, 1)", "parameters": 65}]
    words = architectures.largest_layers({"lenet": LENET_SUMMARY, "mlp": mlp})
    # what the side-by-side figure shows: each model's largest layer and its share
    assert ("largest layer of each: lenet's dense1 (4,194,368, 99.6% of its parameters) "
            "and mlp's dense1 (1,048,640, 100.0% of its parameters)") in words
    assert "lenet: 4,194,433 in dense layers" in words
    assert architectures.count(LENET_SUMMARY, "Conv2D") == 18816
    output = output_layer.answer_output_layer(LENET_SUMMARY[-1], ["bce", "hinge"])
    assert "(None, 1)" in output and "sigmoid" in output and "linear score" in output


def test_filters_answer_uses_the_statistics():
    stats = {"run_id": "lenet-s1", "epochs": 200, "layers": [
        {"name": "conv1", "filters": 32, "kernel": "3 × 3", "receptive_field": 3,
         "mixed_sign": 29, "active_fraction": {"Mel": 0.41, "Nev": 0.38}},
        {"name": "conv2", "filters": 64, "kernel": "3 × 3", "receptive_field": 8,
         "mixed_sign": 64, "active_fraction": {"Mel": 0.2, "Nev": 0.18}}]}
    found = conv_layers.answer(facts_of([], stats=stats))
    assert "29 mix positive and negative weights" in found.answer[0]
    assert "see 8 × 8 pixels" in found.answer[0] and "Mel 41.0%" in " ".join(found.details)
    assert "lenet-s1" not in found.answer[0] and "lenet-s1 at 200 epochs" in found.details[0]
    assert "missing" in conv_layers.answer(facts_of([], stats={})).answer[0]


@pytest.mark.parametrize("value,expected", [(1e-5, "1e-05"), (0.4, "0.4"), ([64, 64], "64×64")])
def test_format_param(value, expected):
    name = {str: "x"}.get(type(value), "lr" if value == 1e-5 else "dense" if isinstance(
        value, list) else "dropout")
    assert formatting.format_param(name, value) == expected


def test_setup_values_are_read_from_runs():
    setup = make_setup("settled", seeds=2)
    assert setup.seeds == 2
    assert setup.mean("final_val_accuracy") == pytest.approx(pd.Series(
        [run.values["final_val_accuracy"] for run in setup.runs]).mean())


def test_an_all_nevus_model_is_said_to_find_no_melanoma_whatever_its_accuracy():
    setup = make_setup("flat", "MLP", all_nev=True)
    words = text(setup)
    assert "finds 0 of the 80 melanomas and clears 120 of the 120 nevi" in words
    # the Wilson intervals of 0 of 80 and 120 of 120, from the closed form
    assert ("sensitivity 0.0% (95% CI 0.0-4.6%), specificity 100.0% (95% CI 96.9-100.0%), "
            "balanced accuracy 50.0%") in words
    assert "It misses 100.0% of the melanomas, whatever its accuracy" in words
    assert "misses" not in text(make_setup("settled"))


def test_over_seeds_the_clinical_view_gives_means_ranges_and_one_seeds_intervals():
    setup = make_setup("settled", seeds=3)
    views = [run.clinical("final") for run in setup.runs]
    sentences = evidence.clinical_sentences(setup)
    sensitivities = [view.sensitivity for view in views]
    assert sentences[0].startswith(
        f"Over its 3 seeds: sensitivity "
        f"{formatting.percent(np.mean(sensitivities))} (seeds "
        f"{formatting.percent(min(sensitivities))} to {formatting.percent(max(sensitivities))})")
    first = views[0]
    assert sentences[1].startswith(f"Seed 1 alone finds {first.mel_found} of the 80 melanomas")
    assert (f"ROC AUC {first.auc:.3f} (95% CI {first.auc_interval.low:.3f}-"
            f"{first.auc_interval.high:.3f})") in sentences[1]
    assert first.auc_interval.low < first.auc < first.auc_interval.high


def test_validation_accuracy_carries_its_wilson_interval():
    setup = make_setup("settled")
    interval = setup.runs[0].interval("final_val_accuracy")
    words = text(setup)
    assert (f"validation accuracy {formatting.percent(setup.mean('final_val_accuracy'))} "
            f"(95% CI {100 * interval.low:.1f}-{100 * interval.high:.1f}%)") in words
    seeded = make_setup("settled", seeds=3)
    assert "of the 600 pooled calls" in text(seeded)


@pytest.mark.parametrize("params, differs, expected", [
    ({"model": "mlp", "n_base": 0, "dense": [64]}, ["model", "n_base"], "MLP"),
    ({"model": "lenet", "n_base": 32, "dense": [64]}, ["model", "n_base"], "LeNet"),
    ({"model": "alexnet", "n_base": 8, "dropout": 0.4}, ["n_base", "dropout"],
     "n_base 8, dropout 0.4"),
    ({"model": "alexnet", "n_base": 16, "dropout": 0.0}, ["n_base", "dropout"], "n_base 16"),
    ({"model": "alexnet", "n_base": 8, "dropout": 0.4}, ["n_base", "dropout", "epochs"],
     "n_base 8, dropout 0.4, 200 epochs"),
    ({"model": "alexnet", "n_base": 8, "batch_size": 2}, ["batch_size"], "batch size 2"),
    ({"model": "alexnet", "n_base": 8, "optimizer": "rmsprop"}, ["optimizer"], "RMSprop"),
    ({"model": "lenet", "n_base": 32}, ["epochs"], "200 epochs"),
    ({"model": "lenet", "n_base": 32}, [], "LeNet"),
])
def test_set_ups_are_named_as_a_student_names_them(params, differs, expected):
    assert formatting.setup_label(params, differs, 200) == expected


def test_the_shortest_epochs_go_unsaid_where_another_parameter_names_the_set_up():
    params = {"model": "alexnet", "n_base": 8, "dropout": 0.4}
    assert formatting.setup_label(params, ["dropout", "epochs"], 50, shortest=50) == "dropout 0.4"
    assert formatting.setup_label(params, ["dropout", "epochs"], 150, shortest=50) == (
        "dropout 0.4, 150 epochs")
    assert formatting.setup_label(params, ["epochs"], 50, shortest=50) == "50 epochs"


def test_a_model_at_the_baseline_whose_scores_rank_well_is_told_apart_from_one_that_learned_nothing():
    flat = make_setup("flat", "MLP", all_nev=True)
    words = text(flat)
    assert "within the sampling noise of the majority baseline" in words
    # its margins are random: calling everything Nev, its scores rank nothing either
    assert flat.runs[0].clinical("final").auc < phrases.RANKS_WELL
    assert "nothing here shows that it has learned what generalises" in words
    ranked = make_setup("flat", "MLP", all_nev=True)
    run = ranked.runs[0]
    # every image still called Nev, but melanomas get the lower scores: a perfect ranking
    run.final_outputs = np.where(run.labels == 0, 0.55, 0.95).astype(np.float32)
    assert run.clinical("final").auc == 1.0
    assert "its decision threshold, not its ranking, is what fails" in text(ranked)
    # the same AUC of about 0.7 on 200 images ranks beyond chance, on 12 it may not
    rng = np.random.default_rng(4)
    scores = rng.normal(0, 1, 200) + 0.75 * (run.labels == 1)
    run.final_outputs = (0.6 + 0.05 * np.tanh(scores)).astype(np.float32)
    run._clinical.clear()
    view = run.clinical("final")
    assert view.auc >= phrases.RANKS_WELL and view.auc_interval.low > 0.5
    assert (f"ROC AUC of {view.auc:.3f} (95% CI {view.auc_interval.low:.3f}-"
            f"{view.auc_interval.high:.3f}) shows that its scores do rank") in text(ranked)
    few = make_setup("flat", "MLP", all_nev=True)
    run = few.runs[0]
    run.labels = np.array([0] * 6 + [1] * 6)
    run.final_outputs = np.array([0.6, 0.7, 0.62, 0.81, 0.64, 0.9,
                                  0.75, 0.95, 0.85, 0.8, 0.65, 0.92], dtype=np.float32)
    view = run.clinical("final")
    assert view.auc >= phrases.RANKS_WELL and view.auc_interval.low <= 0.5
    assert "does not rank melanomas above nevi beyond chance either (its interval reaches 0.5)" \
        in text(few)
    # beyond chance, but weakly: neither "nothing" nor "its ranking works"
    weak = make_setup("flat", "MLP", all_nev=True)
    run = weak.runs[0]
    scores = np.random.default_rng(2).normal(0, 1, 200) + 0.45 * (run.labels == 1)
    run.final_outputs = (0.6 + 0.05 * np.tanh(scores)).astype(np.float32)
    view = run.clinical("final")
    assert view.auc < phrases.RANKS_WELL and view.auc_interval.low > 0.5
    assert ("ranks melanomas above nevi beyond chance, but below the 0.65 from which a ranking "
            "is of use: it has learned little that generalises") in text(weak)


def test_few_melanomas_over_seeds_are_said_as_means():
    setup = make_setup("flat", "MLP", seeds=3, all_nev=True)
    answer = " ".join(trained.answer(facts_of([setup])).answer)
    assert "It finds 0.0% of melanomas (mean of 3 seeds)." in answer


def test_several_set_ups_name_each_effect_with_the_larger_value_first():
    small = make_setup("settled", "n_base 8", n_base=8)
    large = make_setup("settled", "n_base 16", level=0.05, n_base=16)
    comparisons = add_significance_tests([Comparison(small, large, ["n_base"])])
    answer = " ".join(trained.answer(facts_of([small, large], comparisons)).answer)
    difference = large.mean("final_val_accuracy") - small.mean("final_val_accuracy")
    assert f"Effect of n_base: n_base 16 against n_base 8: {formatting.points(difference)}" in answer
    # the effect the question asks first, then the accuracies
    assert answer.startswith("Effect of n_base: n_base 16 against n_base 8")
    assert ("Validation accuracy: "
            f"{formatting.percent(large.mean('final_val_accuracy'))} (n_base 16)") in answer
    assert "Both have reached a plateau (best epoch" in answer or "Curves:" in answer


def test_many_pairs_of_one_factor_none_significant_are_said_in_one_sentence():
    sizes = [make_setup("settled", f"batch size {size}", level=0.001 * index, batch_size=size)
             for index, size in enumerate((2, 4, 8))]
    comparisons = add_significance_tests([Comparison(a, b, ["batch_size"])
                                          for i, a in enumerate(sizes) for b in sizes[i + 1:]])
    assert all(phrases.p_value(c) >= 0.05 for c in comparisons)
    answer = " ".join(trained.answer(facts_of(sizes, comparisons)).answer)
    assert answer.count("Effect of the batch size (batch size 8, batch size 4 and batch size 2): "
                        "no pair differs significantly") == 1
    assert "None is significant" not in answer  # said once, in that sentence
    assert len(decimals(answer)) == len(set(decimals(answer)))


def test_one_p_shared_by_every_test_is_said_once():
    base = make_setup("settled", "n_base 8")
    other = make_setup("settled", "n_base 16", n_base=16)
    dropped = make_setup("settled", "dropout", dropout=0.4)
    comparisons = add_significance_tests([Comparison(other, base, ["n_base"]),
                                          Comparison(dropped, base, ["dropout"])])
    assert {significance.p_text(phrases.p_value(c)) for c in comparisons} == {"p = 1.000"}
    answer = " ".join(trained.answer(facts_of([base, other, dropped], comparisons)).answer)
    assert answer.count("p = 1.000") == 1
    assert "None is significant (all p = 1.000, Holm 1.000)." in answer
