"""A shadow model: a second model scored live against the running one, without deciding anything.

The **live** model decides; its results are published first. The **shadow** then runs on
exactly the crops the live model just ran (one frame at a time, its crops in chunks of at most
``chunk_size``), decides them at the thresholds the live frame was decided at, and the two
labels of every crop are compared (:class:`AgreementTracker`).

It only ever uses spare capacity (:class:`ShadowRunner`): the engine's worker calls
:meth:`ShadowRunner.run_chunk` only when no live frame waits, none is being converted and no
swap is due (``InferenceEngine(idle_work=...)``), and checks again between two chunks, so a live
frame that arrives meanwhile waits at most for one chunk. Under load the shadow is shed first:
at most ``max_frames`` live frames wait for the shadow; beyond that the oldest is skipped, and
skipped crops are counted (also: frames the live model could not decide, fail-safe crops,
frames pending when the shadow is changed or promoted, and batches the shadow failed on).

Figures (:class:`AgreementFigures`), over a sliding window of the last ``window`` compared crops
and since the shadow was set:

- ``agreement``: share of compared crops given the same label by both models;
- ``agreement_<label>``: the same among crops the *live* model gave ``<label>``;
- ``confusion``: 3x3 counts, rows the live label, columns the shadow's (clean, maybe, pit);
- ``pit_disagreements``: crops one model calls PIT and the other CLEAN (either way round; the
  disagreements that would sort a cherry the other way without a person looking at it);
- ``skipped_crops``: crops the shadow never ran on, and why.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cherry_classifier.core.decision import CLEAN, LABEL_NAMES, PIT, decide
from cherry_classifier.core.engine import FrameResult, ProbabilityModel, checked_probabilities

LOGGER = logging.getLogger(__name__)

DEFAULT_AGREEMENT_WINDOW = 500  # compared crops, like the drift window
DEFAULT_CHUNK_SIZE = 8  # crops per shadow inference: a live frame waits at most one chunk
DEFAULT_MAX_FRAMES = 8  # live frames waiting for the shadow; older ones are skipped

SKIP_BACKLOG = "backlog"  # shed: too many frames waited for spare capacity
SKIP_FAIL_SAFE = "live_fail_safe"  # the live model could not decide them: nothing to compare
SKIP_CHANGED = "shadow_changed"  # pending when the shadow was set, removed or promoted
SKIP_FAILED = "shadow_failed"  # the shadow model raised or returned unusable probabilities

__all__ = [
    "DEFAULT_AGREEMENT_WINDOW",
    "AgreementFigures",
    "AgreementTracker",
    "ShadowRunner",
    "empty_confusion",
]


@dataclass(frozen=True)
class AgreementFigures:
    """Live-versus-shadow counts over some crops (see the module doc)."""

    confusion: np.ndarray  # (3, 3) int64: rows live label, columns shadow label

    @property
    def crops(self) -> int:
        return int(self.confusion.sum())

    @property
    def agreed(self) -> int:
        return int(np.trace(self.confusion))

    @property
    def agreement(self) -> float | None:
        """Share of crops with the same label (None without crops)."""
        return self.agreed / self.crops if self.crops else None

    def agreement_per_live_label(self) -> dict[str, float | None]:
        """Per live label: share of its crops the shadow labelled the same (None: no crops)."""
        rows = self.confusion.sum(axis=1)
        return {
            name: (float(self.confusion[code, code] / rows[code]) if rows[code] else None)
            for code, name in enumerate(LABEL_NAMES)
        }

    @property
    def pit_disagreements(self) -> int:
        return int(self.confusion[PIT, CLEAN] + self.confusion[CLEAN, PIT])

    def to_dict(self) -> dict[str, Any]:
        return {
            "crops": self.crops,
            "agreed": self.agreed,
            "agreement": self.agreement,
            "agreement_per_live_label": self.agreement_per_live_label(),
            "pit_disagreements": self.pit_disagreements,
            "confusion": self.confusion.tolist(),
        }


def empty_confusion() -> np.ndarray:
    """A zero 3x3 count, rows the live label, columns the shadow's."""
    return np.zeros((len(LABEL_NAMES), len(LABEL_NAMES)), np.int64)


