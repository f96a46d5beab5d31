"""The node's drift alarm: the live model's decisions, window by window, against its reference.

A thin, thread-safe holder of one :class:`~cherry_classifier.core.drift.DriftWindow` (the
statistic, its window and its level are documented in ``core.drift``): frames are added from the
inference thread, the status is read from the diagnostics timer. The window starts empty on
every model change (start-up, swap, promotion) and whenever its size or level changes; a model
without a (valid) ``reference.json`` disables the alarm, and :meth:`DriftMonitor.set_model`
returns the one line that says so, for the caller to log once.

Status levels: ``disabled`` (no reference), ``filling`` (fewer than ``MIN_DECISIONS`` decisions
in the window: no score yet), ``ok``, ``alarm`` (score >= the warn level).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.core.drift import (
    DEFAULT_WINDOW,
    DRIFT_ALARM_LEVEL,
    MIN_DECISIONS,
    NO_REFERENCE,
    DriftWindow,
    ReferenceDistribution,
    reference_status,
)
from cherry_classifier.core.engine import FrameResult

DISABLED, FILLING, OK, ALARM = "disabled", "filling", "ok", "alarm"


@dataclass(frozen=True)
class DriftStatus:
    """What the diagnostics show: a state, one line for people and the figures."""

    state: str
    message: str
    values: dict[str, Any] = field(default_factory=dict)


class DriftMonitor:
    """One model's reference and a sliding window of its decisions (module doc)."""

    def __init__(self, level: float = DRIFT_ALARM_LEVEL, window: int = DEFAULT_WINDOW) -> None:
        self._lock = threading.Lock()
        self._level = float(level)
        self._size = int(window)
        self._check(self._level, self._size)
        self._model_id = ""
        self._reference: ReferenceDistribution | None = None
        self._reference_line = NO_REFERENCE
        self._window: DriftWindow | None = None

    @staticmethod
    def _check(level: float, window: int) -> None:
        if not np.isfinite(level) or level <= 0:
            raise ValueError(f"drift_warn_level must be a positive number, got {level}")
        if window < MIN_DECISIONS:
            raise ValueError(
                f"drift_window must hold at least {MIN_DECISIONS} decisions (no score below), "
                f"got {window}"
            )

    def set_model(self, model_id: str, folder: str | Path | None) -> str:
        """The live model changed: read its reference (if any), empty the window. Returns the
        line that says whether drift is watched and against what (for the log)."""
        reference, line = None, NO_REFERENCE
        if model_id:
            reference, line = reference_status(folder, model_id)
        with self._lock:
            self._model_id = model_id
            self._reference, self._reference_line = reference, line
            self._window = self._new_window()
        return line

    def configure(self, level: float | None = None, window: int | None = None) -> None:
        """New warn level and/or window size (ValueError if out of range); empties the window."""
        level = self._level if level is None else float(level)
        window = self._size if window is None else int(window)
        self._check(level, window)
        with self._lock:
            self._level, self._size = level, window
            self._window = self._new_window()

    def _new_window(self) -> DriftWindow | None:
        if self._reference is None:
            return None
        return DriftWindow(self._reference, size=self._size, level=self._level)

    @property
    def enabled(self) -> bool:
        with self._lock:
            return self._window is not None

    def add(self, result: FrameResult) -> None:
        """A decided live frame (fail-safe crops and other models' frames are left out)."""
        with self._lock:
            if self._window is None or result.model_id != self._model_id:
                return
            keep = ~np.asarray(result.fail_safe, bool)
            if keep.any():
                self._window.add(result.decisions.probabilities[keep], result.class_names)

    def status(self) -> DriftStatus:
        with self._lock:
            values: dict[str, Any] = {
                "model_id": self._model_id or "none",
                "warn_level": self._level,
                "window": self._size,
                "min_decisions": MIN_DECISIONS,
            }
            if self._window is None:
                return DriftStatus(DISABLED, self._reference_line, values)
            reference = self._reference
            values["decisions"] = len(self._window)
            values["reference_crops"] = reference.crops
            values.update({f"reference_share_{k}": v for k, v in reference.label_shares.items()})
            values.update({f"window_share_{k}": v for k, v in self._window.shares().items()})
            score = self._window.score()
            if score is None:
                return DriftStatus(
                    FILLING,
                    f"no score yet: {len(self._window)} of {MIN_DECISIONS} decisions",
                    values,
                )
            values.update(score=score.score, label_psi=score.label_psi, p_pit_psi=score.p_pit_psi)
            return DriftStatus(ALARM if score.alarm else OK, score.describe(), values)
