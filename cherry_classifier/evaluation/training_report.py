"""The training run report: ``report.md`` with its PNG plots (curves, confusion, reliability)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.core.decision import softmax
from cherry_classifier.evaluation.metrics import TRAINING, ModelMetrics
from cherry_classifier.evaluation.plots import plot_confusion, plot_curves, plot_reliability
from cherry_classifier.evaluation.tables import format_figure, metrics_table

CURVES_PNG = "curves.png"
CONFUSION_PNG = "confusion.png"
RELIABILITY_PNG = "reliability.png"
PLOTS = (CURVES_PNG, CONFUSION_PNG, RELIABILITY_PNG)


def write_plots(
    out: Path,
    history: Sequence[dict[str, Any]],
    best_epoch: int,
    test: ModelMetrics,
    class_names: Sequence[str],
    test_logits: np.ndarray,
    test_labels: np.ndarray,
    temperature: float,
) -> list[Path]:
    """The run's plots in ``out``: curves, test confusion, reliability before/after calibration."""
    return [
        plot_curves(history, out / CURVES_PNG, best_epoch),
        plot_confusion(test.confusion, class_names, out / CONFUSION_PNG, "test split"),
        plot_reliability(
            {
                "uncalibrated (T=1)": (softmax(test_logits), test_labels),
                f"calibrated (T={temperature:.3g})": (
                    softmax(test_logits, temperature),
                    test_labels,
                ),
            },
            out / RELIABILITY_PNG,
        ),
    ]


def write_markdown(path: Path, report: dict[str, Any], class_names: Sequence[str]) -> Path:
    """``report.md``: what was trained, how it was chosen, and its figures on val and test."""
    keys = ModelMetrics.view_keys(TRAINING, class_names)
    thresholds = report["thresholds"]
    lines = [
        f"# Training report: {report['run_name']}",
        "",
        f"> {report['note']}" if report.get("note") else "",
        "",
        f"- model id `{report['model_id']}`, architecture `{report['architecture']}`, classes "
        f"`{', '.join(class_names)}`, {report['parameters']:,} parameters, "
        f"{report['weights_bytes'] / 1e6:.1f} MB",
        f"- data: {report['data']}; split sizes {report['split_sizes']}",
        f"- selected epoch {report['best_epoch']} of {report['epochs_run']} by "
        f"`{report['selection_metric']}` on validation; training took "
        f"{report['train_seconds']:.0f} s on {report['device']}",
        f"- temperature {report['temperature']:.4g} (validation NLL "
        f"{report['calibration']['nll_before']:.4f} -> {report['calibration']['nll_after']:.4f}"
        f"{', on its bound' if report['calibration']['at_bound'] else ''})",
        f"- thresholds (tuned on validation for pit recall >= {report['pit_recall_target']}, "
        f"maybe rate <= {report['max_maybe_rate']}"
        f"{'' if report['thresholds_feasible'] else ', NOT reached: the safest were chosen'}): "
        f"pit {thresholds['pit_threshold']:.4g}, maybe {thresholds['maybe_threshold']:.4g}, "
        f"clean {thresholds['clean_threshold']:.4g}",
        "",
        "## Figures (calibrated probabilities, tuned thresholds)",
        "",
        *metrics_table({"validation": report["val"], "test (untouched)": report["test"]}, keys),
        "",
        "Pit recall counts pits decided PIT or MAYBE (manual review); `pit_recall_strict` PIT"
        " only. Clean yield: clean cherries decided CLEAN. Maybe rate: all crops decided MAYBE."
        " `class_*` rows: arg-max decisions, per class.",
        "",
    ]
    variants = report.get("variants") or {}
    if variants:
        lines += [
            "## Low-precision variants (decisions vs fp32 on the test split)",
            "",
            "| variant | accepted | decision agreement | pit recall | fp32 pit recall |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, record in variants.items():
            verdict = "yes" if record.get("accepted") else "no: " + record.get("reason", "")
            lines.append(
                f"| {name} | {verdict}"
                f" | {format_figure(record.get('decision_agreement', float('nan')))}"
                f" | {format_figure(record.get('pit_recall', float('nan')))}"
                f" | {format_figure(record.get('pit_recall_fp32', float('nan')))} |"
            )
        lines.append("")
    lines += [
        "## Plots",
        "",
        f"![curves]({CURVES_PNG})",
        "",
        f"![confusion matrix]({CONFUSION_PNG}) ![reliability]({RELIABILITY_PNG})",
        "",
    ]
    lines += ["## Files (in the run folder)", ""] + [
        f"- `{name}`: {what}" for name, what in report["files"].items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
