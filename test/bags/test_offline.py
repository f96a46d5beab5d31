"""Offline evaluation of bags: deterministic, right on easy synthetic frames, every input mode,
and a threshold sweep that reproduces the decisions of a real run at each swept point."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from cherry_classifier.bags.make_bag import synthetic_triggers, write_image_bag
from cherry_classifier.bags.offline import evaluate_bag
from cherry_classifier.core.decision import CLEAN, MAYBE, PIT, Thresholds
from cherry_classifier.evaluation.record_metrics import (
    decisions_at,
    evaluate_records,
    record_metrics,
    threshold_sweep,
)


@pytest.fixture(scope="module")
def frames_records(synthetic_bag, classifier):
    return evaluate_bag(synthetic_bag, classifier)


def test_offline_evaluation_is_deterministic(synthetic_bag, classifier, frames_records):
    again = evaluate_bag(synthetic_bag, classifier)
    assert again.records == frames_records.records
    assert again.meta == frames_records.meta


def test_offline_evaluation_finds_and_labels_every_synthetic_cherry(frames_records):
    records = frames_records
    assert records.meta["frames"] == {"/line1/image/compressed": 2}
    assert records.meta["labelled_frames"] == 2
    assert len(records) == 26 and not records.missed  # 12 + 14 cherries, all found and matched
    assert (records.truth >= 0).all()
    assert [r.index for r in records.records[:3]] == [0, 1, 2]
    agreement = np.mean(records.labels == records.truth)
    assert agreement >= 0.9, records.labels.tolist()
    metrics = record_metrics(records)
    assert metrics["decisions"] == metrics["labelled"] == 26
    assert np.sum(metrics["confusion"]) == 26


def test_sweep_reproduces_the_decisions_at_the_swept_point(
    synthetic_bag, classifier, frames_records
):
    other = Thresholds(pit_threshold=0.9, maybe_threshold=0.05, clean_threshold=0.97)
    rerun = evaluate_bag(synthetic_bag, classifier, other)
    np.testing.assert_array_equal(decisions_at(frames_records, other), rerun.labels)
    np.testing.assert_array_equal(rerun.probabilities, frames_records.probabilities)
    (row,) = [r for r in threshold_sweep(frames_records, [other]) if r["pit_threshold"] == 0.9]
    expected = record_metrics(rerun)
    for key in ("pit_recall", "clean_yield", "maybe_rate", "decided"):
        assert row[key] == expected[key]
    # the pit-threshold grid always contains the point the records were made at
    used = frames_records.meta["thresholds"]["pit_threshold"]
    rows = threshold_sweep(frames_records, [0.1, 0.5])
    (at_used,) = [r for r in rows if r["pit_threshold"] == used]
    assert at_used["decided"] == record_metrics(frames_records)["decided"]


def test_metrics_definitions_on_hand_made_decisions(frames_records):
    records = copy.deepcopy(frames_records)
    truth = records.truth
    decided = np.where(truth == PIT, MAYBE, CLEAN)  # every pit to review, every other CLEAN
    for record, label in zip(records.records, decided, strict=True):
        record.label = int(label)
    metrics = evaluate_records(records).overall
    assert metrics["pit_recall"] == 1.0 and metrics["pit_recall_strict"] == 0.0
    assert metrics["clean_yield"] == 1.0
    assert metrics["maybe_rate"] == pytest.approx(np.mean(truth == PIT))
    assert metrics["missed_pits"] == 0
    assert np.isnan(metrics["pit_precision"])  # nothing decided PIT


def test_layers_mode_joins_layer_topics_and_matches_the_frames_mode(tmp_path, classifier):
    bag = tmp_path / "layers"
    write_image_bag(
        bag, synthetic_triggers(1, "/cam", cherries=10, seed=3, mode="layers"), "mcap", "none"
    )
    topics = ["/cam/bot1", "/cam/bot2", "/cam/top2"]
    records = evaluate_bag(bag, classifier, input_mode="layers", image_topics=topics)
    assert records.meta["frames"] == {",".join(topics): 1}
    assert len(records) == 10 and not records.missed and (records.truth >= 0).all()
    assert records.records[0].source_topic == "/cam/bot1,/cam/bot2,/cam/top2"
    with pytest.raises(ValueError, match="needs image_topics"):
        evaluate_bag(bag, classifier, input_mode="layers")
