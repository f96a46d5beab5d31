"""The label-free shift report: what a model decided over a bag, and how far that is from its
bundle's reference distribution, without a single label.

Written beside every evaluation report (``shift.md``, ``shift.json``, ``shift_<model>.png``),
and the only report a bag without labels gets. Per model:

- frames over time: cherries per frame, frames with no cherries (when the records carry every
  frame's stamp, ``meta["frame_stamps_ns"]``), lost frames (``drops``, or ``meta["lost_frames"]``)
  and late frames: decided later than one frame period after they were published (records with
  latencies, i.e. live replays);
- decided shares (clean, maybe, pit) per frame and over the last :data:`ROLLING_CHERRIES`
  cherries; the maybe rate over time;
- the distribution of P(pit) over the reference's fixed bins (``core.drift.P_PIT_EDGES``);
- the same against the bundle's reference (``reference.json``): label shares side by side, the
  drift score of the whole bag (one window of every decision) with its two PSIs, and the score
  of a sliding window of ``core.drift.DEFAULT_WINDOW`` decisions over time, as the node's alarm
  will compute it. A bundle without a reference: "no reference: drift disabled".
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.core.decision import LABEL_NAMES, MAYBE, class_index
from cherry_classifier.core.drift import (
    DEFAULT_WINDOW,
    DRIFT_ALARM_LEVEL,
    NO_REFERENCE,
    P_PIT_EDGES,
    DriftWindow,
    ReferenceDistribution,
    p_pit_histogram,
    reference_status,
    score_counts,
)
from cherry_classifier.evaluation.records import RecordSet
from cherry_classifier.evaluation.tables import json_safe, slug

SHIFT_MD, SHIFT_JSON = "shift.md", "shift.json"
ROLLING_CHERRIES = 100  # the "over time" shares: the last 100 cherries, about 4 frames
LABEL_COLOURS = {"clean": "tab:green", "maybe": "tab:orange", "pit": "tab:red"}
DEFAULT_LABELS_TOPIC = "/cherry_labels"


@dataclass
class FrameRow:
    """One frame (source image) of a bag: when, how many cherries of each decided label."""

    source: str
    stamp_ns: int
    counts: np.ndarray  # (3,) decided clean, maybe, pit
    latency_s: float | None = None

    @property
    def cherries(self) -> int:
        return int(self.counts.sum())


@dataclass
class ShiftSummary:
    """The figures of one model's label-free report (``shift.json``)."""

    frames: list[FrameRow]
    lost_frames: int
    late_frames: int | None
    late_after_s: float | None
    decided: dict[str, int]
    p_pit_counts: list[int]
    p_pit_edges: tuple[float, ...]
    reference: ReferenceDistribution | None
    reference_note: str
    drift: dict[str, Any] | None
    drift_over_time: list[tuple[float, float]] = field(default_factory=list)
    frames_known: bool = True  # False: frames without cherries are not in the records

    def to_dict(self) -> dict[str, Any]:
        cherries = [row.cherries for row in self.frames]
        total = sum(self.decided.values())
        return {
            "frames": len(self.frames),
            "frames_with_no_cherries": (
                sum(c == 0 for c in cherries) if self.frames_known else None
            ),
            "cherries": total,
            "cherries_per_frame": {
                "mean": float(np.mean(cherries)) if cherries else None,
                "min": min(cherries, default=None),
                "max": max(cherries, default=None),
            },
            "lost_frames": self.lost_frames,
            "late_frames": self.late_frames,
            "late_after_s": self.late_after_s,
            "decided": self.decided,
            "decided_shares": {k: (v / total if total else None) for k, v in self.decided.items()},
            "maybe_rate": self.decided["maybe"] / total if total else None,
            "p_pit_edges": list(self.p_pit_edges),
            "p_pit_counts": self.p_pit_counts,
            "reference": None if self.reference is None else self.reference.to_dict(),
            "reference_note": self.reference_note,
            "drift": self.drift,
            "drift_over_time": [list(point) for point in self.drift_over_time],
        }


