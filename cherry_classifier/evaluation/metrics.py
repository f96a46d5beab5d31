"""Metrics that matter on the line: pit safety first, clean yield second, then the usual ones.

- pit recall: pits **not** decided CLEAN (PIT, or MAYBE for manual review), the safety metric;
  ``pit_recall_strict`` counts PIT only;
- clean yield: clean cherries decided CLEAN (what the line sells without review);
- maybe rate: all crops decided MAYBE (the manual-review load).

Crops labelled maybe count in neither recall nor yield. Decisions come from the core's
``decide`` and probabilities from the core's ``softmax``: evaluation measures what the node does.

Every figure travels as a :class:`ModelMetrics`; its fields, in declaration order, are the rows
and columns of every report (each field says in which views it appears). Adding a metric is
adding one field here.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cherry_classifier.core.decision import CLEAN, MAYBE, PIT, Thresholds, decide, softmax

# Views: which metrics a report shows (rows or columns, in field order).
TRAINING = "training"  # the training run report (validation and test columns)
HEADLINE = "headline"  # the bundle's provenance (val_metrics, test_metrics)
SUMMARY = "summary"  # the one-line log/console summary of a split
RECORDS = "records"  # the bag/live evaluation report, overall
CAMERA = "camera"  # the bag/live evaluation report, per camera
SWEEP = "sweep"  # each point of a threshold sweep
COMPARE = "compare"  # cherry-compare's table
SEEDS = "seeds"  # the several-seeds summary
PER_CLASS = ("precision", "recall", "f1")
_CLASS_KEY = re.compile(r"^class_(?P<name>.+)_(?P<measure>precision|recall|f1)$")


def _views(*views: str, title: str = "") -> dict[str, Any]:
    """A metric field's metadata: the views that show it and its column title."""
    return {"views": views, "title": title}


