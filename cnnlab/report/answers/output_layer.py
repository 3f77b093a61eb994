"""5G (``output_layer``): how to choose the last layer's neurons, activation and loss, tied
to this model's output layer and to its outputs on the test images (the concept figure's
statistics: the sigmoid's values per class, its calibration, the hinge run's margins)."""

from __future__ import annotations

import math

from cnnlab.plan import concept_models
from cnnlab.report.answers import Answer, Facts
from cnnlab.report.formatting import interval_words, percent
from cnnlab.report.tables import cell

CAPTION = ("The output layer's values on the test images per class with the decision threshold "
           "(sigmoid probability of the BCE run; raw margin of the hinge run), and the BCE "
           "run's reliability curve.")


def answer(facts: Facts) -> Answer:
    entry = concept_models.inspected_entry(facts.plan, facts.task_id)
    dense = [row for row in facts.results.summary(entry.training.directory)
             if row["type"] == "Dense"]
    losses = sorted({entry.spec.loss for task in facts.plan.tasks.values()
                     for entry in task.entries})
    text = answer_output_layer(dense[-1] if dense else None, losses)
    glance = ("One neuron per predicted quantity: a sigmoid with binary cross-entropy for "
              "two classes, softmax for K, linear for regression or hinge")
    bce = (facts.stats or {}).get("bce")
    if bce:
        mel, nev = bce["classes"]["Mel"], bce["classes"]["Nev"]
        quality = probabilities(bce)
        short = quality.split(":")[0].split(",")[0]
        text += (f" On the test images it puts {percent(mel['right_side'])} of the melanomas at "
                 f"or below {bce['threshold']:g} and {percent(nev['right_side'])} of the nevi "
                 f"above; its probabilities are {short}.")
        glance += f"; here its probabilities are {short}"
    return Answer(glance=glance + ".", answer=[text], table=output_layer_table(),
                  details=answer_output_distribution(facts.stats))


def probabilities(bce: dict) -> str:
    """How far the sigmoid's outputs can be read as probabilities."""
    low, high = bce["spread"]
    calibration = bce.get("calibration")
    if not calibration:
        return "not measured"
    if high - low < 0.1:
        return ("close to the share of Nev for every image, so their calibration says little: "
                "the model hardly tells the images apart")
    intervals = bce.get("intervals") or {}
    return (without_skill(bce)
            or calibration_quality(calibration["expected_calibration_error"],
                                   intervals.get("expected_calibration_error")))


def without_skill(bce: dict) -> str | None:
    """Said instead of any 'calibrated' where the Brier skill score's interval does not lie
    above 0: the probabilities are not shown to beat always answering the share of Nev."""
    low, high = (bce.get("intervals") or {}).get("brier_skill", [math.nan, math.nan])
    if math.isfinite(low) and low > 0:
        return None
    words = interval_words(low, high, "+.2f")
    return ("not shown to be calibrated: no better than always answering the share of Nev"
            + (f" (Brier skill {words})" if words else ""))


def output_layer_table() -> dict:
    return {"caption": "Output layer by kind of problem",
            "columns": [{"text": name, "css": ""} for name in
                        ("problem", "neurons", "activation", "loss and decision")],
            "rows": [[cell(value) for value in row] for row in OUTPUT_LAYERS]}


OUTPUT_LAYERS = (
    ("binary (this lab)", "1", "sigmoid", "binary cross-entropy; class = output > 0.5"),
    ("binary, hinge loss", "1", "linear", "hinge with labels -1/1; class = sign of the score"),
    ("multi-class, K classes", "K", "softmax", "categorical cross-entropy"),
    ("multi-label, K labels", "K", "sigmoid", "binary cross-entropy per label"),
    ("regression, d targets", "d", "linear", "mean squared (or absolute) error"),
)


def answer_output_layer(output_row: dict | None, losses: list[str]) -> str:
    """5G: how to choose the last layer, tied to what this model uses."""
    text = ("One neuron per quantity to predict, an activation that maps its score to that "
            "quantity's range, and a loss to match (table).")
    if output_row is not None:
        text += (f" Here it is one neuron (output {output_row['output_shape']}) for the one "
                 "question, Mel or Nev")
        if "bce" in losses:
            text += ": a sigmoid giving the probability of Nev, for binary cross-entropy"
        if "hinge" in losses:
            text += "; the hinge runs use a linear score instead"
        text += "; two softmax neurons would add only a redundant output."
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


def skill_comparison(bce: dict, skill: float) -> str:
    """The Brier score against always answering the share of Nev, by the skill score's
    interval: above 0, below 0, or either way."""
    low, high = (bce.get("intervals") or {}).get("brier_skill", [math.nan, math.nan])
    compared = ("better than" if low > 0 else "worse than" if high < 0
                else "not clearly better or worse than" if math.isfinite(low)
                else "compared with")
    words = interval_words(low, high, "+.2f")
    return (f"{compared} the {bce['brier_base_rate']:.3f} of always answering the share of Nev "
            f"(skill score {skill:+.2f}{', ' + words if words else ''})")


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
                # the skill score and its interval are said just before
                quality = ("not shown to be calibrated" if without_skill(bce) else
                           calibration_quality(error, intervals.get("expected_calibration_error")))
            text.append(
                f"Its Brier score is {bce['brier']:.3f}{span(intervals.get('brier'))}, "
                f"{skill_comparison(bce, skill)}; "
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