# -- figures -------------------------------------------------------------------------------------
def frame_rows(records: RecordSet) -> tuple[list[FrameRow], bool]:
    """Every frame in time order, and whether frames without cherries are among them."""
    rows: dict[tuple[str, int], FrameRow] = {}
    for record in records.records:
        key = (record.source_topic, int(record.stamp_ns))
        row = rows.setdefault(key, FrameRow(key[0], key[1], np.zeros(3, np.int64)))
        row.counts[record.label] += 1
        if record.latency_s is not None:
            row.latency_s = max(row.latency_s or 0.0, float(record.latency_s))
    stamps = records.meta.get("frame_stamps_ns")
    known = isinstance(stamps, Mapping)
    if known:
        for source, values in stamps.items():
            for stamp in values:
                rows.setdefault(
                    (source, int(stamp)), FrameRow(source, int(stamp), np.zeros(3, np.int64))
                )
    return sorted(rows.values(), key=lambda r: (r.stamp_ns, r.source)), known


def frame_period_s(frames: list[FrameRow]) -> float | None:
    """The median time between consecutive frames of one source (None: too few frames)."""
    gaps: list[float] = []
    for source in {row.source for row in frames}:
        stamps = sorted(row.stamp_ns for row in frames if row.source == source)
        gaps += [(b - a) * 1e-9 for a, b in itertools.pairwise(stamps) if b > a]
    return float(np.median(gaps)) if gaps else None


def lost_frame_count(records: RecordSet, drops: int | None) -> int:
    lost = records.meta.get("lost_frames")
    if isinstance(lost, list):
        return len(lost)
    return int(drops or 0)


def drift_over_time(
    records: RecordSet, reference: ReferenceDistribution, frames: list[FrameRow], start_ns: int
) -> list[tuple[float, float]]:
    """(seconds since the first frame, score) after each frame, over a sliding window of
    ``DEFAULT_WINDOW`` decisions, from the first frame where the window holds enough."""
    by_frame: dict[tuple[str, int], list[np.ndarray]] = {}
    for record in records.records:
        by_frame.setdefault((record.source_topic, int(record.stamp_ns)), []).append(
            record.probabilities
        )
    window = DriftWindow(reference, size=DEFAULT_WINDOW)
    points = []
    for row in frames:
        rows = by_frame.get((row.source, row.stamp_ns))
        if rows:
            window.add(np.stack(rows), records.class_names)
        score = window.score()
        if score is not None:
            points.append(((row.stamp_ns - start_ns) * 1e-9, score.score))
    return points


def shift_summary(
    records: RecordSet,
    reference: ReferenceDistribution | None,
    reference_note: str,
    drops: int | None = None,
) -> ShiftSummary:
    """Every figure of one model's label-free report."""
    frames, known = frame_rows(records)
    decided = {name: int(np.sum(records.labels == code)) for code, name in enumerate(LABEL_NAMES)}
    edges = reference.p_pit_edges if reference is not None else P_PIT_EDGES
    probabilities = records.probabilities
    p_pit = probabilities[:, class_index(records.class_names, "pit")]
    latencies = [row.latency_s for row in frames if row.latency_s is not None]
    period = frame_period_s(frames) if latencies else None
    late = sum(latency > period for latency in latencies) if period else None
    drift, over_time = None, []
    if reference is not None:
        whole = DriftWindow(reference, size=None)
        whole.add(probabilities, records.class_names)
        if len(whole):  # the whole bag is one window: scored however few its decisions
            score = score_counts(reference, whole.label_counts(), whole.p_pit_counts())
            drift = {**score.to_dict(), "describe": score.describe()}
            if len(whole) < whole.min_decisions:
                drift["note"] = f"only {len(whole)} decisions: sampling noise alone is large"
        start = frames[0].stamp_ns if frames else 0
        over_time = drift_over_time(records, reference, frames, start)
    return ShiftSummary(
        frames=frames,
        lost_frames=lost_frame_count(records, drops),
        late_frames=late,
        late_after_s=period,
        decided=decided,
        p_pit_counts=[int(c) for c in p_pit_histogram(p_pit, edges)],
        p_pit_edges=tuple(edges),
        reference=reference,
        reference_note=reference_note,
        drift=drift,
        drift_over_time=over_time,
        frames_known=known,
    )


def reference_for(records: RecordSet) -> tuple[ReferenceDistribution | None, str]:
    """The reference of the bundle the records name (``meta["model_path"]``), and a line."""
    path = records.meta.get("model_path") or ""
    if not path:
        return None, f"{NO_REFERENCE} (the records name no model bundle)"
    return reference_status(Path(path), records.model_id)


def labels_missing_message(records: RecordSet, report: str = SHIFT_MD) -> str:
    """What a user reads instead of "pit recall nan" on a bag without labels."""
    topic = records.meta.get("labels_topic") or DEFAULT_LABELS_TOPIC
    return (
        f"no labels in this bag ({topic} missing): label-free report written ({report}); "
        "to get pit recall, record labelled crops (recorder capture_dir:=DIR, sort DIR/<class>/) "
        "and evaluate `cherry-bag-make --crops DIR` (see docs/bags.md, Label-free report)"
    )


