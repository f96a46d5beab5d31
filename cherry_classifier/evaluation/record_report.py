"""The evaluation report: ``report.md`` with PNG plots, and ``report.json`` for CI.

One column per model (all evaluated on the same bag or run): the metrics of
:mod:`.record_metrics` overall and per camera, the confusion matrix of each model's decisions, a
threshold sweep from the recorded probabilities (pit recall, clean yield and maybe rate over
``pit_threshold``; pit precision against recall), a reliability diagram and, when latencies are
known (live runs), their histogram. NaN figures are ``null`` in the JSON.

Beside it, always, the label-free shift report (:mod:`.shift_report`: ``shift.md``); a bag
without labels gets that report's pointer instead of a table of "n/a" metrics, and a sweep of
decided counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.core.decision import LABEL_NAMES
from cherry_classifier.evaluation.metrics import CAMERA, RECORDS, ModelMetrics
from cherry_classifier.evaluation.plots import (
    latency_stats,
    plot_confusion,
    plot_latency,
    plot_record_reliability,
    plot_sweep,
    wilson_interval,
)
from cherry_classifier.evaluation.record_metrics import (
    DEFAULT_SWEEP,
    evaluate_records,
    threshold_sweep,
)
from cherry_classifier.evaluation.records import RecordSet
from cherry_classifier.evaluation.shift_report import (
    SHIFT_MD,
    labels_missing_message,
    write_shift_report,
)
from cherry_classifier.evaluation.tables import json_safe, metrics_table, slug

FORMAT = "cherry_classifier.eval/1"
REPORT_MD, REPORT_JSON = "report.md", "report.json"
SWEEP_PNG, RELIABILITY_PNG, LATENCY_PNG = "sweep.png", "reliability.png", "latency.png"


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
        confusion_png = f"confusion_{slug(name)}.png"
        plot_confusion(
            evaluated.overall.confusion,
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
            "metrics": evaluated.overall,
            "per_camera": evaluated.per_camera,
            "sweep": threshold_sweep(records, sweep),
        }
    plot_sweep(summary["models"], out / SWEEP_PNG)
    _, shift = write_shift_report(results, out, drops)
    summary["shift"] = {"report": SHIFT_MD, "models": shift}
    summary["labelled"] = any(model["metrics"].labelled for model in summary["models"].values())
    summary["labels_missing"] = (
        None if summary["labelled"] else labels_missing_message(next(iter(results.values())))
    )
    has_reliability = plot_record_reliability(results, out / RELIABILITY_PNG)
    if latencies:
        summary["latency"] = {name: latency_stats(v) for name, v in latencies.items()}
        plot_latency(latencies, out / LATENCY_PNG)
    if drops is not None:
        summary["drops"] = drops if isinstance(drops, Mapping) else {"all": int(drops)}
    json_path = out / REPORT_JSON
    json_path.write_text(json.dumps(json_safe(summary), indent=2) + "\n")
    md_path = out / REPORT_MD
    md_path.write_text(_markdown(summary, plots, has_reliability, bool(latencies)))
    return md_path, json_path


# -- tables --------------------------------------------------------------------------------------
def _yardstick_lines(models: Mapping[str, Any]) -> list[str]:
    """Each model on the old production detector's annotated frame (``cherry-eval --yardstick``)."""
    measured = {n: m["meta"]["yardstick"] for n, m in models.items() if "yardstick" in m["meta"]}
    if not measured:
        return []
    lines = ["", "## Yardstick: the old production detector's annotated real frame", ""]
    for name, yardstick in measured.items():
        lines += [f"**{name}**:", "", "```", *yardstick["lines"], "```", ""]
    return lines


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
                else ", thresholds changed during the run"
            )
            + (f" (from {meta['thresholds_source']})" if meta.get("thresholds_source") else "")
            + (f", backend {meta['backend']}" if meta.get("backend") else "")
        )
        for warning in meta.get("warnings", []):
            lines.append(f"  - **warning**: {warning}")
        if meta.get("refused_images"):
            lines.append(f"  - refused images: {meta['refused_images']}")
    lines += _yardstick_lines(models)
    if not summary["labelled"]:
        lines += ["", f"**{summary['labels_missing']}**", ""]
        lines += _shift_lines(summary)
        lines += ["## Plots", "", f"![decided counts per threshold]({SWEEP_PNG})", ""]
        if latency:
            lines += _latency_lines(summary)
        return "\n".join([*lines, f"Machine-readable figures: `{REPORT_JSON}`.", ""])
    lines += [
        "",
        *_shift_lines(summary),
        "## Metrics (labelled cherries; decisions as recorded)",
        "",
        *metrics_table(
            {n: m["metrics"] for n, m in models.items()}, ModelMetrics.view_keys(RECORDS)
        ),
        "",
        "Pit recall counts pits decided PIT or MAYBE (manual review), `pit_recall_strict` PIT"
        " only; clean yield: clean cherries decided CLEAN; maybe rate: labelled cherries decided"
        " MAYBE (`maybe_rate_all`: every decision); ECE: calibration error of the top class;"
        " `pit_recall_with_missed` also counts labelled pits the localizer did not find as"
        " missed. Definitions: docs/bags.md.",
        "",
    ]
    for name, model in models.items():
        missed = model["metrics"].missed_labels
        lines += [
            f"### {name}",
            "",
            "Confusion (rows: truth, columns: decided clean / maybe / pit): "
            + "; ".join(
                f"{truth} {row}"
                for truth, row in zip(LABEL_NAMES, model["metrics"].confusion, strict=True)
            )
            + f". Labelled cherries not found: {missed}.",
            "",
            _pit_recall_line(model["metrics"]),
            "",
            "Per camera (source topic):",
            "",
            *metrics_table(model["per_camera"], ModelMetrics.view_keys(CAMERA)),
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
        lines += _latency_lines(summary)
    lines += [f"Machine-readable figures: `{REPORT_JSON}`.", ""]
    return "\n".join(lines)


def _pit_recall_line(metrics: ModelMetrics) -> str:
    """Pit recall with the count it comes from and its 95% Wilson interval."""
    pits = int(sum(metrics.confusion[2])) if metrics.confusion else 0
    if not pits:
        return "Pit recall: no labelled pits among the decisions."
    low, high = wilson_interval(pits - int(metrics.missed_pits or 0), pits)
    return (
        f"Pit recall {metrics.pit_recall:.4f} from {pits} labelled pits "
        f"(95% Wilson interval {low:.3f}-{high:.3f}"
        + (": few pits, a wide interval)." if pits < 100 else ").")
    )


def _shift_lines(summary: dict[str, Any]) -> list[str]:
    """The label-free report's headline per model, and where it is."""
    lines = [f"## Label-free shift report: [{SHIFT_MD}]({SHIFT_MD})", ""]
    for name, shift in summary["shift"]["models"].items():
        drift = shift["drift"]
        verdict = (
            shift["reference_note"]
            if drift is None
            else f"drift score {drift['score']:.3f} ({'ALARM' if drift['alarm'] else 'ok'}, "
            f"alarm at {drift['level']:g})"
        )
        lines.append(
            f"- **{name}**: {shift['frames']} frames, {shift['cherries']} cherries, "
            f"maybe rate {_percent(shift['maybe_rate'])}; {verdict}"
        )
    return [*lines, ""]


def _latency_lines(summary: dict[str, Any]) -> list[str]:
    lines = [
        "Latency: each image published (replay) to its decisions received.",
        "",
        "| model | decisions | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, stats in summary["latency"].items():
        lines.append(
            f"| {name} | {stats['count']} | {stats['p50_ms']:.1f} | {stats['p95_ms']:.1f}"
            f" | {stats['p99_ms']:.1f} | {stats['max_ms']:.1f} |"
        )
    return [*lines, "", f"![latency]({LATENCY_PNG})", ""]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


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
