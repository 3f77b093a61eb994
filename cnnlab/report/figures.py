"""The report's learning curves, ROC curves and LeNet's filters (matplotlib, Agg), and the
writers of a task's curve figures.

:func:`curves_figure` overlays the set-ups of a task (mean over seeds, with a band of one
standard deviation when there are several) and marks each setup's best epoch (lowest
validation loss), with the Wilson interval of the validation accuracy at the final and best
epochs; :func:`roc_figure` draws each set-up's ROC curve of the melanoma score.
:func:`filters_figure` shows the first two convolutional layers of a
trained model: their filters, their feature maps for one image of each class and how the
maps differ between the classes on average (its writer and the other concept answers'
figures are in :mod:`cnnlab.report.concept_figures`).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib
import matplotlib.text

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from cnnlab.analysis import diagnostics, seeds, statistics
from cnnlab.errors import CnnlabError
from cnnlab.plan.plan import Plan
from cnnlab.report.comparisons import asked_by, reference_comparisons
from cnnlab.report.formatting import trained_title
from cnnlab.report.setups import Results, SetUp, task_setups
from cnnlab.store.files import atomic_open, read_manifest

CLASS_NAMES = statistics.CLASS_NAMES
FEATURE_MAPS_SHOWN = 8
FILTERS_SHOWN = 32
DPI = 110


def save_png(figure, path: str | Path) -> Path:
    """Write a figure to `path` as PNG (atomically) and close it, its texts fitted to its
    width first (:func:`fit_texts`)."""
    fit_texts(figure)
    with atomic_open(path, binary=True) as stream:
        figure.savefig(stream, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return Path(path)


def fit_texts(figure, max_lines: int = 3) -> None:
    """Every text of ``figure`` (titles, legend entries, labels) wider than the figure (or
    half again as wide as its axis) wrapped to that width and cut after ``max_lines`` lines with an ellipsis: a task title
    or a class name of any length (they come from the config) keeps the figure its own
    size, where the tight bounding box would stretch it to the text's (a 10,000-character
    title: 80,000 pixels wide). Texts that fit, as the lab's own do, are left as drawn."""
    renderer = figure.canvas.get_renderer()
    for text in figure.findobj(matplotlib.text.Text):
        content = text.get_text()
        width = text.get_window_extent(renderer).width if content else 0.0
        # an axis's title or legend entry may overhang its axis a little (the lab's own
        # titles do), not cover the figure
        axis = getattr(text, "axes", None)
        limit = 1.5 * axis.bbox.width if axis is not None else figure.bbox.width
        if width <= limit:
            continue
        paragraphs = content.split("\n")
        # as many characters as fit, from the widest line's width per character
        columns = max(20, int(max(map(len, paragraphs)) * limit / width * 0.95))
        lines = [line for paragraph in paragraphs
                 for line in textwrap.wrap(paragraph, columns, break_long_words=True) or [""]]
        keep = max(max_lines, len(paragraphs))  # a text's own lines are kept
        if len(lines) > keep:
            lines = [*lines[:keep - 1], lines[keep - 1][:columns - 1] + "…"]
        text.set_text("\n".join(lines))
        if text is getattr(figure, "_suptitle", None):  # grown downwards into the axes: above
            text.set(verticalalignment="bottom", y=max(text.get_position()[1], 1.0))


# -- learning curves ----------------------------------------------------------------------


