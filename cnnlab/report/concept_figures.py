"""The figures of the concept answers, drawn from this run's trained models and test images,
and their numbers as JSON, one writer dispatched on the task's `answer` kind.

- ``conv_layers``: the learned filters and feature maps (:func:`cnnlab.report.figures.filters_figure`)
  and the Nev - Mel difference of the mean feature maps over the test images.
- ``dense_layers``: the share of the parameters per layer, and the test images as raw
  pixels, flattened conv features and first dense features, each projected by PCA and
  scored for linear separability (:mod:`cnnlab.analysis.representations`).
- ``architectures``: each architecture's parameters per layer, side by side.
- ``output_layer``: the output's distribution per class with the threshold, for the
  inspected (BCE) run and a hinge run, and the BCE run's reliability curve.

The models (:func:`cnnlab.plan.concept_models.inspected_entry`) and the files read are those
the rule declares (:func:`cnnlab.plan.concept_models.concept_inputs`); the first two kinds
load a trained model through the loader the caller passes in (the training wing's
cnnlab.train.models.trained_model: this wing never imports that one) and import Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.analysis import representations
from cnnlab.data.arrays import load_test_split
from cnnlab.errors import CnnlabError
from cnnlab.plan import concept_models
from cnnlab.plan.answer_kinds import CONCEPT_KINDS
from cnnlab.plan.plan import Plan
from cnnlab.report.figures import CLASS_NAMES, filters_figure, first_image_per_class, plt, save_png
from cnnlab.report.formatting import architecture_name
from cnnlab.store import layout
from cnnlab.store.files import read_predictions, read_summary, write_concept_stats

CLASS_COLOURS = {"Mel": "tab:red", "Nev": "tab:blue"}
BATCH = 32  # test images through the model at a time: the maps of all of them need not fit


# (a run's parameters, the input shape, a weights file) -> the trained Keras model: the
# training wing's cnnlab.train.models.trained_model, which scripts/plot_concept.py passes in
ModelLoader = Callable[[dict, tuple, Path], Any]


def inspected_model(entry, root: Path, input_shape, load_model: ModelLoader):
    weights = root / layout.weights_file(entry.training.directory, entry.epochs)
    return load_model(entry.spec.to_dict(), input_shape, weights)


def batch_outputs(model, layers, x: np.ndarray):
    """The outputs of `layers` for the images of `x`, one batch at a time."""
    import keras

    probe = keras.Model(model.input, [layer.output for layer in layers])
    for start in range(0, len(x), BATCH):
        yield start, [np.asarray(output) for output in probe(x[start:start + BATCH],
                                                            training=False)]


def layer_outputs(model, layers, x: np.ndarray) -> list[np.ndarray]:
    """The outputs of `layers` for every image of `x`."""
    batches = [outputs for _, outputs in batch_outputs(model, layers, x)]
    return [np.concatenate([batch[index] for batch in batches]) for index in range(len(layers))]


def class_maps(model, layers, x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, dict]]:
    """Per layer: the spatial mean of each feature map (images x channels) and each class's
    mean map; summed batch by batch, since all test images' maps of a 128-pixel LeNet would
    take 0.6 GB."""
    means = [[] for _ in layers]
    sums: list[dict] = [{} for _ in layers]
    for start, outputs in batch_outputs(model, layers, x):
        labels = y[start:start + BATCH]
        for index, maps in enumerate(outputs):
            means[index].append(maps.mean(axis=(1, 2)))
            for label in CLASS_NAMES:
                total = maps[labels == label].sum(axis=0)
                sums[index][label] = sums[index].get(label, 0) + total
    counts = {label: max(1, int((y == label).sum())) for label in CLASS_NAMES}
    return [(np.concatenate(channel_means), {label: total / counts[label]
                                             for label, total in layer_sums.items()})
            for channel_means, layer_sums in zip(means, sums)]


# -- the figures -----------------------------------------------------------------------


def parameter_bars(axis, rows: list[dict], title: str) -> None:
    """Each layer's share of the model's parameters, as horizontal bars with the counts."""
    total = sum(int(row["parameters"]) for row in rows) or 1
    names = [row["layer"] for row in rows][::-1]
    counts = [int(row["parameters"]) for row in rows][::-1]
    axis.barh(names, [count / total for count in counts], color="tab:grey")
    for position, count in enumerate(counts):
        axis.text(min(count / total, 1.0) + 0.01, position, f"{count:,} ({100 * count / total:.1f}%)",
                  va="center", fontsize=7)
    axis.set(xlim=(0, 1.45), xlabel="share of the parameters", title=title)
    axis.tick_params(axis="y", labelsize=8)
    axis.grid(axis="x", alpha=0.3)


def class_scatter(axis, points: np.ndarray, labels: np.ndarray, title: str) -> None:
    for label, name in CLASS_NAMES.items():
        chosen = labels == label
        axis.scatter(points[chosen, 0], points[chosen, 1], s=10, alpha=0.7,
                     color=CLASS_COLOURS[name], label=name)
    axis.set(title=title, xlabel="PC 1", ylabel="PC 2")
    axis.tick_params(labelsize=7)
    axis.legend(fontsize=7)


def dense_figure(rows: list[dict], features: dict[str, np.ndarray], labels: np.ndarray,
                 separability: dict, title: str):
    figure, axes = plt.subplots(1, 1 + len(features), figsize=(4.6 * (1 + len(features)), 4.2))
    parameter_bars(axes[0], rows, "parameters per layer")
    for axis, (name, values), measured in zip(axes[1:], features.items(),
                                              separability["representations"]):
        if not measured["explained"]:
            axis.text(0.5, 0.5, f"{name}: not finite\n(the model diverged)", ha="center")
            axis.set_axis_off()
            continue
        points, explained = representations.projection(values)
        accuracy = ("" if measured["accuracy"] is None else
                    f"\nlinear CV accuracy {100 * measured['accuracy']:.0f}% "
                    f"± {100 * measured['fold_sd']:.0f}")
        class_scatter(axis, points, labels, f"{name} ({measured['dimensions']:,}), PCA "
                                            f"{100 * sum(explained):.0f}% var.{accuracy}")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure


def architectures_figure(summaries: dict[str, list[dict]], title: str):
    """Each architecture's parameters per layer, side by side on one log scale."""
    figure, axes = plt.subplots(1, len(summaries), figsize=(5.5 * len(summaries), 3.8),
                                sharex=True, squeeze=False)
    for axis, (name, rows) in zip(axes[0], summaries.items()):
        weighted = [row for row in rows if int(row["parameters"]) > 0]
        total = sum(int(row["parameters"]) for row in rows)
        axis.barh([row["layer"] for row in weighted][::-1],
                  [int(row["parameters"]) for row in weighted][::-1], color="tab:grey")
        for position, row in enumerate(weighted[::-1]):
            axis.text(int(row["parameters"]) * 1.15, position, f"{int(row['parameters']):,}",
                      va="center", fontsize=7)
        axis.set(xscale="log", title=f"{name}: {total:,} parameters",
                 xlabel="parameters (log scale)")
        axis.grid(axis="x", alpha=0.3)
    axes[0][0].set_xlim(1, 10 ** (np.log10(max(
        int(row["parameters"]) for rows in summaries.values() for row in rows) or 1) + 1.2))
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure


