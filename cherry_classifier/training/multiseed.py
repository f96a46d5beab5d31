"""Several seeds of one config: mean and 95% confidence interval of the test figures.

The interval is the Student-t interval of the mean over seeds (mean +- t(0.975, n-1) * s/sqrt n):
it says how much a figure moves with the seed (initialisation, data order, augmentation and,
for synthetic data, the crops themselves), which single runs cannot.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.evaluation.metrics import SEEDS, ModelMetrics
from cherry_classifier.training.config import TrainConfig

LOGGER = logging.getLogger(__name__)

SUMMARY_KEYS = tuple(ModelMetrics.view_keys(SEEDS))
# Two-sided 95% Student-t quantiles t(0.975, dof) for dof = 1..30; 1.96 beyond.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high) of the 95% t-interval; a single value has a zero-width interval."""
    array = np.asarray([v for v in values if math.isfinite(v)], float)
    if len(array) == 0:
        return math.nan, math.nan, math.nan
    mean = float(array.mean())
    if len(array) == 1:
        return mean, mean, mean
    dof = len(array) - 1
    t = _T975[dof - 1] if dof <= len(_T975) else 1.96
    half = t * float(array.std(ddof=1)) / math.sqrt(len(array))
    return mean, mean - half, mean + half


def summarise(reports: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Per metric: the per-seed values, mean and 95% interval; plus a Markdown table."""
    summary: dict[str, Any] = {"seeds": list(reports), "metrics": {}}
    lines = [
        f"| test metric ({len(reports)} seeds) | mean | 95% interval | per seed |",
        "| --- | --- | --- | --- |",
    ]
    for key in SUMMARY_KEYS:
        values = [float(r["test"].get(key, math.nan)) for r in reports.values()]
        mean, low, high = mean_interval(values)
        summary["metrics"][key] = {"values": values, "mean": mean, "low": low, "high": high}
        per_seed = ", ".join(f"{v:.4f}" for v in values)
        lines.append(f"| {key} | {mean:.4f} | [{low:.4f}, {high:.4f}] | {per_seed} |")
    summary["markdown"] = "\n".join(lines)
    return summary


def run_seeds(
    config: TrainConfig,
    seeds: Sequence[int],
    train: Callable[[TrainConfig], dict[str, Any]],
) -> dict[str, Any]:
    """Train once per seed into ``<out_dir>/seed_<n>``; write ``seeds_summary.{json,md}``.

    ``train``: one run (:func:`cherry_classifier.training.train.train`), returning its report.
    """
    out = Path(config.run.out_dir)
    reports: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        LOGGER.info("seed %d of %s", seed, list(seeds))
        run = config.replace(**{"run.seed": seed, "run.out_dir": str(out / f"seed_{seed}")})
        report = train(run)
        if report:
            reports[seed] = report
    summary = summarise(reports)
    out.mkdir(parents=True, exist_ok=True)
    (out / "seeds_summary.json").write_text(json.dumps(summary, indent=2))
    (out / "seeds_summary.md").write_text(summary["markdown"] + "\n")
    return summary