def curves_figure(setups: list[SetUp], baselines: dict, title: str):
    """Loss and accuracy, train (solid) and validation (dashed), of every set-up overlaid."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.get_cmap("tab10")
    log_loss = False
    for index, setup in enumerate(setups):
        colour = colours(index % 10)
        bands = seeds.curve_bands([run.history for run in setup.runs])
        epochs = bands["epoch"].to_numpy()
        for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
            for prefix, style, label in (("", "-", "train"), ("val_", "--", "val")):
                mean = bands[f"{prefix}{metric}_mean"].to_numpy(dtype=float)
                sd = bands[f"{prefix}{metric}_sd"].to_numpy(dtype=float)
                axis.plot(epochs, mean, style, color=colour, linewidth=1.4,
                          label=f"{setup.label} ({label})")
                if setup.seeds > 1:
                    axis.fill_between(epochs, mean - sd, mean + sd, color=colour, alpha=0.15,
                                      linewidth=0)
        best = diagnostics.best_epoch(
            bands.rename(columns={"val_loss_mean": "val_loss"})[["epoch", "val_loss"]]
        )
        # side by side, so that the set-ups' bars at one epoch do not hide each other
        shift = (index - (len(setups) - 1) / 2) * 0.012 * max(1, int(epochs[-1]) - 1)
        for epoch in {int(epochs[-1]), best} - {None}:
            accuracy_interval_bar(accuracy_axis, setup, bands, epoch, colour, shift)
        if best is not None:
            row = bands[bands["epoch"] == best].iloc[0]
            loss_axis.plot([best], [row["val_loss_mean"]], "o", color=colour, markersize=7,
                           markeredgecolor="black")
            accuracy_axis.plot([best], [row["val_accuracy_mean"]], "o", color=colour,
                               markersize=7, markeredgecolor="black")
            for axis in (loss_axis, accuracy_axis):
                axis.axvline(best, color=colour, linewidth=0.8, linestyle=":", alpha=0.7)
        finite = bands[["loss_mean", "val_loss_mean"]].to_numpy(dtype=float)
        finite = finite[np.isfinite(finite) & (finite > 0)]
        if finite.size and finite.max() / finite.min() > 50:
            log_loss = True
    for split, style in (("test", (0, (1, 2))), ("train", (0, (4, 2, 1, 2)))):
        baseline = baselines.get(split)
        if baseline is not None:
            accuracy_axis.axhline(baseline, color="grey", linestyle=style, linewidth=1,
                                  label=f"majority baseline ({'val' if split == 'test' else split})")
    if log_loss:
        loss_axis.set_yscale("log")
    loss_axis.set(title="Loss (o = best epoch: lowest val loss)", xlabel="epoch", ylabel="loss")
    accuracy_axis.set(title="Accuracy (bars: 95% Wilson CI of val acc, final and best epochs)",
                      xlabel="epoch", ylabel="accuracy")
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = accuracy_axis.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels) // 2)),
                  fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02 - 0.035 * math.ceil(
                      len(labels) / 4)))
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def accuracy_interval_bar(axis, setup: SetUp, bands, epoch: int, colour,
                          shift: float = 0.0) -> None:
    """The Wilson 95 % interval of the validation accuracy at `epoch`, all seeds' calls
    pooled, as an error bar (drawn `shift` epochs aside)."""
    accuracy = float(bands.loc[bands["epoch"] == epoch, "val_accuracy_mean"].iloc[0])
    if not math.isfinite(accuracy):
        return
    calls = sum(run.n_test for run in setup.runs)
    interval = statistics.wilson_interval(round(accuracy * calls), calls)
    axis.errorbar([epoch + shift], [accuracy], yerr=[[accuracy - interval.low], [interval.high - accuracy]],
                  fmt="none", ecolor=colour, elinewidth=1.2, capsize=4)


# -- ROC curves -------------------------------------------------------------------------


def roc_figure(setups: list[SetUp], title: str):
    """Each set-up's ROC curve of the melanoma score at its final epoch (every seed, the
    first in full colour), its AUC, and the operating point its threshold gives."""
    figure, axis = plt.subplots(figsize=(5.6, 5.2))
    colours = plt.get_cmap("tab10")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance (AUC 0.5)")
    for index, setup in enumerate(setups):
        colour = colours(index % 10)
        for seed_index, run in enumerate(setup.runs):
            outputs = run.final_outputs
            if not np.isfinite(outputs).all():
                continue  # a diverged run's outputs rank nothing
            false_positive, true_positive = statistics.roc_curve(outputs, run.labels)
            view = run.clinical("final")
            first = seed_index == 0
            axis.plot(false_positive, true_positive, color=colour, linewidth=1.6 if first else 0.8,
                      alpha=1.0 if first else 0.5,
                      label=f"{setup.label} (AUC {view.auc:.3f})" if first else None)
            axis.plot([1 - view.specificity], [view.sensitivity], "o", color=colour,
                      markeredgecolor="black", markersize=6 if first else 4)
    axis.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal",
             xlabel="1 - specificity (nevi called melanoma)",
             ylabel="sensitivity (melanomas found)",
             title="ROC, melanoma positive (o: the model's threshold)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


# -- filters and feature maps ------------------------------------------------------------


def receptive_fields(layers) -> dict[str, int]:
    """Receptive field in input pixels of each layer's outputs (stride-1 convs, 2 x 2 pools)."""
    field, jump, fields = 1, 1, {}
    for layer in layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            field += (layer.kernel_size[0] - 1) * jump
        elif kind == "MaxPooling2D":
            field += (layer.pool_size[0] - 1) * jump
            jump *= layer.strides[0]
        fields[layer.name] = field
    return fields


