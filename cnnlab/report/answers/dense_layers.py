"""5E (``dense_layers``): what the last two dense layers do, from the model's parameter
counts, the runs it shows and how well a linear read-out separates the classes on raw
pixels, convolutional features and dense features (its concept figure's statistics)."""

from __future__ import annotations

from cnnlab.analysis.statistics import ALPHA
from cnnlab.plan import concept_models
from cnnlab.report.answers import Answer, Facts
from cnnlab.report.answers.phrases import gap_text, p_text, verdict
from cnnlab.report.formatting import architecture_name, percent, points
from cnnlab.report.setups import SetUp
from cnnlab.report.tables import summary_table

CAPTION = ("Left: each layer's share of the parameters. Right: the test images as raw pixels, "
           "flattened conv features and first dense features, projected on their first two "
           "principal components and coloured by class, with the cross-validated accuracy of "
           "a logistic regression on each.")


def answer(facts: Facts) -> Answer:
    entry = concept_models.inspected_entry(facts.plan, facts.task_id)
    summary = facts.results.summary(entry.training.directory)
    dense = [row for row in summary if row["type"] == "Dense"]
    total = sum(int(row["parameters"]) for row in summary)
    table = dict(summary_table(summary),
                 caption=f"Parameters per layer of {architecture_name(entry.spec.to_dict())}")
    if len(dense) < 2 or total == 0:
        missing = "The model summary lacks two dense layers; nothing to say from numbers."
        return Answer(glance=missing, answer=[missing], table=table)
    hidden, output = dense[-2], dense[-1]
    share = percent((int(hidden["parameters"]) + int(output["parameters"])) / total)
    text = (f"The hidden dense layer connects every convolutional feature to each of its "
            f"neurons and so turns local features from anywhere in the image into whole-image "
            f"evidence; the output neuron weighs that evidence into one probability of Nev. "
            f"Together they hold {share} of the parameters, which is where a model can "
            "memorise its training images.")
    measured = (facts.stats or {}).get("separability")
    found = separability(measured)
    if found:
        text += " " + found[0]
    glance = (f"The hidden layer turns conv features into whole-image evidence, the output "
              f"neuron weighs it into P(Nev); they hold {share} of the weights"
              + (f"; {found[1]}." if found else "."))
    details = answer_dense(hidden, output, total, facts.setups, facts.baselines["test"])
    details += separability_evidence(measured)
    return Answer(glance=glance, answer=[text], table=table, details=details)


def answer_dense(hidden: dict, output: dict, total: int, setups: list[SetUp],
                 baseline: float) -> list[str]:
    """The parameter counts behind the answer, and whether the runs shown overfit."""
    text = [(f"The hidden layer {hidden['layer']} has {int(hidden['parameters']):,} parameters "
            f"(output {hidden['output_shape']}), the output layer {output['layer']} "
            f"{int(output['parameters']):,} (one weight per hidden neuron plus a bias), of the "
            f"model's {total:,}.")]
    overfit = [setup for setup in setups if verdict(setup, baseline) == "overfitting"]
    if overfit:
        text.append("Runs shown that overfit: " + "; ".join(
            f"{_in_task(setup)}, final gap {gap_text(setup)}" for setup in overfit) + ".")
    elif setups:
        text.append("None of the runs shown overfits by its curve verdict; their final "
                    "train-validation gaps are " + ", ".join(
                        f"{gap_text(setup)} ({setup.task})" for setup in setups) + ".")
    return text


def _in_task(setup: SetUp) -> str:
    return setup.label if setup.label.startswith(setup.task) else f"{setup.label} in {setup.task}"


def _rows(stats: dict | None) -> list[dict]:
    return [row for row in (stats or {}).get("representations", [])
            if row["accuracy"] is not None]


def separability(stats: dict | None) -> tuple[str, str] | None:
    """What the dense features add to a linear read-out, by the exact McNemar test of the
    two read-outs' out-of-fold calls on the same images: (a sentence, a few words)."""
    rows = _rows(stats)
    if len(rows) < 2:
        return None
    dense, before = rows[-1], rows[-2]
    gain = dense["accuracy"] - before["accuracy"]
    measured = (f"A linear read-out of the {dense['name']} classifies "
                f"{percent(dense['accuracy'])} of the test images, of the {before['name']} "
                f"{percent(before['accuracy'])}")
    test = next((row for row in stats.get("tests", [])
                 if row["a"] == dense["name"] and row["b"] == before["name"]), None)
    if test is None:  # a concept figure's numbers from an older cnnlab: no paired test to read
        return (f"{measured} (untested).",
                "their separability against the conv features is untested")
    tested = f"exact McNemar {p_text(test['p'])}"
    if dense["accuracy"] <= stats["baseline"] + (dense["fold_sd"] or 0.0):
        return (f"{measured}: the dense features are no better than the majority baseline.",
                "their features separate the classes no better than the baseline")
    if test["p"] < ALPHA:
        better = gain > 0
        return ((f"{measured} ({tested}): the dense layer makes the classes "
                 f"{'easier' if better else 'harder'} to separate."),
                (f"they separate the classes {points(abs(gain)).lstrip('+')} "
                 f"{'better' if better else 'worse'} than the conv features ({tested})"))
    return ((f"{measured}, no different by the {tested}: the dense layer compresses without "
             "adding separability."),
            "they compress the features without measurably adding separability")


def separability_evidence(stats: dict | None) -> list[str]:
    """How the separability was measured, every representation with its folds' spread."""
    rows = _rows(stats)
    if len(rows) < 2:
        return [("The separability of the representations was not measured (the figure "
                 "statistics are missing, a class has fewer than two test images, or the "
                 "model's features are not finite numbers).")]

    def measured(row: dict) -> str:
        return (f"{row['name']} ({row['dimensions']:,} values) {percent(row['accuracy'])} ± "
                f"{100 * row['fold_sd']:.1f} (folds {percent(row['fold_min'])}-"
                f"{percent(row['fold_max'])})")

    explained = "; ".join(f"{row['name']} {percent(sum(row['explained']))}" for row in rows)
    return [(f"How linearly separable Mel and Nev are on the {stats['n']} test images: the "
             f"accuracy of a {stats['method']} (mean ± standard deviation over the folds) on "
             f"{'; '.join(measured(row) for row in rows)}; the majority baseline is "
             f"{percent(stats['baseline'])}. The scatter plots project the same "
             f"representations on their first two principal components, which hold "
             f"{explained} of the variance.")]
