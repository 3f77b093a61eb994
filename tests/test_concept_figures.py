"""The concept figures of every answer kind, drawn from small random Keras models saved the
way a training saves them, and the report's sections that word their numbers.

The concept tasks get ids of their own here (K, D, A, O): what they show follows their
`answer` kind, never their id.
"""

import json

import numpy as np
import pytest

from cnnlab.plan import concept_models
from cnnlab.plan.config import checked_config
from cnnlab.plan.plan import plan_lab
from cnnlab.report import page
from cnnlab.store import layout
from cnnlab.store.files import write_predictions
from tests.test_report import write_training

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' own, saving

SMALL = {"n_base": 2, "dense": [4], "epochs": 2, "batch_size": 2}


def tiny_config(default_config: dict) -> dict:
    config = dict(default_config, dataset="tiny", seeds=[1], epoch_divisor=1)
    config["datasets"] = {"tiny": {"kind": "synthetic", "n_train": 8, "n_test": 24,
                                   "image_size": 16}}
    question = {"question": "Why?"}
    config["tasks"] = {
        "C": {"title": "A LeNet", **question, "runs": [dict(SMALL, model="lenet")]},
        "H": {"title": "A hinge LeNet", **question,
              "runs": [dict(SMALL, model="lenet", loss="hinge")]},
        "M": {"title": "An MLP", **question, "runs": [dict(SMALL, model="mlp")]},
        "K": {"title": "Conv layers", **question, "shows": ["C"], "answer": "conv_layers"},
        "D": {"title": "Dense layers", **question, "shows": ["C", "M"],
              "answer": "dense_layers", "inspects": "C"},
        "A": {"title": "Architectures", **question, "shows": ["C", "M"],
              "answer": "architectures"},
        "O": {"title": "Output layer", **question, "shows": ["C", "H"],
              "answer": "output_layer"},
    }
    return checked_config(config)


