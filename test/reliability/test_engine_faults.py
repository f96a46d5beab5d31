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
)
from test.engine.test_engine import Manifest, crop


class OneHotModel:
    """Always P(label) = 1: every decision shows which model made it."""

    def __init__(self, model_id: str, label: int, delay_s: float = 0.0) -> None:
        self.model_id, self.label, self.delay_s = model_id, label, delay_s
        self.manifest = Manifest()

    def predict_proba(self, crops):
        time.sleep(self.delay_s)
        probabilities = np.zeros((len(crops), 3), np.float32)
        probabilities[:, self.label] = 1.0
        return probabilities


class FailingEveryNth(OneHotModel):
    """Raises on every n-th batch (a model that breaks mid-stream, then works again)."""

    def __init__(self, model_id: str, label: int, every: int) -> None:
        super().__init__(model_id, label)
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
        deadline = time.monotonic() + timeout
        while len(self.results) + len(self.drops) < total:
            assert time.monotonic() < deadline, f"{len(self.results)} + {len(self.drops)} < {total}"
            time.sleep(0.005)


def make_engine(model, collector: Collector, **config) -> InferenceEngine:
    engine = InferenceEngine(
        model, Thresholds(), EngineConfig(**config), collector.on_result, collector.on_drop
    )
    engine.start()
    return engine


def test_frames_past_the_deadline_are_dropped_and_counted_never_decided_late():
    collector = Collector()
    engine = make_engine(
        OneHotModel("slow", PIT, delay_s=0.03),
        collector,
        max_batch_size=2,
        max_batch_delay_s=0.0,
        max_queue_frames=1000,
        max_frame_age_s=0.1,
    )
    sent = 60
    for index in range(sent):
        engine.submit(FrameJob(source="/cam", crops=[crop(index)] * 2, header=index))
    collector.wait_for(sent)
    engine.stop()
    too_old = [d for d in collector.drops if d.reason == DROP_TOO_OLD]
    assert too_old and len(too_old) == len(collector.drops), "the backlog should expire"
    assert len(collector.results) + len(collector.drops) == sent
    assert max(r.queue_wait_s for r in collector.results) <= 0.1
    stats = engine.stats.snapshot()
    assert stats["drop_reasons"] == {DROP_TOO_OLD: len(too_old)}
    assert stats["queue_wait_ms_max_ever"] <= 100.0
    assert sum(stats["frames_out"].values()) == len(collector.results)


def test_failures_mid_stream_flag_only_the_failed_batches_and_the_next_batch_recovers():
    collector = Collector()
    model = FailingEveryNth("flaky", CLEAN, every=3)
    engine = make_engine(
        model, collector, max_batch_size=4, max_batch_delay_s=0.0, fail_safe_label=PIT
    )
    for index in range(12):  # 12 frames of 3 crops: batches of 4 split frames across batches
        engine.submit(FrameJob(source="/cam", crops=[crop(index)] * 3, header=index))
        time.sleep(0.002)
    collector.wait_for(12)
    engine.stop()
    stats = engine.stats.snapshot()
    assert stats["inference_failures"] == model.calls // 3 > 0
    assert "injected failure" in stats["last_failure"]
    flagged = np.concatenate([r.fail_safe for r in collector.results])
    labels = np.concatenate([r.decisions.labels for r in collector.results])
    assert flagged.any() and not flagged.all()
    assert (labels[flagged] == PIT).all() and (labels[~flagged] == CLEAN).all()
    assert all(r.model_id == "flaky" for r in collector.results)  # named even when it failed
    assert not collector.results[-1].fail_safe.all() or model.calls % 3 == 0


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


def test_accounting_is_exact_with_many_producers_swaps_failures_and_deadline_drops():
    """Every frame ends exactly once (decided or dropped for a named reason), the counters agree
    with what the callbacks saw, and every decision comes from the model its result names."""
    collector = Collector()
    models = [OneHotModel("clean", CLEAN, 0.002), OneHotModel("pit", PIT, 0.002)]
    flaky = FailingEveryNth("flaky", MAYBE, every=2)
    engine = make_engine(
        models[0],
        collector,
        max_batch_size=8,
        max_batch_delay_s=0.002,
        max_queue_frames=6,
        max_frame_age_s=0.05,
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
            if rng.random() < 0.3:
                time.sleep(0.001)

    def swapper() -> None:
        nonlocal swaps
        cycle = [*models, flaky]
        while not stop.is_set():
            assert engine.swap_model(cycle[swaps % len(cycle)])
            swaps += 1
            engine.set_thresholds(Thresholds(0.5, 0.2, 0.5))
            time.sleep(0.003)

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
        assert result.queue_wait_s <= 0.05
        if result.model_id != "flaky":
            assert not result.fail_safe.any()
    assert swaps >= min_swaps and len({r.model_id for r in collector.results}) == 3
    print(f"{total} frames: {len(collector.results)} decided, {reasons} dropped; {swaps} swaps")
