"""The shadow model's core (core.shadow): agreement figures, and the runner on the engine's spare
capacity (after the live results, shed first, never inside a live frame). No ROS here."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

from cherry_classifier.core.decision import CLEAN, MAYBE, PIT, Thresholds, decide
from cherry_classifier.core.engine import EngineConfig, FrameJob, FrameResult, InferenceEngine
from cherry_classifier.core.shadow import (
    SKIP_BACKLOG,
    SKIP_CHANGED,
    SKIP_FAIL_SAFE,
    SKIP_FAILED,
    AgreementTracker,
    ShadowRunner,
)

CLASSES = ("clean", "maybe", "pit")
THRESHOLDS = Thresholds(0.5, 0.2, 0.5)


def pit_disagreements(live: np.ndarray, shadow: np.ndarray) -> int:
    """The independent count: crops one labelling calls PIT and the other CLEAN (label by
    label, not from a confusion matrix as the tracker counts)."""
    live, shadow = np.asarray(live), np.asarray(shadow)
    return int(np.sum(((live == PIT) & (shadow == CLEAN)) | ((live == CLEAN) & (shadow == PIT))))


@dataclass
class Manifest:
    class_names: tuple[str, ...] = CLASSES


class ShiftModel:
    """P(pit) = the crop's first pixel / 255 plus ``shift`` (clipped), the rest to clean; logs
    every call (crops, and what the log said was happening then)."""

    def __init__(self, model_id: str, shift: float = 0.0, log=None, fail: bool = False) -> None:
        self.model_id, self.manifest, self.shift, self.fail = model_id, Manifest(), shift, fail
        self.log = log if log is not None else []
        self.calls: list[int] = []

    def predict_proba(self, crops):
        self.calls.append(len(crops))
        self.log.append(("predict", self.model_id, len(crops)))
        if self.fail:
            raise RuntimeError("shadow broke")
        pit = np.clip(np.array([c[0, 0, 0] / 255.0 for c in crops]) + self.shift, 0, 1)
        return np.stack([1 - pit, np.zeros_like(pit), pit], axis=1).astype(np.float32)


def crop(value: int) -> np.ndarray:
    return np.full((4, 4, 3), value, np.uint8)


def frame(values, source="cam") -> FrameJob:
    return FrameJob(source=source, crops=[crop(v) for v in values])


def live_result(values, model_id="live", fail_safe=None) -> FrameResult:
    pit = np.array(values, np.float32) / 255.0
    probabilities = np.stack([1 - pit, np.zeros_like(pit), pit], axis=1)
    decisions = decide(probabilities, CLASSES, THRESHOLDS)
    mask = np.zeros(len(values), bool) if fail_safe is None else np.asarray(fail_safe)
    return FrameResult(frame(values), decisions, mask, model_id, CLASSES, THRESHOLDS, 1, 0.0)


def test_tracker_counts_agreement_confusion_and_pit_disagreements_in_window_and_in_total():
    rng = np.random.default_rng(0)
    tracker = AgreementTracker(window=50)
    frames = [(rng.integers(0, 3, 12), rng.integers(0, 3, 12)) for _ in range(10)]
    for live, shadow in frames:
        tracker.add(live, shadow)
    live_all = np.concatenate([f[0] for f in frames])
    shadow_all = np.concatenate([f[1] for f in frames])
    total, window = tracker.total_figures(), tracker.window_figures()
    assert total.crops == 120 and window.crops == 50 and tracker.frames == 10
    assert total.agreed == int(np.sum(live_all == shadow_all))
    assert window.agreed == int(np.sum(live_all[-50:] == shadow_all[-50:]))
    assert total.pit_disagreements == pit_disagreements(live_all, shadow_all)
    assert window.pit_disagreements == pit_disagreements(live_all[-50:], shadow_all[-50:])
    for code, name in enumerate(CLASSES):
        mine = live_all == code
        expected = float(np.mean(shadow_all[mine] == code))
        assert total.agreement_per_live_label()[name] == pytest.approx(expected)
        for other in range(3):
            assert total.confusion[code, other] == int(np.sum(mine & (shadow_all == other)))
    tracker.skip(7, SKIP_BACKLOG)
    tracker.skip(0, SKIP_FAILED)
    assert tracker.skipped() == {SKIP_BACKLOG: 7}
    tracker.reset()
    assert tracker.total_figures().crops == 0 and tracker.total_figures().agreement is None
    assert tracker.skipped() == {} and tracker.frames == 0
    with pytest.raises(ValueError, match="3 live labels but 2"):
        tracker.add([0, 1, 2], [0, 1])


def test_pit_disagreements_are_pit_against_clean_either_way_round():
    live = np.array([PIT, CLEAN, PIT, MAYBE, CLEAN, PIT])
    shadow = np.array([CLEAN, PIT, MAYBE, PIT, CLEAN, PIT])
    assert pit_disagreements(live, shadow) == 2


def test_runner_runs_in_chunks_compares_and_decides_at_the_live_frames_thresholds():
    results = []
    runner = ShadowRunner(lambda shadow, live: results.append((shadow, live)), chunk_size=4)
    runner.set_model(ShiftModel("shadow", shift=0.3))
    values = [10, 60, 100, 140, 200, 250, 30, 90, 128, 5]  # P(pit) 0.04 ... 0.98
    runner.submit(live_result(values))
    while runner.has_work():
        runner.run_chunk()
    assert runner.model.calls == [4, 4, 2]
    ((shadow, live),) = results
    assert shadow.model_id == "shadow" and shadow.job is live.job
    assert shadow.thresholds == THRESHOLDS
    pit = np.clip(np.array(values) / 255.0 + 0.3, 0, 1)
    expected = decide(np.stack([1 - pit, 0 * pit, pit], 1), CLASSES, THRESHOLDS).labels
    assert shadow.decisions.labels.tolist() == expected.tolist()
    figures = runner.tracker.total_figures()
    assert figures.crops == 10
    assert figures.agreed == int(np.sum(live.decisions.labels == expected))
    assert figures.pit_disagreements == pit_disagreements(live.decisions.labels, expected)


def test_runner_sheds_oldest_frames_skips_fail_safe_and_counts_every_crop_it_never_ran():
    runner = ShadowRunner(chunk_size=100, max_frames=2)
    runner.submit(live_result([1, 2]))  # no shadow: nothing happens, nothing counted
    assert not runner.has_work() and runner.tracker.skipped() == {}
    runner.set_model(ShiftModel("shadow"))
    for size in (3, 4, 5, 6):
        runner.submit(live_result([7] * size))
    runner.submit(live_result([7] * 9, fail_safe=[True] + [False] * 8))
    runner.submit(live_result([7] * 2, model_id=""))  # no live model: fail-safe decisions
    assert runner.pending_frames() == 2
    assert runner.tracker.skipped() == {SKIP_BACKLOG: 3 + 4, SKIP_FAIL_SAFE: 9 + 2}
    runner.run_chunk()
    assert runner.tracker.total_figures().crops == 5
    runner.set_model(ShiftModel("other"))  # the 6 crops still pending are skipped
    assert runner.tracker.skipped() == {SKIP_CHANGED: 6} and not runner.has_work()


def test_a_failing_shadow_is_counted_and_the_next_frame_runs():
    runner = ShadowRunner(chunk_size=2)
    runner.set_model(ShiftModel("bad", fail=True))
    runner.submit(live_result([1, 2, 3]))
    runner.run_chunk()
    assert runner.failures == 1 and "shadow broke" in runner.last_failure
    assert runner.tracker.skipped() == {SKIP_FAILED: 3} and not runner.has_work()
    runner.model.fail = False
    runner.submit(live_result([1, 2, 3]))
    runner.run_chunk()
    runner.run_chunk()
    assert runner.tracker.total_figures().crops == 3


def test_on_the_engine_the_shadow_runs_only_after_every_waiting_live_frame():
    """Frames queued before the worker starts: every live result comes before the shadow's
    first call, and the backlog beyond max_frames is shed and counted."""
    log: list = []
    live = ShiftModel("live", log=log)
    shadow_results = []
    runner = ShadowRunner(lambda s, lv: shadow_results.append(s), chunk_size=3, max_frames=4)
    runner.set_model(ShiftModel("shadow", shift=0.4, log=log))

    def on_result(result):
        log.append(("live result", result.job.sequence))
        runner.submit(result)

    engine = InferenceEngine(
        live, THRESHOLDS, EngineConfig(max_batch_size=5), on_result, idle_work=runner
    )
    runner.set_wake(engine.wake)
    for index in range(10):
        engine.submit(frame([20 * index + k for k in range(5)]))
    engine.start()
    try:
        deadline = time.monotonic() + 20  # a hang guard, not a speed bound
        while len(shadow_results) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)  # pacing: poll for the worker's results
    finally:
        engine.stop()
    first_shadow = next(i for i, entry in enumerate(log) if entry[:2] == ("predict", "shadow"))
    live_results = [i for i, entry in enumerate(log) if entry[0] == "live result"]
    assert len(live_results) == 10 and max(live_results) < first_shadow
    assert [r.job.sequence for r in shadow_results] == [6, 7, 8, 9]
    assert runner.tracker.skipped() == {SKIP_BACKLOG: 6 * 5}
    assert all(n <= 3 for n in runner.model.calls)
    assert runner.tracker.total_figures().crops == 20
    assert engine.stats.snapshot()["crops_decided"] == 50  # the shadow's crops are not live ones


def test_tracker_refuses_an_empty_window():
    with pytest.raises(ValueError, match="window"):
        AgreementTracker(window=0)