@pytest.fixture
def tiny_lab(tmp_path, monkeypatch, default_config):
    """Each run of the plan saved as a training saves it: weights, summary, predictions
    (a crafted history and record beside them); and the test images, whose two classes
    differ in brightness."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # never ~/.keras
    keras = pytest.importorskip("keras")
    from cnnlab.train.models import build_model, write_summary_csv

    config = tiny_config(default_config)
    plan = plan_lab(config)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.array([0, 1], dtype=np.int8), 12)
    x_test = (rng.random((24, 16, 16, 1)) * 0.5 + 0.4 * labels[:, None, None, None]).astype(
        "float32")
    (tmp_path / layout.arrays_npz("tiny")).parent.mkdir(parents=True)
    np.savez(tmp_path / layout.arrays_npz("tiny"), x_test=x_test, y_test=labels)
    for key, training in plan.to_dict()["trainings"].items():
        write_training(tmp_path, training)  # a history and a record, as for the report
        training = plan.trainings[key]
        keras.utils.set_random_seed(1)
        model = build_model(training.spec.to_dict(), (16, 16, 1))
        weights = tmp_path / layout.weights_file(training.directory, training.epochs)
        weights.parent.mkdir(parents=True, exist_ok=True)
        model.save_weights(weights)
        write_summary_csv(model, tmp_path / training.directory / "summary.csv")
        outputs = np.asarray(model(x_test)).reshape(1, -1).repeat(training.epochs, axis=0)
        write_predictions(tmp_path / training.predictions_npz, labels, outputs)
    return tmp_path, plan


def draw(root, plan, task_id):
    from cnnlab.report.concept_figures import write_concept_figure
    from cnnlab.train.models import trained_model

    png = write_concept_figure(plan.to_dict(concept_models.related_tasks(plan, task_id)), task_id,
                               root / layout.concept_figure(task_id),
                               root / layout.concept_stats(task_id), load_model=trained_model)
    assert png.read_bytes()[:4] == b"\x89PNG"
    return json.loads((root / layout.concept_stats(task_id)).read_text())


def test_the_inputs_of_each_kind_are_the_files_it_reads(tiny_lab):
    root, plan = tiny_lab
    assert concept_models.concept_tasks(plan) == {"K": "conv_layers", "D": "dense_layers",
                                          "A": "architectures", "O": "output_layer"}
    for task_id in concept_models.concept_tasks(plan):
        assert all((root / path).exists() for path in concept_models.concept_inputs(plan, task_id))
    lenet = plan.tasks["C"].entries[0]
    assert concept_models.inspected_entry(plan, "K") is lenet  # the last LeNet of what K shows
    assert concept_models.concept_inputs(plan, "O") == [lenet.training.predictions_npz,
                                                plan.tasks["H"].entries[0].training.predictions_npz]


def test_conv_layers_figure_measures_the_class_difference_of_the_maps(tiny_lab):
    root, plan = tiny_lab
    stats = draw(root, plan, "K")
    assert stats["kind"] == "conv_layers" and stats["test_counts"] == {"Mel": 12, "Nev": 12}
    assert [layer["receptive_field"] for layer in stats["layers"]] == [3, 8]
    first = stats["layers"][0]["difference"]
    assert first["channels"] == 2 and sorted(first["order"]) == [0, 1]
    assert 0 <= first["differing"] <= 2 and len(first["effects"]) == 2


def test_dense_layers_figure_scores_three_representations(tiny_lab):
    root, plan = tiny_lab
    stats = draw(root, plan, "D")
    names = [row["name"] for row in stats["separability"]["representations"]]
    assert names == ["raw pixels", "conv features", "dense1 features"]
    dimensions = [row["dimensions"] for row in stats["separability"]["representations"]]
    assert dimensions == [256, 4 * 4 * 4, 4]  # 16 x 16 pixels; conv2's 4 maps of 4 x 4
    # the classes differ in brightness: the raw pixels separate them
    assert stats["separability"]["representations"][0]["accuracy"] > 0.9
    shares = {row["layer"]: row["share"] for row in stats["parameters"]}
    assert sum(shares.values()) == pytest.approx(1.0) and shares["pool1"] == 0


def test_output_layer_figure_reads_the_bce_and_the_hinge_run(tiny_lab):
    root, plan = tiny_lab
    stats = draw(root, plan, "O")
    assert stats["bce"]["threshold"] == 0.5 and stats["hinge"]["threshold"] == 0.0
    assert stats["bce"]["classes"]["Mel"]["n"] == 12 and "brier" in stats["bce"]
    assert stats["hinge"]["run_id"].startswith("lenet") and "-hinge-" in stats["hinge"]["run_id"]


def test_the_report_words_each_kind_and_embeds_its_figure(tiny_lab):
    root, plan = tiny_lab
    for task_id in concept_models.concept_tasks(plan):
        draw(root, plan, task_id)
    manifest = root / layout.manifest_json("tiny")
    manifest.write_text(json.dumps({
        "dataset": "tiny", "classes": {"0": "Mel", "1": "Nev"}, "arrays_sha256": "0",
        "counts": {"train": {"Mel": 4, "Nev": 4, "total": 8},
                   "test": {"Mel": 12, "Nev": 12, "total": 24}},
        "majority_baseline": {"train": {"class": "Nev", "label": 1, "fraction": 0.5},
                              "test": {"class": "Nev", "label": 1, "fraction": 0.5}},
        "skipped": [], "duplicates": []}))
    context = page.build_context(
        plan, page.read_manifest(manifest),
        concept_stats={task_id: json.loads((root / layout.concept_stats(task_id)).read_text())
                      for task_id in concept_models.concept_tasks(plan)},
        root=root, concepts_by_task={task_id: str(root / layout.concept_figure(task_id))
                                     for task_id in concept_models.concept_tasks(plan)})
    sections = {section["id"]: section for section in context["tasks"]}
    for task_id in ("K", "D", "A", "O"):
        assert sections[task_id]["concept_figure"].startswith("data:image/png;base64,")
    def words(task_id):  # the answer and its folded evidence
        return " ".join(sections[task_id]["answer"] + sections[task_id]["details"])

    assert "Welch's t-test per channel" in words("K")
    dense = words("D")
    assert "stratified 5-fold cross-validation" in dense and "raw pixels (256 values)" in dense
    assert "LeNet has 361 parameters" in words("A")
    output = words("O")
    assert "Brier score" in output and "raw margin" in output
    html = page.render(context)
    assert 'alt="Figure of the dense_layers answer of task D' in html
