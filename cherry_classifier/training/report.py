"""The run report: ``report.md`` with its PNG plots (curves, confusion matrix, reliability)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.training.metrics import expected_calibration_error, reliability_bins

LOGGER = logging.getLogger(__name__)

CURVES_PNG = "curves.png"
CONFUSION_PNG = "confusion.png"
RELIABILITY_PNG = "reliability.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: Sequence[dict[str, Any]], path: Path, best_epoch: int) -> Path:
    """Loss, accuracy, the selection score and the scheduled learning rate per epoch."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    figure, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    axes[0].plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    axes[0].plot(epochs, [r["val_nll"] for r in history], "o-", label="val (NLL)")
    axes[0].set_title("loss")
    axes[1].plot(epochs, [r["train_accuracy"] for r in history], "o-", label="train")
    axes[1].plot(epochs, [r["val_accuracy"] for r in history], "o-", label="val")
    axes[1].set_title("accuracy")
    axes[2].plot(epochs, [r["val_clean_yield_at_recall"] for r in history], "o-", label="val")
    axes[2].set_title(f"val clean yield at pit recall >= {history[0].get('target', 0.99)}")
    axes[2].set_ylim(-0.02, 1.02)
    axes[3].plot(epochs, [r["lr"] for r in history], "o-")
    axes[3].set_title("learning rate (end of epoch)")
    for axis in axes:
        axis.axvline(best_epoch, color="grey", linestyle=":", linewidth=1)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    for axis in axes[:3]:
        axis.legend()
    figure.suptitle(f"training curves (dotted: selected epoch {best_epoch})")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def plot_confusion(
    confusion: Sequence[Sequence[int]],
    class_names: Sequence[str],
    path: Path,
    title: str,
    xlabel: str = "predicted (arg-max)",
) -> Path:
    """Counts with row-normalised shading (rows: truth)."""
    plt = _pyplot()
    matrix = np.asarray(confusion, float)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(1.4 * len(class_names) + 2, 1.2 * len(class_names) + 1.5))
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            colour = "white" if shares[i, j] > 0.5 else "black"
            axis.text(
                j,
                i,
                f"{int(matrix[i, j])}\n{shares[i, j]:.0%}",
                ha="center",
                va="center",
                color=colour,
            )
    axis.set_xticks(range(len(class_names)), class_names)
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel(xlabel)
    axis.set_ylabel("true")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def plot_reliability(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    bins: int = 10,
    title: str = "reliability, test split (marker area ~ crops)",
) -> Path:
    """Reliability diagram: top-label confidence vs accuracy, one line per probability set."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 4.5))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, (probabilities, labels) in curves.items():
        table = reliability_bins(probabilities, labels, bins)
        used = [i for i, n in enumerate(table["count"]) if n > 0]
        ece = expected_calibration_error(probabilities, labels, bins)
        line = axis.plot(
            [table["confidence"][i] for i in used],
            [table["accuracy"][i] for i in used],
            "-",
            alpha=0.6,
            label=f"{name}, ECE {ece:.4f}",
        )[0]
        sizes = [12 + 200 * table["count"][i] / max(1, len(labels)) for i in used]
        axis.scatter(
            [table["confidence"][i] for i in used],
            [table["accuracy"][i] for i in used],
            s=sizes,
            color=line.get_color(),
        )
    axis.set_xlabel("confidence (top class)")
    axis.set_ylabel("accuracy")
    axis.set_xlim(0, 1.02)
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def metrics_table(columns: dict[str, dict[str, Any]], keys: Sequence[str]) -> list[str]:
    lines = ["| metric | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for key in keys:
        cells = [_figure(column.get(key, float("nan"))) for column in columns.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def write_markdown(path: Path, report: dict[str, Any], class_names: Sequence[str]) -> Path:
    """``report.md``: what was trained, how it was chosen, and its figures on val and test."""
    keys = [
        "accuracy",
        "pit_recall",
        "pit_recall_strict",
        "pit_precision",
        "clean_yield",
        "maybe_rate",
        "missed_pits",
        "clean_yield_at_recall",
        "ece",
        "nll",
    ]
    keys += [f"class_{c}_{m}" for c in class_names for m in ("precision", "recall", "f1")]
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
                f" | {_figure(record.get('decision_agreement', float('nan')))}"
                f" | {_figure(record.get('pit_recall', float('nan')))}"
                f" | {_figure(record.get('pit_recall_fp32', float('nan')))} |"
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
