"""Metrics that matter on the line: pit safety first, clean yield second, then the usual ones.

- pit recall: pits **not** decided CLEAN (PIT, or MAYBE for manual review), the safety metric;
  ``pit_recall_strict`` counts PIT only;
- clean yield: clean cherries decided CLEAN (what the line sells without review);
- maybe rate: all crops decided MAYBE (the manual-review load).

Crops labelled maybe count in neither recall nor yield. Decisions come from the core's
``decide`` and probabilities from the core's ``softmax``: training measures what the node does.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from cherry_classifier.core.decision import CLEAN, MAYBE, PIT, Thresholds, decide, softmax


def class_index(class_names: Sequence[str], name: str) -> int:
    return list(class_names).index(name)


def pit_risk(probabilities: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """1 - P(clean): how likely a cherry is not clean (a pit, or ambiguous)."""
    return 1.0 - probabilities[:, class_index(class_names, "clean")]


def yield_at_recall(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str], target: float
) -> float:
    """Best clean yield with one cut on ``pit_risk`` such that pit recall >= ``target``.

    Threshold-free (it finds the cut): the model-selection score. Clean cherries at or above
    the cut count as lost, so ties go against the model.
    """
    risk = pit_risk(probabilities, class_names)
    pits = risk[labels == class_index(class_names, "pit")]
    cleans = risk[labels == class_index(class_names, "clean")]
    if len(pits) == 0 or len(cleans) == 0:
        return float("nan")
    allowed_misses = int(np.floor(len(pits) * (1.0 - target) + 1e-9))
    cut = np.sort(pits)[allowed_misses]  # pits with risk >= cut: at least target of them
    return float(np.mean(cleans < cut))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(true, predicted) counts."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def reliability_bins(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 10
) -> dict[str, list[float]]:
    """Top-label confidence vs accuracy per equal-width bin (for ECE and the diagram)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    result: dict[str, list[float]] = {"lower": [], "upper": [], "confidence": [], "accuracy": []}
    result["count"] = []
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high) if low > 0 else confidence <= high
        result["lower"].append(float(low))
        result["upper"].append(float(high))
        result["count"].append(float(inside.sum()))
        result["confidence"].append(float(confidence[inside].mean()) if inside.any() else 0.0)
        result["accuracy"].append(float(correct[inside].mean()) if inside.any() else 0.0)
    return result


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 10
) -> float:
    table = reliability_bins(probabilities, labels, bins)
    total = max(1.0, sum(table["count"]))
    return float(
        sum(
            n / total * abs(a - c)
            for n, a, c in zip(table["count"], table["accuracy"], table["confidence"], strict=True)
        )
    )


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    if len(labels) == 0:
        return float("nan")
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def classification_metrics(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy (arg-max), per-class precision/recall/F1, confusion matrix, NLL and ECE.

    Per-class figures are keyed ``class_<name>_{precision,recall,f1}`` (arg-max decisions),
    apart from the line's ``pit_recall`` etc. (thresholded decisions, :func:`decision_metrics`).
    """
    predicted = probabilities.argmax(axis=1)
    confusion = confusion_matrix(labels, predicted, len(class_names))
    result: dict[str, Any] = {
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else float("nan"),
        "nll": negative_log_likelihood(probabilities, labels),
        "ece": expected_calibration_error(probabilities, labels),
        "confusion": confusion.tolist(),
    }
    for index, name in enumerate(class_names):
        tp = confusion[index, index]
        precision = tp / max(1, confusion[:, index].sum())
        recall = tp / max(1, confusion[index].sum())
        result[f"class_{name}_precision"] = float(precision)
        result[f"class_{name}_recall"] = float(recall)
        result[f"class_{name}_f1"] = float(2 * precision * recall / max(1e-12, precision + recall))
    return result


def decision_metrics(
    probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    thresholds: Thresholds,
) -> dict[str, float]:
    """What the line would see with these thresholds (the core's decision policy)."""
    decided = decide(probabilities, class_names, thresholds).labels
    is_pit = labels == class_index(class_names, "pit")
    is_clean = labels == class_index(class_names, "clean")
    return outcome_metrics(decided, is_pit, is_clean)


def outcome_metrics(
    decided: np.ndarray, is_pit: np.ndarray, is_clean: np.ndarray
) -> dict[str, float]:
    """Pit recall (and strict), pit precision, clean yield, maybe rate of made decisions.

    ``decided``: CLEAN/MAYBE/PIT codes; ``is_pit``/``is_clean``: the truth, as boolean masks.
    """
    decided_pit = decided == PIT
    return {
        "pit_recall": float(np.mean(decided[is_pit] != CLEAN)) if is_pit.any() else float("nan"),
        "pit_recall_strict": float(np.mean(decided_pit[is_pit])) if is_pit.any() else float("nan"),
        "pit_precision": float(np.mean(is_pit[decided_pit])) if decided_pit.any() else float("nan"),
        "clean_yield": float(np.mean(decided[is_clean] == CLEAN))
        if is_clean.any()
        else float("nan"),
        "maybe_rate": float(np.mean(decided == MAYBE)) if len(decided) else float("nan"),
        "missed_pits": int(np.sum(decided[is_pit] == CLEAN)),
    }


def evaluate_logits(
    logits: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    temperature: float = 1.0,
    thresholds: Thresholds | None = None,
    pit_recall_target: float = 0.99,
) -> dict[str, Any]:
    """Every metric for one split: classification, yield at target recall, decisions."""
    probabilities = softmax(logits, temperature)
    result = classification_metrics(probabilities, labels, class_names)
    result["clean_yield_at_recall"] = yield_at_recall(
        probabilities, labels, class_names, pit_recall_target
    )
    if thresholds is not None:
        result.update(decision_metrics(probabilities, labels, class_names, thresholds))
    result["count"] = len(labels)
    return result
