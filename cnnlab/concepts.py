"""The answers of the concept tasks and task-specific paragraphs: what the filters, the
dense layers and the output layer do, the MLP against LeNet, and why hinge accuracy differs,
each from this run's numbers (the filter statistics, the model summaries, the class shares)."""

from __future__ import annotations

from cnnlab.answers import behaviour, gap_text
from cnnlab.formatting import percent
from cnnlab.results import Group


def answer_hinge(test_counts: dict[str, int]) -> str:
    """6F: why plain binary accuracy is wrong for hinge labels and what was computed instead.
    `test_counts`: the validation split's images per class."""
    # where Nev is the majority, its share is the baseline the direct answer gives
    nev_is_majority = test_counts.get("Nev", 0) == max(test_counts.values(), default=0) > 0
    ceiling = " (here the baseline above)" if nev_is_majority else ""
    return (
        "Why plain binary accuracy is wrong here: hinge loss needs labels in {-1, 1}, so Mel "
        "is -1. Keras' binary accuracy rounds the prediction to 0 or 1 and compares it with "
        "the label, so a Mel image (-1) never matches and counts as wrong whatever the model "
        f"predicts; the metric can reach at most the share of Nev images{ceiling}. The hinge "
        "model's output is a linear score whose sign is the class (score > 0: Nev), so the "
        "accuracy shown for hinge runs is the real fraction of images whose sign matches the "
        "true class, counted the same way as the sigmoid > 0.5 rule of the BCE runs and "
        "comparable with them."
    )


def answer_filters(stats: dict) -> list[str]:
    """5D: what the first two convolutional layers do, backed by the learned filters."""
    layers = stats.get("layers", [])
    if len(layers) < 2:
        return ["The filter statistics of the trained LeNet are missing; run plot_filters."]
    first, second = layers[0], layers[1]
    one_sign = first["filters"] - first["mixed_sign"]
    text = [
        (f"From the trained LeNet {stats.get('run_id', '')} at {stats.get('epochs', '?')} epochs. "
        f"The first convolutional layer ({first['name']}) slides {first['filters']} filters of "
        f"{first['kernel']} over the image and sees {first['receptive_field']} × "
        f"{first['receptive_field']} pixels at a time: it detects local intensity changes. "
        f"{first['mixed_sign']} of its {first['filters']} filters "
        f"{'has' if first['mixed_sign'] == 1 else 'have'} weights of both signs "
        f"(edge, spot or gradient detectors that respond to contrast) and "
        f"{one_sign} {'is' if one_sign == 1 else 'are'} of one sign (brightness detectors)."),
        (f"The second ({second['name']}, {second['filters']} filters) works on the pooled maps "
        f"of the first, so each output sees {second['receptive_field']} × "
        f"{second['receptive_field']} input pixels and combines edges into larger patterns: "
        "texture, border pieces and blobs of the lesion."),
    ]
    active = [layer.get("active_fraction", {}) for layer in (first, second)]
    if active[0]:
        parts = [
            f"{name}: {', '.join(f'{cls} {percent(share)}' for cls, share in fractions.items())}"
            for name, fractions in zip((first["name"], second["name"]), active)
        ]
        text.append(
            "Share of ReLU outputs that are active (non-zero) for the test images shown — "
            + "; ".join(parts)
            + ". The ReLU keeps only where a filter's pattern is present, so deeper maps are "
            "sparser and more selective."
        )
    return text


def answer_dense(summary_rows: list[dict], groups: list[Group]) -> list[str]:
    """5E: what the last two dense layers do, from the parameter counts of the summary."""
    dense = [row for row in summary_rows if row["type"] == "Dense"]
    total = sum(int(row["parameters"]) for row in summary_rows)
    if len(dense) < 2 or total == 0:
        return ["The model summary lacks two dense layers; nothing to say from numbers."]
    hidden, output = dense[-2], dense[-1]
    share = (int(hidden["parameters"]) + int(output["parameters"])) / total
    text = [
        (f"The last two dense layers hold {int(hidden['parameters']) + int(output['parameters']):,}"
        f" of the model's {total:,} parameters ({100 * share:.1f}%). The hidden one "
        f"({hidden['layer']}, {int(hidden['parameters']):,} parameters, output "
        f"{hidden['output_shape']}) connects every feature of the flattened convolutional maps "
        "to each of its neurons: it combines local features from anywhere in the image into "
        f"whole-image evidence. The output one ({output['layer']}, "
        f"{int(output['parameters']):,} parameters: one weight per hidden neuron plus a bias) "
        "weighs that evidence into one score, the probability of Nev.")
    ]
    overfit = [group for group in groups if behaviour(group) == "overfits"]
    if overfit:
        text.append(
            "Holding almost all the weights, they are where the model can memorise the "
            "training images: "
            + "; ".join(f"{_in_task(group)} overfits with a final gap of {gap_text(group)}"
                        for group in overfit)
            + "."
        )
    elif groups:
        text.append(
            "None of the runs shown overfits by the diagnostics; their final train-validation "
            "gaps are "
            + ", ".join(f"{gap_text(group)} ({group.task})" for group in groups)
            + "."
        )
    return text


def _in_task(group: Group) -> str:
    return group.label if group.label.startswith(group.task) else f"{group.label} in {group.task}"


def answer_architectures(summaries: dict[str, list[dict]]) -> str:
    """5F: LeNet against the MLP, from where their parameters lie."""
    def count(rows, kind):
        return sum(int(row["parameters"]) for row in rows if row["type"] == kind)

    parts = []
    for name, rows in summaries.items():
        total = sum(int(row["parameters"]) for row in rows)
        parts.append(
            f"{name} has {total:,} parameters, {count(rows, 'Conv2D'):,} of them in "
            f"convolutions and {count(rows, 'Dense'):,} in dense layers"
        )
    return (
        "; ".join(parts)
        + ". The MLP flattens the image first: every pixel gets its own weight in every hidden "
        "neuron, so it knows nothing of neighbourhoods and a lesion shifted by one pixel is a "
        "new input. LeNet's convolutions share one small filter over all positions, which "
        "builds in locality and translation equivariance and needs few weights for its feature "
        "extraction; pooling adds tolerance to small shifts."
    )


OUTPUT_LAYERS = (
    ("binary (this lab)", "1", "sigmoid", "binary cross-entropy; class = output > 0.5"),
    ("binary, hinge loss", "1", "linear", "hinge with labels -1/1; class = sign of the score"),
    ("multi-class, K classes", "K", "softmax", "categorical cross-entropy"),
    ("multi-label, K labels", "K", "sigmoid", "binary cross-entropy per label"),
    ("regression, d targets", "d", "linear", "mean squared (or absolute) error"),
)


def answer_output_layer(output_row: dict | None, losses: list[str]) -> str:
    """5G: how to choose the last layer, tied to what this model uses."""
    text = (
        "The last layer has one neuron per quantity the model must predict, and its "
        "activation maps the score to the range of that quantity; the loss must match both "
        "(table below)."
    )
    if output_row is not None:
        text += (
            f" This model's last layer, {output_row['layer']}, has output "
            f"{output_row['output_shape']} and {int(output_row['parameters']):,} parameters: "
            "one neuron for the one question Mel or Nev"
        )
        if "bce" in losses:
            text += ", with a sigmoid that gives the probability of Nev for binary cross-entropy"
        if "hinge" in losses:
            text += "; the hinge runs use a linear score instead"
        text += ". Two softmax neurons with categorical cross-entropy would be equivalent but " \
                "carry one redundant output."
    return text
