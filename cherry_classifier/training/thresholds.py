"""Choose the node's decision thresholds on validation: safety first, then yield, then review load.

The core's policy (``core.decision``) decides CLEAN exactly when ``P(pit) < maybe_threshold``
and ``P(clean) >= clean_threshold``, so pit recall (pits not decided CLEAN) and clean yield
depend on those two thresholds only; ``pit_threshold`` splits the rest into PIT (ejected) and
MAYBE (manual review). The optimiser therefore searches in two stages:

1. ``maybe_threshold`` x ``clean_threshold``: pit recall >= target, and the review band able
   to stay within ``max_maybe_rate``; among those, the highest clean yield (ties: higher
   recall, then the pair nearest the defaults 0.2 / 0.5);
2. ``pit_threshold`` >= ``maybe_threshold``: maybe rate <= cap; the fewest clean cherries
   ejected as PIT (they are lost; MAYBE ones are recovered by review), then the lowest maybe
   rate, then the value nearest 0.5.

Every candidate is scored with the core's ``decide``. When no candidate reaches the target the
one with the highest recall is returned, marked infeasible (and logged).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cherry_classifier.core.decision import MAYBE, PIT, Thresholds, decide
from cherry_classifier.evaluation.metrics import ModelMetrics, class_index, decision_metrics

LOGGER = logging.getLogger(__name__)
DEFAULTS = Thresholds()


@dataclass(frozen=True)
class ThresholdChoice:
    thresholds: Thresholds
    feasible: bool
    metrics: ModelMetrics = field(default_factory=ModelMetrics)  # on the tuning split


def candidate_grid(steps: int) -> np.ndarray:
    """Probabilities dense near 0 (log-spaced to 0.5) and linear above: pit cuts can be tiny."""
    low = np.geomspace(0.002, 0.5, max(2, steps // 2))
    high = np.linspace(0.5, 0.99, max(2, steps - steps // 2))
    return np.unique(np.round(np.concatenate([low, high]), 6))


def choose_thresholds(
    probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    pit_recall_target: float = 0.99,
    max_maybe_rate: float = 0.15,
    steps: int = 41,
) -> ThresholdChoice:
    """Thresholds for calibrated ``probabilities`` (N, C) in ``class_names`` order."""
    if not np.any(labels == class_index(class_names, "pit")):
        raise ValueError("threshold tuning needs pits in the tuning split")
    grid = candidate_grid(steps)
    clean_grid = np.round(np.linspace(0.05, 0.95, 19), 6)

    best_key, best_pair = None, None
    for maybe in grid:
        for clean in clean_grid:
            lowest_band = Thresholds(float(maybe), float(maybe), float(clean))  # tp = tm
            m = decision_metrics(probabilities, labels, class_names, lowest_band)
            feasible = m["pit_recall"] >= pit_recall_target and m["maybe_rate"] <= max_maybe_rate
            closeness = -abs(maybe - DEFAULTS.maybe_threshold) - abs(
                clean - DEFAULTS.clean_threshold
            )
            if feasible:
                key = (1, m["clean_yield"], m["pit_recall"], closeness)
            else:  # safety first even when infeasible, then the review load, then yield
                key = (0, m["pit_recall"], -m["maybe_rate"], m["clean_yield"])
            if best_key is None or key > best_key:
                best_key, best_pair = key, (float(maybe), float(clean))
    assert best_key is not None and best_pair is not None
    feasible = bool(best_key[0])
    maybe, clean = best_pair

    is_clean = labels == class_index(class_names, "clean")
    best_pit_key, pit = None, maybe
    for candidate in grid[grid >= maybe]:
        thresholds = Thresholds(float(candidate), maybe, clean)
        decided = decide(probabilities, class_names, thresholds).labels
        maybe_rate = float(np.mean(decided == MAYBE))
        if maybe_rate > max_maybe_rate and candidate > maybe:
            continue
        ejected_clean = int(np.sum(decided[is_clean] == PIT))
        key = (-ejected_clean, -maybe_rate, -abs(candidate - DEFAULTS.pit_threshold))
        if best_pit_key is None or key > best_pit_key:
            best_pit_key, pit = key, float(candidate)
    thresholds = Thresholds(pit, maybe, clean).validated()
    metrics = decision_metrics(probabilities, labels, class_names, thresholds)
    if not feasible:
        LOGGER.warning(
            "no thresholds reach pit recall %.3f with maybe rate <= %.2f on validation; "
            "chose the safest: recall %.4f, maybe rate %.3f",
            pit_recall_target,
            max_maybe_rate,
            metrics["pit_recall"],
            metrics["maybe_rate"],
        )
    return ThresholdChoice(thresholds, feasible, metrics)
