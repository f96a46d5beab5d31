"""Overload soak of the classifier node: several publisher processes at several times its
capacity, one of them restarted half-way; prints memory, drops, accounting and latency.

    source env.sh && python benchmarks/soak_node.py --minutes 30     # by hand, a long soak
    (test/reliability/test_load_and_faults.py runs a short variant of `run_soak`)

The node runs in crops mode on a deliberately heavy model (random-weight resnet18, one thread)
so a few Python publishers can outrun it. Every figure but latency comes from the node's own
counters (/diagnostics) and the publishers' counts, so the accounting check is exact:
frames sent == frames received == frames decided + frames dropped (by reason).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from cherry_dev import dds_env  # noqa: E402

NAMESPACE = "soak"


@dataclass
class SoakConfig:
    seconds: float = 30.0
    publishers: int = 3
    rate_hz: float = 150.0  # per publisher
    max_frame_age_ms: float = 500.0
    max_queue_frames: int = 8
    max_batch_size: int = 16
    architecture: str = "resnet18"
    restart_publisher: bool = True  # stop publisher 0 half-way and start it again


@dataclass
class SoakFigures:
    sent: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    decided: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    drop_reasons: dict[str, int] = field(default_factory=dict)
    decisions_seen: int = 0
    duplicate_decisions: int = 0
    rss_warm_mib: float = 0.0
    rss_end_mib: float = 0.0
    rss_max_mib: float = 0.0
    seconds: float = 0.0
    crops_per_s: float = 0.0
    offered_per_s: float = 0.0
    queue_wait_ms_max: float = 0.0
    max_frame_age_ms: float = 0.0
    node_latency_ms_p99: float = 0.0
    e2e_latency_ms: dict[str, float] = field(default_factory=dict)
    input_errors: int = 0
    log_path: str = ""

    @property
    def growth_mib(self) -> float:
        return self.rss_end_mib - self.rss_warm_mib

    def report(self) -> str:
        sent, decided, dropped = (sum(d.values()) for d in (self.sent, self.decided, self.dropped))
        return "\n".join(
            [
                f"soak: {self.seconds:.0f} s, {len(self.sent)} topics, offered "
                f"{self.offered_per_s:.0f} frames/s, capacity {self.crops_per_s:.0f} crops/s "
                f"(overload x{self.offered_per_s / max(self.crops_per_s, 1e-9):.1f})",
                f"frames sent {sent}, received {sum(self.received.values())}, decided "
                f"{decided}, dropped {dropped} {self.drop_reasons}; sent - decided - dropped = "
                f"{sent - decided - dropped}",
                f"decisions seen by the client {self.decisions_seen}, duplicates "
                f"{self.duplicate_decisions}",
                f"node RSS after warm-up {self.rss_warm_mib:.0f} MiB, at the end "
                f"{self.rss_end_mib:.0f} MiB (growth {self.growth_mib:+.1f} MiB), max "
                f"{self.rss_max_mib:.0f} MiB",
                f"admitted frames: longest queue wait {self.queue_wait_ms_max:.0f} ms (deadline "
                f"{self.max_frame_age_ms:.0f} ms); node latency p99 {self.node_latency_ms_p99:.0f}"
                f" ms; end-to-end ms {self.e2e_latency_ms}",
            ]
        )


# -- publisher process -------------------------------------------------------------------------
def publish(topic: str, name: str, rate_hz: float, seconds: float, out: Path) -> int:
    """Publish 128x128 bgr8 crops (frame_id ``name/seq``, stamp = wall clock) until ``seconds``
    pass or SIGINT; then let reliable delivery finish and write ``{"sent": n}`` to ``out``."""
    dds_env.apply()
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from cherry_classifier.imaging.conversion import array_to_image_fields

    stop = False

    def on_sigint(*_) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_sigint)
    rclpy.init(signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = rclpy.create_node(f"soak_publisher_{name.replace('-', '_')}")
    publisher = node.create_publisher(
        Image, topic, QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
    )
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    fields = [
        array_to_image_fields(rng.integers(0, 256, (128, 128, 3), np.uint8), "bgr8")
        for _ in range(4)
    ]
    while publisher.get_subscription_count() == 0 and not stop:
        time.sleep(0.05)
    time.sleep(1.0)  # both ends of discovery matched
    sent, started = 0, time.monotonic()
    while not stop and time.monotonic() - started < seconds:
        message = Image(**fields[sent % len(fields)])
        now = time.time()
        message.header.stamp.sec, message.header.stamp.nanosec = int(now), int(now % 1 * 1e9)
        message.header.frame_id = f"{name}/{sent}"
        publisher.publish(message)
        sent += 1
        pause = started + sent / rate_hz - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    time.sleep(1.5)  # reliable: let the last samples be delivered before leaving
    out.write_text(json.dumps({"sent": sent}))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


# -- the soak ----------------------------------------------------------------------------------
def _heavy_model(scratch: Path, architecture: str) -> Path:
    import torch

    from cherry_classifier.core.architectures import build_model
    from cherry_classifier.core.bundle import save_bundle
    from cherry_classifier.core.manifest import ModelManifest
    from cherry_dev.golden_sets import write_golden_set

    torch.manual_seed(0)
    manifest = ModelManifest(architecture=architecture, class_names=("clean", "maybe", "pit"))
    save_bundle(scratch / "models" / "soak", build_model(architecture, 3), manifest)
    write_golden_set(scratch / "models" / "soak")  # the node requires one
    return scratch / "models"


def run_soak(config: SoakConfig, scratch: Path) -> SoakFigures:
    """Start the node and the publishers, run ``config.seconds`` of overload, wait until every
    frame is accounted for, and return the figures (the caller judges them)."""
    dds_env.apply()
    import psutil
    import rclpy
    from cherry_classifier_msgs.msg import CherryDecisionArray
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from cherry_dev.launch_stub import launch_command
    from cherry_dev.processes import ros_process, stop_process, wait_until

    models = _heavy_model(scratch, config.architecture)
    topics = [f"cam{i}" for i in range(config.publishers)]
    _, command = launch_command(namespace=NAMESPACE, model_path="soak", log_level="info")
    overrides = {
        "models_dir": str(models),
        "input_mode": "crops",
        "image_topics": "[" + ",".join(topics) + "]",
        "qos_reliability": "reliable",
        "qos_depth": "1000",
        "num_threads": "1",
        "max_queue_frames": str(config.max_queue_frames),
        "max_batch_size": str(config.max_batch_size),
        "max_batch_delay_ms": "20.0",
        "max_frame_age_ms": str(config.max_frame_age_ms),
    }
    command += [arg for k, v in overrides.items() for arg in ("-p", f"{k}:={v}")]
    figures = SoakFigures(max_frame_age_ms=config.max_frame_age_ms)
    figures.log_path = str(scratch / "soak_node.log")

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("soak_client", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    seen: dict[str, int] = {}
    latencies: list[float] = []
    statuses: dict[str, dict[str, str]] = {}

    def on_decisions(message) -> None:
        seen[message.header.frame_id] = seen.get(message.header.frame_id, 0) + 1
        stamp = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
        latencies.append(time.time() - stamp)

    def on_diagnostics(message) -> None:
        for status in message.status:
            if status.name.startswith(f"/{NAMESPACE}/classifier: "):
                statuses[status.name] = {kv.key: kv.value for kv in status.values}

    node.create_subscription(
        CherryDecisionArray,
        f"/{NAMESPACE}/classifier/decisions",
        on_decisions,
        QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE),
    )
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 100)

    def spin(seconds: float = 0.0) -> None:
        deadline = time.monotonic() + seconds
        executor.spin_once(timeout_sec=0.01)
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.01)

    def inference() -> dict[str, str]:
        return statuses.get(f"/{NAMESPACE}/classifier: inference", {})

    def publisher(index: int, run: int, seconds: float):
        name = f"p{index}-{run}"
        out = scratch / f"{name}.json"
        args = [sys.executable, __file__, "--publish", f"/{NAMESPACE}/{topics[index]}"]
        args += ["--name", name, "--rate", str(config.rate_hz), "--seconds", str(seconds)]
        args += ["--out", str(out)]
        return name, out, ros_process(args, scratch / f"{name}.log")

    outputs: list[Path] = []
    with ros_process(command, Path(figures.log_path)) as process:
        node_process = psutil.Process(process.pid)
        wait_until(lambda: bool(inference()), 120, spin, "the soak node's diagnostics")
        runs = [publisher(i, 0, config.seconds) for i in range(config.publishers)]
        contexts = [ctx for _, _, ctx in runs]
        started = [ctx.__enter__() for ctx in contexts]
        outputs += [out for _, out, _ in runs]
        warm_at = time.monotonic() + min(8.0, config.seconds / 4) + 2.0
        restart_at = time.monotonic() + config.seconds / 2 if config.restart_publisher else None
        rss: list[float] = []
        try:
            while any(p.poll() is None for p in started):
                spin(0.5)
                rss.append(node_process.memory_info().rss / 2**20)
                if not figures.rss_warm_mib and time.monotonic() > warm_at:
                    figures.rss_warm_mib = rss[-1]
                if restart_at is not None and time.monotonic() > restart_at:
                    restart_at = None
                    stop_process(started[0])  # SIGINT: the publisher goes away and comes back
                    _, out, ctx = publisher(0, 1, config.seconds / 2 - 2.0)
                    contexts.append(ctx)
                    started.append(ctx.__enter__())
                    outputs.append(out)
        finally:
            for ctx in contexts:
                ctx.__exit__(None, None, None)
        for out in outputs:
            name = out.stem.split("-")[0]
            topic = f"/{NAMESPACE}/cam{name[1:]}"
            figures.sent[topic] = figures.sent.get(topic, 0) + json.loads(out.read_text())["sent"]

        def topic_counts(key: str) -> dict[str, int]:
            return {
                topic: int(statuses.get(f"/{NAMESPACE}/classifier: input {topic}", {}).get(key, -1))
                for topic in figures.sent
            }

        def settled() -> bool:
            received = topic_counts("frames_received")
            decided, dropped = topic_counts("frames_decided"), topic_counts("frames_dropped")
            return all(received[t] == decided[t] + dropped[t] >= 0 for t in received) and sum(
                received.values()
            ) >= sum(figures.sent.values())

        deadline = time.monotonic() + 60
        while not settled() and time.monotonic() < deadline:
            spin(0.5)
        spin(2.0)  # the last decisions and a fresh diagnostics period
        figures.rss_end_mib = node_process.memory_info().rss / 2**20
        figures.rss_max_mib = max([*rss, figures.rss_end_mib])
        alive = process.poll() is None
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=context)
    if not alive:
        raise RuntimeError(f"the node died during the soak; see {figures.log_path}")

    figures.received = topic_counts("frames_received")
    figures.decided = topic_counts("frames_decided")
    figures.dropped = topic_counts("frames_dropped")
    values = inference()
    figures.drop_reasons = {
        key.removeprefix("dropped_"): int(value)
        for key, value in values.items()
        if key.startswith("dropped_")
    }
    figures.decisions_seen = sum(seen.values())
    figures.duplicate_decisions = sum(n - 1 for n in seen.values() if n > 1)
    figures.seconds = config.seconds
    figures.crops_per_s = sum(figures.decided.values()) / config.seconds
    figures.offered_per_s = sum(figures.sent.values()) / config.seconds
    figures.queue_wait_ms_max = float(values.get("queue_wait_ms_max_ever", "nan"))
    figures.node_latency_ms_p99 = float(values.get("latency_ms_p99", "nan"))
    figures.input_errors = int(values.get("input_errors", -1))
    if latencies:
        p50, p99 = np.percentile(np.asarray(latencies) * 1000, [50, 99])
        figures.e2e_latency_ms = {
            "p50": round(float(p50)),
            "p99": round(float(p99)),
            "max": round(max(latencies) * 1000),
        }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the overload")
    parser.add_argument("--publishers", type=int, default=3)
    parser.add_argument("--rate", type=float, default=150.0, help="frames/s per publisher")
    parser.add_argument("--architecture", default="resnet18")
    parser.add_argument("--max-frame-age-ms", type=float, default=500.0)
    parser.add_argument("--publish", help=argparse.SUPPRESS)  # child mode: publish on a topic
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        return publish(args.publish, args.name, args.rate, args.seconds, args.out)
    config = SoakConfig(
        seconds=args.minutes * 60,
        publishers=args.publishers,
        rate_hz=args.rate,
        architecture=args.architecture,
        max_frame_age_ms=args.max_frame_age_ms,
    )
    figures = run_soak(config, Path(tempfile.mkdtemp(prefix="soak_node_")))
    print(figures.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
