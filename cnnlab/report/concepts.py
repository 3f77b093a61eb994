"""The answers of the concept tasks and task-specific paragraphs: what the filters, the
dense layers and the output layer do, the MLP against LeNet, and why hinge accuracy differs,
each from this run's numbers (the statistics of the concept figures, computed by
:mod:`cnnlab.analysis.representations`; the model summaries; the class shares)."""

from __future__ import annotations

import math

from cnnlab.report.answers import behaviour, gap_text
from cnnlab.report.formatting import interval_words, percent, points
from cnnlab.report.results import Group


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
        return ["The filter statistics of the trained model are missing; run plot_concept."]
    first, second = layers[0], layers[1]
    one_sign = first["filters"] - first["mixed_sign"]
    text = [
        (f"From the trained model {stats.get('run_id', '')} at {stats.get('epochs', '?')} epochs. "
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
    differences = [(layer["name"], layer["difference"]) for layer in (first, second)
                   if layer.get("difference", {}).get("strongest")]
    if differences:
        text.append(answer_class_difference(differences, stats.get("test_counts", {})))
    return text


def answer_class_difference(differences: list[tuple[str, dict]], counts: dict) -> str:
    """5D: whether the feature maps differ between the classes on average, from
    :func:`cnnlab.analysis.representations.class_difference` of each layer."""
    images = ", ".join(f"{count} {name}" for name, count in counts.items())
    found = " and ".join(f"{result['differing']} of {name}'s {result['channels']} channels"
                         for name, result in differences)
    name, result = max(differences, key=lambda item: abs(item[1]["strongest"]["d"]))
    top = result["strongest"]
    clearest = (f"{name}:{top['channel']} (mean activation Mel {top['mel_mean']:.3g}, Nev "
                f"{top['nev_mean']:.3g}; Cohen's d {top['d']:+.2f}, adjusted p "
                f"{top['p_holm']:.2g})")
    text = (f"Averaged over the test images ({images}), {found} differ in mean activation "
            f"between Mel and Nev (Welch's t-test per channel, Holm-adjusted p < "
            f"{result['alpha']:g}). ")
    if any(result["differing"] for _, result in differences):
        return text + (f"The clearest is {clearest}; the figure's last rows show the Nev − Mel "
                       "difference of the mean maps of the channels that differ most: where "
                       "they are red, the filter responds more to nevi, where blue, more to "
                       "melanomas.")
    return text + (f"None does: even the clearest, {clearest}, is within what chance gives, so "
                   "on average these feature maps do not tell the classes apart; the "
                   "difference maps in the figure's last rows are noise at this scale.")


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


def answer_separability(stats: dict | None) -> list[str]:
    """5E: how much the dense layer adds, from the linear separability of the test images
    as raw pixels, conv features and dense features
    (:func:`cnnlab.analysis.representations.separability`): numbers first, then what they mean."""
    stats = stats or {}
    rows = [row for row in stats.get("representations", []) if row["accuracy"] is not None]
    if len(rows) < 2:
        return [("The separability of the representations was not measured (the figure "
                 "statistics are missing, a class has fewer than two test images, or the "
                 "model's features are not finite numbers).")]
    baseline = stats["baseline"]

    def measured(row: dict) -> str:
        return (f"{row['name']} ({row['dimensions']:,} values) {percent(row['accuracy'])} ± "
                f"{100 * row['fold_sd']:.1f} (folds {percent(row['fold_min'])}-"
                f"{percent(row['fold_max'])})")

    explained = "; ".join(f"{row['name']} {percent(sum(row['explained']))}" for row in rows)
    text = [(f"How linearly separable Mel and Nev are on the {stats['n']} test images: the "
             f"accuracy of a {stats['method']} (mean ± standard deviation over the folds) on "
             f"{'; '.join(measured(row) for row in rows)}; the majority baseline is "
             f"{percent(baseline)}. The scatter plots project the same representations on "
             f"their first two principal components, which hold {explained} of the variance.")]
    dense, before = rows[-1], rows[-2]
    gain = dense["accuracy"] - before["accuracy"]
    spread = max(dense["fold_sd"], before["fold_sd"])
    if dense["accuracy"] <= baseline + dense["fold_sd"]:
        verdict = (f"The {dense['name']} are no better than the majority baseline within the "
                   "folds' spread: in this run the dense layer has not learnt features that "
                   "separate the classes linearly, so it adds nothing measurable.")
    elif gain > spread:
        verdict = (f"The {dense['name']} separate the classes {points(gain)} better than the "
                   f"{before['name']} they are computed from, more than the folds' spread "
                   f"({100 * spread:.1f}): the dense layer recombines "
                   f"{before['dimensions']:,} local values into {dense['dimensions']} "
                   "whole-image features along which the classes part, and the output neuron "
                   "only has to draw a line through them.")
    elif gain < -spread:
        verdict = (f"The {dense['name']} separate the classes {points(gain)} worse than the "
                   f"{before['name']} they are computed from, beyond the folds' spread "
                   f"({100 * spread:.1f}): squeezing them into {dense['dimensions']} features "
                   "loses information a linear read-out could use.")
    else:
        verdict = (f"The {dense['name']} differ from the {before['name']} by {points(gain)}, "
                   f"within the folds' spread ({100 * spread:.1f}): the dense layer compresses "
                   f"{before['dimensions']:,} values into {dense['dimensions']} features and "
                   "keeps their separability without adding measurably to it.")
    return text + [verdict]


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
    largest = []
    for name, rows in summaries.items():
        total = sum(int(row["parameters"]) for row in rows)
        top = max(rows, key=lambda row: int(row["parameters"]), default=None)
        if top is not None and total:
            largest.append(f"{name}'s {top['layer']} ({int(top['parameters']):,}, "
                           f"{percent(int(top['parameters']) / total)} of its parameters)")
    figure = (f" The figure puts their layers side by side; the largest layer of each is "
              f"{' and '.join(largest)}." if largest else "")
    return (
        "; ".join(parts)
        + "." + figure
        + " The MLP flattens the image first: every pixel gets its own weight in every hidden "
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


WELL_CALIBRATED, ROUGHLY_CALIBRATED = 0.05, 0.15  # expected calibration errors


def calibration_quality(error: float, interval: list[float] | None) -> str:
    """What an expected calibration error says of the probabilities, by its value, and
    where its interval reaches a worse kind, that too."""
    if error <= WELL_CALIBRATED:
        quality = "well calibrated: an output of 0.8 means about 80% Nev"
    elif error <= ROUGHLY_CALIBRATED:
        quality = "roughly calibrated"
    else:
        return "poorly calibrated: read them as scores, not probabilities"
    reach = interval[1] if interval and math.isfinite(interval[1]) else error
    worse = ("poorly" if reach > ROUGHLY_CALIBRATED else
             "only roughly" if reach > WELL_CALIBRATED else None)
    if worse and (worse == "poorly" or error <= WELL_CALIBRATED):
        quality += (f", though the interval reaches {reach:.3f}, where they would be "
                    f"{worse} calibrated")
    return quality


def span(interval: list[float] | None, style: str = ".3f") -> str:
    """' (95% CI 0.134 to 0.178)' after a value, of a [low, high] interval from a figure's
    statistics; nothing where it is missing."""
    words = interval_words(*interval, style) if interval else ""
    return f" ({words})" if words else ""


def one_class_text(mel: dict, nev: dict) -> str:
    """Said where a threshold puts every test image on one side: such a model answers one
    class for all of them, as the majority-class predictor does."""
    if mel["n"] and nev["n"] and mel["right_side"] == 0 and nev["right_side"] == 1:
        return ": it calls every test image Nev"
    if mel["n"] and nev["n"] and mel["right_side"] == 1 and nev["right_side"] == 0:
        return ": it calls every test image Mel"
    return ""


def answer_output_distribution(stats: dict | None) -> list[str]:
    """5G: what the output layer's values on the test images show, per class and against
    the threshold, and how well the sigmoid's probabilities are calibrated
    (:func:`cnnlab.analysis.representations.output_distribution` of a BCE and a hinge run)."""
    stats = stats or {}
    text = []
    bce, hinge = stats.get("bce"), stats.get("hinge")
    if bce:
        mel, nev = bce["classes"]["Mel"], bce["classes"]["Nev"]
        low, high = bce["spread"]
        text.append(
            f"On the {bce['n']} test images, the sigmoid of {bce['run_id']} at "
            f"{bce['epochs']} epochs puts {percent(mel['right_side'])} of the Mel images at or "
            f"below the threshold {bce['threshold']:g} and {percent(nev['right_side'])} of the "
            f"Nev images above it (median output Mel {mel['median']:.3f}, Nev "
            f"{nev['median']:.3f}; 90% of all outputs between {low:.3f} and {high:.3f}): the "
            "histograms show how far from the threshold each class lies, and so how a moved "
            "threshold would trade melanomas found for nevi cleared.")
        calibration = bce.get("calibration")
        if calibration:
            error, skill = calibration["expected_calibration_error"], bce["brier_skill"]
            intervals = bce.get("intervals") or {}
            if high - low < 0.1:
                quality = ("close to the share of Nev for every image, so their calibration "
                           "says little: the model hardly tells the images apart")
            else:
                quality = calibration_quality(error, intervals.get("expected_calibration_error"))
            skill_low, skill_high = intervals.get("brier_skill", [math.nan, math.nan])
            # compared by the skill score's interval: above 0, below 0, or either way
            compared = ("better than" if skill_low > 0 else "worse than" if skill_high < 0
                        else "not clearly better or worse than" if math.isfinite(skill_low)
                        else "compared with")
            skill_words = interval_words(skill_low, skill_high, "+.2f")
            skill_span = f", {skill_words}" if skill_words else ""
            text.append(
                f"Its Brier score is {bce['brier']:.3f}{span(intervals.get('brier'))}, "
                f"{compared} the {bce['brier_base_rate']:.3f} of always answering the share "
                f"of Nev (skill score {skill:+.2f}{skill_span}); "
                f"on the reliability curve the observed share of Nev is {error:.3f}"
                f"{span(intervals.get('expected_calibration_error'))} from the predicted "
                f"probability on average (expected calibration error, "
                f"{len(calibration['counts'])} bins; largest gap "
                f"{calibration['largest_gap']:.2f}): the probabilities are {quality}. "
                "(Intervals: 95% percentile bootstrap over the test images.)")
    if hinge:
        mel, nev = hinge["classes"]["Mel"], hinge["classes"]["Nev"]
        inside = (mel["inside_margin"] * mel["n"] + nev["inside_margin"] * nev["n"]) / max(
            1, mel["n"] + nev["n"])
        text.append(
            f"The hinge run {hinge['run_id']} has a linear output, a raw margin whose sign is "
            f"the class: {percent(mel['right_side'])} of the Mel images score at or below 0 and "
            f"{percent(nev['right_side'])} of the Nev images above it (medians "
            f"{mel['median']:.3g} and {nev['median']:.3g}){one_class_text(mel, nev)}; "
            f"{percent(inside)} lie inside the margin |score| < 1, where the hinge loss still "
            "pushes them. Its scores have no probability reading, so it has no calibration "
            "curve.")
    if not text:
        return ["The output statistics are missing; run the plot_concept rule."]
    return text
