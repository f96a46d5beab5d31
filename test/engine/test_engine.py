"""The batching engine: exactly one result or one counted drop per frame, swaps between frames."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from cherry_classifier.core.decision import CLEAN, MAYBE, PIT, Thresholds
from cherry_classifier.core.engine import EngineConfig, FrameJob, InferenceEngine


@dataclass
class Manifest:
    class_names: tuple[str, ...] = ("clean", "maybe", "pit")


class TableModel:
    """Returns P(pit) = the crop's first pixel / 255, the rest to clean (a real computation)."""

    def __init__(self, model_id: str, delay_s: float = 0.0, fail_on: int | None = None) -> None:
        self.model_id = model_id
        self.manifest = Manifest()
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.batch_sizes: list[int] = []

    def predict_proba(self, crops):
        self.batch_sizes.append(len(crops))
        if self.fail_on is not None and any(int(c[0, 0, 0]) == self.fail_on for c in crops):
            raise RuntimeError("injected failure")
        time.sleep(self.delay_s)  # pacing: the simulated inference time
        pit = np.array([c[0, 0, 0] / 255.0 for c in crops], np.float32)
        return np.stack([1 - pit, np.zeros_like(pit), pit], axis=1)


def crop(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


class Collector:
    def __init__(self) -> None:
        self.results, self.drops = [], []
        self.lock = threading.Lock()

    def on_result(self, result):
        with self.lock:
            self.results.append(result)

    def on_drop(self, job, reason):
        with self.lock:
            self.drops.append(job)

    def wait_for(self, total: int, timeout: float = 10.0) -> None:
        """A hang guard, not a speed bound: the slowest test here (the swap test) took 0.4 s
        on 2 shared cores (pytest --durations); the default 10 s is 25x that."""
        deadline = time.monotonic() + timeout
        while len(self.results) + len(self.drops) < total:
            assert time.monotonic() < deadline, (
                f"{len(self.results)} results, {len(self.drops)} drops"
            )
            time.sleep(0.005)  # poll interval of the exact condition above


def make_engine(model, collector, **config) -> InferenceEngine:
    engine = InferenceEngine(
        model,
        Thresholds(0.5, 0.2, 0.5),
        EngineConfig(**config),
        collector.on_result,
        collector.on_drop,
    )
    engine.start()
    return engine


def test_every_frame_gets_one_result_with_its_crops_in_order():
    collector, model = Collector(), TableModel("a")
    engine = make_engine(model, collector, max_batch_size=4, max_batch_delay_s=0.01)
    frames = [[crop(250), crop(10), crop(100)], [], [crop(5)] * 9, [crop(200)]]
    for index, crops in enumerate(frames):
        engine.submit(FrameJob(source="/cam", crops=crops, header=index))
    collector.wait_for(len(frames))
    engine.stop()
    assert [r.job.header for r in collector.results] == [0, 1, 2, 3]
    assert [len(r.decisions.labels) for r in collector.results] == [3, 0, 9, 1]
    assert list(collector.results[0].decisions.labels) == [PIT, CLEAN, MAYBE]
    assert max(model.batch_sizes) <= 4
    assert all(r.model_id == "a" for r in collector.results)


def test_overflow_drops_oldest_waiting_frames_and_accounts_for_every_frame():
    collector = Collector()
    engine = make_engine(
        TableModel("slow", delay_s=0.02), collector, max_batch_size=2, max_queue_frames=3
    )
    sent = 60
    for index in range(sent):
        engine.submit(FrameJob(source="/cam", crops=[crop(index % 255)] * 2, header=index))
    collector.wait_for(sent)
    engine.stop()
    assert collector.drops, "the queue should have overflowed"
    assert len(collector.results) + len(collector.drops) == sent
    decided = [r.job.header for r in collector.results]
    assert decided == sorted(decided)
    assert {j.header for j in collector.drops}.isdisjoint(decided)
    assert sum(engine.stats.snapshot()["frames_dropped"].values()) == len(collector.drops)


class ConstantModel(TableModel):
    """Says the same label for every crop: each crop's decision shows which model ran it."""

    def __init__(self, model_id: str, label: int, delay_s: float = 0.0) -> None:
        super().__init__(model_id, delay_s)
        self.label = label

    def predict_proba(self, crops):
        self.batch_sizes.append(len(crops))
        time.sleep(self.delay_s)  # pacing: gives the swapper a chance between two batches
        probabilities = np.zeros((len(crops), 3), np.float32)
        probabilities[:, self.label] = 1.0
        return probabilities


def test_swap_takes_effect_between_frames_never_inside_one():
    """Two models whose outputs differ (old: every crop CLEAN, new: every crop PIT); each frame
    of 7 crops spans three batches of 3, and swaps are requested as fast as they complete. A swap
    inside a frame would give that frame crops of both labels, or labels of the other model than
    the one its result names."""
    collector = Collector()
    old, new = ConstantModel("old", CLEAN, 0.005), ConstantModel("new", PIT, 0.005)
    engine = make_engine(old, collector, max_batch_size=3, max_batch_delay_s=0.0)
    stop = threading.Event()
    swaps = 0

    def swapper():
        nonlocal swaps
        models = [new, old]
        while not stop.is_set():
            assert engine.swap_model(models[0])
            swaps += 1
            models.reverse()

    thread = threading.Thread(target=swapper)
    thread.start()
    frames = 40
    for index in range(frames):
        engine.submit(FrameJob(source="/cam", crops=[crop(index)] * 7, header=index))
        time.sleep(0.003)  # pacing: frames arrive while swaps are due, not all at once
    collector.wait_for(frames, timeout=30)  # hang guard: measured 0.4 s (see wait_for)
    stop.set()
    thread.join()
    engine.stop()
    assert len(collector.results) + len(collector.drops) == frames
    expected = {"old": CLEAN, "new": PIT}
    for result in collector.results:
        assert len(result.decisions.labels) == 7
        assert result.decisions.labels.tolist() == [expected[result.model_id]] * 7, (
            f"frame {result.job.header} named {result.model_id}: {result.decisions.labels}"
        )
    assert {r.model_id for r in collector.results} == {"old", "new"}
    assert swaps >= 2
    # Every frame was split over batches (7 crops, batches of at most 3): the swaps had room to
    # land inside a frame, had the engine let them.
    assert max(old.batch_sizes + new.batch_sizes) <= 3


def test_failed_batch_gets_flagged_fail_safe_decisions_and_the_next_batch_recovers():
    collector = Collector()
    engine = make_engine(TableModel("m", fail_on=77), collector, max_batch_size=1)
    engine.submit(FrameJob(source="/cam", crops=[crop(77)]))
    engine.submit(FrameJob(source="/cam", crops=[crop(250)]))
    collector.wait_for(2)
    engine.stop()
    failed, ok = collector.results
    assert failed.fail_safe.tolist() == [True] and failed.decisions.labels.tolist() == [MAYBE]
    assert ok.fail_safe.tolist() == [False] and ok.decisions.labels.tolist() == [PIT]
    assert engine.stats.snapshot()["inference_failures"] == 1


def test_without_a_model_every_crop_gets_the_fail_safe_label():
    collector = Collector()
    engine = make_engine(None, collector, fail_safe_label=PIT)
    engine.submit(FrameJob(source="/cam", crops=[crop(1), crop(2)]))
    collector.wait_for(1)
    engine.stop()
    result = collector.results[0]
    assert result.model_id == "" and result.fail_safe.all()
    assert result.decisions.labels.tolist() == [PIT, PIT]


def test_threshold_changes_are_versioned_and_apply_to_later_frames():
    collector = Collector()
    engine = make_engine(TableModel("m"), collector, max_batch_delay_s=0.0)
    engine.submit(FrameJob(source="/cam", crops=[crop(166)]))  # P(pit) = 0.65
    collector.wait_for(1)
    version = engine.set_thresholds(Thresholds(0.7, 0.2, 0.5))
    engine.submit(FrameJob(source="/cam", crops=[crop(166)]))
    collector.wait_for(2)
    engine.stop()
    first, second = collector.results
    assert first.decisions.labels.tolist() == [PIT] and first.thresholds_version == version - 1
    assert second.decisions.labels.tolist() == [MAYBE] and second.thresholds_version == version
    with pytest.raises(ValueError):
        engine.set_thresholds(Thresholds(0.3, 0.6, 0.5))
    assert engine.thresholds[1] == version
