"""Models side by side on the same crops, through the node's loader (core Classifier).

One :class:`ComparisonRow` per model: who it is, its :class:`ModelMetrics` (the ``compare``
view: accuracy; pit recall, clean yield and maybe rate with the model's own thresholds; clean
yield at the target pit recall, threshold-free; calibration error), and what it costs (crops/s on
this CPU, parameters, weights size).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.core.classifier import Classifier
from cherry_classifier.evaluation.dataset import Split
from cherry_classifier.evaluation.metrics import (
    COMPARE,
    ModelMetrics,
    classification_metrics,
    decision_metrics,
    yield_at_recall,
)

IDENTITY_COLUMNS = (
    ("model", "model"),
    ("model_id", "model id"),
    ("architecture", "architecture"),
    ("classes", "classes"),
)
COST_COLUMNS = (
    ("crops_per_second", "crops/s"),
    ("parameters", "parameters"),
    ("size_mb", "size MB"),
)


def columns() -> list[tuple[str, str]]:
    """(key, title) of the table: identity, the metrics of the compare view, costs."""
    metrics = [(key, ModelMetrics.title(key)) for key in ModelMetrics.view_keys(COMPARE)]
    return [*IDENTITY_COLUMNS, *metrics, *COST_COLUMNS]


@dataclass
class ComparisonRow:
    """One model of the comparison."""

    model: str  # as given on the command line
    model_id: str
    architecture: str
    classes: str  # the model's class names, comma-separated
    metrics: ModelMetrics
    crops_per_second: float
    parameters: int
    size_mb: float
    crops: int  # crops scored (those of classes the model has)

    def to_dict(self) -> dict[str, Any]:
        """Flat, by column key (the JSON and CSV rows of ``cherry-compare --out``)."""
        return {
            "model": self.model,
            "model_id": self.model_id,
            "architecture": self.architecture,
            "classes": self.classes,
            **self.metrics.to_dict(COMPARE),
            "crops_per_second": self.crops_per_second,
            "parameters": self.parameters,
            "size_mb": self.size_mb,
            "crops": self.crops,
        }


def measure_throughput(classifier: Classifier, crops: np.ndarray, batch: int = 32) -> float:
    """Crops per second through ``predict_proba`` in batches of ``batch`` (best of 3)."""
    sample = crops[:batch] if len(crops) >= batch else np.resize(crops, (batch, *crops.shape[1:]))
    classifier.predict_proba(sample)  # warm
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        classifier.predict_proba(sample)
        best = min(best, time.perf_counter() - started)
    return batch / best


def score_model(
    name: str,
    classifier: Classifier,
    split: Split,
    data_classes: Sequence[str],
    target: float,
) -> ComparisonRow:
    """One row: ``classifier`` (shown as ``name``) on ``split``.

    Crops of classes the model lacks are left out of its figures.
    """
    manifest = classifier.manifest
    names = list(manifest.class_names)
    keep = np.array([data_classes[label] in names for label in split.labels], bool)
    labels = np.array([names.index(data_classes[label]) for label in split.labels[keep]], np.int64)
    crops = split.crops[keep]
    probabilities = classifier.predict_proba(crops)
    metrics = classification_metrics(probabilities, labels, names).merged(
        decision_metrics(probabilities, labels, names, manifest.thresholds)
    )
    metrics.clean_yield_at_recall = yield_at_recall(probabilities, labels, names, target)
    weights = _weights_bytes(classifier.path)
    model = classifier.bundle.build()
    return ComparisonRow(
        model=name,
        model_id=classifier.model_id,
        architecture=manifest.architecture,
        classes=",".join(names),
        metrics=metrics,
        crops_per_second=measure_throughput(classifier, crops),
        parameters=sum(p.numel() for p in model.parameters()),
        size_mb=weights / 1e6,
        crops=len(labels),
    )


def _weights_bytes(bundle_path: Path | None) -> int:
    if bundle_path is None:
        return 0
    return (bundle_path / "weights.pt" if bundle_path.is_dir() else bundle_path).stat().st_size


def format_table(rows: Sequence[ComparisonRow], caption: str) -> str:
    """A Markdown table, one line per row, under ``Evaluated on <caption>.``."""
    table_columns = columns()
    header = "| " + " | ".join(title for _, title in table_columns) + " |"
    lines = [f"Evaluated on {caption}.", "", header, "|" + " --- |" * len(table_columns)]
    for row in rows:
        values = row.to_dict()
        cells = []
        for key, _ in table_columns:
            value = values.get(key, float("nan"))
            if key == "parameters":
                cells.append(f"{value / 1e6:.2f} M")
            elif key == "crops_per_second":
                cells.append(f"{value:.0f}")
            elif isinstance(value, float):
                cells.append(f"{value:.4f}" if key != "size_mb" else f"{value:.1f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
