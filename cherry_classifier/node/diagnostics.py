"""The classifier's /diagnostics: health levels and figures from the engine's counters.

Levels of the ``<node>: inference`` status, worst first: ERROR without a model (fail-safe
decisions) or when inference failed during the last period; WARN when frames were dropped
(queue full or past the deadline), images were refused, or an input went stale, and always
while a demo model runs (trained on synthetic crops only: the reason is appended to any other
WARN's message); else OK.
Counters are totals since start-up: ``frames_dropped`` = ``dropped_queue_full`` +
``dropped_too_old`` (+ ``dropped_internal_error``), ``input_<kind>`` per kind of
``input_guard``. ``stage_<stage>_ms_<p50|p99|max|n>``: where the last decided frames' time
went (``core.stage_times``: transfer, conversion, localizing, queue_wait, inference, publish,
in_node).

Drift (``<node>: drift``, ``core.drift_monitor``): the drift score of the live model's last
``drift_window`` decisions against its bundle's ``reference.json``, both PSIs, the window's label
shares beside the reference's (``window_share_<label>``, ``reference_share_<label>``); WARN once
the score reaches ``drift_warn_level``; OK while the window fills (no score below 200 decisions)
and when the model has no reference (the message says the alarm is disabled, and why).

Shadow (``<node>: shadow``, ``core.shadow``): the shadow model's id and, since it was set
(``total_``) and over the last compared crops (``window_``): crops compared, agreement (share of
crops with the same label), ``agreement_<live label>``, ``pit_disagreements`` (PIT against
CLEAN, either way) and the confusion ``confusion_<live>_<shadow>``; ``skipped_crops`` (crops it
never ran on: ``skipped_<reason>``, backlog being the load shed). WARN when the start-up shadow
was refused or the shadow failed on a frame; OK otherwise (also without a shadow).

Per input topic (``<node>: input <topic>``): ``frames_received`` / ``frames_decided`` /
``frames_dropped`` count that topic's frames (image_set mode: its image sets). In layers mode a
topic carries one layer of each set: ``frames_received`` counts its layers, ``frames_decided``
and ``frames_dropped`` the joined sets (the same on every layer topic, decided under the source
``decided_as``), so a lost layer shows as a topic that received fewer than the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from cherry_classifier.core.decision import LABEL_NAMES

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


@dataclass
class HealthReport:
    """Everything one diagnostics period looks at."""

    stats: dict[str, Any]
    now: float
    last_input: dict[str, float]
    stale_after_s: float
    model_id: str
    model_error: str
    frames_waiting: int
    crops_waiting: int
    input_errors: int
    unmatched_layer_sets: int
    thresholds_version: int
    input_counts: dict[str, int] = field(default_factory=dict)
    max_frame_age_ms: float = 0.0
    fault_injection_every: int = 0
    matched_publishers: dict[str, int] = field(default_factory=dict)  # per input topic
    silence_hint: str = ""  # the likely cause when a matched publisher's messages never arrive
    debug_image_subscribers: int = 0  # ~/debug_image is drawn only while this is above 0
    demo_model_warning: str = ""  # why the running model must not sort ("" : not a demo model)
    training_data: str = ""  # what the running model was trained on, e.g. "synthetic, 2222 crops"
    stage_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # core.stage_times
    layer_sets_source: str = ""  # layers mode: the joined source its sets are decided under
    layers_received: dict[str, int] = field(default_factory=dict)  # layers mode, per topic

    def stale_topics(self) -> list[str]:
        return [t for t, seen in self.last_input.items() if self.now - seen > self.stale_after_s]


@dataclass
class DiagnosticsState:
    """Remembers the previous period's counters, to report rates and new drops."""

    previous: HealthReport | None = None

    def update(self, report: HealthReport, node_name: str) -> list[DiagnosticStatus]:
        previous, self.previous = self.previous, report
        period = max(1e-6, report.now - previous.now) if previous else 0.0
        stats = report.stats
        statuses = [self._inference_status(report, previous, node_name)]
        for topic in sorted(report.last_input):
            received, before = self._received(report, previous, topic)
            decided_as = report.layer_sets_source or topic
            rate = (received - before) / period if period else 0.0
            stale = topic in report.stale_topics()
            matched = report.matched_publishers.get(topic, 0)
            message = "receiving"
            if stale:
                message = f"no image for over {report.stale_after_s:.0f} s"
                if matched:
                    message += f" from {matched} matched publisher(s); {report.silence_hint}"
            values = {
                "matched_publishers": matched,
                "rate_hz": rate,
                "frames_received": received,
                "frames_dropped": stats["frames_dropped"].get(decided_as, 0),
                "frames_decided": stats["frames_out"].get(decided_as, 0),
                "seconds_since_last": report.now - report.last_input[topic],
            }
            if report.layer_sets_source:
                values["decided_as"] = decided_as
            statuses.append(
                _status(WARN if stale else OK, f"{node_name}: input {topic}", message, values)
            )
        return statuses

    @staticmethod
    def _received(
        report: HealthReport, previous: HealthReport | None, topic: str
    ) -> tuple[int, int]:
        """(received on ``topic`` now, in the previous period): layers in layers mode."""
        if report.layer_sets_source:
            counts = report.layers_received
            before = previous.layers_received if previous else None
        else:
            counts = report.stats["frames_in"]
            before = previous.stats["frames_in"] if previous else None
        received = counts.get(topic, 0)
        return received, (before.get(topic, 0) if before is not None else received)

    def _inference_status(
        self, report: HealthReport, previous: HealthReport | None, node_name: str
    ) -> DiagnosticStatus:
        stats = report.stats
        dropped = sum(stats["frames_dropped"].values())
        new_drops = dropped - (sum(previous.stats["frames_dropped"].values()) if previous else 0)
        failures = stats["inference_failures"]
        new_failures = failures - (previous.stats["inference_failures"] if previous else 0)
        new_refusals = report.input_errors - (previous.input_errors if previous else 0)
        if not report.model_id:
            level, message = ERROR, f"no model: fail-safe decisions ({report.model_error})"
        elif new_failures > 0:
            level, message = ERROR, f"inference failed: {stats['last_failure']}"
        elif new_drops > 0:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(stats["drop_reasons"].items()))
            level = WARN
            message = f"dropped {new_drops} frame(s): input outruns inference ({reasons} in all)"
        elif new_refusals > 0:
            level, message = WARN, f"refused {new_refusals} malformed image(s)"
        elif report.stale_topics():
            level, message = WARN, "stale input: " + ", ".join(report.stale_topics())
        else:
            level, message = OK, "deciding"
        if report.model_id and report.demo_model_warning and level != ERROR:
            message = (
                report.demo_model_warning
                if level == OK
                else f"{message}; {report.demo_model_warning}"
            )
            level = WARN
        values: dict[str, Any] = {
            "model_id": report.model_id or "none",
            "demo_model": bool(report.model_id and report.demo_model_warning),
            "training_data": report.training_data or "unknown",
            "thresholds_version": report.thresholds_version,
            "queue_frames": report.frames_waiting,
            "queue_crops": report.crops_waiting,
            "frames_in_total": sum(stats["frames_in"].values()),  # every source, joined sets
            "frames_decided_total": sum(stats["frames_out"].values()),
            "frames_dropped": dropped,
            **{
                "dropped_" + reason.replace(" ", "_"): count
                for reason, count in sorted(stats["drop_reasons"].items())
            },
            "max_frame_age_ms": report.max_frame_age_ms,
            "queue_wait_ms_max_ever": stats["queue_wait_ms_max_ever"],
            "crops_decided": stats["crops_decided"],
            "batches": stats["batches"],
            "batch_size_mean": stats["batch_size_mean"],
            "inference_failures": failures,
            "input_errors": report.input_errors,
            **{f"input_{kind}": count for kind, count in report.input_counts.items()},
            "unmatched_layer_sets": report.unmatched_layer_sets,
            "debug_image_subscribers": report.debug_image_subscribers,
        }
        for name, figures in (
            ("inference_ms", stats["inference_ms"]),
            ("latency_ms", stats["latency_ms"]),
            ("queue_wait_ms", stats["queue_wait_ms"]),
        ):
            values.update({f"{name}_{key}": value for key, value in figures.items()})
        values.update({f"share_{label}": share for label, share in stats["label_share"].items()})
        for stage, figures in report.stage_ms.items():  # last frames decided: where time goes
            values.update({f"stage_{stage}_ms_{key}": value for key, value in figures.items()})
        if report.fault_injection_every:
            values["fault_injection"] = f"TEST ONLY: every {report.fault_injection_every}th batch"
        return _status(level, f"{node_name}: inference", message, values)