@dataclass
class ModelMetrics:
    """One model's figures on one crop or record set; ``None``: not measured.

    NaN means measured but undefined (no pits to recall, say). :meth:`to_dict` gives the JSON
    keys of ``report.json`` and ``metrics.jsonl`` (per-class figures flattened to
    ``class_<name>_{precision,recall,f1}``); :meth:`from_dict` reads them back.
    """

    accuracy: float | None = field(
        default=None, metadata=_views(TRAINING, HEADLINE, SUMMARY, COMPARE, SEEDS)
    )
    pit_recall: float | None = field(
        default=None,
        metadata=_views(
            TRAINING, HEADLINE, SUMMARY, RECORDS, CAMERA, SWEEP, COMPARE, SEEDS, title="pit recall"
        ),
    )
    pit_recall_strict: float | None = field(
        default=None, metadata=_views(TRAINING, HEADLINE, SUMMARY, RECORDS, SWEEP)
    )
    pit_precision: float | None = field(
        default=None, metadata=_views(TRAINING, HEADLINE, SUMMARY, RECORDS, CAMERA, SWEEP)
    )
    clean_yield: float | None = field(
        default=None,
        metadata=_views(
            TRAINING, HEADLINE, SUMMARY, RECORDS, CAMERA, SWEEP, COMPARE, SEEDS, title="clean yield"
        ),
    )
    maybe_rate: float | None = field(
        default=None,
        metadata=_views(
            TRAINING, HEADLINE, SUMMARY, RECORDS, CAMERA, SWEEP, COMPARE, SEEDS, title="maybe rate"
        ),
    )
    # pits decided CLEAN
    missed_pits: int | None = field(default=None, metadata=_views(TRAINING, RECORDS, SWEEP))
    # threshold-free (:func:`yield_at_recall`): the model-selection score
    clean_yield_at_recall: float | None = field(
        default=None,
        metadata=_views(
            TRAINING, HEADLINE, SUMMARY, COMPARE, SEEDS, title="clean yield @ target recall"
        ),
    )
    ece: float | None = field(
        default=None, metadata=_views(TRAINING, HEADLINE, RECORDS, COMPARE, SEEDS, title="ECE")
    )
    nll: float | None = field(default=None, metadata=_views(TRAINING, HEADLINE, SEEDS))
    # arg-max precision, recall, F1 per class name
    per_class: dict[str, dict[str, float]] | None = field(default=None, metadata=_views(TRAINING))
    # crops scored
    count: int | None = field(default=None, metadata=_views(HEADLINE))
    # records: every decision; those whose cherry is labelled; the others
    decisions: int | None = field(default=None, metadata=_views(RECORDS, CAMERA))
    labelled: int | None = field(default=None, metadata=_views(RECORDS, CAMERA))
    unlabelled: int | None = field(default=None, metadata=_views(RECORDS))
    # MAYBE over every decision, labelled or not
    maybe_rate_all: float | None = field(default=None, metadata=_views(RECORDS))
    # labelled pits the localizer did not find count as passed
    pit_recall_with_missed: float | None = field(default=None, metadata=_views(RECORDS))
    # decisions made fail-safe
    fail_safe: int | None = field(default=None, metadata=_views(RECORDS))
    # decisions per label name
    decided: dict[str, int] | None = field(default=None, metadata=_views(SWEEP))
    # labelled cherries no decision took, per label name
    missed_labels: dict[str, int] | None = field(default=None, metadata=_views())
    # rows: truth; columns: predicted (arg-max) or decided
    confusion: list[list[int]] | None = field(default=None, metadata=_views())

    # -- views ------------------------------------------------------------------------------
    @classmethod
    def view_keys(cls, view: str, class_names: Sequence[str] = ()) -> list[str]:
        """The JSON keys a view shows, in order (``per_class`` expanded for ``class_names``)."""
        keys: list[str] = []
        for item in dataclasses.fields(cls):
            if view not in item.metadata["views"]:
                continue
            if item.name == "per_class":
                keys += [class_key(name, m) for name in class_names for m in PER_CLASS]
            else:
                keys.append(item.name)
        return keys

    @classmethod
    def title(cls, key: str) -> str:
        """A column title for ``key`` (the key itself unless the field gives one)."""
        for item in dataclasses.fields(cls):
            if item.name == key:
                return item.metadata["title"] or key
        return key

    # -- access by JSON key -----------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def get(self, key: str, default: Any = None) -> Any:
        """A figure by its JSON key (``class_pit_recall`` too); ``default`` when not measured."""
        match = _CLASS_KEY.match(key)
        if match and self.per_class is not None:
            name_figures = self.per_class.get(match["name"])
            if name_figures is not None and match["measure"] in name_figures:
                return name_figures[match["measure"]]
        if key in _FIELD_NAMES and key != "per_class":
            value = getattr(self, key)
            return default if value is None else value
        return default

    # -- combining and (de)serialising ------------------------------------------------------
    def merged(self, other: ModelMetrics) -> ModelMetrics:
        """These figures with every figure ``other`` measured replacing them."""
        updates = {k: v for k, v in vars(other).items() if v is not None}
        return dataclasses.replace(self, **updates)

    def to_dict(self, view: str | None = None) -> dict[str, Any]:
        """The measured figures by JSON key (only a view's, given one), in field order."""
        result: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None or (view is not None and view not in item.metadata["views"]):
                continue
            if item.name == "per_class":
                for name, figures in value.items():
                    result.update({class_key(name, m): v for m, v in figures.items()})
            elif isinstance(value, dict):
                result[item.name] = dict(value)
            elif isinstance(value, list):
                result[item.name] = [list(row) for row in value]
            else:
                result[item.name] = value
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMetrics:
        """Read :meth:`to_dict`'s keys (a JSON ``null`` figure reads as NaN); others are ignored."""
        values: dict[str, Any] = {}
        per_class: dict[str, dict[str, float]] = {}
        for key, value in data.items():
            match = _CLASS_KEY.match(key)
            if match:
                per_class.setdefault(match["name"], {})[match["measure"]] = _number(value)
            elif key in _FIELD_NAMES and key != "per_class":
                values[key] = _number(value) if value is None or _is_number(value) else value
        if per_class:
            values["per_class"] = per_class
        return cls(**values)


