"""Metrics that matter on the line: pit safety first, clean yield second.

Safety counts a pit as caught when it is not decided CLEAN (PIT, or MAYBE for manual review).
Clean yield is the share of clean cherries decided CLEAN. Crops labelled maybe count in neither.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from cherry_classifier.core.decision import CLEAN, MAYBE, PIT, Thresholds, decide, softmax


def _index(class_names: Sequence[str], name: str) -> int:
    return list(class_names).index(name)


def yield_at_recall(
    logits: np.ndarray, labels: np.ndarray, class_names: Sequence[str], target: float
) -> float:
    """Best clean yield with P(pit) as the only cut, at pit recall >= target."""
    p_pit = softmax(logits)[:, _index(class_names, "pit")]
    pits = p_pit[labels == _index(class_names, "pit")]
    cleans = p_pit[labels == _index(class_names, "clean")]
    if len(pits) == 0 or len(cleans) == 0:
        return 0.0
    cut = np.quantile(pits, 1.0 - target, method="lower")  # pits at or above it: >= target
    return float(np.mean(cleans < cut))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising validation negative log-likelihood (grid over 0.5-10).

    The floor keeps a validation set the model separates perfectly (likely on synthetic data)
    from driving the temperature towards 0, which would make every probability 0 or 1.
    """
    best_t, best_nll = 1.0, np.inf
    for temperature in np.exp(np.linspace(np.log(0.5), np.log(10.0), 91)):
        p = softmax(logits, temperature)[np.arange(len(labels)), labels]
        nll = float(-np.mean(np.log(np.clip(p, 1e-12, 1.0))))
        if nll < best_nll:
            best_t, best_nll = float(temperature), nll
    return best_t


def decision_metrics(
    probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    thresholds: Thresholds,
) -> dict[str, float]:
    decided = decide(probabilities, class_names, thresholds).labels
    is_pit = labels == _index(class_names, "pit")
    is_clean = labels == _index(class_names, "clean")
    decided_pit = decided == PIT
    return {
        "pit_recall": float(np.mean(decided[is_pit] != CLEAN)) if is_pit.any() else 1.0,
        "pit_recall_strict": float(np.mean(decided_pit[is_pit])) if is_pit.any() else 1.0,
        "pit_precision": float(np.mean(is_pit[decided_pit])) if decided_pit.any() else 0.0,
        "clean_yield": float(np.mean(decided[is_clean] == CLEAN)) if is_clean.any() else 0.0,
        "maybe_rate": float(np.mean(decided == MAYBE)),
    }


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 10
) -> float:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def evaluate(
    logits: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    temperature: float = 1.0,
    thresholds: Thresholds | None = None,
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, confusion matrix, ECE (+ decision metrics)."""
    probabilities = softmax(logits, temperature)
    predicted = probabilities.argmax(axis=1)
    classes = len(class_names)
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    result: dict[str, Any] = {
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else 0.0,
        "confusion": confusion.tolist(),
        "ece": expected_calibration_error(probabilities, labels),
    }
    for index, name in enumerate(class_names):
        tp = confusion[index, index]
        precision = tp / max(1, confusion[:, index].sum())
        recall = tp / max(1, confusion[index].sum())
        result[f"class_{name}_precision"] = float(precision)
        result[f"class_{name}_recall"] = float(recall)
        result[f"class_{name}_f1"] = float(2 * precision * recall / max(1e-12, precision + recall))
    if thresholds is not None:
        result.update(decision_metrics(probabilities, labels, class_names, thresholds))
    return result


def choose_thresholds(
    calibrated_logits: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    recall_target: float,
    max_maybe_rate: float,
) -> Thresholds:
    """Maximise clean yield subject to pit recall >= target and maybe rate <= cap (grid)."""
    probabilities = softmax(calibrated_logits)
    best: tuple[tuple, Thresholds] | None = None
    for pit in np.linspace(0.3, 0.95, 14):
        for maybe in np.linspace(0.02, pit, 12):
            for clean in (0.3, 0.5, 0.7):
                thresholds = Thresholds(float(pit), float(maybe), clean)
                m = decision_metrics(probabilities, labels, class_names, thresholds)
                feasible = m["pit_recall"] >= recall_target and m["maybe_rate"] <= max_maybe_rate
                key = (
                    feasible,
                    m["clean_yield"] if feasible else m["pit_recall"],
                    m["pit_precision"],
                )
                if best is None or key > best[0]:
                    best = (key, thresholds)
    return best[1]
