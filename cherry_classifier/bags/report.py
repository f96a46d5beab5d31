"""The evaluation report: ``report.md`` with PNG plots, and ``report.json`` for CI.

One column per model (all evaluated on the same bag or run): the metrics of
:mod:`.metrics` overall and per camera, the confusion matrix of each model's decisions, a
threshold sweep from the recorded probabilities (pit recall, clean yield and maybe rate over
``pit_threshold``; pit precision against recall), a reliability diagram and, when latencies are
known (live runs), their histogram. NaN figures are ``null`` in the JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.bags.metrics import DEFAULT_SWEEP, evaluate_records, threshold_sweep
from cherry_classifier.bags.records import RecordSet, class_codes
from cherry_classifier.core.decision import LABEL_NAMES
from cherry_classifier.training.report import (
    _pyplot,
    metrics_table,
    plot_confusion,
    plot_reliability,
)

FORMAT = "cherry_classifier.eval/1"
REPORT_MD, REPORT_JSON = "report.md", "report.json"
SWEEP_PNG, RELIABILITY_PNG, LATENCY_PNG = "sweep.png", "reliability.png", "latency.png"
TABLE_KEYS = (
    "pit_recall",
    "pit_recall_strict",
    "pit_precision",
    "clean_yield",
    "maybe_rate",
    "missed_pits",
    "ece",
    "decisions",
    "labelled",
    "unlabelled",
    "maybe_rate_all",
    "pit_recall_with_missed",
    "fail_safe",
)
CAMERA_KEYS = ("pit_recall", "pit_precision", "clean_yield", "maybe_rate", "labelled", "decisions")


def write_report(
    results: Mapping[str, RecordSet],
    out_dir: str | Path,
    latency: Mapping[str, Sequence[float]] | Sequence[float] | None = None,
    drops: Mapping[str, int] | int | None = None,
    sweep: Sequence[float] = DEFAULT_SWEEP,
    title: str = "Replay evaluation",
) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.json`` and the plots into ``out_dir``; return both paths.

    ``results``: model label -> its records. ``latency``: seconds per model label (or one list
    for all); default: the records' own ``latency_s``. ``drops``: frames dropped (live runs).
    """
    if not results:
        raise ValueError("no results to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    latencies = _latencies(results, latency)
    summary: dict[str, Any] = {"format": FORMAT, "title": title, "models": {}}
    plots: dict[str, str] = {}
    for name, records in results.items():
        evaluated = evaluate_records(records)
        confusion_png = f"confusion_{_slug(name)}.png"
        plot_confusion(
            evaluated["overall"]["confusion"],
            LABEL_NAMES,
            out / confusion_png,
            f"{name}: labelled cherries",
            xlabel="decided",
        )
        plots[name] = confusion_png
        summary["models"][name] = {
            "model_id": records.model_id,
            "class_names": list(records.class_names),
            "meta": records.meta,
            "metrics": evaluated["overall"],
            "per_camera": evaluated["per_camera"],
            "sweep": threshold_sweep(records, sweep),
        }
    _plot_sweep(summary["models"], out / SWEEP_PNG)
    has_reliability = _plot_reliability(results, out / RELIABILITY_PNG)
    if latencies:
        summary["latency"] = {name: _latency_stats(v) for name, v in latencies.items()}
        _plot_latency(latencies, out / LATENCY_PNG)
    if drops is not None:
        summary["drops"] = drops if isinstance(drops, Mapping) else {"all": int(drops)}
    json_path = out / REPORT_JSON
    json_path.write_text(json.dumps(_json_safe(summary), indent=2) + "\n")
    md_path = out / REPORT_MD
    md_path.write_text(_markdown(summary, plots, has_reliability, bool(latencies)))
    return md_path, json_path


# -- plots ---------------------------------------------------------------------------------------
def _plot_sweep(models: Mapping[str, Any], path: Path) -> Path:
    plt = _pyplot()
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


def _plot_reliability(results: Mapping[str, RecordSet], path: Path) -> bool:
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


def _plot_latency(latencies: Mapping[str, np.ndarray], path: Path) -> Path:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.8))
    top = max(float(np.max(v)) for v in latencies.values()) * 1000
    bins = np.linspace(0, max(top, 1e-3), 40)
    for name, values in latencies.items():
        stats = _latency_stats(values)
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


