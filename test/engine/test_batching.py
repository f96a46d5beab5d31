"""Batching that never idles: crops wait only for a frame known to be on its way, frames whole.

The engine's clock is a fake one that moves only when a test moves it, so "decided without
waiting for the batch delay" is exact: with a delay of an hour on a clock that never moves, a
frame is decided only if the engine did not hold it.
"""

from __future__ import annotations

import pytest

from cherry_classifier.core.decision import Thresholds
from cherry_classifier.core.engine import DROP_TOO_OLD, EngineConfig, FrameJob, InferenceEngine
from test.engine.test_engine import Collector, TableModel, crop
from test.reliability.test_engine_faults import FakeClock

HOUR = 3600.0  # a batch delay no test waits out in real time


def make_engine(model, collector, clock: FakeClock, **config) -> InferenceEngine:
    engine = InferenceEngine(
        model,
        Thresholds(0.5, 0.2, 0.5),
        EngineConfig(clock=clock, **config),
        collector.on_result,
        collector.on_drop,
    )
    engine.start()
    return engine


def frame(header: int, count: int) -> FrameJob:
    return FrameJob(source="/cam", crops=[crop(header)] * count, header=header)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_lone_frame_is_decided_at_once_when_nothing_else_is_arriving(clock):
    """30 crops, batches of 32, a one-hour delay: the old batcher held them for the delay."""
    collector, model = Collector(), TableModel("m")
    engine = make_engine(model, collector, clock, max_batch_size=32, max_batch_delay_s=HOUR)
    engine.submit(frame(1, 30))
    collector.wait_for(1)
    engine.stop()
    assert model.batch_sizes == [30]
    assert collector.results[0].queue_wait_s == 0.0


def test_crops_wait_for_an_announced_frame_and_share_its_batch(clock):
    """Another camera's frame is in conversion: the first frame's crops are held until it is
    submitted, then both run in one batch."""
    collector, model = Collector(), TableModel("m")
    engine = make_engine(model, collector, clock, max_batch_size=32, max_batch_delay_s=HOUR)
    with engine.arriving() as second:
        engine.submit(frame(1, 10))
        clock.advance(0.01)  # the conversion of the second frame takes 10 ms
        second.submit(frame(2, 12))
    collector.wait_for(2)
    engine.stop()
    assert model.batch_sizes == [22]
    assert [r.job.header for r in collector.results] == [1, 2]
    assert [r.queue_wait_s for r in collector.results] == [0.01, 0.0]
    assert engine.frames_arriving == 0


def test_the_hold_ends_at_the_batch_delay_if_the_announced_frame_is_late(clock):
    collector, model = Collector(), TableModel("m")
    engine = make_engine(model, collector, clock, max_batch_size=32, max_batch_delay_s=0.05)
    with engine.arriving():
        engine.submit(frame(1, 5))
        clock.advance(0.05)  # the delay is over: the worker sees it on its next look at the clock
        collector.wait_for(1)
    engine.stop()
    assert model.batch_sizes == [5]
    assert collector.results[0].queue_wait_s == 0.05


def test_an_abandoned_announcement_releases_the_hold(clock):
    """A refused image: the producer leaves the block without submitting."""
    collector, model = Collector(), TableModel("m")
    engine = make_engine(model, collector, clock, max_batch_size=32, max_batch_delay_s=HOUR)
    with engine.arriving():
        engine.submit(frame(1, 3))
    collector.wait_for(1)
    engine.stop()
    assert model.batch_sizes == [3]
    assert engine.frames_arriving == 0


def test_a_full_batch_runs_without_waiting_for_the_announced_frame(clock):
    collector, model = Collector(), TableModel("m")
    engine = make_engine(model, collector, clock, max_batch_size=8, max_batch_delay_s=HOUR)
    with engine.arriving() as third:
        engine.submit(frame(1, 4))
        engine.submit(frame(2, 4))
        collector.wait_for(2)
        third.submit(frame(3, 2))
    collector.wait_for(3)
    engine.stop()
    assert model.batch_sizes == [8, 2]


def test_a_frame_that_fits_is_never_split_across_batches(clock):
    """Three frames of 20 crops queued, batches of 32: 20 + 12 of the next would split it."""
    collector, model = Collector(), TableModel("m")
    engine = InferenceEngine(
        model,
        Thresholds(0.5, 0.2, 0.5),
        EngineConfig(max_batch_size=32, max_batch_delay_s=HOUR, clock=clock),
        collector.on_result,
        collector.on_drop,
    )
    for header in (1, 2, 3):
        engine.submit(frame(header, 20))
    engine.submit(frame(4, 0))  # a frame without cherries fits anywhere
    engine.start()
    collector.wait_for(4)
    engine.stop()
    assert model.batch_sizes == [20, 20, 20]
    assert [len(r.decisions.labels) for r in collector.results] == [20, 20, 20, 0]


def test_a_frame_larger_than_a_batch_runs_in_consecutive_batches(clock):
    collector, model = Collector(), TableModel("m")
    engine = InferenceEngine(
        model,
        Thresholds(0.5, 0.2, 0.5),
        EngineConfig(max_batch_size=8, max_batch_delay_s=HOUR, clock=clock),
        collector.on_result,
        collector.on_drop,
    )
    engine.submit(frame(1, 19))
    engine.submit(frame(2, 3))
    engine.start()
    collector.wait_for(2)
    engine.stop()
    assert model.batch_sizes == [8, 8, 6]  # its last 3 crops and all of frame 2


def test_accounting_and_deadline_hold_with_announcements(clock):
    """Frames held past the deadline are dropped as too old, counted; the rest are decided."""
    collector, model = Collector(), TableModel("m")
    engine = make_engine(
        model,
        collector,
        clock,
        max_batch_size=32,
        max_batch_delay_s=0.5,
        max_frame_age_s=0.2,
    )
    with engine.arriving():
        engine.submit(frame(1, 4))
        clock.advance(0.5)  # held for the whole delay, past the 0.2 s deadline
        collector.wait_for(1)
    engine.submit(frame(2, 4))
    collector.wait_for(2)
    engine.stop()
    assert [r.job.header for r in collector.results] == [2]
    assert [job.header for job in collector.drops] == [1]
    stats = engine.stats.snapshot()
    assert stats["drop_reasons"] == {DROP_TOO_OLD: 1}
    assert sum(stats["frames_in"].values()) == 2
    assert sum(stats["frames_out"].values()) + sum(stats["frames_dropped"].values()) == 2


def test_results_carry_inference_time_on_the_engine_clock(clock):
    class CostlyModel(TableModel):
        def predict_proba(self, crops):
            clock.advance(0.125)  # the inference time this model stands for
            return super().predict_proba(crops)

    collector = Collector()
    engine = make_engine(CostlyModel("m"), collector, clock, max_batch_delay_s=HOUR)
    engine.submit(frame(1, 2))
    collector.wait_for(1)
    engine.stop()
    result = collector.results[0]
    assert (result.queue_wait_s, result.inference_s, result.latency_s) == (0.0, 0.125, 0.125)
