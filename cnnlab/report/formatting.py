"""Numbers and parameters as the report writes them: percentages, points, losses,
parameter values and set-up names (times: cnnlab.durations)."""

from __future__ import annotations

import math
import re

from cnnlab.analysis import statistics
from cnnlab.plan.runs import format_number


def percent(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def points(value: float) -> str:
    """An accuracy difference in percentage points, signed."""
    if not math.isfinite(value):
        return "n/a"
    return "0.0 points" if round(100 * value, 1) == 0 else f"{100 * value:+.1f} points"


def number(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def epochs_text(count: int) -> str:
    return f"{count} epoch{'' if count == 1 else 's'}"


#: epoch counts a title names: '20 epochs', '150 and 350 epochs', '50, 100 or 150 epochs'
EPOCH_COUNTS = re.compile(r"(?<![\w.-])(\d+(?:(?:, | and | or | to )\d+)*) epochs?\b")


def trained_title(title: str, epoch_divisor: int) -> str:
    """A task's title with, beside each epoch count it names, the epochs this run trained
    ('..., 20 epochs (4 in this run)') where `epoch_divisor` divides them (rounded up, as the
    plan does)."""
    if epoch_divisor == 1:
        return title

    def trained(match: re.Match) -> str:
        counts = match.group(1)
        divided = re.sub(r"\d+", lambda n: str(-(-int(n.group()) // epoch_divisor)), counts)
        return f"{match.group(0)} ({divided} in this run)"

    return EPOCH_COUNTS.sub(trained, title)


def format_param(name: str, value) -> str:
    if name == "lr":
        return format_number(float(value))
    if name == "dense":
        return "×".join(str(width) for width in value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


MODEL_NAMES = {"lenet": "LeNet", "alexnet": "AlexNet", "mlp": "MLP"}
OPTIMIZER_NAMES = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}
LOSS_NAMES = {"bce": "BCE", "hinge": "hinge loss"}
ARCHITECTURE = ("model", "n_base", "dense")  # what together makes one architecture


def architecture_label(params: dict) -> str:
    """'LeNet', 'MLP', 'AlexNet n_base 8': the model as a student names it."""
    name = MODEL_NAMES.get(params["model"], params["model"])
    return f"{name} n_base {params['n_base']}" if params["model"] == "alexnet" else name


def param_phrase(name: str, value) -> str:
    """One parameter in words ('batch size 2', 'Adam'); '' for no dropout."""
    if name == "batch_size":
        return f"batch size {value}"
    if name == "dropout":
        return f"dropout {float(value):g}" if float(value) else ""
    if name == "optimizer":
        return OPTIMIZER_NAMES.get(value, value)
    if name == "loss":
        return LOSS_NAMES.get(value, value)
    if name == "threads":
        return f"{value} thread{'' if int(value) == 1 else 's'}"
    if name == "precision":
        return str(value)
    if name == "onednn":
        return f"oneDNN {value}"
    return f"{name} {format_param(name, value)}"


def setup_label(params: dict, differs: list[str], epochs: int,
                shortest: int | None = None) -> str:
    """What tells a set-up apart from the others of its task, in a student's words: 'LeNet'
    against 'MLP', 'n_base 8, dropout 0.4', 'batch size 2', '200 epochs'. Where other
    parameters differ too, the task's `shortest` epoch count goes unsaid ('n_base 8' at 50
    epochs beside 'n_base 8, 150 epochs')."""
    params = {"onednn": "auto", **params}  # `auto` is left out of a run's parameters
    parts = []
    if "model" in differs:
        parts.append(architecture_label(params))
    elif "n_base" in differs:
        parts.append(f"n_base {params['n_base']}")
    parts += [param_phrase(name, params[name]) for name in differs
              if name not in (*ARCHITECTURE, "epochs")]
    if "dense" in differs and "model" not in differs:
        parts.append(f"dense {format_param('dense', params['dense'])}")
    if "epochs" in differs and not (parts and epochs == shortest):
        parts.append(f"{epochs} epochs")
    return ", ".join(part for part in parts if part) or architecture_label(params)


def architecture_name(params: dict) -> str:
    if params["model"] == "mlp":
        return f"mlp, dense {format_param('dense', params['dense'])}"
    return (f"{params['model']}, n_base {params['n_base']}, dense "
            f"{format_param('dense', params['dense'])}"
            + (f", dropout {params['dropout']:g}" if params.get("dropout") else ""))


def interval_text(interval: statistics.Interval) -> str:
    return f"95% CI {100 * interval.low:.1f}-{100 * interval.high:.1f}%"


def interval_words(low: float, high: float, style: str = ".3f", joiner: str = " to ") -> str:
    """'95% CI 0.134 to 0.178'; nothing where an end is undefined. ``joiner`` '-' for
    numbers that are never negative."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f"95% CI {low:{style}}{joiner}{high:{style}}"


def auc_text(auc: float, interval: statistics.Interval) -> str:
    """'0.783 (95% CI 0.691-0.854)'; the AUC alone where its interval is undefined."""
    words = interval_words(interval.low, interval.high, joiner="-")
    return f"{number(auc)} ({words})" if words else number(auc)


def with_interval(value: float, interval: statistics.Interval) -> str:
    """'21.4% (95% CI 12.7-33.8%)'; the share alone where its interval is undefined."""
    if not (math.isfinite(value) and math.isfinite(interval.low)):
        return percent(value)
    return f"{percent(value)} ({interval_text(interval)})"


def value_with_interval(accuracy: float, n: int | None) -> str:
    """'81.0% (95% CI 72.3-87.5%)', an accuracy on n validation images."""
    if n is None:
        return percent(accuracy)
    return with_interval(accuracy, statistics.accuracy_interval(accuracy, n))