def output_histogram(axis, outputs: np.ndarray, labels: np.ndarray, threshold: float,
                     title: str, margin: bool = False) -> None:
    # the outputs' own range with the threshold in it: a model that answers about 0.5 for
    # every image still shows how its classes lie
    low, high = min(float(outputs.min()), threshold), max(float(outputs.max()), threshold)
    pad = 0.05 * (high - low) or 1e-3
    bins = np.linspace(low - pad, high + pad, 21)
    for label, name in CLASS_NAMES.items():
        axis.hist(outputs[labels == label], bins=bins, alpha=0.55, color=CLASS_COLOURS[name],
                  label=f"{name} ({int((labels == label).sum())})")
    axis.axvline(threshold, color="black", linewidth=1.2, label=f"threshold {threshold:g}")
    if margin:
        for edge in (-1, 1):  # the margin's edges, where they lie among the outputs
            if low <= edge <= high:
                axis.axvline(edge, color="black", linewidth=0.8, linestyle=":")
    margin_edges = " (dotted: the margin ±1)" if margin and (low <= -1 or high >= 1) else ""
    axis.set(title=title, xlabel=f"raw margin{margin_edges}" if margin else "sigmoid output "
             "(probability of Nev)", ylabel="test images")
    axis.legend(fontsize=7)