# -- report --------------------------------------------------------------------------------------
def write_shift_report(
    results: Mapping[str, RecordSet],
    out_dir: str | Path,
    drops: Mapping[str, int] | int | None = None,
    references: Mapping[str, tuple[ReferenceDistribution | None, str]] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write ``shift.md``, ``shift.json`` and ``shift_<model>.png``; return the markdown path
    and the JSON figures per model. ``references``: model label -> (reference, line); default:
    each bundle's own (:func:`reference_for`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {}
    lines = ["# Label-free shift report", ""]
    for name, records in results.items():
        reference, note = (references or {}).get(name) or reference_for(records)
        summary = shift_summary(records, reference, note, _drops_of(drops, name))
        png = f"shift_{slug(name)}.png"
        plot_shift(name, records, summary, out / png)
        figures[name] = {**summary.to_dict(), "plot": png}
        lines += _markdown(name, records, summary, png)
    (out / SHIFT_JSON).write_text(json.dumps(json_safe(figures), indent=2) + "\n")
    md_path = out / SHIFT_MD
    md_path.write_text("\n".join(lines))
    return md_path, figures


def _drops_of(drops: Mapping[str, int] | int | None, name: str) -> int | None:
    if isinstance(drops, Mapping):
        return drops.get(name, drops.get("all"))
    return drops


def _markdown(name: str, records: RecordSet, summary: ShiftSummary, png: str) -> list[str]:
    figures = summary.to_dict()
    shares = figures["decided_shares"]
    thresholds = records.meta.get("thresholds") or {}
    frames_line = f"{figures['frames']} frames, {figures['cherries']} cherries"
    if summary.frames_known:
        frames_line += f", frames with no cherries: {figures['frames_with_no_cherries']}"
    else:
        frames_line += " (frames with no cherries: not in these records)"
    frames_line += f", {summary.lost_frames} lost"
    if summary.late_frames is not None:
        frames_line += (
            f", {summary.late_frames} late (> {summary.late_after_s:.3f} s, a frame period)"
        )
    lines = [
        f"## {name} (model `{records.model_id}`)",
        "",
        f"- {frames_line}",
        "- decided: "
        + ", ".join(
            f"{label} {summary.decided[label]} ({_share(shares[label])})" for label in LABEL_NAMES
        )
        + (
            " at thresholds pit {pit_threshold:.4g} / maybe {maybe_threshold:.4g} / "
            "clean {clean_threshold:.4g}".format(**thresholds)
            if thresholds
            else ""
        ),
    ]
    if summary.reference is None:
        lines.append(f"- {summary.reference_note}")
    else:
        reference = summary.reference
        lines.append(f"- reference: {reference.summary()}")
        if thresholds and reference.thresholds.to_dict() != thresholds:
            lines.append(
                "- the drift score decides at the reference's thresholds, not the ones above, "
                "so its label shares compare like with like"
            )
        drift = summary.drift
        if drift is not None:
            verdict = "**ALARM**" if drift["alarm"] else "ok"
            lines.append(
                f"- drift score {drift['score']:.3f}, {verdict} (alarm at {drift['level']:g}): "
                f"label PSI {drift['label_psi']:.3f}, P(pit) PSI {drift['p_pit_psi']:.3f}, over "
                f"all {drift['decisions']} decisions"
                + (f"; {drift['note']}" if "note" in drift else "")
            )
        if summary.drift_over_time:
            highest = max(score for _, score in summary.drift_over_time)
            lines.append(
                f"- sliding window of {DEFAULT_WINDOW} decisions: highest score {highest:.3f}"
            )
    return [*lines, "", f"![shift {name}]({png})", ""]


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


# -- plot ----------------------------------------------------------------------------------------
def plot_shift(name: str, records: RecordSet, summary: ShiftSummary, path: Path) -> Path:
    """Six panels: shares over time, maybe rate over time, cherries per frame, P(pit)
    distribution, label shares vs the reference, drift score over time."""
    from cherry_classifier.evaluation.plots import pyplot

    plt = pyplot()
    figure, axes = plt.subplots(3, 2, figsize=(13, 11))
    frames = summary.frames
    start = frames[0].stamp_ns if frames else 0
    _plot_shares_over_time(axes[0, 0], records, frames, summary, start)
    _plot_maybe_rate(axes[0, 1], records, summary, start)
    _plot_cherries_per_frame(axes[1, 0], frames, summary, start)
    _plot_p_pit(axes[1, 1], summary)
    _plot_label_shares(axes[2, 0], summary)
    _plot_drift_over_time(axes[2, 1], summary)
    for axis in axes.flat:
        axis.grid(alpha=0.3)
    figure.suptitle(
        f"{name}: label-free shift report ({len(records)} cherries, {len(frames)} frames)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def _seconds(stamps: np.ndarray, start: int) -> np.ndarray:
    return (np.asarray(stamps, np.int64) - start) * 1e-9


def _rolling(frames: list[FrameRow], start: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(times, (F, 3) shares of the last ROLLING_CHERRIES cherries at each frame with
    cherries, window) in time order."""
    labels = np.concatenate(
        [np.repeat(np.arange(3), row.counts) for row in frames] or [np.zeros(0, np.int64)]
    ).astype(np.int64)
    window = max(1, min(ROLLING_CHERRIES, len(labels)))
    cumulative = np.vstack([np.zeros((1, 3)), np.cumsum(np.eye(3)[labels], axis=0)])
    ends = np.cumsum([row.cherries for row in frames])
    keep = [i for i, row in enumerate(frames) if row.cherries and ends[i] >= window]
    if not keep:
        return np.zeros(0), np.zeros((0, 3)), window
    at = ends[keep]
    shares = (cumulative[at] - cumulative[at - window]) / window
    return _seconds(np.asarray([frames[i].stamp_ns for i in keep]), start), shares, window


def _plot_shares_over_time(axis, records, frames, summary, start) -> None:
    times, shares, window = _rolling(frames, start)
    with_cherries = [row for row in frames if row.cherries]
    frame_times = _seconds(np.asarray([row.stamp_ns for row in with_cherries]), start)
    for code, label in enumerate(LABEL_NAMES):
        colour = LABEL_COLOURS[label]
        per_frame = [row.counts[code] / row.cherries for row in with_cherries]
        axis.plot(frame_times, per_frame, ".", color=colour, alpha=0.35)
        axis.plot(times, shares[:, code], "-", color=colour, label=label)
        if summary.reference is not None:
            axis.axhline(summary.reference.label_shares[label], color=colour, linestyle="--", lw=1)
    axis.set_ylim(-0.02, 1.02)
    axis.set_xlabel("time since the first frame (s)")
    axis.set_ylabel("share of decisions")
    axis.set_title(
        f"decided shares: per frame (dots), last {window} cherries (lines)"
        + (", reference (dashed)" if summary.reference is not None else ""),
        fontsize=9,
    )
    axis.legend(fontsize=7, title=f"n = {len(records)} cherries", title_fontsize=7)


def _plot_maybe_rate(axis, records, summary, start) -> None:
    times, shares, window = _rolling(summary.frames, start)
    colour = LABEL_COLOURS["maybe"]
    axis.plot(times, shares[:, MAYBE], "o-", color=colour, markersize=3, label="maybe rate")
    if summary.reference is not None:
        axis.axhline(
            summary.reference.label_shares["maybe"],
            color=colour,
            linestyle="--",
            lw=1,
            label="reference",
        )
    axis.set_ylim(-0.02, max(0.3, float(shares[:, MAYBE].max()) + 0.05) if len(times) else 0.3)
    axis.set_xlabel("time since the first frame (s)")
    axis.set_ylabel("maybe rate")
    total = summary.decided["maybe"]
    axis.set_title(
        f"maybe rate over the last {window} cherries ({total} maybe of {len(records)})", fontsize=9
    )
    axis.legend(fontsize=7)


def _plot_cherries_per_frame(axis, frames, summary, start) -> None:
    times = _seconds(np.asarray([row.stamp_ns for row in frames]), start)
    counts = np.asarray([row.cherries for row in frames])
    sources = np.asarray([row.source for row in frames])
    for index, source in enumerate(sorted(set(sources.tolist()))):
        mine = sources == source
        style = ("o-", "s--", "^:", "d-.")[index % 4]
        axis.plot(times[mine], counts[mine], style, color="tab:blue", markersize=3, label=source)
    empty = counts == 0
    if empty.any():
        axis.plot(
            times[empty], counts[empty], "x", color="black", markersize=8, label="no cherries"
        )
    if summary.late_after_s is not None:
        late = np.asarray(
            [row.latency_s is not None and row.latency_s > summary.late_after_s for row in frames]
        )
        if late.any():
            axis.plot(times[late], counts[late], "s", mfc="none", color="tab:purple", label="late")
    extra = f", {summary.lost_frames} lost"
    if summary.late_frames is not None:
        extra += f", {summary.late_frames} late"
    empty_text = f"{int(empty.sum())} with no cherries" if summary.frames_known else "empty: n/a"
    axis.set_title(f"cherries per frame ({len(frames)} frames, {empty_text}{extra})", fontsize=9)
    axis.set_xlabel("time since the first frame (s)")
    axis.set_ylabel("cherries")
    axis.set_ylim(bottom=-0.5)
    if frames:
        axis.legend(fontsize=7)


def _bin_labels(edges: tuple[float, ...]) -> list[str]:
    return [f"{a:g}-{b:g}" for a, b in itertools.pairwise(edges)]


def _plot_p_pit(axis, summary) -> None:
    counts = np.asarray(summary.p_pit_counts, float)
    positions = np.arange(len(counts))
    total = int(counts.sum())
    axis.bar(
        positions - 0.2,
        counts / max(total, 1),
        0.4,
        color="tab:red",
        label=f"this bag (n = {total})",
    )
    title = "distribution of P(pit) (fixed bins)"
    if summary.reference is not None:
        reference = summary.reference
        axis.bar(
            positions + 0.2,
            reference.p_pit_shares,
            0.4,
            color="tab:grey",
            label=f"reference (n = {reference.crops})",
        )
        if summary.drift is not None:
            title += f": PSI {summary.drift['p_pit_psi']:.3f}"
    axis.set_xticks(positions, _bin_labels(summary.p_pit_edges), rotation=60, fontsize=7)
    axis.set_xlabel("P(pit)")
    axis.set_ylabel("share of cherries")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7)


def _plot_label_shares(axis, summary) -> None:
    total = sum(summary.decided.values())
    positions = np.arange(len(LABEL_NAMES))
    colours = [LABEL_COLOURS[label] for label in LABEL_NAMES]
    shares = [summary.decided[label] / total if total else 0.0 for label in LABEL_NAMES]
    bars = axis.bar(positions - 0.2, shares, 0.4, color=colours, label=f"this bag (n = {total})")
    for bar, label in zip(bars, LABEL_NAMES, strict=True):
        axis.annotate(
            str(summary.decided[label]),
            (bar.get_x() + 0.2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    title = "decided label shares"
    if summary.reference is not None:
        reference = summary.reference
        axis.bar(
            positions + 0.2,
            [reference.label_shares[label] for label in LABEL_NAMES],
            0.4,
            color=colours,
            alpha=0.4,
            hatch="//",
            label=f"reference (n = {reference.crops})",
        )
        if summary.drift is not None:
            title += f" vs the reference: label PSI {summary.drift['label_psi']:.3f}"
    else:
        title += f" ({NO_REFERENCE})"
    axis.set_xticks(positions, LABEL_NAMES)
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("share")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7)


def _plot_drift_over_time(axis, summary) -> None:
    axis.axhline(DRIFT_ALARM_LEVEL, color="tab:red", linestyle="--", lw=1, label="alarm level")
    if summary.reference is None:
        axis.text(0.5, 0.5, NO_REFERENCE, ha="center", va="center", transform=axis.transAxes)
        axis.set_title("drift score: no reference in the bundle", fontsize=9)
        return
    if summary.drift_over_time:
        times, scores = zip(*summary.drift_over_time, strict=True)
        axis.plot(times, scores, "-", color="tab:blue", label=f"last {DEFAULT_WINDOW} decisions")
    else:
        axis.text(
            0.5,
            0.6,
            f"fewer decisions than a window needs ({DriftWindow(summary.reference).min_decisions})",
            ha="center",
            transform=axis.transAxes,
            fontsize=8,
        )
    if summary.drift is not None:
        axis.axhline(
            summary.drift["score"],
            color="tab:grey",
            linestyle=":",
            lw=1,
            label=f"whole bag: {summary.drift['score']:.3f} (n = {summary.drift['decisions']})",
        )
    axis.set_xlabel("time since the first frame (s)")
    axis.set_ylabel("drift score (PSI)")
    axis.set_ylim(bottom=0)
    axis.set_title("drift score against the bundle's reference (sliding window)", fontsize=9)
    axis.legend(fontsize=7)
