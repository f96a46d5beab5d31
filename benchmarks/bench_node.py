"""Drive the classifier node from another process; print latency, where the time goes,
throughput, frame accounting, memory, and the core's offline figure for the same model.

    source env.sh && python benchmarks/bench_node.py [--model PATH] [--backend int8]
        [--input-mode frames|layers|image_set] [--rate 1.8] [--seconds 20]

Measured in one run on this machine, the node started as the launch file starts it (the plain
profile; ``image_set``: the line profile, demo models allowed) with its shipped input QoS
(reliable, depth 10), the driver publishing as the line camera does (reliable, depth 10; with
``--camera-profile``, under that Fast DDS profile, e.g. ``config/fastdds_line_camera.xml``'s
100 ms writer heartbeat, docs/transport.md):
1. line load: synthetic 2464x500 frames with ``--cherries`` cherries at ``--rate`` frames/s,
   sent as one bgr8 frame (``frames``), three mono8 layer topics with one stamp (``layers``) or
   one ``cherry_interfaces/ImageSetHdr`` (``image_set``);
2. saturation: frames published as fast as this driver can (the node drops what it cannot take);
3. the core's offline throughput (``Classifier.predict_proba``, batch 32) for the same bundle and
   backend, in this process after the node has stopped.

Every frame a phase sends is accounted for, from the node's own counters in /diagnostics
(differences between the start and the end of the phase, read once the node has drained its
queue): decided by the node, dropped by the node (by reason), and lost before the node (sent -
received by the node: DDS discarded them, or in layers mode sets whose layers never all met).
Decisions are attributed to the phase whose frame they answer (by header stamp).
End-to-end latency is the header stamp (set at publish) to the decision array's receipt here,
both on this host's clock. Where the time goes: the node's per-stage percentiles
(``stage_<stage>_ms_*`` in /diagnostics, the node's last 200 decided frames) read at the end of
each phase. The driver's own CPU (publishing, receiving) is printed per phase, as a share of one
core. Memory is the node process's RSS (psutil) at the start and end of each phase and the
largest sampled during it.

``--shadow-model NAME``: the node also runs NAME (in the same models folder, e.g. ``default``)
as its shadow model (issue 16); each phase then also prints the shadow's crops compared and
skipped (shed) from the node's ``<node>: shadow`` status. Compare the line-load latency with a
run without it.

``--model``: a bundle folder with a golden set (the node requires one; e.g. one that
``benchmarks/bench_core.py --work-dir DIR`` trained and gated, ``DIR/resnet50``, after
``cherry_dev.golden_sets.write_golden_set``), a name inside the package's models folder
(``default``), or, with ``--architecture``, a random-weight model of that architecture (speed
only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # cherry_dev: the checkout's development package
    sys.path.insert(0, str(REPO_ROOT))

from cherry_classifier import cli  # noqa: E402
from cherry_dev import dds_env  # noqa: E402

NODE = "/classifier"
INFERENCE_STATUS = f"{NODE}: inference"
SHADOW_STATUS = f"{NODE}: shadow"
LAYERS = ("bot1", "bot2", "top2")
STAGES = ("transfer", "conversion", "localizing", "queue_wait", "inference", "publish", "in_node")
TARGET_P99_MS = 100.0  # issue 15: node p99 at line load
TARGET_SATURATION_SHARE = 0.8  # issue 15: node saturation / core offline
CAMERA_DEPTH = 10  # the line camera's publisher depth (reliable)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.tool_parser("bench_node.py", __doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--rate", type=float, default=1.8, help="line-load frames per second")
    parser.add_argument("--cherries", type=int, default=30, help="cherries per frame")
    parser.add_argument(
        "--input-mode",
        choices=("frames", "layers", "image_set"),
        default="frames",
        help="what the driver sends and the node subscribes to",
    )
    cli.add_model(parser, "bundle folder or name in the package's models folder", default="default")
    cli.add_backend(parser, default="eager")
    parser.add_argument(
        "--architecture",
        default="",
        help="benchmark a random-weight model of this architecture instead of --model",
    )
    cli.add_threads(parser)
    cli.add_renamed(parser, "--num-threads", "threads", type=int)
    parser.add_argument(
        "--offline-seconds", type=float, default=5.0, help="timing window of the offline figure"
    )
    parser.add_argument(
        "--camera-profile",
        type=Path,
        help="Fast DDS profile for this driver (the camera) only, e.g. "
        "config/fastdds_line_camera.xml (default: Fast DDS's defaults, as a line camera)",
    )
    parser.add_argument(
        "--skip-saturation", action="store_true", help="line load only (no saturation phase)"
    )
    parser.add_argument(
        "--shadow-model",
        default="",
        help="also run this model (a name in the same models folder) as the node's shadow",
    )
    return parser


def model_location(args: argparse.Namespace, scratch: Path) -> tuple[Path, str]:
    """(models_dir, model_path) for the node."""
    if args.architecture:
        import torch

        from cherry_classifier.core.architectures import build_model
        from cherry_classifier.core.bundle import save_bundle
        from cherry_classifier.core.manifest import ModelManifest
        from cherry_dev.golden_sets import write_golden_set

        torch.manual_seed(0)
        classes = ("clean", "maybe", "pit")
        manifest = ModelManifest(architecture=args.architecture, class_names=classes)
        save_bundle(scratch / "bench", build_model(args.architecture, 3), manifest)
        write_golden_set(scratch / "bench")  # the node requires one
        return scratch, "bench"
    path = Path(args.model)
    if path.is_dir():
        return path.resolve().parent, path.name
    return REPO_ROOT / "models", args.model


def offline_throughput(path: Path, backend: str, threads: int | None, crops, seconds: float):
    from cherry_classifier.core.classifier import Classifier

    classifier = Classifier.from_path(path, backend=backend, num_threads=threads)
    batch = np.concatenate([crops] * (-(-32 // max(1, len(crops)))))[:32]
    classifier.predict_proba(batch)
    started, done = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        classifier.predict_proba(batch)
        done += len(batch)
    return done / (time.perf_counter() - started), classifier.precision


def percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    p50, p99 = np.percentile(np.asarray(values) * 1000, [50, 99])
    return float(p50), float(p99)


class Sender:
    """Builds and publishes the driver's messages in one input mode."""

    def __init__(self, node: Any, mode: str, frames: list[np.ndarray]) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        from cherry_classifier.imaging.conversion import array_to_image_fields

        qos = QoSProfile(depth=CAMERA_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self.mode, self.node, self.sent = mode, node, 0
        if mode == "frames":
            self.topics = ["bench/image"]
            self.messages = [[Image(**array_to_image_fields(f, "bgr8"))] for f in frames]
            self.publishers = [node.create_publisher(Image, self.topics[0], qos)]
        elif mode == "layers":
            self.topics = [f"bench/{name}" for name in LAYERS]
            self.messages = [
                [
                    Image(**array_to_image_fields(np.ascontiguousarray(f[..., i]), "mono8"))
                    for i in range(3)
                ]
                for f in frames
            ]
            self.publishers = [node.create_publisher(Image, t, qos) for t in self.topics]
        else:
            from cherry_interfaces.msg import ImageLayer, ImageSetHdr

            self.topics = ["bench/image_set"]
            self.messages = []
            for frame in frames:
                message = ImageSetHdr()
                message.images = [
                    ImageLayer(
                        name=name,
                        frame_id=f"cam_{name}",
                        image=Image(
                            **array_to_image_fields(np.ascontiguousarray(frame[..., i]), "mono8")
                        ),
                        count=1000,
                        mm=250,
                    )
                    for i, name in enumerate(LAYERS)
                ]
                self.messages.append([message])
            self.publishers = [node.create_publisher(ImageSetHdr, self.topics[0], qos)]

    def matched(self) -> bool:
        return all(p.get_subscription_count() > 0 for p in self.publishers)

    def send(self) -> tuple[int, int]:
        """Publish the next frame now; returns its header stamp (sec, nanosec)."""
        stamp = self.node.get_clock().now().to_msg()
        messages = self.messages[self.sent % len(self.messages)]
        for publisher, message in zip(self.publishers, messages, strict=True):
            if self.mode == "image_set":
                message.trigger.frame_id = self.sent
                message.trigger.stamp = stamp
                message.trigger.encoder_count, message.trigger.encoder_mm = 1000, 250
                for layer in message.images:
                    layer.image.header.stamp = stamp
            else:
                message.header.stamp = stamp
            publisher.publish(message)
        self.sent += 1
        return stamp.sec, stamp.nanosec


def node_command(args: argparse.Namespace, models: Path, model_path: str, topics: list[str]):
    from cherry_dev.launch_stub import launch_command

    line = {"line": "true"} if args.input_mode == "image_set" else {}
    _, command = launch_command(model_path=model_path, **line)
    topic_list = ",".join(topics)
    overrides = [
        f"models_dir:={models}",
        f"image_topics:=[{topic_list}]",
        f"input_mode:={args.input_mode}",
        f"num_threads:={args.threads or 0}",
        f"backend:={args.backend}",
    ]
    if args.input_mode == "layers":
        overrides += [f"layer_names:=[{','.join(LAYERS)}]", "layer_offsets_px:=[0,0,0]"]
    if args.input_mode == "image_set":
        overrides += ["allow_demo_model:=true"]  # the line profile refuses demo models
    if args.shadow_model:
        overrides += [f"shadow_model_path:={args.shadow_model}"]
    for value in overrides:
        command += ["-p", value]
    return command


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dds_env.apply()
    import psutil
    import rclpy
    from cherry_classifier_msgs.msg import CherryDecisionArray
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from cherry_classifier.evaluation.synthetic import render_frame
    from cherry_classifier.imaging.localizer import CherryLocalizer, cut_crops
    from cherry_dev.processes import ros_process, wait_until

    rng = np.random.default_rng(0)
    frames = [render_frame(rng, args.cherries).image for _ in range(8)]
    scratch = Path(tempfile.mkdtemp(prefix="bench_node_"))
    models, model_path = model_location(args, scratch)

    if args.camera_profile:  # read when this process's DDS participant is created
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(args.camera_profile.resolve())
    rclpy.init()
    node = rclpy.create_node("bench_driver")
    os.environ.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)  # the camera's setting, not the node's
    sender = Sender(node, args.input_mode, frames)
    command = node_command(args, models, model_path, sender.topics)
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
            lambda: diagnostics_seen[0] >= seen + 2 and INFERENCE_STATUS in statuses,
            30,
            spin,
            "the node's diagnostics",
        )
        values = statuses[INFERENCE_STATUS]
        counts = {
            "received": int(values.get("frames_in_total", 0)),
            "decided": int(values.get("frames_decided_total", 0)),
            "dropped": int(values.get("frames_dropped", 0)),
        }
        counts.update({k: int(v) for k, v in values.items() if k.startswith("dropped_")})
        return counts

    def drained(timeout: float = 60.0) -> tuple[dict[str, int], bool]:
        """Counters once the node holds nothing: received = decided + dropped, unchanged over
        two diagnostics periods (or the last counters and False after ``timeout``)."""
        deadline = time.monotonic() + timeout
        previous = fresh_counts()
        while time.monotonic() < deadline:
            counts = fresh_counts()
            idle = counts["received"] == counts["decided"] + counts["dropped"]
            if idle and counts == previous:
                return counts, True
            previous = counts
        return previous, False

    def stage_figures() -> dict[str, tuple[float, float, int]]:
        values = statuses.get(INFERENCE_STATUS, {})
        return {
            stage: (
                float(values[f"stage_{stage}_ms_p50"]),
                float(values[f"stage_{stage}_ms_p99"]),
                int(float(values[f"stage_{stage}_ms_n"])),
            )
            for stage in STAGES
            if f"stage_{stage}_ms_p50" in values
        }

    me = psutil.Process()

    def run_phase(name: str, rate: float | None, rss_of) -> dict:
        arrivals[name] = []
        before = fresh_counts()
        shadow_before = shadow_counts()
        rss_samples = [rss_of()]
        cpu_before, wall_before = sum(me.cpu_times()[:2]), time.monotonic()
        sent, started, next_sample = 0, time.monotonic(), time.monotonic() + 0.5
        while time.monotonic() - started < args.seconds:
            phase_of[sender.send()] = name
            sent += 1
            spin(1.0 / rate if rate else 0.0)  # pacing: the line rate (0: as fast as possible)
            if time.monotonic() > next_sample:
                rss_samples.append(rss_of())
                next_sample += 0.5
        driver_cpu = (sum(me.cpu_times()[:2]) - cpu_before) / (time.monotonic() - wall_before)
        after, settled = drained()
        spin(1.0)  # decisions published just before the counters settled
        rss_end = rss_of()
        delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
        shadow_after = shadow_counts()
        shadow = {key: shadow_after[key] - shadow_before.get(key, 0) for key in shadow_after}
        window = sorted(arrivals[name])
        elapsed = (window[-1][0] - window[0][0]) if len(window) > 1 else float("nan")
        crops = sum(n for _, _, n in window[1:])
        return {
            "sent": sent,
            "received": delta["received"],
            "decided": delta["decided"],
            "dropped": delta["dropped"],
            "reasons": {
                key.removeprefix("dropped_"): value
                for key, value in delta.items()
                if key.startswith("dropped_") and value
            },
            "lost_before_node": sent - delta["received"],
            "still_in_node": delta["received"] - delta["decided"] - delta["dropped"],
            "decisions_seen": len(window),
            "settled": settled,
            "crops_per_s": crops / elapsed,
            "latency": [r - s for r, s, _ in window],
            "rss": (rss_samples[0], rss_end, max([*rss_samples, rss_end])),
            "driver_cpu": driver_cpu,
            "stages": stage_figures(),
            "batch_mean": statuses.get(INFERENCE_STATUS, {}).get("batch_size_mean", "?"),
            "shadow": shadow,
        }

    def shadow_counts() -> dict[str, int]:
        """The shadow's totals (crops compared, skipped) from the latest shadow status."""
        values = statuses.get(SHADOW_STATUS, {})
        return {
            "compared": int(values.get("total_crops", 0)),
            "skipped": int(values.get("skipped_crops", 0)),
        }

    log_path = REPO_ROOT / "log" / "bench_node.log"
    log_path.parent.mkdir(exist_ok=True)
    load_start = os.getloadavg()
    phases: list[tuple[str, dict]] = []
    with ros_process(command, log_path) as process:
        node_process = psutil.Process(process.pid)  # the node itself (python classifier_node)

        def rss_mib() -> float:
            return node_process.memory_info().rss / 2**20

        wait_until(sender.matched, 120, spin, "the classifier to subscribe")
        wait_until(lambda: INFERENCE_STATUS in statuses, 60, spin, "the node's diagnostics")
        if statuses[INFERENCE_STATUS].get("model_id", "none") == "none":  # fail-safe only
            print(f"the node runs no model (see {log_path}); nothing to measure", file=sys.stderr)
            return 2
        spin(2.0)
        print(
            f"model {model_path} in {models}, backend {args.backend}, input mode "
            f"{args.input_mode}; {args.cherries} cherries/frame; {args.seconds:.0f} s a phase; "
            f"load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} at the "
            "start",
            flush=True,
        )
        line = run_phase("line", args.rate, rss_mib)
        phases.append((f"line load ({args.rate:.1f} frames/s)", line))
        if not args.skip_saturation:
            phases.append(("saturation", run_phase("saturation", None, rss_mib)))
        alive = process.poll() is None
    crops, _ = cut_crops(frames[0], CherryLocalizer().locate(frames[0]))
    offline, precision = offline_throughput(
        models / model_path, args.backend, args.threads, crops, args.offline_seconds
    )
    report(phases, offline, precision, args)
    print(
        f"decisions not from this run {unattributed[0]}; load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end; node "
        f"{'alive' if alive else 'DIED'} at the end"
    )
    node.destroy_node()
    rclpy.try_shutdown()
    shutil.rmtree(scratch, ignore_errors=True)
    return 0 if alive else 1


