"""What a task's comparisons found, in its answer's words: each factor's effect with its
paired test (raw and Holm-adjusted p where several are tested together), a yes or no where
the question asks whether differences are significant, and what a learning rate does to the
curves' shape."""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.analysis.diagnostics import THRESHOLDS
from cnnlab.analysis.noise import NoiseComparison, noise_comparison
from cnnlab.report.answers.phrases import factor_phrase, join, p_text, p_value
from cnnlab.report.formatting import epochs_text, number, percent, points, setup_label
from cnnlab.report.setups import Comparison, SetUp


def tested_comparisons(comparisons: list[Comparison], asked: bool | None = True
                       ) -> list[Comparison]:
    """The comparisons with a paired test; those the question asks about (`asked` True), the
    others (False) or all (None)."""
    return [c for c in comparisons
            if c.mcnemar is not None and (asked is None or c.asked == asked)]


def significant(comparison: Comparison) -> bool:
    return p_value(comparison) < THRESHOLDS.alpha


def p_clause(comparison: Comparison) -> str:
    """'p = 0.210' alone, or 'p = 0.210, Holm 0.630' where several are tested together."""
    raw = p_text(comparison.mcnemar.p)
    if comparison.holm_p is None:
        return raw
    return f"{raw}, Holm {p_text(comparison.holm_p)[4:]}"


def difference_text(comparison: Comparison, sign: int = 1) -> str:
    return points(sign * (comparison.a.mean("final_val_accuracy")
                          - comparison.b.mean("final_val_accuracy")))


def oriented(comparison: Comparison) -> tuple[SetUp, SetUp, int]:
    """The two set-ups with the larger value of a numeric factor first (more dropout, more
    epochs, a larger n_base) or the task's own first, and the sign that turns a - b into
    first - second."""
    a, b = comparison.a, comparison.b
    if comparison.reference:  # the task's own set-up first, the other task's second
        return a, b, 1
    factor = comparison.factors[0] if len(comparison.factors) == 1 else None
    values = ((a.epochs, b.epochs) if factor == "epochs" else
              (a.params.get(factor), b.params.get(factor)))
    if all(isinstance(value, (int, float)) for value in values) and values[0] < values[1]:
        return b, a, -1
    return a, b, 1


def factor_label(setup: SetUp, factors: list[str]) -> str:
    """A set-up named by the one factor a comparison varies ('dropout 0.4', 'no dropout',
    '150 epochs', 'SGD'); by its label where several differ."""
    if len(factors) != 1:
        return setup.label
    if factors == ["epochs"]:
        return epochs_text(setup.epochs)
    if factors == ["dropout"]:
        return "dropout" if setup.params.get("dropout") else "no dropout"
    return setup_label(setup.params, factors, setup.epochs)


def effects(tested: list[Comparison], summary: bool = True) -> list[str]:
    """Each factor's effect: the difference of validation accuracy and its paired test's p
    (raw, and Holm-adjusted where several are tested), the significant ones marked; a set-up
    from another task is named with its task and accuracy the first time. `summary`: end with
    one word for all where they agree."""
    said: set[tuple] = set()
    hits = [c for c in tested if significant(c)]
    # where all tests agree, one word says so after them; else each significant one is marked
    mixed = 0 < len(hits) < len(tested) or len(tested) == 1
    # several tests with one p (often 1.000 on few disagreements): said once, after them
    same_p = len(tested) > 1 and not mixed and len({p_clause(c) for c in tested}) == 1
    by_factor: dict[str, list[str]] = {}
    for comparison in tested:
        first, second, sign = oriented(comparison)
        names = [factor_label(setup, comparison.factors) for setup in (first, second)]
        theirs = comparison.b  # where the task reaches into another, that task's set-up
        if comparison.reference:
            key = (theirs.task, theirs.setup_id, theirs.epochs)
            where = (f" ({comparison.reference})" if key in said else
                     f" ({comparison.reference}, {percent(theirs.mean('final_val_accuracy'))})")
            said.add(key)
            names[0 if first is theirs else 1] += where
        mark = (", significant" if significant(comparison) else ", not significant") if mixed else ""
        shown_p = "" if same_p else f", {p_clause(comparison)}"
        by_factor.setdefault(factor_phrase(comparison.factors), []).append(
            f"{names[0]} against {names[1]}: {difference_text(comparison, sign)}{shown_p}{mark}")
    sentences = [f"Effect of {factor}: {'; '.join(clauses)}."
                 for factor, clauses in by_factor.items()]
    briefed = 0
    for index, factor in enumerate(by_factor):
        family = [c for c in tested if factor_phrase(c.factors) == factor]
        if len(family) > 2 and not any(significant(c) for c in family):
            sentences[index] = pairs_in_brief(factor, family)
            briefed += 1
    if briefed == len(by_factor) or not summary:
        return sentences
    if tested and not mixed:
        sentences.append(("All are significant" if hits else "None is significant")
                         + (f" (all {p_clause(tested[0])})." if same_p else "."))
    return sentences