class AgreementTracker:
    """Live-versus-shadow labels: a sliding window of ``window`` crops and totals since
    start (or the last :meth:`reset`), plus skipped crops by reason. Thread-safe."""

    def __init__(self, window: int = DEFAULT_AGREEMENT_WINDOW) -> None:
        if window < 1:
            raise ValueError(f"agreement window must be >= 1 crop, got {window}")
        self.window = window
        self._lock = threading.Lock()
        self._pairs: deque[tuple[int, int]] = deque()
        self._window_confusion = empty_confusion()
        self._total_confusion = empty_confusion()
        self._skipped: dict[str, int] = {}
        self._frames = 0

    def add(self, live_labels: np.ndarray, shadow_labels: np.ndarray) -> None:
        """One frame's labels, crop by crop (equal lengths)."""
        live = np.asarray(live_labels, np.int64).ravel()
        shadow = np.asarray(shadow_labels, np.int64).ravel()
        if live.shape != shadow.shape:
            raise ValueError(f"{live.size} live labels but {shadow.size} shadow labels")
        with self._lock:
            self._frames += 1
            for pair in zip(live.tolist(), shadow.tolist(), strict=True):
                self._pairs.append(pair)
                self._window_confusion[pair] += 1
                self._total_confusion[pair] += 1
            while len(self._pairs) > self.window:
                self._window_confusion[self._pairs.popleft()] -= 1

    def skip(self, crops: int, reason: str) -> None:
        if crops <= 0:
            return
        with self._lock:
            self._skipped[reason] = self._skipped.get(reason, 0) + int(crops)

    def reset(self) -> None:
        with self._lock:
            self._pairs.clear()
            self._window_confusion[:] = 0
            self._total_confusion[:] = 0
            self._skipped.clear()
            self._frames = 0

    def window_figures(self) -> AgreementFigures:
        with self._lock:
            return AgreementFigures(self._window_confusion.copy())

    def total_figures(self) -> AgreementFigures:
        with self._lock:
            return AgreementFigures(self._total_confusion.copy())

    def skipped(self) -> dict[str, int]:
        with self._lock:
            return dict(self._skipped)

    @property
    def frames(self) -> int:
        """Frames compared since start."""
        with self._lock:
            return self._frames


@dataclass
class _Pending:
    """A live frame waiting for (or part-way through) the shadow."""

    live: FrameResult
    generation: int
    probabilities: list[np.ndarray] = field(default_factory=list)
    next_crop: int = 0

    @property
    def crops(self) -> int:
        return len(self.live.job.crops)


