"""The label-free report's figures from records alone: frames with and without cherries, lost
and late frames when the records carry them, no reference, and the Wilson interval."""

from __future__ import annotations

import numpy as np
import pytest

from cherry_classifier.core.decision import CLEAN, PIT
from cherry_classifier.core.drift import NO_REFERENCE
from cherry_classifier.evaluation.plots import wilson_interval
from cherry_classifier.evaluation.record_report import write_report
from cherry_classifier.evaluation.records import CherryRecord, RecordSet
from cherry_classifier.evaluation.shift_report import shift_summary, write_shift_report

SECOND = 10**9
CLASSES = ("clean", "maybe", "pit")


def live_records() -> RecordSet:
    """4 frames 0.5 s apart on one topic; frame 2 empty; frame 3 decided 0.9 s late."""
    records = RecordSet(CLASSES, model_id="m", meta={"lost_frames": [["/cam", 5 * SECOND]]})
    records.meta["frame_stamps_ns"] = {"/cam": [0, SECOND // 2, SECOND, 3 * SECOND // 2]}
    for frame, latency in ((0, 0.1), (1, 0.2), (3, 0.9)):
        for index, label in enumerate((CLEAN, CLEAN, PIT)):
            probabilities = [0.9, 0.05, 0.05] if label == CLEAN else [0.02, 0.03, 0.95]
            records.records.append(
                CherryRecord(
                    "/cam",
                    frame * SECOND // 2,
                    "f",
                    (0, 0, 10, 10),
                    probabilities,
                    label,
                    latency_s=latency,
                    index=index,
                )
            )
    return records


def test_frames_lost_and_late_come_from_what_the_records_carry():
    summary = shift_summary(live_records(), None, NO_REFERENCE)
    figures = summary.to_dict()
    assert figures["frames"] == 4 and figures["frames_with_no_cherries"] == 1
    assert figures["lost_frames"] == 1
    assert figures["late_after_s"] == pytest.approx(0.5)  # the frame period
    assert figures["late_frames"] == 1
    assert figures["decided"] == {"clean": 6, "maybe": 0, "pit": 3}
    assert figures["drift"] is None and figures["reference_note"] == NO_REFERENCE


def test_records_without_frame_stamps_say_empty_frames_are_unknown(tmp_path):
    records = live_records()
    del records.meta["frame_stamps_ns"]
    records.meta["model_path"] = str(tmp_path)  # a folder without reference.json
    md_path, figures = write_shift_report({"live": records}, tmp_path / "out", drops=0)
    assert figures["live"]["frames_with_no_cherries"] is None
    assert "frames with no cherries: not in these records" in md_path.read_text()
    assert figures["live"]["reference_note"] == NO_REFERENCE
    assert (tmp_path / "out" / figures["live"]["plot"]).is_file()


def test_write_report_on_live_records_titles_latency_as_publish_to_receipt(tmp_path):
    records = live_records()
    for record in records.records:
        record.truth = record.label
    md_path, _ = write_report({"live": records}, tmp_path, drops={"live": 1})
    markdown = md_path.read_text()
    assert "published (replay) to its decisions received" in markdown
    assert "## Metrics" in markdown and "## Label-free shift report" in markdown
    assert (tmp_path / "latency.png").is_file() and (tmp_path / "shift.md").is_file()


def test_wilson_interval_is_honest_at_the_ends_and_narrows_with_more_cherries():
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(95, 100)[0] > wilson_interval(19, 20)[0]
    assert all(np.isnan(wilson_interval(0, 0)))