def mixed_sign_filters(kernel: np.ndarray, tolerance: float = 0.1) -> int:
    """How many filters (last axis) have clearly positive and clearly negative weights."""
    flat = kernel.reshape(-1, kernel.shape[-1])
    scale = np.abs(flat).max(axis=0) + 1e-12
    positive = (flat > tolerance * scale).any(axis=0)
    negative = (flat < -tolerance * scale).any(axis=0)
    return int((positive & negative).sum())


def filters_figure(model, images: dict[str, np.ndarray], title: str,
                   differences: list[dict] | None = None):
    """The first two Conv2D layers of `model`: filters and feature maps of each image.

    `images` maps a class name to one image (H, W, C). `differences`, one per layer:
    {"layer", "maps" (the Nev - Mel difference of the mean maps, H x W x channels),
    "order" (channels, most different first), "effects" (Cohen's d per channel)}, drawn as
    one more row each. Returns (figure, statistics).
    """
    import keras

    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"][:2]
    if len(convs) < 2:
        raise ValueError(f"{model.name} has fewer than two convolutional layers")
    fields = receptive_fields(model.layers)
    probe = keras.Model(model.inputs, [layer.output for layer in convs])
    batch = np.stack(list(images.values())).astype("float32")
    maps = [np.asarray(output) for output in probe.predict(batch, verbose=0)]

    differences = differences or []
    extra = len(images) + len(differences)
    figure = plt.figure(figsize=(13, 4.4 + 1.25 * extra))
    rows = figure.subfigures(2 + extra, 1, height_ratios=[2.2, 2.2] + [1.25] * extra)
    stats = {"layers": []}
    for subfigure, layer, layer_maps in zip(rows[:2], convs, maps):
        stats["layers"].append(filter_row(subfigure, layer, layer_maps, fields, images))
    # the channels most active over all images, the same for every class
    strongest = [np.argsort(-layer_maps.mean(axis=(0, 1, 2)))[:FEATURE_MAPS_SHOWN]
                 for layer_maps in maps]
    for row, difference in zip(rows[2 + len(images):], differences):
        difference_row(row, difference)
    for index, (row, (name, image)) in enumerate(zip(rows[2:], images.items())):
        image_row(row, name, image, [layer_maps[index] for layer_maps in maps], convs,
                  strongest)
    figure.suptitle(title, fontsize=12, y=1.04)
    return figure, stats