def output_figure(bce: dict | None, hinge: dict | None, title: str):
    panels = [panel for panel in (bce, hinge) if panel] + ([bce] if bce and "calibration" in
                                                           bce["stats"] else [])
    figure, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 4.2),
                                squeeze=False)
    axes = list(axes[0])
    if not panels:
        axes[0].text(0.5, 0.5, "no finite outputs: the runs diverged", ha="center")
        axes[0].set_axis_off()
        axes = []
    for panel in (bce, hinge):
        if panel:
            output_histogram(axes.pop(0), panel["outputs"], panel["labels"],
                             panel["stats"]["threshold"], f"{panel['name']}: output per class",
                             margin=panel["stats"]["loss"] == "hinge")
    if axes:
        calibration, stats = bce["stats"]["calibration"], bce["stats"]
        axis = axes[0]
        axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
        axis.plot(calibration["predicted"], calibration["observed"], "o-", color="tab:blue",
                  label=f"{bce['name']}")
        axis.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel="mean predicted P(Nev)",
                 ylabel="observed share of Nev",
                 title=f"reliability: Brier {stats['brier']:.3f}, ECE "
                       f"{calibration['expected_calibration_error']:.3f}")
        axis.legend(fontsize=7, loc="upper left")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure


# -- the writers, by kind ------------------------------------------------------------------


def conv_layers(plan: Plan, task_id: str, root: Path, title: str, load_model: ModelLoader):
    entry = concept_models.inspected_entry(plan, task_id)
    validation = load_test_split(root / layout.arrays_npz(plan.dataset))
    x_test, y_test = validation.images, validation.labels.astype(int)
    model = inspected_model(entry, root, x_test.shape[1:], load_model)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"][:2]
    differences, found = [], []
    for layer, (channel_means, mean) in zip(convs, class_maps(model, convs, x_test, y_test)):
        result = representations.class_difference(channel_means, y_test)
        differences.append(dict(result, layer=layer.name, maps=mean[1] - mean[0]))
        found.append(result)
    figure, stats = filters_figure(model, first_image_per_class(x_test, y_test),
                                   f"{title}: learned filters of {entry.spec.run_id} at "
                                   f"{entry.epochs} epochs", differences)
    for layer, result in zip(stats["layers"], found):
        layer["difference"] = result
    stats["test_counts"] = {name: int((y_test == label).sum())
                            for label, name in CLASS_NAMES.items()}
    return figure, stats, entry


def dense_layers(plan: Plan, task_id: str, root: Path, title: str, load_model: ModelLoader):
    entry = concept_models.inspected_entry(plan, task_id)
    validation = load_test_split(root / layout.arrays_npz(plan.dataset))
    x_test, y_test = validation.images, validation.labels.astype(int)
    model = inspected_model(entry, root, x_test.shape[1:], load_model)
    names = [layer.name for layer in model.layers]
    dense = [layer for layer in model.layers if layer.name.startswith("dense")]
    if not dense:
        raise CnnlabError(f"config: tasks.{task_id}.inspects: {entry.spec.run_id} has no "
                          "hidden dense layer to inspect.")
    features = {"raw pixels": x_test.reshape(len(x_test), -1)}
    probes = [dense[0]]
    if any(name.startswith("conv") for name in names):  # an MLP's flatten is the pixels
        probes.insert(0, model.get_layer("flatten"))
    outputs = layer_outputs(model, probes, x_test)
    if len(probes) == 2:
        features["conv features"] = outputs[0]
    features[f"{dense[0].name} features"] = outputs[-1]
    separability = representations.separability(features, y_test)
    rows = read_summary(root / layout.summary_csv(entry.training.directory))
    total = sum(int(row["parameters"]) for row in rows) or 1
    stats = {"separability": separability,
             "parameters": [{"layer": row["layer"], "parameters": int(row["parameters"]),
                             "share": int(row["parameters"]) / total} for row in rows]}
    figure = dense_figure(rows, features, y_test, separability,
                          f"{title}: {entry.spec.run_id} at {entry.epochs} epochs, test images")
    return figure, stats, entry