def pairs_in_brief(factor: str, family: list[Comparison]) -> str:
    """Many pairs of one factor, none significant, in one sentence: the range of their raw
    and Holm-adjusted p and the largest difference."""
    def span(values: list[float]) -> str:
        low, high = p_text(min(values))[4:], p_text(max(values))[4:]
        return low if low == high else f"{low} to {high}"

    raw = span([c.mcnemar.p for c in family])
    adjusted = [c.holm_p for c in family if c.holm_p is not None]
    lowest = p_text(min(c.mcnemar.p for c in family))[4:]
    ps = (f"p {raw}" if not adjusted else
          f"p {raw} raw and Holm-adjusted" if span(adjusted) == raw else
          # Holm's values are never below the raw ones: the raw top is said once, as theirs
          f"raw p from {lowest}, {span(adjusted)} after Holm's correction"
          if raw.endswith(" to " + span(adjusted)) else
          f"p {raw}, Holm-adjusted {span(adjusted)}")
    widest = max(family, key=lambda c: abs(c.a.mean("final_val_accuracy")
                                           - c.b.mean("final_val_accuracy")))
    first, second, sign = oriented(widest)
    if float(difference_text(widest, sign).split()[0]) < 0:  # the higher one first
        first, second, sign = second, first, -sign
    gap = (f"; the widest gap, {factor_label(first, widest.factors)} against "
           f"{factor_label(second, widest.factors)}, is {difference_text(widest, sign)}"
           if difference_text(widest, sign) != "0.0 points" else "; their accuracies are equal")
    return f"Effect of {factor} ({levels(family)}): no pair differs significantly ({ps}){gap}."


def levels(family: list[Comparison]) -> str:
    """The set-ups a family of comparisons spans, by the factor they vary, another task's
    named: 'n_base 32 (6A), n_base 16 and n_base 8'."""
    named: dict[str, object] = {}
    for comparison in family:
        (factor,) = comparison.factors
        for setup in (comparison.a, comparison.b):
            where = f" ({setup.task})" if comparison.reference and setup is comparison.b else ""
            value = setup.epochs if factor == "epochs" else setup.params.get(factor)
            named.setdefault(factor_label(setup, comparison.factors) + where, value)
    if all(isinstance(value, (int, float)) for value in named.values()):
        named = dict(sorted(named.items(), key=lambda item: -item[1]))  # the largest first
    return join(list(named))


def yes_or_no(tested: list[Comparison]) -> str:
    """The direct answer to 'are the differences significant?', naming the test and its
    correction."""
    hits = [c for c in tested if significant(c)]
    correction = (f", Holm-adjusted for {len(tested)} pairs" if len(tested) > 1 else "")
    test = f"exact McNemar test on the same validation images{correction}"
    if not hits:
        return f"Significant? No: no pair differs beyond the noise ({test})."
    if len(hits) == len(tested):
        return f"Significant? Yes: every pair differs beyond the noise ({test})."
    return (f"Significant? Only {len(hits)} of the {len(tested)} pairs ({test}): "
            + join([f"{factor_label(oriented(c)[0], c.factors)} against "
                    f"{factor_label(oriented(c)[1], c.factors)}" for c in hits]) + ".")


