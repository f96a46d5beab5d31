"""Batched inference engine: frames of crops in, one result per frame out (ROS-free).

Producers (the node's callbacks, the bag tools) `submit` frames; one worker thread forms batches
of up to ``max_batch_size`` crops, runs the classifier and hands every completed frame to
``on_result``.

Batching never idles: when the worker is free and crops wait, it starts at once. It holds
crops (at most ``max_batch_delay_s`` after the oldest waiting frame arrived) only while another
frame is known to be on its way: a producer announces a frame it has started to prepare with
:meth:`InferenceEngine.arriving` (e.g. another camera's frame in conversion), and the hold ends
as soon as that frame is submitted or abandoned, or the batch is full. A frame joins a batch
that already holds crops only if all of its crops fit, so a frame's crops are split only when it
alone has more than ``max_batch_size`` (and then its batches follow one another without a wait).

Guarantees, which the node and its tests rely on:
- Bounded memory: at most ``max_queue_frames`` frames wait; beyond that the oldest waiting frame
  of the source with the most frames waiting is dropped whole and reported to ``on_drop`` (so
  under overload every input keeps its share). Every submitted frame ends in exactly one of
  ``on_result`` or ``on_drop``, and the counters say so exactly:
  ``frames_in == frames_out + frames_dropped + frames still queued``.
- A deadline: with ``max_frame_age_s`` set, a frame that waited longer than that when its first
  crops are batched is dropped (reason "too old") instead of decided late, so a decided frame
  waited at most ``max_frame_age_s`` before inference started on it.
- One model and one threshold set per frame: a swap or a threshold change takes effect between
  frames, never inside one, and each result names the model that ran its crops.
- Failures never escape: if inference raises, that batch's crops get fail-safe decisions
  (flagged), the error is counted, and the next batch runs normally.
- Idle work (``idle_work``, e.g. a shadow model) runs on the worker only when no frame waits,
  none is half done, none is announced as arriving and no swap is due: one small chunk at a
  time, the queue checked again between chunks, so a live frame waits at most for one chunk.

Time: every receipt time, deadline, latency and queue wait is read from ``EngineConfig.clock``
(``time.monotonic`` unless injected; tests inject a fake clock so that deadline checks do not
depend on the machine's speed). ``submit`` stamps a job's ``received`` from that clock unless the
producer set it (on the same clock). Waiting for a batch to fill uses real time (a condition
variable), re-reading the clock each time it wakes.

Test-only fault injection: ``CHERRY_FAULT_INJECTION="inference_failure:every=N"`` in the
environment (read by :func:`fault_injection_from_env`, which the node calls at start-up) makes
every N-th inference batch raise, to prove the fail-safe path in a real process. Never set it on
a sorting line. Likewise ``CHERRY_INFERENCE_DELAY_MS=N`` (:func:`inference_delay_from_env`)
makes every batch take N ms longer, so that a test in another process can see frames queued.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from cherry_classifier.core.decision import LABEL_NAMES, Decisions, Thresholds, decide

LOGGER = logging.getLogger(__name__)


class IdleWork(Protocol):
    """Work the worker does only with spare capacity (e.g. ``core.shadow.ShadowRunner``)."""

    def has_work(self) -> bool: ...

    def run_chunk(self) -> None: ...


class ProbabilityModel(Protocol):
    """What the engine needs of a classifier (see ``core.classifier.Classifier``)."""

    model_id: str
    manifest: Any  # a ModelManifest: class_names in output order

    def predict_proba(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


@dataclass
class FrameJob:
    """One source image's crops, waiting for decisions."""

    source: str
    crops: list[np.ndarray]
    regions: list[Any] = field(default_factory=list)
    header: Any = None
    image: np.ndarray | None = None
    trigger: Any = None  # the line's trigger (image_set mode: frame id, encoder count and mm)
    received: float | None = None  # receipt, on the engine's clock: submit() stamps it if None
    sequence: int = -1
    started: float | None = None  # when its first crops were batched
    stages_s: dict[str, float] = field(default_factory=dict)  # producer's timings, e.g. conversion