_FIELD_NAMES = frozenset(item.name for item in dataclasses.fields(ModelMetrics))
_MISSING = object()


def class_key(class_name: str, measure: str) -> str:
    return f"class_{class_name}_{measure}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float:
    return math.nan if value is None else value


# -- metric maths ----------------------------------------------------------------------------
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
) -> ModelMetrics:
    """Accuracy (arg-max), per-class precision/recall/F1, confusion matrix, NLL and ECE.

    Per-class figures are arg-max decisions, apart from the line's ``pit_recall`` etc.
    (thresholded decisions, :func:`decision_metrics`).
    """
    predicted = probabilities.argmax(axis=1)
    confusion = confusion_matrix(labels, predicted, len(class_names))
    per_class: dict[str, dict[str, float]] = {}
    for index, name in enumerate(class_names):
        tp = confusion[index, index]
        precision = tp / max(1, confusion[:, index].sum())
        recall = tp / max(1, confusion[index].sum())
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(2 * precision * recall / max(1e-12, precision + recall)),
        }
    return ModelMetrics(
        accuracy=float(np.mean(predicted == labels)) if len(labels) else float("nan"),
        nll=negative_log_likelihood(probabilities, labels),
        ece=expected_calibration_error(probabilities, labels),
        confusion=confusion.tolist(),
        per_class=per_class,
    )


def decision_metrics(
    probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    thresholds: Thresholds,
) -> ModelMetrics:
    """What the line would see with these thresholds (the core's decision policy)."""
    decided = decide(probabilities, class_names, thresholds).labels
    is_pit = labels == class_index(class_names, "pit")
    is_clean = labels == class_index(class_names, "clean")
    return outcome_metrics(decided, is_pit, is_clean)


def outcome_metrics(decided: np.ndarray, is_pit: np.ndarray, is_clean: np.ndarray) -> ModelMetrics:
    """Pit recall (and strict), pit precision, clean yield, maybe rate of made decisions.

    ``decided``: CLEAN/MAYBE/PIT codes; ``is_pit``/``is_clean``: the truth, as boolean masks.
    """
    decided_pit = decided == PIT
    nan = float("nan")
    return ModelMetrics(
        pit_recall=float(np.mean(decided[is_pit] != CLEAN)) if is_pit.any() else nan,
        pit_recall_strict=float(np.mean(decided_pit[is_pit])) if is_pit.any() else nan,
        pit_precision=float(np.mean(is_pit[decided_pit])) if decided_pit.any() else nan,
        clean_yield=float(np.mean(decided[is_clean] == CLEAN)) if is_clean.any() else nan,
        maybe_rate=float(np.mean(decided == MAYBE)) if len(decided) else nan,
        missed_pits=int(np.sum(decided[is_pit] == CLEAN)),
    )


def evaluate_probabilities(
    probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    thresholds: Thresholds | None = None,
    pit_recall_target: float = 0.99,
) -> ModelMetrics:
    """Every metric for one split: classification, yield at target recall, decisions."""
    result = classification_metrics(probabilities, labels, class_names)
    result.clean_yield_at_recall = yield_at_recall(
        probabilities, labels, class_names, pit_recall_target
    )
    if thresholds is not None:
        result = result.merged(decision_metrics(probabilities, labels, class_names, thresholds))
    result.count = len(labels)
    return result


def evaluate_logits(
    logits: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    temperature: float = 1.0,
    thresholds: Thresholds | None = None,
    pit_recall_target: float = 0.99,
) -> ModelMetrics:
    """:func:`evaluate_probabilities` of ``softmax(logits, temperature)``."""
    return evaluate_probabilities(
        softmax(logits, temperature),
        labels,
        class_names,
        thresholds=thresholds,
        pit_recall_target=pit_recall_target,
    )
