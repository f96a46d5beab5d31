"""The reports' plots (PNG, matplotlib's Agg backend, imported only when plotting).

Training: curves per epoch, confusion matrix, reliability diagram. Records (bag or live runs):
threshold sweep, reliability of labelled cherries, latency histogram.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.evaluation.metrics import expected_calibration_error, reliability_bins
from cherry_classifier.evaluation.records import RecordSet, class_codes


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: Sequence[dict[str, Any]], path: Path, best_epoch: int) -> Path:
    """Loss, accuracy, the selection score and the scheduled learning rate per epoch."""
    plt = pyplot()
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
    plt = pyplot()
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
    plt = pyplot()
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


def plot_sweep(models: Mapping[str, Any], path: Path) -> Path:
    """Pit recall, clean yield, maybe rate over ``pit_threshold``; pit precision vs recall.

    ``models``: name -> {"sweep": rows, "meta": ..., "metrics": the figures at the used point}.
    """
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    for index, (name, model) in enumerate(models.items()):
        colour = f"C{index}"
        rows = model["sweep"]
        pit = [r["pit_threshold"] for r in rows]
        for key, style in (("pit_recall", "-"), ("clean_yield", "--"), ("maybe_rate", ":")):
            left.plot(
                pit, [_nan(r[key]) for r in rows], style, color=colour, label=f"{name}: {key}"
            )
        used = model["meta"].get("thresholds", {}).get("pit_threshold")
        if used is not None:
            left.axvline(used, color=colour, alpha=0.3, linewidth=1)
        recall = [_nan(r["pit_recall_strict"]) for r in rows]
        precision = [_nan(r["pit_precision"]) for r in rows]
        right.plot(recall, precision, "o-", color=colour, markersize=3, label=name)
        metrics = model["metrics"]
        right.plot(
            _nan(metrics["pit_recall_strict"]),
            _nan(metrics["pit_precision"]),
            "*",
            color=colour,
            markersize=14,
        )
    left.set_xlabel("pit_threshold (maybe_threshold capped at it)")
    left.set_title("threshold sweep (vertical line: thresholds used)")
    left.set_ylim(-0.02, 1.02)
    left.legend(fontsize=7)
    right.set_xlabel("pit recall (decided PIT)")
    right.set_ylabel("pit precision")
    right.set_title("pit precision vs recall over pit_threshold (star: used)")
    right.set_xlim(-0.02, 1.02)
    right.set_ylim(-0.02, 1.02)
    right.legend(fontsize=7)
    for axis in (left, right):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def plot_record_reliability(results: Mapping[str, RecordSet], path: Path) -> bool:
    """Reliability of the labelled cherries whose class each model has; False: none."""
    curves = {}
    for name, records in results.items():
        codes = class_codes(records.class_names)
        usable = np.isin(records.truth, list(codes))
        if usable.any():
            indices = np.asarray([codes[int(t)] for t in records.truth[usable]], np.int64)
            curves[name] = (records.probabilities[usable], indices)
    if not curves:
        return False
    plot_reliability(curves, path, title="reliability, labelled cherries (marker area ~ crops)")
    return True


def plot_latency(latencies: Mapping[str, np.ndarray], path: Path) -> Path:
    """Histogram of image-received-to-decision latencies (seconds), one per model."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.8))
    top = max(float(np.max(v)) for v in latencies.values()) * 1000
    bins = np.linspace(0, max(top, 1e-3), 40)
    for name, values in latencies.items():
        stats = latency_stats(values)
        axis.hist(
            np.asarray(values) * 1000,
            bins=bins,
            alpha=0.5,
            label=f"{name}: p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms",
        )
    axis.set_xlabel("latency (ms)")
    axis.set_ylabel("decisions")
    axis.set_title("latency: image received to decision published")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def latency_stats(values: Sequence[float]) -> dict[str, float]:
    """Count, mean and percentiles in ms of latencies in seconds."""
    ms = np.asarray(values, float) * 1000
    return {
        "count": len(ms),
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)