# -- tables --------------------------------------------------------------------------------------
def _markdown(
    summary: dict[str, Any], plots: dict[str, str], reliability: bool, latency: bool
) -> str:
    models = summary["models"]
    lines = [f"# {summary['title']}", ""]
    for name, model in models.items():
        meta = model["meta"]
        thresholds = meta.get("thresholds", {})
        lines.append(
            f"- **{name}**: model `{model['model_id']}`"
            + (f" from `{meta['model_path']}`" if meta.get("model_path") else "")
            + (f", bag `{meta['bag']}`" if meta.get("bag") else "")
            + (f", {meta['input_mode']} mode" if meta.get("input_mode") else "")
            + (
                ", thresholds pit {pit_threshold:.4g} / maybe {maybe_threshold:.4g} / "
                "clean {clean_threshold:.4g}".format(**thresholds)
                if thresholds
                else ""
            )
        )
        if meta.get("refused_images"):
            lines.append(f"  - refused images: {meta['refused_images']}")
    lines += [
        "",
        "## Metrics (labelled cherries; decisions as recorded)",
        "",
        *metrics_table({n: m["metrics"] for n, m in models.items()}, TABLE_KEYS),
        "",
        "Pit recall counts pits decided PIT or MAYBE (manual review), `pit_recall_strict` PIT"
        " only; clean yield: clean cherries decided CLEAN; maybe rate: labelled cherries decided"
        " MAYBE (`maybe_rate_all`: every decision); ECE: calibration error of the top class;"
        " `pit_recall_with_missed` also counts labelled pits the localizer did not find as"
        " missed. Definitions: docs/bags.md.",
        "",
    ]
    for name, model in models.items():
        missed = model["metrics"]["missed_labels"]
        lines += [
            f"### {name}",
            "",
            "Confusion (rows: truth, columns: decided clean / maybe / pit): "
            + "; ".join(
                f"{truth} {row}"
                for truth, row in zip(LABEL_NAMES, model["metrics"]["confusion"], strict=True)
            )
            + f". Labelled cherries not found: {missed}.",
            "",
            "Per camera (source topic):",
            "",
            *metrics_table(model["per_camera"], CAMERA_KEYS),
            "",
            f"![confusion {name}]({plots[name]})",
            "",
        ]
    if "drops" in summary:
        lines += [f"Frames dropped: {summary['drops']}", ""]
    lines += ["## Plots", "", f"![threshold sweep]({SWEEP_PNG})", ""]
    if reliability:
        lines += [f"![reliability]({RELIABILITY_PNG})", ""]
    if latency:
        lines += [
            "| model | decisions | p50 ms | p95 ms | p99 ms | max ms |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, stats in summary["latency"].items():
            lines.append(
                f"| {name} | {stats['count']} | {stats['p50_ms']:.1f} | {stats['p95_ms']:.1f}"
                f" | {stats['p99_ms']:.1f} | {stats['max_ms']:.1f} |"
            )
        lines += ["", f"![latency]({LATENCY_PNG})", ""]
    lines += [f"Machine-readable figures: `{REPORT_JSON}`.", ""]
    return "\n".join(lines)


# -- helpers -------------------------------------------------------------------------------------
def _latencies(
    results: Mapping[str, RecordSet],
    latency: Mapping[str, Sequence[float]] | Sequence[float] | None,
) -> dict[str, np.ndarray]:
    if latency is None:
        found = {name: records.latencies for name, records in results.items()}
    elif isinstance(latency, Mapping):
        found = {name: np.asarray(values, float) for name, values in latency.items()}
    else:
        found = {"all": np.asarray(latency, float)}
    return {name: values for name, values in found.items() if len(values)}


def _latency_stats(values: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(values, float) * 1000
    return {
        "count": len(ms),
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value