def filter_row(subfigure, layer, layer_maps: np.ndarray, fields: dict[str, int],
               images: dict[str, np.ndarray]) -> dict:
    """One convolutional layer's filters drawn in a row; its numbers for the answer."""
    kernel = layer.get_weights()[0]  # (kh, kw, in, out)
    shown = kernel.mean(axis=2)[..., :FILTERS_SHOWN]  # over input channels
    columns = 16
    axes = subfigure.subplots(math.ceil(shown.shape[-1] / columns), columns, squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if index < shown.shape[-1]:
            weights = shown[..., index]
            limit = np.abs(weights).max() or 1.0
            axis.imshow(weights, cmap="RdBu_r", vmin=-limit, vmax=limit)
    averaged = " (averaged over input channels)" if kernel.shape[2] > 1 else ""
    subfigure.suptitle(
        f"{layer.name}: {min(kernel.shape[-1], FILTERS_SHOWN)} of {kernel.shape[-1]} "
        f"{kernel.shape[0]}x{kernel.shape[1]} filters{averaged}; red +, blue -",
        fontsize=10)
    return {
        "name": layer.name,
        "filters": int(kernel.shape[-1]),
        "kernel": f"{kernel.shape[0]} × {kernel.shape[1]}",
        "receptive_field": int(fields[layer.name]),
        "mixed_sign": mixed_sign_filters(kernel),
        "active_fraction": {
            name: float((layer_maps[index] > 0).mean()) for index, name in enumerate(images)
        },
    }


def image_row(row, name: str, image: np.ndarray, image_maps: list[np.ndarray], convs,
              strongest: list[np.ndarray]) -> None:
    """One test image and the most active feature maps it gives in each layer."""
    axes = row.subplots(1, 1 + 2 * FEATURE_MAPS_SHOWN)
    axes[0].imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(name, fontsize=9)
    for offset, (layer, layer_maps, channels) in enumerate(zip(convs, image_maps, strongest)):
        for position, channel in enumerate(channels):
            axis = axes[1 + offset * FEATURE_MAPS_SHOWN + position]
            axis.imshow(layer_maps[..., channel], cmap="viridis")
            axis.set_title(f"{layer.name}:{channel}", fontsize=6)
    for axis in axes:
        axis.set_axis_off()
    row.suptitle(f"test image ({name}) and its {FEATURE_MAPS_SHOWN} most active feature maps "
                 f"of {convs[0].name} and {convs[1].name}", fontsize=10)


def difference_row(row, difference: dict) -> None:
    """One layer's Nev - Mel mean feature maps of its most different channels (red: more
    active for Nev), each on its own symmetric colour scale, titled with Cohen's d."""
    channels = difference["order"][:2 * FEATURE_MAPS_SHOWN]
    axes = row.subplots(1, 2 * FEATURE_MAPS_SHOWN)
    for axis, channel in zip(axes, channels):
        image = difference["maps"][..., channel]
        limit = float(np.abs(image).max()) or 1.0
        axis.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        axis.set_title(f"{channel}: d {difference['effects'][channel]:+.2f}", fontsize=6)
    for axis in axes:
        axis.set_axis_off()
    row.suptitle(f"{difference['layer']}: Nev − Mel mean feature map over the test images of "
                 f"the {len(channels)} channels that differ most (Cohen's d); red: higher for "
                 "Nev", fontsize=10, y=1.08)


def first_image_per_class(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The first image of each class, keyed by class name (Mel, Nev)."""
    images = {}
    for label, name in CLASS_NAMES.items():
        indices = np.flatnonzero(np.asarray(y) == label)
        if indices.size:
            images[name] = np.asarray(x[indices[0]], dtype="float32")
    return images


# -- figure files, as rule outputs ---------------------------------------------------------


def compared_setups(plan: Plan, task_id: str, setups: list[SetUp],
                    results: Results) -> list[SetUp]:
    """The earlier tasks' set-ups the task's question compares it with in another parameter
    (6C's learning rate 1e-4 from 6B), labelled with their task: drawn beside its own."""
    shown: dict[tuple, SetUp] = {}
    for comparison in reference_comparisons(plan, task_id, setups, results):
        theirs = comparison.b
        # another set-up the answer compares with; fewer epochs of its own is its own curve
        if comparison.factors != ["epochs"] and asked_by(plan.tasks[task_id], comparison):
            theirs.label = f"{theirs.label} ({theirs.task})"
            shown.setdefault((theirs.task, theirs.setup_id), theirs)
    return list(shown.values())


def write_task_figures(plan: dict, task_id: str, manifest_json: str | Path,
                       curves_png: str | Path, roc_png: str | Path,
                       root: str | Path = ".") -> tuple[Path, Path]:
    """The learning curves of a task's runs, overlaid, and their ROC curves, as PNGs
    (`plan`: Plan.to_dict())."""
    plan = Plan.from_dict(plan)
    results = Results(root)
    setups = task_setups(plan, task_id, results)
    if not setups:
        raise CnnlabError(f"task {task_id} trains no runs, so it has no learning curves.")
    setups += compared_setups(plan, task_id, setups, results)
    baselines = read_manifest(manifest_json).baselines
    title = f"{task_id}: {trained_title(plan.tasks[task_id].title, plan.epoch_divisor)}"
    return (save_png(curves_figure(setups, baselines, title), curves_png),
            save_png(roc_figure(setups, title), roc_png))
