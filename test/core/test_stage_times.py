"""Per-stage frame times: percentiles over a window, stages a frame skipped left out."""

from __future__ import annotations

import pytest

from cherry_classifier.core.stage_times import StageTimes


def test_percentiles_per_stage_over_the_window_in_milliseconds():
    times = StageTimes(window=4)
    for seconds in (0.5, 0.001, 0.002, 0.003, 0.004):  # the first falls out of the window
        times.record({"inference": seconds, "queue_wait": 0.0})
    times.record({"publish": 0.010})  # a frame that only has this stage
    figures = times.percentiles_ms()
    assert set(figures) == {"inference", "queue_wait", "publish"}
    assert figures["inference"]["n"] == 4
    assert figures["inference"]["p50"] == pytest.approx(2.5)
    assert figures["inference"]["max"] == pytest.approx(4.0)
    assert figures["publish"] == {"p50": 10.0, "p99": 10.0, "max": 10.0, "n": 1.0}
    assert times.frames == 6


def test_an_unknown_stage_is_refused():
    with pytest.raises(KeyError):
        StageTimes().record({"teleport": 1.0})
