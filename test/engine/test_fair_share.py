"""Under overload every input keeps its share: the queue drops the busiest source's frames."""

from __future__ import annotations

import time

from cherry_classifier.core.decision import Thresholds
from cherry_classifier.core.engine import EngineConfig, FrameJob, InferenceEngine
from test.engine.test_engine import Collector, TableModel, crop


def engine_for(collector: Collector, model: TableModel, queue: int) -> InferenceEngine:
    return InferenceEngine(
        model,
        Thresholds(),
        EngineConfig(max_batch_size=4, max_batch_delay_s=0.0, max_queue_frames=queue),
        on_result=collector.on_result,
        on_drop=collector.on_drop,
    )


def test_a_flooding_camera_loses_its_own_frames_not_the_quiet_cameras():
    """One frame of camera B waits; camera A floods the queue: A's frames go, B's stays (a
    drop-oldest queue would drop B's, the oldest, first)."""
    collector = Collector()
    engine = engine_for(collector, TableModel("m"), queue=4)  # not started: nothing is taken
    engine.submit(FrameJob(source="/b", crops=[crop(1)]))
    for index in range(10):
        engine.submit(FrameJob(source="/a", crops=[crop(2 + index)]))
    assert [job.source for job in collector.drops] == ["/a"] * 7
    assert [job.crops[0][0, 0, 0] for job in collector.drops] == list(range(2, 9))  # A's oldest
    assert engine.queue_depth()[0] == 4
    engine.start()
    collector.wait_for(4)
    engine.stop()
    assert sorted(result.job.source for result in collector.results) == ["/a"] * 3 + ["/b"]


def test_equal_offered_rates_give_decided_counts_within_20_percent():
    """Two cameras at the same rate into an engine that decides about half of what comes."""
    collector = Collector()
    engine = engine_for(collector, TableModel("m", delay_s=0.004), queue=3)
    engine.start()
    sent = 200
    for index in range(sent):
        for source in ("/a", "/b"):
            engine.submit(FrameJob(source=source, crops=[crop(index % 250)] * 4))
        time.sleep(0.002)  # pacing (not synchronisation): frames come faster than batches go
    collector.wait_for(2 * sent, timeout=60)
    engine.stop()
    decided = {s: sum(r.job.source == s for r in collector.results) for s in ("/a", "/b")}
    dropped = {s: sum(j.source == s for j in collector.drops) for s in ("/a", "/b")}
    assert all(decided[s] + dropped[s] == sent for s in decided), (decided, dropped)
    assert sum(dropped.values()) > 0.2 * sent  # it was overloaded
    assert min(decided.values()) >= 0.8 * max(decided.values()), decided
