"""The machine this process runs on, as a record and the report name it: its processor.

Beside the wings: the training records the device it trained on (cnnlab.train.runtime)
and the report names the machine that rendered it (cnnlab.report.page), and neither wing
may import the other.
"""

from __future__ import annotations

import platform


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what Python knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