@dataclass
class FrameResult:
    """The decisions of one frame, with everything needed to publish and audit them."""

    job: FrameJob
    decisions: Decisions
    fail_safe: np.ndarray
    model_id: str
    class_names: tuple[str, ...]
    thresholds: Thresholds
    thresholds_version: int
    latency_s: float
    queue_wait_s: float = 0.0  # receipt to the start of inference on its first crops
    inference_s: float = 0.0  # start of inference on its first crops to its decisions


FAULT_INJECTION_VAR = "CHERRY_FAULT_INJECTION"
INFERENCE_DELAY_VAR = "CHERRY_INFERENCE_DELAY_MS"
DROP_QUEUE_FULL = "queue full"
DROP_TOO_OLD = "too old"
DROP_INTERNAL_ERROR = "internal error"


@dataclass
class EngineConfig:
    max_batch_size: int = 32
    max_batch_delay_s: float = 0.05
    max_queue_frames: int = 16
    fail_safe_label: int = 1  # MAYBE: a person looks at what the model could not decide
    max_frame_age_s: float | None = None  # None: no deadline (offline tools decide everything)
    fail_every_nth_batch: int = 0  # TEST ONLY: make every N-th batch raise (0: never)
    inference_delay_s: float = 0.0  # TEST ONLY: every batch takes this much longer (real time)
    clock: Callable[[], float] = time.monotonic  # seconds; injected by tests (a fake clock)


def fault_injection_from_env(environ: dict[str, str] | None = None) -> int:
    """TEST ONLY: N from ``CHERRY_FAULT_INJECTION="inference_failure:every=N"``, else 0.

    Off unless the variable is set; a malformed value raises ValueError (never ignored).
    """
    value = (os.environ if environ is None else environ).get(FAULT_INJECTION_VAR, "").strip()
    if not value:
        return 0
    kind, _, option = value.partition(":")
    name, _, number = option.partition("=")
    if kind != "inference_failure" or name != "every" or not number.isdigit() or int(number) < 1:
        raise ValueError(
            f"{FAULT_INJECTION_VAR}={value!r}: expected 'inference_failure:every=N' with N >= 1"
        )
    return int(number)


def inference_delay_from_env(environ: dict[str, str] | None = None) -> float:
    """TEST ONLY: seconds from ``CHERRY_INFERENCE_DELAY_MS=N``, else 0 (a malformed value raises
    ValueError)."""
    value = (os.environ if environ is None else environ).get(INFERENCE_DELAY_VAR, "").strip()
    if not value:
        return 0.0
    try:
        milliseconds = float(value)
    except ValueError:
        milliseconds = -1.0
    if not 0.0 <= milliseconds <= 60_000.0:
        raise ValueError(f"{INFERENCE_DELAY_VAR}={value!r}: expected milliseconds in 0..60000")
    return milliseconds / 1000.0


def checked_probabilities(model: ProbabilityModel, crops: Sequence[np.ndarray]) -> np.ndarray:
    """``model``'s (N, C) probabilities for ``crops``; raises if their shape or values are
    unusable (a wrong shape: RuntimeError; NaN or inf: FloatingPointError)."""
    probabilities = np.asarray(model.predict_proba(crops), dtype=np.float32)
    if probabilities.shape != (len(crops), len(_class_names(model))):
        raise RuntimeError(f"model returned shape {probabilities.shape} for {len(crops)} crops")
    if not np.isfinite(probabilities).all():
        raise FloatingPointError("model returned non-finite probabilities")
    return probabilities


class InjectedFaultError(RuntimeError):
    """Raised instead of running a batch when test-only fault injection asks for it."""


@dataclass
class _InProgress:
    """A frame whose crops are being classified, possibly over several batches."""

    job: FrameJob
    model: ProbabilityModel | None
    probabilities: list[np.ndarray] = field(default_factory=list)
    fail_safe: list[np.ndarray] = field(default_factory=list)
    next_crop: int = 0
    completed: bool = False

    @property
    def remaining(self) -> int:
        return len(self.job.crops) - self.next_crop


