"""ModelMetrics: one typed result whose fields are every report's rows and columns."""

from __future__ import annotations

import json
import math

import numpy as np

from cherry_classifier.core.decision import Thresholds
from cherry_classifier.evaluation.metrics import (
    CAMERA,
    COMPARE,
    HEADLINE,
    RECORDS,
    SEEDS,
    SUMMARY,
    SWEEP,
    TRAINING,
    ModelMetrics,
    evaluate_probabilities,
)
from cherry_classifier.evaluation.tables import json_safe

CLASSES = ("clean", "maybe", "pit")


def scored() -> ModelMetrics:
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), 60)
    labels = rng.integers(0, 3, 60)
    return evaluate_probabilities(probabilities, labels, CLASSES, thresholds=Thresholds())


def test_a_split_keeps_the_report_json_keys_and_reads_back_equal():
    metrics = scored()
    data = metrics.to_dict()
    assert {"accuracy", "nll", "ece", "confusion", "clean_yield_at_recall", "count"} <= set(data)
    assert {"pit_recall", "missed_pits", "class_pit_f1", "class_clean_precision"} <= set(data)
    assert "decisions" not in data  # not measured on crops: left out, not null
    assert ModelMetrics.from_dict(json.loads(json.dumps(data))) == metrics
    assert metrics["class_pit_recall"] == metrics.per_class["pit"]["recall"]
    assert "labelled" not in metrics and "pit_recall" in metrics


def test_a_null_figure_reads_back_as_nan_and_unknown_keys_are_ignored():
    read = ModelMetrics.from_dict({"pit_precision": None, "decisions": 3, "other": 1})
    assert math.isnan(read.pit_precision) and read.decisions == 3 and read.accuracy is None
    assert json_safe(read) == {"pit_precision": None, "decisions": 3}


def test_the_views_keep_the_orders_the_reports_had():
    assert ModelMetrics.view_keys(HEADLINE) == [
        "accuracy",
        "pit_recall",
        "pit_recall_strict",
        "pit_precision",
        "clean_yield",
        "maybe_rate",
        "clean_yield_at_recall",
        "ece",
        "nll",
        "count",
    ]
    assert ModelMetrics.view_keys(SUMMARY) == ModelMetrics.view_keys(HEADLINE)[:7]
    assert ModelMetrics.view_keys(TRAINING, ("clean", "pit"))[-7:] == [
        "nll",
        "class_clean_precision",
        "class_clean_recall",
        "class_clean_f1",
        "class_pit_precision",
        "class_pit_recall",
        "class_pit_f1",
    ]
    assert ModelMetrics.view_keys(RECORDS) == [
        "pit_recall",
        "pit_recall_strict",
        "pit_precision",
        "clean_yield",
        "maybe_rate",
        "missed_pits",
        "ece",
        "decisions",
        "labelled",
        "unlabelled",
        "maybe_rate_all",
        "pit_recall_with_missed",
        "fail_safe",
    ]
    assert ModelMetrics.view_keys(CAMERA) == [
        "pit_recall",
        "pit_precision",
        "clean_yield",
        "maybe_rate",
        "decisions",
        "labelled",
    ]
    assert ModelMetrics.view_keys(SWEEP)[-2:] == ["missed_pits", "decided"]
    assert ModelMetrics.view_keys(SEEDS) == [
        "accuracy",
        "pit_recall",
        "clean_yield",
        "maybe_rate",
        "clean_yield_at_recall",
        "ece",
        "nll",
    ]
    assert [ModelMetrics.title(k) for k in ModelMetrics.view_keys(COMPARE)] == [
        "accuracy",
        "pit recall",
        "clean yield",
        "maybe rate",
        "clean yield @ target recall",
        "ECE",
    ]


def test_a_view_of_the_figures_holds_only_that_view():
    assert list(scored().to_dict(SUMMARY)) == ModelMetrics.view_keys(SUMMARY)
