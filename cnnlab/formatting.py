"""Numbers and parameters as the report writes them: percentages, points, losses, times,
parameter values and set-up names."""

from __future__ import annotations

import math

from cnnlab import statistics
from cnnlab.grid import format_number


def percent(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def points(value: float) -> str:
    """An accuracy difference in percentage points, signed."""
    return "n/a" if not math.isfinite(value) else f"{100 * value:+.1f} points"


def number(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def epochs_text(count: int) -> str:
    return f"{count} epoch{'' if count == 1 else 's'}"


def seconds_text(seconds: float) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def format_param(name: str, value) -> str:
    if name == "lr":
        return format_number(float(value))
    if name == "dense":
        return "×".join(str(width) for width in value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def architecture_name(params: dict) -> str:
    if params["model"] == "mlp":
        return f"mlp, dense {format_param('dense', params['dense'])}"
    return (f"{params['model']}, n_base {params['n_base']}, dense "
            f"{format_param('dense', params['dense'])}"
            + (f", dropout {params['dropout']:g}" if params.get("dropout") else ""))


def interval_text(interval: statistics.Interval) -> str:
    return f"95% CI {100 * interval.low:.1f}-{100 * interval.high:.1f}%"


def value_with_interval(accuracy: float, n: int | None) -> str:
    """'81.0% (95% CI 72.3-87.5%)', an accuracy on n validation images."""
    if n is None:
        return percent(accuracy)
    return f"{percent(accuracy)} ({interval_text(statistics.accuracy_interval(accuracy, n))})"
