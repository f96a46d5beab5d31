"""Drive the classifier node from another process and print its throughput, latency, frame
accounting and memory.

    source env.sh && python benchmarks/bench_node.py [--seconds 20] [--architecture resnet50]

Measured in one run on this machine:
1. production load: 30-cherry frames at 1.8 frames/s (about 54 crops/s, one line),
2. saturation: frames published as fast as the driver can (the node drops what it cannot take),
3. the core's offline throughput (Classifier.predict_proba, batch 32) for the same model.

Every frame a phase sends is accounted for, from the node's own per-topic counters in
/diagnostics (differences between the start and the end of the phase, read after the node has
drained its queue): decided by the node, dropped by the node (by reason), and lost before the
node (sent - received by the node: DDS discarded them, e.g. the reliable depth-4 history the
publisher and the node use here). Decisions are attributed to the phase whose frame they answer
(by header stamp), so late decisions of one phase never count in the next.
End-to-end latency is publish (header stamp) to decision receipt, both on this host's clock.
Memory is the node process's RSS (psutil) when each phase starts and ends, and the largest
sampled during it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # cherry_dev: the checkout's development package
    sys.path.insert(0, str(REPO_ROOT))

from cherry_dev import dds_env  # noqa: E402

NODE = "/classifier"
TOPIC = "/bench/image"
INPUT_STATUS = f"{NODE}: input {TOPIC}"
INFERENCE_STATUS = f"{NODE}: inference"
COUNTERS = ("frames_received", "frames_decided", "frames_dropped")


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
    parser.add_argument(
        "--offline-seconds", type=float, default=5.0, help="timing window of the offline figure"
    )
    return parser.parse_args()


def model_dir(args: argparse.Namespace, scratch: Path) -> tuple[Path, str]:
    if not args.architecture:
        return REPO_ROOT / "models", "default"
    import torch

    from cherry_classifier.core.architectures import build_model
    from cherry_classifier.core.bundle import save_bundle
    from cherry_classifier.core.manifest import ModelManifest
    from cherry_dev.golden_sets import write_golden_set

    torch.manual_seed(0)
    manifest = ModelManifest(architecture=args.architecture, class_names=("clean", "maybe", "pit"))
    save_bundle(scratch / "bench", build_model(args.architecture, 3), manifest)
    write_golden_set(scratch / "bench")  # the node requires one
    return scratch, "bench"


def offline_throughput(path: Path, frames: list[np.ndarray], seconds: float) -> float:
    from cherry_classifier.core.classifier import Classifier
    from cherry_classifier.imaging.localizer import CherryLocalizer, cut_crops

    classifier = Classifier.from_path(path)
    crops, _ = cut_crops(frames[0], CherryLocalizer().locate(frames[0]))
    batch = np.concatenate([crops, crops])[:32]
    classifier.predict_proba(batch)
    started, done = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        classifier.predict_proba(batch)
        done += len(batch)
    return done / (time.perf_counter() - started)


def percentiles(values: list[float]) -> str:
    if not values:
        return f"{'-':>7} {'-':>7}"
    p50, p99 = np.percentile(np.asarray(values) * 1000, [50, 99])
    return f"{p50:7.0f} {p99:7.0f}"


def main() -> int:
    args = parse_args()
    dds_env.apply()
    import psutil
    import rclpy
    from cherry_classifier_msgs.msg import CherryDecisionArray
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from cherry_classifier.evaluation.synthetic import render_frame
    from cherry_classifier.imaging.conversion import array_to_image_fields
    from cherry_dev.launch_stub import launch_command
    from cherry_dev.processes import ros_process, wait_until

    rng = np.random.default_rng(0)
    frames = [render_frame(rng, args.cherries).image for _ in range(8)]
    scratch = Path(tempfile.mkdtemp(prefix="bench_node_"))
    models, model_path = model_dir(args, scratch)
    _, command = launch_command(model_path=model_path)
    command += [
        "-p",
        f"models_dir:={models}",
        "-p",
        f"image_topics:=[{TOPIC.lstrip('/')}]",
        "-p",
        "qos_reliability:=reliable",
        "-p",
        "qos_depth:=4",
        "-p",
        f"num_threads:={args.num_threads}",
    ]

    rclpy.init()
    node = rclpy.create_node("bench_driver")
    phase_of: dict[tuple[int, int], str] = {}  # header stamp -> the phase that sent it
    arrivals: dict[str, list[tuple[float, float, int]]] = {}  # phase -> (receipt, stamp, crops)
    unattributed = [0]  # decisions whose stamp this driver never sent (should stay 0)
    statuses: dict[str, dict[str, str]] = {}
    diagnostics_seen = [0]

    def on_decisions(message) -> None:
        stamp = message.header.stamp
        phase = phase_of.get((stamp.sec, stamp.nanosec))
        if phase is None:
            unattributed[0] += 1
            return
        sent_at = stamp.sec + stamp.nanosec * 1e-9
        arrivals[phase].append((time.time(), sent_at, len(message.decisions)))

    def on_diagnostics(message) -> None:
        mine = False
        for entry in message.status:
            if entry.name.startswith(f"{NODE}: "):
                statuses[entry.name] = {kv.key: kv.value for kv in entry.values}
                mine = True
        diagnostics_seen[0] += mine

    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(CherryDecisionArray, f"{NODE}/decisions", on_decisions, reliable)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    publisher = node.create_publisher(
        Image, TOPIC, QoSProfile(depth=4, reliability=ReliabilityPolicy.RELIABLE)
    )
    messages = [Image(**array_to_image_fields(frame, "bgr8")) for frame in frames]

    def spin(seconds: float = 0.0) -> None:
        deadline = time.monotonic() + seconds
        rclpy.spin_once(node, timeout_sec=0.005)
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.005)

    def fresh_counts() -> dict[str, int]:
        """The node's counters from a diagnostics message published after this call (two
        messages on, so that none computed before the call is used)."""
        seen = diagnostics_seen[0]
        wait_until(
            lambda: diagnostics_seen[0] >= seen + 2 and INPUT_STATUS in statuses,
            30,
            spin,
            "the node's diagnostics",
        )
        counts = {key: int(statuses[INPUT_STATUS].get(key, 0)) for key in COUNTERS}
        for key, value in statuses.get(INFERENCE_STATUS, {}).items():
            if key.startswith("dropped_"):
                counts[key] = int(value)
        return counts

    def drained(timeout: float = 60.0) -> tuple[dict[str, int], bool]:
        """Counters once the node holds nothing: received = decided + dropped, unchanged over
        two diagnostics periods (or the last counters and False after ``timeout``)."""
        deadline = time.monotonic() + timeout
        previous = fresh_counts()
        while time.monotonic() < deadline:
            counts = fresh_counts()
            idle = counts["frames_received"] == counts["frames_decided"] + counts["frames_dropped"]
            if idle and counts == previous:
                return counts, True
            previous = counts
        return previous, False

    def run_phase(name: str, rate: float | None, rss_of) -> dict:
        arrivals[name] = []
        before = fresh_counts()
        rss_start = rss_of()
        rss_samples = [rss_start]
        sent, started, next_sample = 0, time.monotonic(), time.monotonic() + 0.5
        while time.monotonic() - started < args.seconds:
            message = messages[sent % len(messages)]
            stamp = node.get_clock().now().to_msg()
            message.header.stamp = stamp
            phase_of[(stamp.sec, stamp.nanosec)] = name
            publisher.publish(message)
            sent += 1
            spin(1.0 / rate if rate else 0.0)
            if time.monotonic() > next_sample:
                rss_samples.append(rss_of())
                next_sample += 0.5
        after, settled = drained()
        spin(1.0)  # decisions published just before the counters settled
        rss_end = rss_of()
        delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
        window = sorted(arrivals[name])
        elapsed = (window[-1][0] - window[0][0]) if len(window) > 1 else float("nan")
        crops = sum(n for _, _, n in window[1:])
        return {
            "sent": sent,
            "received": delta["frames_received"],
            "decided": delta["frames_decided"],
            "dropped": delta["frames_dropped"],
            "reasons": {
                key.removeprefix("dropped_"): value
                for key, value in delta.items()
                if key.startswith("dropped_") and value
            },
            "lost_before_node": sent - delta["frames_received"],
            "still_in_node": delta["frames_received"]
            - delta["frames_decided"]
            - delta["frames_dropped"],
            "decisions_seen": len(window),
            "settled": settled,
            "crops_per_s": crops / elapsed,
            "latency": [r - s for r, s, _ in window],
            "rss_start": rss_start,
            "rss_end": rss_end,
            "rss_max": max([*rss_samples, rss_end]),
        }

    log_path = REPO_ROOT / "log" / "bench_node.log"
    log_path.parent.mkdir(exist_ok=True)
    load_start = os.getloadavg()[0]
    with ros_process(command, log_path) as process:
        node_process = psutil.Process(process.pid)  # the node itself (python classifier_node)

        def rss_mib() -> float:
            return node_process.memory_info().rss / 2**20

        wait_until(lambda: publisher.get_subscription_count() > 0, 60, spin, "the classifier")
        spin(2.0)
        print(
            f"model {model_path} in {models}; {args.cherries} cherries/frame; "
            f"{args.seconds:.0f} s a phase; load average (1 min) {load_start:.2f} at the start"
        )
        production = run_phase("production", args.rate, rss_mib)
        saturation = run_phase("saturation", None, rss_mib)
        batch_mean = statuses.get(INFERENCE_STATUS, {}).get("batch_size_mean", "?")
        alive = process.poll() is None
    offline = offline_throughput(models / model_path, frames, args.offline_seconds)
    phases = (
        (f"production ({args.rate:.1f} frames/s)", production),
        ("saturation", saturation),
    )
    print(
        "\nframes per phase (node counters from /diagnostics; lost before the node = sent - "
        "received by the node)"
    )
    print(
        f"{'phase':<28}{'sent':>7}{'decided':>9}{'dropped':>9}{'lost before node':>18}"
        f"{'left in node':>14}{'decisions seen':>16}"
    )
    for name, phase in phases:
        print(
            f"{name:<28}{phase['sent']:>7}{phase['decided']:>9}{phase['dropped']:>9}"
            f"{phase['lost_before_node']:>18}{phase['still_in_node']:>14}"
            f"{phase['decisions_seen']:>16}"
        )
    for name, phase in phases:
        reasons = ", ".join(f"{k} {v}" for k, v in phase["reasons"].items()) or "none"
        note = "" if phase["settled"] else " (the node had not drained after 60 s)"
        print(f"  {name}: node drops by reason: {reasons}{note}")
    print(
        f"\n{'phase':<28}{'crops/s':>9}  latency ms p50     p99   node RSS MiB start -> end (max)"
    )
    for name, phase in phases:
        print(
            f"{name:<28}{phase['crops_per_s']:>9.1f}  {percentiles(phase['latency'])}"
            f"   {phase['rss_start']:.0f} -> {phase['rss_end']:.0f} ({phase['rss_max']:.0f})"
        )
    print(f"{'core offline, batch 32':<28}{offline:>9.1f}")
    print(
        f"mean batch (node, last diagnostics window) {batch_mean}; decisions not from this run "
        f"{unattributed[0]}; load average (1 min) {os.getloadavg()[0]:.2f} at the end; node "
        f"{'alive' if alive else 'DIED'} at the end"
    )
    node.destroy_node()
    rclpy.try_shutdown()
    shutil.rmtree(scratch, ignore_errors=True)
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