def drift_status(node_name: str, drift: Any) -> DiagnosticStatus:
    """``<node>: drift`` from a ``core.drift_monitor.DriftStatus``."""
    level = WARN if drift.state == "alarm" else OK
    values = {"state": drift.state, **drift.values}
    return _status(level, f"{node_name}: drift", drift.message, values)


def shadow_status(node_name: str, runner: Any, live_model_id: str, error: str) -> DiagnosticStatus:
    """``<node>: shadow`` from a ``core.shadow.ShadowRunner`` (see the module doc)."""
    model = runner.model
    if model is None:
        message = f"no shadow model (start-up shadow refused: {error})" if error else "no shadow"
        return _status(WARN if error else OK, f"{node_name}: shadow", message, {})
    tracker = runner.tracker
    total, window = tracker.total_figures(), tracker.window_figures()
    skipped = tracker.skipped()
    values: dict[str, Any] = {
        "shadow_model_id": model.model_id,
        "live_model_id": live_model_id or "none",
        "shadow_path": str(getattr(model, "path", "")),
        "frames_compared": tracker.frames,
        "pending_frames": runner.pending_frames(),
        "skipped_crops": sum(skipped.values()),
        **{f"skipped_{reason}": count for reason, count in sorted(skipped.items())},
        "failures": runner.failures,
    }
    for prefix, figures in (("total", total), ("window", window)):
        values[f"{prefix}_crops"] = figures.crops
        values[f"{prefix}_agreed"] = figures.agreed
        values[f"{prefix}_agreement"] = _share(figures.agreement)
        for label, share in figures.agreement_per_live_label().items():
            values[f"{prefix}_agreement_{label}"] = _share(share)
        values[f"{prefix}_pit_disagreements"] = figures.pit_disagreements
        for row, live in enumerate(LABEL_NAMES):
            for column, shadow in enumerate(LABEL_NAMES):
                values[f"{prefix}_confusion_{live}_{shadow}"] = int(figures.confusion[row, column])
    agreement = total.agreement
    message = (
        f"shadow {model.model_id} vs live {live_model_id or 'none'}: "
        + (f"{agreement:.1%} agree" if agreement is not None else "nothing compared yet")
        + f" over {total.crops} crops, {total.pit_disagreements} pit disagreements, "
        f"{sum(skipped.values())} crops skipped"
    )
    level = OK
    if runner.failures:
        level, message = (
            WARN,
            f"{message}; failed on {runner.failures} frame(s): {runner.last_failure}",
        )
    return _status(level, f"{node_name}: shadow", message, values)


def _share(value: float | None) -> Any:
    return "n/a" if value is None else float(value)


def _status(level: bytes, name: str, message: str, values: dict[str, Any]) -> DiagnosticStatus:
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id="cherry_classifier",
        values=[KeyValue(key=key, value=_format(value)) for key, value in values.items()],
    )


def _format(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