class EngineStats:
    """Thread-safe counters and recent samples for diagnostics."""

    def __init__(self, window: int = 512) -> None:
        self._lock = threading.Lock()
        self.frames_in: dict[str, int] = {}
        self.frames_out: dict[str, int] = {}
        self.frames_dropped: dict[str, int] = {}
        self.drop_reasons: dict[str, int] = {}
        self.crops_decided = 0
        self.batches = 0
        self.inference_failures = 0
        self.last_failure = ""
        self.batch_sizes: deque[int] = deque(maxlen=window)
        self.inference_s: deque[float] = deque(maxlen=window)
        self.latency_s: deque[float] = deque(maxlen=window)
        self.queue_wait_s: deque[float] = deque(maxlen=window)
        self.max_queue_wait_s = 0.0  # over the whole run, not a window
        self.labels: deque[int] = deque(maxlen=window * 4)

    def count(self, table: dict[str, int], source: str, n: int = 1) -> None:
        with self._lock:
            table[source] = table.get(source, 0) + n

    def record_drop(self, source: str, reason: str) -> None:
        with self._lock:
            self.frames_dropped[source] = self.frames_dropped.get(source, 0) + 1
            self.drop_reasons[reason] = self.drop_reasons.get(reason, 0) + 1

    def record_batch(self, size: int, seconds: float) -> None:
        with self._lock:
            self.batches += 1
            self.batch_sizes.append(size)
            self.inference_s.append(seconds)

    def record_result(self, result: FrameResult) -> None:
        with self._lock:
            source = result.job.source
            self.frames_out[source] = self.frames_out.get(source, 0) + 1
            self.crops_decided += len(result.decisions.labels)
            self.latency_s.append(result.latency_s)
            self.queue_wait_s.append(result.queue_wait_s)
            self.max_queue_wait_s = max(self.max_queue_wait_s, result.queue_wait_s)
            self.labels.extend(int(label) for label in result.decisions.labels)

    def record_failure(self, error: BaseException) -> None:
        with self._lock:
            self.inference_failures += 1
            self.last_failure = f"{type(error).__name__}: {error}"

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every figure, with percentiles computed."""
        with self._lock:
            labels = np.asarray(self.labels, dtype=np.int64)
            shares = {
                name: float(np.mean(labels == code)) if labels.size else 0.0
                for code, name in enumerate(LABEL_NAMES)
            }
            return {
                "frames_in": dict(self.frames_in),
                "frames_out": dict(self.frames_out),
                "frames_dropped": dict(self.frames_dropped),
                "drop_reasons": dict(self.drop_reasons),
                "crops_decided": self.crops_decided,
                "batches": self.batches,
                "inference_failures": self.inference_failures,
                "last_failure": self.last_failure,
                "batch_size_mean": float(np.mean(self.batch_sizes)) if self.batch_sizes else 0.0,
                "inference_ms": _percentiles_ms(self.inference_s),
                "latency_ms": _percentiles_ms(self.latency_s),
                "queue_wait_ms": _percentiles_ms(self.queue_wait_s),
                "queue_wait_ms_max_ever": self.max_queue_wait_s * 1000.0,
                "label_share": shares,
            }


def _class_names(model: ProbabilityModel | None) -> tuple[str, ...]:
    return tuple(model.manifest.class_names) if model is not None else LABEL_NAMES


def _with_fail_safe(decisions: Decisions, mask: np.ndarray, label: int) -> Decisions:
    """Replace the masked rows by the fail-safe label, with zero confidence and probabilities."""
    labels = np.where(mask, label, decisions.labels).astype(np.int64)
    confidences = np.where(mask, 0.0, decisions.confidences).astype(np.float32)
    probabilities = np.where(mask[:, None], 0.0, decisions.probabilities).astype(np.float32)
    return Decisions(labels=labels, confidences=confidences, probabilities=probabilities)


def _percentiles_ms(samples: deque[float]) -> dict[str, float]:
    if not samples:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    values = np.asarray(samples) * 1000.0
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(values.max())}


IDLE: list = []  # _next_batch's answer when only idle work is due (compared by identity)
MAX_WAIT_SLICE_S = 0.05  # the worker re-reads the (possibly injected) clock at least this often


class Arrival:
    """A frame announced as on its way (see :meth:`InferenceEngine.arriving`)."""

    def __init__(self, engine: InferenceEngine) -> None:
        self._engine = engine
        self.open = True

    def submit(self, job: FrameJob) -> None:
        """Submit the announced frame (the hold it caused ends with it)."""
        self._engine.submit(job, arrival=self)


class InferenceEngine:
    """Bounded frame queue + one batching worker thread around a swappable model."""

    def __init__(
        self,
        model: ProbabilityModel | None,
        thresholds: Thresholds,
        config: EngineConfig,
        on_result: Callable[[FrameResult], None],
        on_drop: Callable[[FrameJob, str], None] | None = None,
        idle_work: IdleWork | None = None,
    ) -> None:
        self._config = config
        self._idle_work = idle_work
        self._on_result = on_result
        self._on_drop = on_drop or (lambda job, reason: None)
        self._model = model
        self._pending_model: ProbabilityModel | None = None
        self._swap_done = threading.Condition()
        self._thresholds = thresholds.validated()
        self._thresholds_version = 1
        self._waiting: deque[FrameJob] = deque()
        self._arriving = 0  # frames announced and neither submitted nor abandoned yet
        self._queue_drops: dict[str, int] = {}  # per source: frames lost to a full queue
        self._current: _InProgress | None = None
        self._cond = threading.Condition()
        self._sequence = 0
        self._batches_started = 0
        self._running = False
        self._thread: threading.Thread | None = None
        self._clock = config.clock
        self.stats = EngineStats()

    # -- producers ---------------------------------------------------------------------------
    @contextmanager
    def arriving(self) -> Iterator[Arrival]:
        """Announce a frame being prepared: waiting crops may be held (up to the batch delay)
        for it. Submit it with the yielded arrival's ``submit``; leaving the block without
        submitting abandons it (a refused image), which ends the hold too."""
        arrival = Arrival(self)
        with self._cond:
            self._arriving += 1
        try:
            yield arrival
        finally:
            with self._cond:
                self._close(arrival)
                self._cond.notify_all()

    @property
    def frames_arriving(self) -> int:
        with self._cond:
            return self._arriving

    def _close(self, arrival: Arrival | None) -> None:
        if arrival is not None and arrival.open:
            arrival.open = False
            self._arriving -= 1

    def submit(self, job: FrameJob, arrival: Arrival | None = None) -> None:
        """Queue a frame; if the queue is full, the busiest source's oldest frame is dropped."""
        dropped: list[FrameJob] = []
        if job.received is None:
            job.received = self._clock()
        with self._cond:
            self._close(arrival)
            job.sequence = self._sequence
            self._sequence += 1
            self.stats.count(self.stats.frames_in, job.source)
            self._waiting.append(job)
            while len(self._waiting) > self._config.max_queue_frames:
                dropped.append(self._pop_from_busiest_source())
            self._cond.notify_all()
        for old in dropped:
            self._drop(old, DROP_QUEUE_FULL)

    def _pop_from_busiest_source(self) -> FrameJob:
        """The oldest waiting frame of the source with the most frames waiting, so that under
        overload every input keeps its share. Of sources tied for most, the one that lost the
        fewest frames to a full queue so far pays (any fixed tie rule starves one of two
        cameras sending at the same rate)."""
        waiting: dict[str, int] = {}
        for job in self._waiting:
            waiting[job.source] = waiting.get(job.source, 0) + 1
        busiest = max(waiting.values())
        tied = [source for source, count in waiting.items() if count == busiest]
        source = min(tied, key=lambda s: self._queue_drops.get(s, 0))
        self._queue_drops[source] = self._queue_drops.get(source, 0) + 1
        victim = next(job for job in self._waiting if job.source == source)
        self._waiting.remove(victim)
        return victim

    def _drop(self, job: FrameJob, reason: str) -> None:
        self.stats.record_drop(job.source, reason)
        try:
            self._on_drop(job, reason)
        except Exception:  # a faulty callback must not stop the queue
            LOGGER.exception("on_drop callback failed")

    # -- model and thresholds ----------------------------------------------------------------
    @property
    def model(self) -> ProbabilityModel | None:
        return self._model

    @property
    def thresholds(self) -> tuple[Thresholds, int]:
        """The thresholds in force and their version."""
        with self._cond:
            return self._thresholds, self._thresholds_version

    def set_thresholds(self, thresholds: Thresholds) -> int:
        """Validate and apply from the next frame on; returns the new version."""
        thresholds = thresholds.validated()
        with self._cond:
            self._thresholds = thresholds
            self._thresholds_version += 1
            return self._thresholds_version

    def set_fail_safe_label(self, label: int) -> None:
        """Label given from the next frame on to crops the model could not decide."""
        self._config.fail_safe_label = label

    def swap_model(self, model: ProbabilityModel, timeout: float = 30.0) -> bool:
        """Hand a loaded, warmed-up model to the worker; it takes over between two frames.

        Blocks until the worker has switched (or ``timeout``); returns whether it did.
        """
        with self._cond:
            if not self._running:
                self._model = model
                return True
            self._pending_model = model
            self._cond.notify_all()
        with self._swap_done:
            return self._swap_done.wait_for(lambda: self._model is model, timeout)

    def wake(self) -> None:
        """Have the worker look for work again (idle work submitted from another thread)."""
        with self._cond:
            self._cond.notify_all()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def queue_depth(self) -> tuple[int, int]:
        """(frames waiting, crops waiting)."""
        with self._cond:
            crops = sum(len(job.crops) for job in self._waiting)
            if self._current is not None:
                crops += self._current.remaining
            return len(self._waiting), crops

    # -- worker ------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            expired: list[FrameJob] = []
            batch = self._next_batch(expired)
            for job in expired:  # outside the lock: on_drop may log or publish
                self._drop(job, DROP_TOO_OLD)
            if batch is None:
                return
            if batch is IDLE:
                self._run_idle_work()
            elif batch:
                self._process_safely(batch)

    def _run_idle_work(self) -> None:
        try:
            self._idle_work.run_chunk()
        except Exception:  # idle work must never stop the worker
            LOGGER.exception("idle work failed")

    def _idle_work_due(self) -> bool:
        """Spare capacity (caller holds the lock): nothing live waits, arrives or swaps."""
        return (
            self._idle_work is not None
            and self._current is None
            and not self._waiting
            and self._arriving == 0
            and self._pending_model is None
            and self._idle_work.has_work()
        )

    def _process_safely(self, slices: list[tuple[_InProgress, int, int]]) -> None:
        """Run a batch; should anything unforeseen raise, its unfinished frames are dropped and
        counted (never lost silently) and the worker keeps running."""
        try:
            self._process(slices)
        except Exception as error:
            LOGGER.exception("internal error while deciding a batch")
            self.stats.record_failure(error)
            unfinished = {id(frame): frame for frame, _, _ in slices}
            with self._cond:
                if self._current is not None and id(self._current) in unfinished:
                    self._current = None
            for frame in unfinished.values():
                if not frame.completed:
                    self._drop(frame.job, DROP_INTERNAL_ERROR)

    def _next_batch(self, expired: list[FrameJob]) -> list[tuple[_InProgress, int, int]] | None:
        """Wait for work, then take up to max_batch_size crops as (frame, start, stop) slices.

        Frames past their deadline are moved to ``expired`` instead (the batch may then be empty).
        """
        with self._cond:
            while True:
                if not self._running:
                    return None
                if self._current is None and self._pending_model is not None:
                    self._install_pending_model()
                if self._current is not None or self._waiting:
                    if self._batch_ready():
                        break
                    self._cond.wait(self._time_until_due())
                elif self._idle_work_due():
                    return IDLE
                else:
                    self._cond.wait()
            return self._take_slices(expired)

    def _install_pending_model(self) -> None:
        with self._swap_done:
            self._model, self._pending_model = self._pending_model, None
            self._swap_done.notify_all()

    def _waiting_crops(self) -> int:
        crops = sum(len(job.crops) for job in self._waiting)
        return crops + (self._current.remaining if self._current else 0)

    def _oldest_arrival(self) -> float:
        if self._current is not None:
            return self._current.job.received
        return self._waiting[0].received

    def _batch_ready(self) -> bool:
        if self._current is not None and self._current.next_crop > 0:
            return True  # finish a split frame without waiting
        if self._pending_model is not None:
            return True  # no new frame may start with the old model once a swap is due
        if self._arriving == 0:
            return True  # nothing else is coming: holding crops would only idle
        if self._waiting_crops() >= self._config.max_batch_size:
            return True
        return self._clock() - self._oldest_arrival() >= self._config.max_batch_delay_s

    def _time_until_due(self) -> float:
        due = self._oldest_arrival() + self._config.max_batch_delay_s
        return min(MAX_WAIT_SLICE_S, max(0.0005, due - self._clock()))

    def _take_slices(self, expired: list[FrameJob]) -> list[tuple[_InProgress, int, int]]:
        slices: list[tuple[_InProgress, int, int]] = []
        room = self._config.max_batch_size
        now = self._clock()
        max_age = self._config.max_frame_age_s
        while room > 0:
            if self._current is None:
                if not self._waiting or (slices and self._pending_model is not None):
                    break
                if slices and len(self._waiting[0].crops) > room:
                    break  # it would be split across two batches: it starts the next one
                job = self._waiting.popleft()
                if max_age is not None and now - job.received > max_age:
                    expired.append(job)
                    continue
                job.started = now
                self._current = _InProgress(job, self._model)
            frame = self._current
            take = min(room, frame.remaining)
            slices.append((frame, frame.next_crop, frame.next_crop + take))
            frame.next_crop += take
            room -= take
            if frame.remaining == 0:  # also a frame without cherries: it completes with this batch
                self._current = None
        return slices

    def _process(self, slices: list[tuple[_InProgress, int, int]]) -> None:
        # Every frame of this batch started under the model in force now: swaps wait for a
        # frame boundary and are installed by this thread only, between batches.
        model = self._model
        crops = [crop for frame, start, stop in slices for crop in frame.job.crops[start:stop]]
        probabilities, failed = self._infer(model, crops)
        offset = 0
        for frame, start, stop in slices:
            count = stop - start
            frame.probabilities.append(probabilities[offset : offset + count])
            frame.fail_safe.append(np.full(count, failed, dtype=bool))
            offset += count
            if stop == len(frame.job.crops):
                self._complete(frame)

    def _infer(
        self, model: ProbabilityModel | None, crops: list[np.ndarray]
    ) -> tuple[np.ndarray, bool]:
        num_classes = len(_class_names(model))
        if not crops:
            return np.zeros((0, num_classes), np.float32), False
        if model is None:
            return np.full((len(crops), num_classes), np.nan, np.float32), True
        started = self._clock()
        self._batches_started += 1
        if self._config.inference_delay_s:
            time.sleep(self._config.inference_delay_s)  # TEST ONLY: a slow batch, on purpose
        every = self._config.fail_every_nth_batch
        try:
            if every and self._batches_started % every == 0:
                raise InjectedFaultError(f"injected inference failure ({FAULT_INJECTION_VAR})")
            probabilities = checked_probabilities(model, crops)
        except Exception as error:  # fail safe, keep running: the next batch may succeed
            LOGGER.error("inference failed on a batch of %d crops: %s", len(crops), error)
            self.stats.record_failure(error)
            return np.full((len(crops), num_classes), np.nan, np.float32), True
        self.stats.record_batch(len(crops), self._clock() - started)
        return probabilities, False

    def _complete(self, frame: _InProgress) -> None:
        model = frame.model
        class_names = _class_names(model)
        thresholds, version = self.thresholds
        probabilities = np.concatenate(frame.probabilities) if frame.probabilities else None
        fail_safe = np.concatenate(frame.fail_safe) if frame.fail_safe else np.zeros(0, bool)
        if probabilities is None:
            probabilities = np.zeros((0, len(class_names)), np.float32)
        decisions = decide(np.nan_to_num(probabilities), class_names, thresholds)
        if fail_safe.any():
            decisions = _with_fail_safe(decisions, fail_safe, self._config.fail_safe_label)
        now = self._clock()
        started = frame.job.started if frame.job.started is not None else frame.job.received
        result = FrameResult(
            job=frame.job,
            decisions=decisions,
            fail_safe=fail_safe,
            model_id=model.model_id if model is not None else "",
            class_names=class_names,
            thresholds=thresholds,
            thresholds_version=version,
            latency_s=now - frame.job.received,
            queue_wait_s=started - frame.job.received,
            inference_s=now - started,
        )
        self.stats.record_result(result)
        frame.completed = True  # counted as decided: from here on it can no longer be dropped
        try:
            self._on_result(result)
        except Exception:
            LOGGER.exception("on_result callback failed for a frame from %s", frame.job.source)
