"""The node's drift alarm without ROS (core.drift_monitor): a class-balance shift in live frames
goes past the warn level, an unshifted stream does not; the window empties on a model change;
a model without a reference disables the alarm and says so."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from cherry_classifier.core.decision import Thresholds, decide
from cherry_classifier.core.drift import (
    DRIFT_ALARM_LEVEL,
    MIN_DECISIONS,
    NO_REFERENCE,
    REFERENCE_FILE,
    ReferenceDistribution,
    write_reference,
)
from cherry_classifier.core.drift_monitor import ALARM, DISABLED, FILLING, OK, DriftMonitor
from cherry_classifier.core.engine import FrameJob, FrameResult
from test.core.test_drift import CLASSES, stream

THRESHOLDS = Thresholds(0.5, 0.2, 0.5)
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "default"


def frames_of(probabilities: np.ndarray, model_id: str = "m", per_frame: int = 25):
    """Live results of `per_frame` crops each, as the engine hands them on."""
    for start in range(0, len(probabilities), per_frame):
        chunk = probabilities[start : start + per_frame]
        job = FrameJob(source="cam", crops=[np.zeros((2, 2, 3), np.uint8)] * len(chunk))
        decisions = decide(chunk, CLASSES, THRESHOLDS)
        mask = np.zeros(len(chunk), bool)
        yield FrameResult(job, decisions, mask, model_id, CLASSES, THRESHOLDS, 1, 0.0)


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A folder with the reference of a stream with 10% pits, for model id "m"."""
    reference = ReferenceDistribution.from_probabilities(
        stream(1000, 0.10, seed=999), CLASSES, THRESHOLDS, "m", "test stream"
    )
    write_reference(tmp_path, reference)
    return tmp_path


def fed(monitor: DriftMonitor, probabilities: np.ndarray, model_id: str = "m") -> DriftMonitor:
    for result in frames_of(probabilities, model_id):
        monitor.add(result)
    return monitor


@pytest.mark.parametrize("seed", range(5))
def test_pits_10_to_50_percent_alarm_and_an_unshifted_stream_does_not(bundle, seed):
    steady, shifted = DriftMonitor(), DriftMonitor()
    for monitor in (steady, shifted):
        assert monitor.set_model("m", bundle).startswith("reference: ")
    fed(steady, stream(600, 0.10, seed))
    fed(shifted, np.concatenate([stream(300, 0.10, seed), stream(600, 0.50, seed + 100)]))
    calm, alarm = steady.status(), shifted.status()
    assert calm.state == OK and float(calm.values["score"]) < DRIFT_ALARM_LEVEL, calm.message
    assert alarm.state == ALARM and float(alarm.values["score"]) > DRIFT_ALARM_LEVEL
    assert alarm.values["decisions"] == 500 and alarm.values["window_share_pit"] > 0.4
    assert alarm.values["reference_share_pit"] < 0.2 and "ALARM" in alarm.message


def test_the_window_fills_empties_on_a_model_change_and_ignores_other_models(bundle):
    monitor = DriftMonitor(window=300)
    monitor.set_model("m", bundle)
    fed(monitor, stream(MIN_DECISIONS - 25, 0.5, seed=1))
    fed(monitor, stream(100, 0.5, seed=2), model_id="other")  # decided by another model
    status = monitor.status()
    assert status.state == FILLING and status.values["decisions"] == MIN_DECISIONS - 25
    fed(monitor, stream(25, 0.5, seed=3))
    assert monitor.status().state == ALARM
    monitor.set_model("m", bundle)  # a swap (even to the same model) starts again
    assert monitor.status().values["decisions"] == 0
    monitor.configure(level=100.0)
    fed(monitor, stream(400, 0.5, seed=4))
    status = monitor.status()
    assert status.state == OK and status.values["decisions"] == 300
    with pytest.raises(ValueError, match="drift_window"):
        monitor.configure(window=MIN_DECISIONS - 1)
    with pytest.raises(ValueError, match="drift_warn_level"):
        monitor.configure(level=0.0)


def test_fail_safe_crops_stay_out_of_the_window(bundle):
    monitor = DriftMonitor()
    monitor.set_model("m", bundle)
    (result,) = frames_of(stream(10, 0.1, seed=5), per_frame=10)
    result.fail_safe[:4] = True
    monitor.add(result)
    assert monitor.status().values["decisions"] == 6


def test_without_a_reference_the_alarm_is_disabled_and_says_why(tmp_path, bundle):
    monitor = DriftMonitor()
    assert monitor.set_model("m", tmp_path / "nothing") == NO_REFERENCE
    fed(monitor, stream(300, 0.5, seed=6))
    status = monitor.status()
    assert status.state == DISABLED and status.message == NO_REFERENCE and not monitor.enabled
    line = monitor.set_model("someone_else", bundle)  # a reference made for another model
    assert line.startswith(NO_REFERENCE + " (") and "made for model m" in line
    assert monitor.set_model("", None) == NO_REFERENCE  # no model at all


def test_the_bundled_model_carries_a_reference_the_monitor_reads(tmp_path):
    monitor = DriftMonitor()
    assert monitor.set_model("6b6790f7e0bad52c", DEFAULT_MODEL).startswith("reference: ")
    copy = shutil.copytree(DEFAULT_MODEL, tmp_path / "copy")
    (copy / REFERENCE_FILE).unlink()
    assert monitor.set_model("6b6790f7e0bad52c", copy) == NO_REFERENCE