def architectures(plan: Plan, task_id: str, root: Path, title: str, load_model: ModelLoader):
    summaries = {architecture_name(entry.spec.to_dict()):
                 read_summary(root / layout.summary_csv(entry.training.directory))
                 for entry in concept_models.architecture_entries(plan, task_id)}
    if not summaries:
        raise CnnlabError(f"config: tasks.{task_id}: the architectures answer has no runs to "
                          "compare: give the task runs or tasks in shows.")
    stats = {"parameters": {name: [{"layer": row["layer"], "type": row["type"],
                                    "parameters": int(row["parameters"])} for row in rows]
                            for name, rows in summaries.items()}}
    return architectures_figure(summaries, f"{title}: parameters per layer"), stats, None


def output_panel(entry, root: Path) -> dict:
    predictions = read_predictions(root / entry.training.predictions_npz)
    outputs = predictions.at(min(entry.epochs, predictions.epochs))  # a diverged run stopped
    labels = predictions.labels.astype(int)
    stats = representations.output_distribution(outputs, labels, entry.spec.loss)
    stats.update(run_id=entry.spec.run_id, epochs=min(entry.epochs, predictions.epochs))
    return {"name": entry.spec.run_id, "outputs": outputs, "labels": labels, "stats": stats}


def output_layer(plan: Plan, task_id: str, root: Path, title: str, load_model: ModelLoader):
    entry = concept_models.inspected_entry(plan, task_id)
    hinge = concept_models.hinge_entry(plan, task_id)
    panels = {entry.spec.loss: output_panel(entry, root)}
    if hinge is not None and hinge is not entry:
        panels["hinge"] = output_panel(hinge, root)
    finite = {loss: panel for loss, panel in panels.items()
              if np.isfinite(panel["outputs"]).all()}  # a diverged run's outputs are NaN
    figure = output_figure(finite.get("bce"), finite.get("hinge"),
                           f"{title}: the output layer on the test images")
    return figure, {loss: panel["stats"] for loss, panel in finite.items()}, entry


# each concept kind's figure by the function of its name (cnnlab.plan.answer_kinds): one
# missing fails here, on import
FIGURES = {kind: globals()[kind] for kind in CONCEPT_KINDS}


def write_concept_figure(plan: dict, task_id: str, output_png: str | Path,
                         output_json: str | Path, root: str | Path = ".", *,
                         load_model: ModelLoader) -> Path:
    """The figure of the task's concept answer as a PNG and its numbers as JSON (`plan`:
    Plan.to_dict() of the task and the tasks it reads; `load_model` loads the trained
    model the conv- and dense-layer answers inspect)."""
    plan = Plan.from_dict(plan)
    kind = plan.tasks[task_id].answer
    if kind not in FIGURES:
        raise CnnlabError(f"config: tasks.{task_id}.answer: {kind!r} is not one of "
                          f"{', '.join(FIGURES)}.")
    figure, stats, entry = FIGURES[kind](plan, task_id, Path(root), f"{task_id} ({kind})",
                                       load_model)
    if entry is not None:
        stats.update(run_id=entry.spec.run_id, epochs=entry.epochs,
                     training=entry.training.directory)
    write_concept_stats(output_json, dict(stats, kind=kind))
    return save_png(figure, output_png)
