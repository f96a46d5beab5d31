"""Metrics, temperature scaling, the threshold optimiser and the multi-seed interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cherry_classifier.core.decision import CLEAN, Thresholds, decide, softmax
from cherry_classifier.evaluation.metrics import (
    decision_metrics,
    expected_calibration_error,
    yield_at_recall,
)
from cherry_classifier.training.calibration import fit_temperature
from cherry_classifier.training.multiseed import mean_interval, summarise
from cherry_classifier.training.thresholds import choose_thresholds

THREE = ("clean", "maybe", "pit")
TWO = ("clean", "pit")


def separable_probabilities(count: int, seed: int = 0, overlap: float = 0.0):
    """Two-class probabilities: pits score high, cleans low, with some overlap."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    p_pit = np.where(
        labels == 1, rng.beta(5, 1 + 4 * overlap, count), rng.beta(1 + 4 * overlap, 5, count)
    )
    return np.stack([1 - p_pit, p_pit], axis=1).astype(np.float32), labels


def test_yield_at_recall_finds_the_cut():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.3, 0.7], [0.1, 0.9]])
    labels = np.array([0, 0, 0, 1, 1])  # pit risks 0.7, 0.9; clean risks 0.1, 0.2, 0.8
    assert yield_at_recall(probabilities, labels, TWO, 1.0) == pytest.approx(2 / 3)
    assert yield_at_recall(probabilities, labels, TWO, 0.5) == pytest.approx(3 / 3)


def test_decision_metrics_follow_the_core_policy():
    probabilities, labels = separable_probabilities(200, overlap=0.5)
    thresholds = Thresholds(0.6, 0.3, 0.5)
    metrics = decision_metrics(probabilities, labels, TWO, thresholds)
    decided = decide(probabilities, TWO, thresholds).labels
    assert metrics["pit_recall"] == pytest.approx(np.mean(decided[labels == 1] != CLEAN))
    assert metrics["clean_yield"] == pytest.approx(np.mean(decided[labels == 0] == CLEAN))
    assert metrics["missed_pits"] == int(np.sum(decided[labels == 1] == CLEAN))


def test_temperature_recovers_the_one_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 3))
    truth = 2.0
    probabilities = softmax(logits, truth)
    labels = np.array([rng.choice(3, p=p / p.sum()) for p in probabilities.astype(float)])
    fit = fit_temperature(logits, labels, 0.5, 10.0)
    assert fit.temperature == pytest.approx(truth, rel=0.1)
    assert fit.nll_after <= fit.nll_before and not fit.at_bound
    calibrated = softmax(logits, fit.temperature)
    assert expected_calibration_error(calibrated, labels) < expected_calibration_error(
        softmax(logits), labels
    )


def test_separable_validation_stops_at_the_lower_bound():
    logits = np.array([[5.0, -5.0], [-5.0, 5.0]] * 10)
    fit = fit_temperature(logits, np.array([0, 1] * 10), 0.5, 10.0)
    assert fit.temperature == pytest.approx(0.5, rel=1e-3) and fit.at_bound


def test_thresholds_reach_the_recall_target_and_cap_the_review_band():
    probabilities, labels = separable_probabilities(600, overlap=0.6)
    choice = choose_thresholds(probabilities, labels, TWO, 0.99, 0.15)
    assert choice.feasible
    metrics = decision_metrics(probabilities, labels, TWO, choice.thresholds)
    assert metrics["pit_recall"] >= 0.99 and metrics["maybe_rate"] <= 0.15
    assert metrics == choice.metrics
    looser = choose_thresholds(probabilities, labels, TWO, 0.9, 0.15)
    assert looser.metrics["clean_yield"] >= metrics["clean_yield"]


def test_unreachable_targets_choose_the_safest_and_say_so():
    probabilities, labels = separable_probabilities(300, overlap=1.0)
    probabilities[np.flatnonzero(labels == 1)[0]] = [1.0, 0.0]  # a pit no threshold can catch
    choice = choose_thresholds(probabilities, labels, TWO, 1.0, 0.1)
    assert not choice.feasible
    assert choice.metrics["missed_pits"] == 1  # every other pit caught: the safest choice
    assert choice.metrics["pit_recall"] == pytest.approx(1 - 1 / np.sum(labels == 1))


def test_three_class_thresholds_use_the_maybe_class():
    rng = np.random.default_rng(1)
    labels = rng.choice(3, 500, p=[0.5, 0.1, 0.4])
    logits = rng.normal(0, 1, (500, 3))
    logits[np.arange(500), labels] += 4
    choice = choose_thresholds(softmax(logits), labels, THREE, 0.99, 0.2)
    assert choice.feasible and choice.metrics["pit_recall"] >= 0.99
    with pytest.raises(ValueError, match="needs pits"):
        choose_thresholds(softmax(logits[labels == 0]), labels[labels == 0], THREE)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    overlap=st.floats(0.0, 2.0, allow_subnormal=False),
    target=st.sampled_from([0.9, 0.95, 0.99, 1.0]),
    cap=st.floats(0.0, 0.5, allow_subnormal=False),
)
def test_chosen_thresholds_are_always_valid_and_honest(seed, overlap, target, cap):
    probabilities, labels = separable_probabilities(120, seed, overlap)
    if not np.any(labels == 1):
        return
    choice = choose_thresholds(probabilities, labels, TWO, target, cap, steps=21)
    choice.thresholds.validated()
    if choice.feasible:
        assert choice.metrics["pit_recall"] >= target and choice.metrics["maybe_rate"] <= cap


def test_mean_and_95_percent_interval():
    mean, _, high = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and high - mean == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-4)
    assert mean_interval([0.5]) == (0.5, 0.5, 0.5)
    summary = summarise({0: {"test": {"accuracy": 0.9}}, 1: {"test": {"accuracy": 0.8}}})
    assert summary["metrics"]["accuracy"]["mean"] == pytest.approx(0.85)
    assert "| accuracy | 0.8500 |" in summary["markdown"]
