"""Where a frame's time goes, stage by stage, over a window of recent frames (ROS-free).

The node records, for each decided frame, the seconds each stage took (``STAGES``: transfer from
the camera's header stamp to the callback, conversion of the message to pixels, localizing and
cutting crops, queue wait, inference, publishing the decisions, and the whole in-node time) and
reports their percentiles in ``/diagnostics``; ``benchmarks/bench_node.py`` prints them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping

import numpy as np

STAGES = ("transfer", "conversion", "localizing", "queue_wait", "inference", "publish", "in_node")
DEFAULT_WINDOW = 200  # frames


class StageTimes:
    """Thread-safe per-stage samples (seconds) of the last ``window`` frames."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self._lock = threading.Lock()
        self._samples = {stage: deque(maxlen=window) for stage in STAGES}
        self.frames = 0

    def record(self, seconds: Mapping[str, float]) -> None:
        """One frame's stages (a stage it did not pass through is left out); unknown names
        raise KeyError."""
        with self._lock:
            for stage, value in seconds.items():
                self._samples[stage].append(float(value))
            self.frames += 1

    def percentiles_ms(self) -> dict[str, dict[str, float]]:
        """{stage: {"p50", "p99", "max", "n"}} in milliseconds, for stages with samples."""
        with self._lock:
            copies = {stage: np.asarray(values) for stage, values in self._samples.items()}
        figures = {}
        for stage, values in copies.items():
            if values.size:
                p50, p99 = np.percentile(values * 1000.0, [50, 99])
                figures[stage] = {
                    "p50": float(p50),
                    "p99": float(p99),
                    "max": float(values.max() * 1000.0),
                    "n": float(values.size),
                }
        return figures
