"""Metrics of recorded decisions (a :class:`RecordSet`), overall and per camera.

Definitions (as in training, :mod:`cherry_classifier.evaluation.metrics`), over the decisions
whose cherry is labelled:

- ``pit_recall``: pits **not** decided CLEAN (PIT, or MAYBE for manual review): the safety
  metric; ``pit_recall_strict`` counts PIT only; ``missed_pits``: pits decided CLEAN;
- ``pit_precision``: decided PIT that are pits;
- ``clean_yield``: clean cherries decided CLEAN;
- ``maybe_rate``: decisions that are MAYBE (``maybe_rate_all``: over every decision, labelled
  or not);
- ``ece``: expected calibration error of the top-class probability (10 bins), over labelled
  cherries whose class the model has;
- ``confusion``: rows truth clean/maybe/pit, columns decided clean/maybe/pit;
- ``missed_labels``: labelled cherries no decision took (the localizer did not find them);
  ``pit_recall_with_missed`` counts missed pits as passing unrejected.

Decisions are the recorded ones, or, given ``thresholds``, recomputed from the recorded
probabilities with the core's ``decide`` (what :func:`threshold_sweep` does for each point).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cherry_classifier.core.decision import CLEAN, LABEL_NAMES, PIT, Thresholds, decide
from cherry_classifier.evaluation.metrics import (
    SWEEP,
    ModelMetrics,
    confusion_matrix,
    expected_calibration_error,
    outcome_metrics,
)
from cherry_classifier.evaluation.records import RecordSet, class_codes

DEFAULT_SWEEP = tuple(round(v, 3) for v in np.arange(0.02, 0.99, 0.02))


@dataclass
class RecordEvaluation:
    """One record set's metrics, overall and per camera (source topic)."""

    overall: ModelMetrics
    per_camera: dict[str, ModelMetrics] = field(default_factory=dict)


def decisions_at(records: RecordSet, thresholds: Thresholds) -> np.ndarray:
    """(N,) decisions recomputed from the recorded probabilities with ``thresholds``."""
    if not len(records):
        return np.zeros(0, np.int64)
    return decide(records.probabilities, records.class_names, thresholds.validated()).labels


def record_metrics(records: RecordSet, thresholds: Thresholds | None = None) -> ModelMetrics:
    """Every metric of the module docstring for one record set."""
    decided = records.labels if thresholds is None else decisions_at(records, thresholds)
    truth = records.truth
    labelled = truth >= 0
    result = outcome_metrics(decided[labelled], truth[labelled] == PIT, truth[labelled] == CLEAN)
    result.confusion = confusion_matrix(truth[labelled], decided[labelled], 3).tolist()
    result.ece = _ece(records, labelled)
    result.decisions = len(decided)
    result.labelled = int(labelled.sum())
    result.unlabelled = int((~labelled).sum())
    result.decided = {name: int(np.sum(decided == code)) for code, name in enumerate(LABEL_NAMES)}
    result.maybe_rate_all = result.decided["maybe"] / len(decided) if len(decided) else nan()
    missed = [m.truth for m in records.missed]
    result.missed_labels = {name: missed.count(code) for code, name in enumerate(LABEL_NAMES)}
    pits_found = int(np.sum(truth == PIT))
    caught = pits_found - result.missed_pits
    pits_all = pits_found + result.missed_labels["pit"]
    result.pit_recall_with_missed = caught / pits_all if pits_all else nan()
    result.fail_safe = sum(r.fail_safe for r in records.records)
    return result


def evaluate_records(records: RecordSet, thresholds: Thresholds | None = None) -> RecordEvaluation:
    """The metrics overall and per source topic."""
    return RecordEvaluation(
        record_metrics(records, thresholds),
        {
            topic: record_metrics(records.subset(topic), thresholds)
            for topic in records.source_topics
        },
    )


def sweep_grid(pit_thresholds: Sequence[float], base: Thresholds | None = None) -> list[Thresholds]:
    """Threshold sets varying ``pit_threshold``; ``maybe_threshold`` is capped at it."""
    base = base or Thresholds()
    return [
        Thresholds(
            pit_threshold=float(p),
            maybe_threshold=min(base.maybe_threshold, float(p)),
            clean_threshold=base.clean_threshold,
        )
        for p in pit_thresholds
    ]


def threshold_sweep(
    records: RecordSet,
    grid: Sequence[float] | Sequence[Thresholds] = DEFAULT_SWEEP,
    base: Thresholds | None = None,
) -> list[dict[str, Any]]:
    """Metrics at each threshold set, from the recorded probabilities (no model run).

    ``grid``: Thresholds, or pit thresholds combined with ``base`` (default: the thresholds the
    records were made with, from ``records.meta``, else the core defaults) by
    :func:`sweep_grid`. The base point itself is always included. Each row: the thresholds and
    the metrics of the sweep view (:data:`~cherry_classifier.evaluation.metrics.SWEEP`).
    """
    base = base or recorded_thresholds(records) or Thresholds()
    points = list(grid)
    if points and not isinstance(points[0], Thresholds):
        pits = sorted({float(p) for p in points} | {float(base.pit_threshold)})
        points = sweep_grid(pits, base)
    return [
        {**thresholds.to_dict(), **record_metrics(records, thresholds).to_dict(SWEEP)}
        for thresholds in points
    ]


def recorded_thresholds(records: RecordSet) -> Thresholds | None:
    """The thresholds the records were decided with, if ``meta`` says."""
    values = records.meta.get("thresholds")
    return Thresholds(**values) if isinstance(values, dict) else None


def _ece(records: RecordSet, labelled: np.ndarray) -> float:
    codes = class_codes(records.class_names)
    truth = records.truth
    usable = labelled & np.isin(truth, list(codes))
    if not usable.any():
        return nan()
    indices = np.asarray([codes[int(t)] for t in truth[usable]], np.int64)
    return expected_calibration_error(records.probabilities[usable], indices)


def nan() -> float:
    return float("nan")
