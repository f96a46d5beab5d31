"""From calibrated class probabilities to CLEAN / MAYBE / PIT decisions.

Policy, for 2-class (clean, pit) and 3-class (clean, maybe, pit) models alike:
PIT when P(pit) >= pit_threshold; otherwise MAYBE when P(pit) >= maybe_threshold or
P(clean) < clean_threshold; otherwise CLEAN.

Confidence is the probability of the decided label: P(pit) for PIT, P(clean) for CLEAN and, for
MAYBE, 1 - P(clean) (how likely the cherry is *not* clean: what sends it to manual review).
Classes are found by name, never by position, so any output order decides correctly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cherry_classifier.core.contract import LINE_CLASSES

CLEAN, MAYBE, PIT = 0, 1, 2
LABEL_NAMES = LINE_CLASSES


class ThresholdError(ValueError):
    """A threshold set breaks a rule of the decision policy."""


@dataclass(frozen=True)
class Thresholds:
    pit_threshold: float = 0.5
    maybe_threshold: float = 0.2
    clean_threshold: float = 0.5

    def validated(self) -> Thresholds:
        """Return self if every rule holds, else raise ThresholdError naming the broken rule."""
        for name in ("pit_threshold", "maybe_threshold", "clean_threshold"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise ThresholdError(f"{name} must be a number in [0, 1], got {value!r}")
        if self.maybe_threshold > self.pit_threshold:
            raise ThresholdError(
                f"maybe_threshold ({self.maybe_threshold}) must be <= pit_threshold "
                f"({self.pit_threshold})"
            )
        return self

    def to_dict(self) -> dict[str, float]:
        return {
            "pit_threshold": float(self.pit_threshold),
            "maybe_threshold": float(self.maybe_threshold),
            "clean_threshold": float(self.clean_threshold),
        }


@dataclass(frozen=True)
class Decisions:
    """One row per crop."""

    labels: np.ndarray  # (N,) int64: CLEAN, MAYBE or PIT
    confidences: np.ndarray  # (N,) float32
    probabilities: np.ndarray  # (N, C) float32, in the model's class order


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Calibrated probabilities: softmax of logits / temperature, along the last axis."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def class_index(class_names: Sequence[str], name: str) -> int:
    try:
        return list(class_names).index(name)
    except ValueError:
        raise ValueError(f"the model's classes {list(class_names)} have no {name!r}") from None


def decide(
    probabilities: np.ndarray, class_names: Sequence[str], thresholds: Thresholds
) -> Decisions:
    """Apply the decision policy to (N, C) probabilities in ``class_names`` order."""
    probabilities = np.atleast_2d(np.asarray(probabilities, dtype=np.float32))
    if probabilities.ndim != 2 or probabilities.shape[1] != len(class_names):
        raise ValueError(
            f"probabilities of shape {probabilities.shape} do not fit the "
            f"{len(class_names)} classes {list(class_names)}"
        )
    p_pit = probabilities[:, class_index(class_names, "pit")]
    p_clean = probabilities[:, class_index(class_names, "clean")]
    is_pit = p_pit >= thresholds.pit_threshold
    is_maybe = ~is_pit & (
        (p_pit >= thresholds.maybe_threshold) | (p_clean < thresholds.clean_threshold)
    )
    labels = np.where(is_pit, PIT, np.where(is_maybe, MAYBE, CLEAN)).astype(np.int64)
    confidences = np.where(is_pit, p_pit, np.where(is_maybe, 1.0 - p_clean, p_clean))
    return Decisions(labels, confidences.astype(np.float32), probabilities)