def report(phases: list[tuple[str, dict]], offline: float, precision: str, args) -> None:
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
        if args.shadow_model:
            shadow = phase["shadow"]
            print(
                f"  {name}: shadow {args.shadow_model}: {shadow['compared']} crops compared, "
                f"{shadow['skipped']} skipped (shed or otherwise not run)"
            )
    print(
        f"\n{'phase':<28}{'crops/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'mean batch':>11}"
        f"{'driver CPU':>11}   node RSS MiB start -> end (max)"
    )
    for name, phase in phases:
        p50, p99 = percentiles(phase["latency"])
        start, end, peak = phase["rss"]
        print(
            f"{name:<28}{phase['crops_per_s']:>9.1f}{p50:>8.0f}{p99:>8.0f}"
            f"{phase['batch_mean']:>11}{phase['driver_cpu']:>10.0%}   "
            f"{start:.0f} -> {end:.0f} ({peak:.0f})"
        )
    print(f"{'core offline, batch 32':<28}{offline:>9.1f}   ({args.backend}, {precision})")
    print("\nwhere the time goes (node stamps, ms, its last decided frames; n frames)")
    print(f"{'phase':<28}" + "".join(f"{stage:>18}" for stage in STAGES))
    for name, phase in phases:
        cells = []
        for stage in STAGES:
            figures = phase["stages"].get(stage)
            cells.append(f"{figures[0]:7.1f} /{figures[1]:7.1f}" if figures else "-")
        print(f"{name:<28}" + "".join(f"{cell:>18}" for cell in cells) + "  (p50 / p99)")
    print("\ntargets (issue 15; printed, never asserted)")
    line = phases[0][1]
    _, p99 = percentiles(line["latency"])
    print(
        f"  node p99 at line load <= {TARGET_P99_MS:.0f} ms ({args.input_mode}): {p99:.0f} ms "
        f"-> {'met' if p99 <= TARGET_P99_MS else 'MISSED'}"
    )
    if len(phases) > 1:
        share = phases[1][1]["crops_per_s"] / offline
        print(
            f"  node saturation >= {TARGET_SATURATION_SHARE:.0%} of core: "
            f"{phases[1][1]['crops_per_s']:.0f} / {offline:.0f} = {share:.0%} -> "
            f"{'met' if share >= TARGET_SATURATION_SHARE else 'MISSED'}"
        )


if __name__ == "__main__":
    sys.exit(main())
