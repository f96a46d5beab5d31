"""Markdown tables and JSON-safe figures shared by the reports."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cherry_classifier.evaluation.metrics import ModelMetrics


def format_figure(value: Any) -> str:
    """A float to 4 decimals (NaN: ``n/a``), anything else as ``str``."""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def metrics_table(
    columns: Mapping[str, ModelMetrics | Mapping[str, Any]], keys: Sequence[str]
) -> list[str]:
    """One row per metric key, one column per metrics result (Markdown lines)."""
    lines = ["| metric | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for key in keys:
        cells = [format_figure(_figure(column, key)) for column in columns.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def _figure(column: ModelMetrics | Mapping[str, Any], key: str) -> Any:
    value = column.get(key, float("nan"))
    return float("nan") if value is None else value


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` and NumPy scalars as Python ones."""
    if isinstance(value, ModelMetrics):
        return json_safe(value.to_dict())
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


def slug(name: str) -> str:
    """``name`` as a file-name part (model labels in plot and record file names)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"
