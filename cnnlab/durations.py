"""How a length of time is written, the one form for the report, `cnnlab status`, a
training's log and the benchmark: ``12s``, ``4m 05s``, ``1h 02m``.

Short enough for the status table's column of the time left; the seconds are dropped
from an hour up, where they no longer matter to a reader.
"""

from __future__ import annotations

import math


def duration_text(seconds: float | None, unknown: str = "n/a") -> str:
    """``12s``, ``4m 05s``, ``1h 02m``, rounded to the second; ``unknown`` where nothing
    is known (None, NaN or infinite)."""
    if seconds is None or not math.isfinite(seconds):
        return unknown
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
