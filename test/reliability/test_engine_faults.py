"""The engine under fault and overload, without ROS: deadline, failing models, swaps, accounting.

Complements test/engine/test_engine.py (one failure, one overflow, swap between frames): here
many producers, swaps, failures and deadline drops all at once, with exact accounting.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from cherry_classifier.core.decision import CLEAN, MAYBE, PIT, Thresholds
from cherry_classifier.core.engine import (
    DROP_INTERNAL_ERROR,
    DROP_QUEUE_FULL,
    DROP_TOO_OLD,
    EngineConfig,
    FrameJob,
    InferenceEngine,
    fault_injection_from_env,
    inference_delay_from_env,
)
from test.engine.test_engine import Manifest, crop


class FakeClock:
    """The engine's clock in these tests: it moves only when a model says a batch took time
    (``advance``), so deadline figures do not depend on how fast this machine runs."""

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class OneHotModel:
    """Always P(label) = 1: every decision shows which model made it. With a fake ``clock``,
    each batch advances it by ``cost_s`` (the inference time it stands for)."""

    def __init__(
        self,
        model_id: str,
        label: int,
        delay_s: float = 0.0,
        clock: FakeClock | None = None,
        cost_s: float = 0.0,
    ) -> None:
        self.model_id, self.label, self.delay_s = model_id, label, delay_s
        self.clock, self.cost_s = clock, cost_s
        self.manifest = Manifest()

    def predict_proba(self, crops):
        time.sleep(self.delay_s)  # pacing only (lets other threads run); never timed
        if self.clock is not None:
            self.clock.advance(self.cost_s)
        probabilities = np.zeros((len(crops), 3), np.float32)
        probabilities[:, self.label] = 1.0
        return probabilities


class FailingEveryNth(OneHotModel):
    """Raises on every n-th batch (a model that breaks mid-stream, then works again)."""

    def __init__(self, model_id: str, label: int, every: int, **timing) -> None:
        super().__init__(model_id, label, **timing)
        self.every, self.calls = every, 0

    def predict_proba(self, crops):
        self.calls += 1
        if self.calls % self.every == 0:
            raise RuntimeError(f"injected failure on batch {self.calls}")
        return super().predict_proba(crops)


@dataclass
class Drop:
    job: FrameJob
    reason: str


class Collector:
    def __init__(self) -> None:
        self.results: list = []
        self.drops: list[Drop] = []
        self.lock = threading.Lock()

    def on_result(self, result) -> None:
        with self.lock:
            self.results.append(result)

    def on_drop(self, job, reason) -> None:
        with self.lock:
            self.drops.append(Drop(job, reason))

    def wait_for(self, total: int, timeout: float = 60.0) -> None:
        """A hang guard, not a speed bound (deadlines here run on a fake clock): the slowest
        test here (many producers) took 0.24 s on 2 shared cores (pytest --durations)."""
        deadline = time.monotonic() + timeout
        while len(self.results) + len(self.drops) < total:
            assert time.monotonic() < deadline, f"{len(self.results)} + {len(self.drops)} < {total}"
            time.sleep(0.005)  # poll interval of the exact condition above


def make_engine(model, collector: Collector, start: bool = True, **config) -> InferenceEngine:
    engine = InferenceEngine(
        model, Thresholds(), EngineConfig(**config), collector.on_result, collector.on_drop
    )
    if start:
        engine.start()
    return engine


def test_frames_past_the_deadline_are_dropped_and_counted_never_decided_late():
    """60 frames of 2 crops arrive at once (t = 0 on a fake clock); each batch (one frame) costs
    COST. Frame k starts inference at k * COST, so with the deadline at 3 * COST frames 0-3 are
    decided (frame 3 waited exactly the deadline: allowed) and the other 56 are dropped as too
    old when the worker reaches them at 4 * COST. An engine that ignored the deadline would decide
    all 60; one that checked it at submission would drop none."""
    cost = 1 / 32  # a binary fraction: the fake clock's sums are exact
    clock = FakeClock()
    collector = Collector()
    engine = make_engine(
        OneHotModel("slow", PIT, clock=clock, cost_s=cost),
        collector,
        start=False,
        max_batch_size=2,
        max_batch_delay_s=0.0,
        max_queue_frames=1000,
        max_frame_age_s=3 * cost,
        clock=clock,
    )
    sent = 60
    for index in range(sent):
        engine.submit(FrameJob(source="/cam", crops=[crop(index)] * 2, header=index))
    engine.start()
    collector.wait_for(sent)
    engine.stop()
    assert [r.job.header for r in collector.results] == [0, 1, 2, 3]
    assert [r.queue_wait_s for r in collector.results] == [0.0, cost, 2 * cost, 3 * cost]
    assert [r.latency_s for r in collector.results] == [cost, 2 * cost, 3 * cost, 4 * cost]
    assert [d.job.header for d in collector.drops] == list(range(4, sent))
    assert {d.reason for d in collector.drops} == {DROP_TOO_OLD}
    stats = engine.stats.snapshot()
    assert stats["drop_reasons"] == {DROP_TOO_OLD: sent - 4}
    assert stats["queue_wait_ms_max_ever"] == 3 * cost * 1000.0
    assert stats["frames_out"] == {"/cam": 4} and stats["frames_dropped"] == {"/cam": sent - 4}


def test_failures_mid_stream_flag_only_the_failed_batches_and_the_next_batch_recovers():
    """6 frames of 5 crops queued before the worker starts, batches of 4: a frame larger than a
    batch is split (4 + 1) and the next frame never joins its last crop (it would be split too),
    so 12 batches: frame k in batches 2k and 2k + 1. The model fails batches 3, 6, 9 and 12, so
    exactly the first 4 crops of frames 1 and 4 and the last crop of frames 2 and 5 are flagged
    and get the fail-safe label; every other crop, including those of the same frames in the
    batches after, is decided by the model."""
    collector = Collector()
    model = FailingEveryNth("flaky", CLEAN, every=3)
    engine = make_engine(
        model,
        collector,
        start=False,
        max_batch_size=4,
        max_batch_delay_s=0.0,
        fail_safe_label=PIT,
    )
    for index in range(6):
        engine.submit(FrameJob(source="/cam", crops=[crop(index)] * 5, header=index))
    engine.start()
    collector.wait_for(6)
    engine.stop()
    assert [r.job.header for r in collector.results] == list(range(6))
    crop_batch = np.array([2 * frame + (i == 4) for frame in range(6) for i in range(5)])
    expected_flagged = crop_batch % 3 == 2  # batches 3, 6, 9, 12 failed
    flagged = np.concatenate([r.fail_safe for r in collector.results])
    labels = np.concatenate([r.decisions.labels for r in collector.results])
    np.testing.assert_array_equal(flagged, expected_flagged)
    np.testing.assert_array_equal(labels, np.where(expected_flagged, PIT, CLEAN))
    # frames 1 and 2 straddle the failed batches 3 and 6: partly flagged
    assert collector.results[1].fail_safe.tolist() == [True] * 4 + [False]
    assert collector.results[2].fail_safe.tolist() == [False] * 4 + [True]
    assert collector.results[3].fail_safe.tolist() == [False] * 5  # batch 7 recovered
    stats = engine.stats.snapshot()
    assert model.calls == 12 and stats["inference_failures"] == 4 and stats["batches"] == 8
    assert "injected failure on batch 12" in stats["last_failure"]
    assert all(r.model_id == "flaky" for r in collector.results)  # named even when it failed


def test_a_batch_that_breaks_the_engine_itself_drops_its_frames_counted_and_it_keeps_running():
    @dataclass
    class Unknown:
        class_names: tuple[str, ...] = ("a", "b", "c")  # no "pit": deciding raises

    broken = OneHotModel("broken", 0)
    broken.manifest = Unknown()
    collector = Collector()
    engine = make_engine(broken, collector, max_batch_delay_s=0.0)
    engine.submit(FrameJob(source="/cam", crops=[crop(1)], header=0))
    collector.wait_for(1)
    assert [d.reason for d in collector.drops] == [DROP_INTERNAL_ERROR]
    assert engine.swap_model(OneHotModel("good", PIT))
    engine.submit(FrameJob(source="/cam", crops=[crop(2)], header=1))
    collector.wait_for(2)
    engine.stop()
    assert [r.job.header for r in collector.results] == [1]
    assert engine.stats.snapshot()["inference_failures"] == 1


def test_fault_injection_is_off_by_default_and_fails_every_nth_batch_when_asked():
    assert fault_injection_from_env({}) == 0
    assert fault_injection_from_env({"CHERRY_FAULT_INJECTION": "inference_failure:every=4"}) == 4
    for bad in ("inference_failure", "inference_failure:every=0", "crash:every=2", "every=x"):
        with pytest.raises(ValueError, match="inference_failure:every=N"):
            fault_injection_from_env({"CHERRY_FAULT_INJECTION": bad})
    collector = Collector()
    engine = make_engine(
        OneHotModel("m", CLEAN), collector, max_batch_delay_s=0.0, fail_every_nth_batch=2
    )
    for index in range(6):
        engine.submit(FrameJob(source="/cam", crops=[crop(index)], header=index))
        collector.wait_for(index + 1)
    engine.stop()
    assert [bool(r.fail_safe[0]) for r in collector.results] == [False, True] * 3
    assert engine.stats.snapshot()["last_failure"].startswith("InjectedFaultError")


def test_the_test_only_inference_delay_is_off_by_default_and_checked():
    assert inference_delay_from_env({}) == 0.0
    assert inference_delay_from_env({"CHERRY_INFERENCE_DELAY_MS": "250"}) == 0.25
    for bad in ("-1", "fast", "60001"):
        with pytest.raises(ValueError, match="CHERRY_INFERENCE_DELAY_MS"):
            inference_delay_from_env({"CHERRY_INFERENCE_DELAY_MS": bad})


def test_accounting_is_exact_with_many_producers_swaps_failures_and_deadline_drops():
    """Every frame ends exactly once (decided or dropped for a named reason), the counters agree
    with what the callbacks saw, and every decision comes from the model its result names."""
    collector = Collector()
    clock = FakeClock()  # moves 2 ms per batch and 0.5 ms per submitted frame
    models = [
        OneHotModel("clean", CLEAN, 0.002, clock, 0.002),
        OneHotModel("pit", PIT, 0.002, clock, 0.002),
    ]
    flaky = FailingEveryNth("flaky", MAYBE, every=2, clock=clock, cost_s=0.002)
    max_age = 0.05
    engine = make_engine(
        models[0],
        collector,
        max_batch_size=8,
        max_batch_delay_s=0.002,
        max_queue_frames=6,
        max_frame_age_s=max_age,
        clock=clock,
    )
    producers, at_least, min_swaps = 4, 250, 30
    stop = threading.Event()
    swaps = 0
    produced = dict.fromkeys(range(producers), 0)

    def produce(source: str, seed: int) -> None:
        rng = random.Random(seed)
        index = 0
        while index < at_least or swaps < min_swaps:  # frames stream through every swap
            index, produced[seed] = index + 1, index + 1
            crops = [crop(index % 255)] * rng.choice([0, 1, 3, 8, 20])  # 20: split over batches
            engine.submit(FrameJob(source=source, crops=crops, header=(source, index)))
            clock.advance(0.0005)
            if rng.random() < 0.3:
                time.sleep(0.001)  # pacing: lets the worker and the swapper in

    def swapper() -> None:
        nonlocal swaps
        cycle = [*models, flaky]
        while not stop.is_set():
            assert engine.swap_model(cycle[swaps % len(cycle)])
            swaps += 1
            engine.set_thresholds(Thresholds(0.5, 0.2, 0.5))
            time.sleep(0.003)  # pacing between swaps

    threads = [threading.Thread(target=produce, args=(f"/cam{i}", i)) for i in range(producers)]
    swap_thread = threading.Thread(target=swapper)
    swap_thread.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(produced.values())
    collector.wait_for(total)
    stop.set()
    swap_thread.join()
    engine.stop()

    ends = [r.job.header for r in collector.results] + [d.job.header for d in collector.drops]
    assert len(ends) == len(set(ends)) == total, "a frame was lost or ended twice"
    stats = engine.stats.snapshot()
    assert sum(stats["frames_in"].values()) == total
    assert sum(stats["frames_out"].values()) == len(collector.results)
    assert sum(stats["frames_dropped"].values()) == len(collector.drops)
    reasons = {}
    for drop in collector.drops:
        reasons[drop.reason] = reasons.get(drop.reason, 0) + 1
    assert stats["drop_reasons"] == reasons and set(reasons) <= {DROP_QUEUE_FULL, DROP_TOO_OLD}
    assert stats["crops_decided"] == sum(len(r.decisions.labels) for r in collector.results)
    expected_label = {"clean": CLEAN, "pit": PIT, "flaky": MAYBE}
    for result in collector.results:
        labels = result.decisions.labels[~result.fail_safe]
        assert (labels == expected_label[result.model_id]).all(), result.model_id
        assert result.queue_wait_s <= max_age  # on the fake clock: independent of speed
        if result.model_id != "flaky":
            assert not result.fail_safe.any()
    assert swaps >= min_swaps and len({r.model_id for r in collector.results}) == 3
    print(f"{total} frames: {len(collector.results)} decided, {reasons} dropped; {swaps} swaps")