class ShadowRunner:
    """Runs a shadow model on live frames with spare capacity (module doc).

    ``submit`` (after the live result is published) and ``set_model`` may come from any
    thread; ``has_work`` and ``run_chunk`` from the engine's worker only, between live batches.
    ``on_result`` gets the shadow's :class:`FrameResult` of a frame (the live job, the shadow's
    decisions and model id) and the live result it was compared with.
    """

    def __init__(
        self,
        on_result: Callable[[FrameResult, FrameResult], None] | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_frames: int = DEFAULT_MAX_FRAMES,
        window: int = DEFAULT_AGREEMENT_WINDOW,
        wake: Callable[[], None] | None = None,
    ) -> None:
        if chunk_size < 1 or max_frames < 1:
            raise ValueError(f"chunk_size and max_frames must be >= 1: {chunk_size}, {max_frames}")
        self._on_result = on_result or (lambda shadow, live: None)
        self.chunk_size = chunk_size
        self.max_frames = max_frames
        self.tracker = AgreementTracker(window)
        self._wake = wake or (lambda: None)
        self._lock = threading.Lock()
        self._model: ProbabilityModel | None = None
        self._generation = 0
        self._pending: deque[_Pending] = deque()
        self.failures = 0
        self.last_failure = ""

    @property
    def model(self) -> ProbabilityModel | None:
        return self._model

    def set_wake(self, wake: Callable[[], None]) -> None:
        """What to call when work arrives from outside the worker (the engine's notify)."""
        self._wake = wake

    def set_model(self, model: ProbabilityModel | None) -> ProbabilityModel | None:
        """Make ``model`` the shadow (None: no shadow); frames pending for the previous one are
        skipped and counted, the figures start again. Returns the previous shadow."""
        with self._lock:
            previous, self._model = self._model, model
            self._generation += 1
            dropped = sum(p.crops - p.next_crop for p in self._pending)
            self._pending.clear()
            self.failures, self.last_failure = 0, ""
            self.tracker.reset()  # under the lock: no frame of the old shadow is added after
            if model is not None:
                self.tracker.skip(dropped, SKIP_CHANGED)
        return previous

    def submit(self, live: FrameResult) -> None:
        """Queue a decided live frame for the shadow (nothing happens without a shadow)."""
        crops = len(live.job.crops)
        with self._lock:
            if self._model is None:
                return
            if live.model_id == "" or bool(np.any(live.fail_safe)):
                skipped, reason = crops, SKIP_FAIL_SAFE
            else:
                self._pending.append(_Pending(live, self._generation))
                skipped, reason = 0, SKIP_BACKLOG
                while len(self._pending) > self.max_frames:
                    oldest = self._pending.popleft()
                    skipped += oldest.crops - oldest.next_crop
        self.tracker.skip(skipped, reason)
        self._wake()

    def has_work(self) -> bool:
        with self._lock:
            return bool(self._pending) and self._model is not None

    def pending_frames(self) -> int:
        with self._lock:
            return len(self._pending)

    def run_chunk(self) -> None:
        """Run the shadow on the next chunk of the oldest pending frame; when that completes
        the frame, decide, compare and hand it to ``on_result``. Never raises."""
        with self._lock:
            if not self._pending or self._model is None:
                return
            pending, model = self._pending[0], self._model
            start = pending.next_crop
            stop = min(pending.crops, start + self.chunk_size)
        crops = pending.live.job.crops[start:stop]
        try:
            probabilities = self._predict(model, crops)
        except Exception as error:  # the shadow never takes the live model down
            self._fail(pending, f"{type(error).__name__}: {error}")
            return
        with self._lock:
            if pending.generation != self._generation or not self._pending:
                return  # the shadow changed meanwhile: its frames were skipped already
            pending.probabilities.append(probabilities)
            pending.next_crop = stop
            if pending.next_crop < pending.crops:
                return
            self._pending.popleft()
            # Compared and handed on under the lock: a set_model in between would otherwise
            # count (and publish) a frame of the previous shadow against the new one.
            self._complete(pending, model)

    @staticmethod
    def _predict(model: ProbabilityModel, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, len(model.manifest.class_names)), np.float32)
        return checked_probabilities(model, crops)

    def _fail(self, pending: _Pending, reason: str) -> None:
        with self._lock:
            if pending.generation != self._generation:
                return
            if self._pending and self._pending[0] is pending:
                self._pending.popleft()
            self.failures += 1
            self.last_failure = reason
        LOGGER.error("shadow model failed on a frame from %s: %s", pending.live.job.source, reason)
        self.tracker.skip(pending.crops, SKIP_FAILED)

    def _complete(self, pending: _Pending, model: ProbabilityModel) -> None:
        live = pending.live
        class_names = tuple(model.manifest.class_names)
        probabilities = np.concatenate(pending.probabilities)
        decisions = decide(probabilities, class_names, live.thresholds)
        shadow = FrameResult(
            job=live.job,
            decisions=decisions,
            fail_safe=np.zeros(len(decisions.labels), bool),
            model_id=model.model_id,
            class_names=class_names,
            thresholds=live.thresholds,
            thresholds_version=live.thresholds_version,
            latency_s=0.0,
        )
        self.tracker.add(live.decisions.labels, decisions.labels)
        try:  # the caller holds the lock: on_result must not call back into this runner
            self._on_result(shadow, live)
        except Exception:
            LOGGER.exception("shadow on_result callback failed")
