"""Label matching rule and the per-cherry records' files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cherry_classifier.core.decision import CLEAN, MAYBE, PIT
from cherry_classifier.evaluation.labels import Label, match_decisions_to_labels
from cherry_classifier.evaluation.records import (
    CherryRecord,
    MissedLabel,
    RecordSet,
    frame_records,
    merge,
)
from cherry_classifier.imaging.localizer import Region


def test_decisions_take_the_nearest_label_within_half_its_box():
    labels = [
        Label((100, 100, 60, 60), PIT),  # centre (130, 130)
        Label((200, 100, 60, 60), CLEAN),  # centre (230, 130)
        Label((400, 100, 40, 40), MAYBE),  # centre (420, 120): nothing near it
    ]
    regions = [
        (166, 66, 128, 128),  # centre (230, 130): the clean one, exactly
        Region(70, 70, 128, 128),  # centre (134, 134): the pit, 5.7 px off
        (140, 70, 128, 128),  # centre (204, 134): 26 px from the clean one, already taken
        (600, 0, 128, 128),  # nothing near
    ]
    match = match_decisions_to_labels(regions, labels)
    assert match.label_index == [1, 0, None, None]
    assert match.truth == [CLEAN, PIT, None, None]
    assert match.missed == [2]
    wide = match_decisions_to_labels(regions[2:3], labels[:2], max_distance_px=30)
    assert wide.truth == [CLEAN]  # nearest of the two within 30 px


def test_one_whole_image_crop_always_takes_its_one_label():
    match = match_decisions_to_labels([(0, 0, 128, 128)], [Label((0, 0, 50, 50), PIT)])
    assert match.truth == [PIT] and match.missed == []


def _records() -> RecordSet:
    rows = [
        CherryRecord("/a", 10, "f0", (-3, 4, 128, 128), [0.7, 0.1, 0.2], CLEAN, CLEAN, "m", None),
        CherryRecord("/a", 10, "f0", (30, 4, 128, 128), [0.1, 0.2, 0.7], PIT, None, "m", 0.012, 1),
        CherryRecord("/b", 20, "g", (0, 0, 5, 5), [0.4, 0.4, 0.2], MAYBE, MAYBE, "m", 0.5, 0, True),
    ]
    missed = [MissedLabel("/a", 10, "f0", (300, 0, 50, 50), PIT)]
    return RecordSet(("clean", "maybe", "pit"), rows, missed, "m", {"thresholds": {"a": 1}})


@pytest.mark.parametrize("suffix", [".jsonl", ".npz"])
def test_records_round_trip(tmp_path, suffix):
    records = _records()
    loaded = RecordSet.load(records.save(tmp_path / f"records{suffix}"))
    assert loaded.records == records.records
    assert loaded.missed == records.missed
    assert (loaded.class_names, loaded.model_id, loaded.meta) == (
        records.class_names,
        records.model_id,
        records.meta,
    )
    np.testing.assert_array_equal(loaded.probabilities, records.probabilities)
    np.testing.assert_array_equal(loaded.truth, [CLEAN, -1, MAYBE])


def test_jsonl_is_plain_json_lines(tmp_path):
    path = _records().save(tmp_path / "r.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["format"].startswith("cherry_classifier.records")
    assert sum("record" in line for line in lines) == 3
    with pytest.raises(ValueError, match=r"jsonl or \.npz"):
        _records().save(tmp_path / "r.csv")


def test_subset_and_merge():
    records = _records()
    assert records.source_topics == ["/a", "/b"]
    assert len(records.subset("/a")) == 2 and len(records.subset("/a").missed) == 1
    np.testing.assert_allclose(records.latencies, [0.012, 0.5])
    assert len(merge([records, records])) == 6


def test_frame_records_appends_decisions_with_truth_and_missed_labels():
    records = RecordSet(("clean", "pit"))
    labels = [Label((10, 10, 50, 50), PIT), Label((400, 10, 50, 50), CLEAN)]
    frame_records(
        records,
        source_topic="/a",
        stamp_ns=5,
        frame_id="f",
        regions=[(0, 0, 70, 70), Region(900, 0, 128, 128)],  # a live ROI and an offline window
        probabilities=np.asarray([[0.2, 0.8], [0.9, 0.1]], np.float32),
        decided=np.asarray([PIT, CLEAN]),
        frame_labels=labels,
        model_id="m",
        latency_s=0.02,
        fail_safe=[False, True],
    )
    assert [(r.truth, r.label, r.index, r.fail_safe) for r in records.records] == [
        (PIT, PIT, 0, False),
        (None, CLEAN, 1, True),
    ]
    assert records.records[1].region == (900, 0, 128, 128)
    assert records.missed == [MissedLabel("/a", 5, "f", (400, 10, 50, 50), CLEAN)]