def significance_in_brief(tested: list[Comparison]) -> str:
    """The yes or no of :func:`yes_or_no` as a glance clause."""
    hits = [c for c in tested if significant(c)]
    held = " (Holm)" if len(tested) > 1 else ""
    if not hits:
        return f"no pair differs significantly{held}"
    if len(hits) == len(tested):
        return f"every pair differs significantly{held}"
    return f"{len(hits)} of {len(tested)} pairs differ significantly{held}"


def tests_in_brief(tested: list[Comparison]) -> str | None:
    """The paired tests in a clause: the one test, the significant ones, or none."""
    if not tested:
        return None
    if len(tested) == 1:
        (comparison,) = tested
        first, second, sign = oriented(comparison)
        names = [factor_label(setup, comparison.factors) for setup in (first, second)]
        if comparison.reference:
            names[0 if first is comparison.b else 1] += f" ({comparison.reference})"
        return (f"{names[0]} {difference_text(comparison, sign)} against {names[1]}, "
                f"{'significant' if significant(comparison) else 'within the noise'} "
                f"({p_text(p_value(comparison))})")
    hits = [c for c in tested if significant(c)]
    if not hits:
        return f"no difference beyond the noise (smallest {p_text(min(map(p_value, tested)))})"
    return "significant: " + join(
        [f"{factor_label(oriented(c)[0], c.factors)} against "
         f"{factor_label(oriented(c)[1], c.factors)} ({difference_text(c, oriented(c)[2])}, "
         f"{p_text(p_value(c))})" for c in hits])


@dataclass(frozen=True)
class Shape:
    """What a lower learning rate did to the curves at matching epochs (one comparison)."""

    comparison: Comparison
    low: SetUp  # the lower learning rate's set-up
    high: SetUp
    losses: tuple[float, float]  # each one's training loss at the epochs both reach
    spread: NoiseComparison | None  # each one's validation-loss noise, and their test

    @property
    def smoother(self) -> str:
        if self.spread.p >= THRESHOLDS.alpha:
            return "no smoother"
        return "smoother" if self.spread.sd_a < self.spread.sd_b else "rougher"


def learning_rate_shapes(tested: list[Comparison]) -> list[Shape]:
    """Each learning-rate comparison's curves, by the first seed's validation loss."""
    shapes = []
    for comparison in tested:
        if comparison.factors != ["lr"]:
            continue
        low, high = sorted((comparison.a, comparison.b), key=lambda setup: setup.params["lr"])
        shapes.append(Shape(comparison, low, high,
                            (low.mean("final_loss"), high.mean("final_loss")),
                            noise_comparison(*(setup.runs[0].history["val_loss"]
                                               .to_numpy(dtype=float) for setup in (low, high)))))
    return shapes


def learning_rate_shape(tested: list[Comparison]) -> list[str]:
    """What a lower learning rate does to the curves, for each learning-rate comparison at
    matching epochs: how far the training loss got (speed) and how much the validation loss
    moves from epoch to epoch (smoothness, by the Brown-Forsythe test)."""
    sentences = []
    for shape in learning_rate_shapes(tested):
        losses, spread = shape.losses, shape.spread
        speed = "more slowly" if losses[0] > losses[1] else "as fast or faster"
        head = (f"The lower rate learns {speed}: after {epochs_text(shape.low.epochs)} its "
                f"training loss is {number(losses[0])} against {number(losses[1])}")
        if spread is not None:
            moves = (f"both move ±{number(spread.sd_a)} per epoch"
                     if number(spread.sd_a) == number(spread.sd_b) else
                     f"it moves ±{number(spread.sd_a)} per epoch against ±{number(spread.sd_b)}")
            head += (f"; its validation loss is {shape.smoother}: {moves} (Brown-Forsythe "
                     f"{p_text(spread.p)})")
        sentences.append(head + ".")
    return sentences
