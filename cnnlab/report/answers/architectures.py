"""5F (``architectures``): LeNet against a multilayer perceptron, from where their parameters
lie and, where the task trains both, how they score on the same images."""

from __future__ import annotations

from cnnlab.plan import concept_models
from cnnlab.report.answers import Answer, Facts, trained
from cnnlab.report.answers.phrases import join
from cnnlab.report.formatting import architecture_label, architecture_name, percent
from cnnlab.report.tables import summary_table

CAPTION = ("The parameters per layer of each architecture, side by side (log scale; layers "
           "without parameters left out).")
DIFFERENCE = ("The MLP gives every pixel its own weight, so a lesion shifted by one pixel is "
              "a new input to it; LeNet slides small shared filters over the image, which "
              "builds in locality and tolerance to shifts with few weights.")


def labelled(facts: Facts) -> dict[str, list[dict]]:
    """Each architecture's layer table by the name a student gives it ('LeNet', 'MLP')."""
    return {architecture_label(entry.spec.to_dict()):
            facts.results.summary(entry.training.directory)
            for entry in concept_models.architecture_entries(facts.plan, facts.task_id)}


def count(rows: list[dict], kind: str | None = None) -> int:
    return sum(int(row["parameters"]) for row in rows if kind is None or row["type"] == kind)


def answer(facts: Facts) -> Answer:
    summaries = {architecture_name(entry.spec.to_dict()):
                 facts.results.summary(entry.training.directory)
                 for entry in concept_models.architecture_entries(facts.plan, facts.task_id)}
    # an architecture whose training has not ended has no summary yet (a partial report)
    sizes = [f"{label} has {count(rows):,} parameters, "
             + (f"{count(rows, 'Conv2D'):,} of them in convolutions"
                if count(rows, "Conv2D") else "none in convolutions")
             for label, rows in labelled(facts).items() if rows]
    text = [DIFFERENCE + (f" Here {join(sizes)}." if sizes else "")]
    glance = "Shared local filters (LeNet) against a weight per pixel (MLP)"
    result = trained.answer(facts) if facts.setups else None
    if result is not None:
        text.append(result.answer[0])
        glance += "; trained here: " + result.glance[0].lower() + result.glance[1:]
    else:
        glance += "."
    tables = [dict(summary_table(rows), caption=f"Parameters of {name}")
              for name, rows in summaries.items()]
    details = [largest_layers(summaries)]
    if result is None:
        return Answer(glance=glance, answer=text, details=details, tables=tables)
    return Answer(glance=glance, answer=text, table=result.table,
                  details=details + result.details, tables=tables + result.tables,
                  next_steps=result.next_steps)


def largest_layers(summaries: dict[str, list[dict]]) -> str:
    """Where each architecture's parameters lie: its largest layer."""
    largest = []
    for name, rows in summaries.items():
        top = max(rows, key=lambda row: int(row["parameters"]), default=None)
        if top is not None and count(rows):
            largest.append(f"{name}'s {top['layer']} ({int(top['parameters']):,}, "
                           f"{percent(int(top['parameters']) / count(rows))} of its parameters)")
    dense = "; ".join(f"{name}: {count(rows, 'Dense'):,} in dense layers"
                      for name, rows in summaries.items())
    return (f"The largest layer of each: {' and '.join(largest)}. {dense}." if largest
            else f"{dense}.")
