"""Drive the classifier node from another process and print its throughput and latency.

    source env.sh && python benchmarks/bench_node.py [--seconds 20] [--architecture resnet50]

Three figures, measured in one run on this machine:
1. production load: 30-cherry frames at 1.8 frames/s (about 54 crops/s, one line),
2. saturation: frames published as fast as the node admits them (drops counted),
3. the core's offline throughput (Classifier.predict_proba, batch 32) for the same model.
End-to-end latency is publish (header stamp) to decision receipt, both on this host's clock.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cherry_classifier import dds_env

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--rate", type=float, default=1.8, help="production frames per second")
    parser.add_argument("--cherries", type=int, default=30, help="cherries per frame")
    parser.add_argument(
        "--architecture",
        default="",
        help="benchmark a random-weight model of this architecture "
        "instead of the bundled default (e.g. resnet50, as production)",
    )
    parser.add_argument("--num-threads", type=int, default=0)
    return parser.parse_args()


def model_dir(args: argparse.Namespace, scratch: Path) -> tuple[Path, str]:
    if not args.architecture:
        return REPO_ROOT / "models", "default"
    import torch

    from cherry_classifier.core.architectures import build_model
    from cherry_classifier.core.bundle import save_bundle
    from cherry_classifier.core.manifest import ModelManifest

    torch.manual_seed(0)
    manifest = ModelManifest(architecture=args.architecture, class_names=("clean", "maybe", "pit"))
    save_bundle(scratch / "bench", build_model(args.architecture, 3), manifest)
    return scratch, "bench"


def offline_throughput(path: Path, frames: list[np.ndarray]) -> float:
    from cherry_classifier.core.classifier import Classifier
    from cherry_classifier.imaging.localizer import CherryLocalizer, cut_crops

    classifier = Classifier.from_path(path)
    crops, _ = cut_crops(frames[0], CherryLocalizer().locate(frames[0]))
    batch = np.concatenate([crops, crops])[:32]
    classifier.predict_proba(batch)
    started, done = time.perf_counter(), 0
    while time.perf_counter() - started < 5.0:
        classifier.predict_proba(batch)
        done += len(batch)
    return done / (time.perf_counter() - started)


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p99 = np.percentile(np.asarray(values) * 1000, [50, 99])
    return f"{p50:7.0f} {p99:7.0f}"


def main() -> int:
    args = parse_args()
    dds_env.apply()
    import rclpy
    from cherry_classifier_msgs.msg import CherryDecisionArray
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from cherry_classifier.imaging.conversion import array_to_image_fields
    from cherry_classifier.launch_stub import launch_command
    from cherry_classifier.processes import ros_process, wait_until
    from cherry_classifier.training.synth import render_frame

    rng = np.random.default_rng(0)
    frames = [render_frame(rng, args.cherries).image for _ in range(8)]
    scratch = Path(tempfile.mkdtemp(prefix="bench_node_"))
    models, model_path = model_dir(args, scratch)
    _, command = launch_command(model_path=model_path)
    command += [
        "-p",
        f"models_dir:={models}",
        "-p",
        "image_topics:=[bench/image]",
        "-p",
        "qos_reliability:=reliable",
        "-p",
        "qos_depth:=4",
        "-p",
        f"num_threads:={args.num_threads}",
    ]

    rclpy.init()
    node = rclpy.create_node("bench_driver")
    received: list[tuple[float, float, int]] = []  # (receipt, stamp, crops)
    status: dict[str, str] = {}

    def on_decisions(message) -> None:
        stamp = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
        received.append((time.time(), stamp, len(message.decisions)))

    def on_diagnostics(message) -> None:
        for entry in message.status:
            if entry.name == "/classifier: inference":
                status.update({kv.key: kv.value for kv in entry.values})

    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(CherryDecisionArray, "/classifier/decisions", on_decisions, reliable)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    publisher = node.create_publisher(
        Image, "/bench/image", QoSProfile(depth=4, reliability=ReliabilityPolicy.RELIABLE)
    )
    messages = [Image(**array_to_image_fields(frame, "bgr8")) for frame in frames]

    def spin(seconds: float = 0.0) -> None:
        deadline = time.monotonic() + seconds
        rclpy.spin_once(node, timeout_sec=0.005)
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.005)

    def run_phase(rate: float | None) -> dict[str, float]:
        start_count, sent = len(received), 0
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            message = messages[sent % len(messages)]
            message.header.stamp = node.get_clock().now().to_msg()
            publisher.publish(message)
            sent += 1
            spin(1.0 / rate if rate else 0.0)
        spin(3.0)  # let the queue drain
        window = received[start_count:]
        elapsed = (window[-1][0] - window[0][0]) if len(window) > 1 else float("nan")
        crops = sum(n for _, _, n in window[1:])
        return {
            "sent": sent,
            "decided": len(window),
            "crops_per_s": crops / elapsed,
            "latency": [r - s for r, s, _ in window],
        }

    log_path = REPO_ROOT / "log" / "bench_node.log"
    log_path.parent.mkdir(exist_ok=True)
    with ros_process(command, log_path):
        wait_until(lambda: publisher.get_subscription_count() > 0, 60, spin, "the classifier")
        spin(2.0)
        print(
            f"model {model_path} in {models}; {args.cherries} cherries/frame; "
            f"{args.seconds:.0f} s a phase"
        )
        production = run_phase(args.rate)
        saturation = run_phase(None)
        spin(1.5)
    offline = offline_throughput(models / model_path, frames)
    print(f"\n{'phase':<34}{'frames sent':>12}{'decided':>9}{'crops/s':>9}  latency ms p50     p99")
    for name, phase in (
        (f"production ({args.rate:.1f} frames/s)", production),
        ("saturation", saturation),
    ):
        print(
            f"{name:<34}{phase['sent']:>12}{phase['decided']:>9}{phase['crops_per_s']:>9.1f}"
            f"  {percentiles(phase['latency'])}"
        )
    print(f"{'core offline, batch 32':<34}{'':>12}{'':>9}{offline:>9.1f}")
    print(
        f"frames dropped by the node (diagnostics): {status.get('frames_dropped', '?')}, "
        f"mean batch {status.get('batch_size_mean', '?')}"
    )
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
