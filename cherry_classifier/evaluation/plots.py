"""The reports' plots (PNG, matplotlib's Agg backend, imported only when plotting).

Training: curves per epoch, confusion matrix, reliability diagram. Records (bag or live runs):
threshold sweep, reliability of labelled cherries, latency histogram.

Drawn for a line engineer: one colour per metric (:data:`METRIC_COLOURS`, the same in every
chart; models differ by line style), the sample count on every chart, a 95% Wilson interval
around pit recall (wide where it comes from few pits), and titles that say what was measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.evaluation.metrics import expected_calibration_error, reliability_bins
from cherry_classifier.evaluation.records import RecordSet, class_codes

METRIC_COLOURS = {
    "pit_recall": "tab:red",
    "clean_yield": "tab:green",
    "maybe_rate": "tab:orange",
    "pit_precision": "tab:purple",
}
DECIDED_COLOURS = {"clean": "tab:green", "maybe": "tab:orange", "pit": "tab:red"}
MODEL_STYLES = ("-", "--", ":", "-.")
WILSON_Z = 1.96  # 95%


def wilson_interval(successes: int, total: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a proportion (NaN, NaN for no trials): unlike the normal
    approximation it stays inside [0, 1] and is honest at 0 or n successes out of few."""
    if total <= 0:
        return float("nan"), float("nan")
    share = successes / total
    denominator = 1 + z**2 / total
    centre = (share + z**2 / (2 * total)) / denominator
    half = z * np.sqrt(share * (1 - share) / total + z**2 / (4 * total**2)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


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
    axis.set_title(f"{title} (n = {int(matrix.sum())})")
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
            label=f"{name}, ECE {ece:.4f}, n = {len(labels)}",
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
    """Pit recall (with its 95% Wilson band), clean yield and maybe rate over
    ``pit_threshold``; pit precision vs recall. Without labelled cherries: decided counts per
    ``pit_threshold`` instead (:func:`plot_decided_sweep`).

    ``models``: name -> {"sweep": rows, "meta": ..., "metrics": the figures at the used point}.
    """
    if not any(model["metrics"]["labelled"] for model in models.values()):
        return plot_decided_sweep(models, path)
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    counts = []
    for index, (name, model) in enumerate(models.items()):
        style = MODEL_STYLES[index % len(MODEL_STYLES)]
        rows, metrics = model["sweep"], model["metrics"]
        pits = int(sum(metrics["confusion"][2])) if metrics.get("confusion") else 0
        clean = int(sum(metrics["confusion"][0])) if metrics.get("confusion") else 0
        counts.append(f"{name}: {metrics['labelled']} labelled, {pits} pits, {clean} clean")
        pit = [r["pit_threshold"] for r in rows]
        for key in ("pit_recall", "clean_yield", "maybe_rate"):
            left.plot(
                pit,
                [_nan(r[key]) for r in rows],
                style,
                color=METRIC_COLOURS[key],
                label=f"{name}: {key.replace('_', ' ')}",
            )
        bands = [wilson_interval(pits - int(r.get("missed_pits") or 0), pits) for r in rows]
        left.fill_between(
            pit,
            [b[0] for b in bands],
            [b[1] for b in bands],
            color=METRIC_COLOURS["pit_recall"],
            alpha=0.12,
            label=f"{name}: pit recall 95% Wilson interval ({pits} pits)",
        )
        used = model["meta"].get("thresholds", {}).get("pit_threshold")
        if used is not None:
            left.axvline(used, color="grey", linestyle=style, alpha=0.5, linewidth=1)
        recall = [_nan(r["pit_recall_strict"]) for r in rows]
        precision = [_nan(r["pit_precision"]) for r in rows]
        colour = METRIC_COLOURS["pit_precision"]
        right.plot(recall, precision, style, marker="o", color=colour, markersize=3, label=name)
        right.plot(
            _nan(metrics["pit_recall_strict"]),
            _nan(metrics["pit_precision"]),
            "*",
            color=colour,
            markersize=14,
        )
    left.set_xlabel("pit_threshold (maybe_threshold capped at it)")
    left.set_title(
        "threshold sweep on labelled cherries (grey line: thresholds used)\n" + "; ".join(counts),
        fontsize=9,
    )
    left.set_ylim(-0.02, 1.02)
    left.legend(fontsize=7)
    right.set_xlabel("pit recall (decided PIT)")
    right.set_ylabel("pit precision")
    right.set_title("pit precision vs recall over pit_threshold (star: used)", fontsize=9)
    right.set_xlim(-0.02, 1.02)
    right.set_ylim(-0.02, 1.02)
    right.legend(fontsize=7)
    for axis in (left, right):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def plot_decided_sweep(models: Mapping[str, Any], path: Path) -> Path:
    """Decided clean, maybe and pit counts over ``pit_threshold`` (a bag without labels)."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.6))
    totals = []
    for index, (name, model) in enumerate(models.items()):
        style = MODEL_STYLES[index % len(MODEL_STYLES)]
        rows = model["sweep"]
        pit = [r["pit_threshold"] for r in rows]
        for label, colour in DECIDED_COLOURS.items():
            axis.plot(
                pit,
                [(r.get("decided") or {}).get(label, 0) for r in rows],
                style,
                color=colour,
                label=f"{name}: decided {label}",
            )
        used = model["meta"].get("thresholds", {}).get("pit_threshold")
        if used is not None:
            axis.axvline(used, color="grey", linestyle=style, alpha=0.5, linewidth=1)
        totals.append(f"{name}: n = {model['metrics']['decisions']} cherries")
    axis.set_xlabel("pit_threshold (maybe_threshold capped at it)")
    axis.set_ylabel("cherries decided")
    axis.set_title(
        "no labels: decided counts per threshold (grey line: thresholds used)\n"
        + "; ".join(totals),
        fontsize=9,
    )
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
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


REPLAY_LATENCY = "latency: image published (replay) to its decisions received"


def plot_latency(
    latencies: Mapping[str, np.ndarray], path: Path, title: str = REPLAY_LATENCY
) -> Path:
    """Histogram of latencies (seconds), one per model; ``title`` says what was measured
    (the records' ``latency_s`` come from ``cherry-replay``: publish to receipt)."""
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
            label=f"{name}: n = {stats['count']}, p50 {stats['p50_ms']:.1f} ms, "
            f"p99 {stats['p99_ms']:.1f} ms",
        )
    axis.set_xlabel("latency (ms)")
    axis.set_ylabel("decisions")
    axis.set_title(title)
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
