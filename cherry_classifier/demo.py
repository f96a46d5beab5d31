"""The README's main job: run the classifier node on the bundled defaults and show its verdict.

Starts ``classifier_node`` exactly as ``threading_ws.launch.py`` does (bundled model and
production params), publishes sample frames to it over DDS (localhost only), shows decisions as
they arrive, and ends with a table of what was decided.

    python -m cherry_classifier.demo [--frames N] [--rate HZ] [--frames-dir DIR ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cherry_classifier import dds_env

REPO_ROOT = Path(__file__).resolve().parents[1]
LABELS = ("clean", "maybe", "pit")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=12, help="synthetic frames to send")
    parser.add_argument("--rate", type=float, default=3.6, help="frames per second (line: 1.8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--frames-dir",
        type=Path,
        action="append",
        default=[],
        help="also send real layered frames from this folder (one sub-folder per trigger)",
    )
    parser.add_argument("--model-path", default="", help="model to run (default: params file's)")
    return parser.parse_args(argv)


def demo_frames(args: argparse.Namespace) -> Iterator[tuple[str, np.ndarray, list | None]]:
    """(name, image, truth) for synthetic frames, then any real frames under --frames-dir.

    ``truth`` lists (cx, cy, label) for synthetic frames and is None for real ones.
    """
    from cherry_classifier.imaging.layers import load_layered_frame
    from cherry_classifier.training.synth import render_frame

    rng = np.random.default_rng(args.seed)
    for index in range(args.frames):
        frame = render_frame(rng, num_cherries=int(rng.integers(20, 31)))
        truth = [(x, y, label) for (x, y), label in zip(frame.centres, frame.labels, strict=True)]
        yield f"synthetic #{index}", frame.image, truth
    for folder in args.frames_dir:
        for trigger in sorted(p for p in folder.iterdir() if p.is_dir()):
            try:
                yield f"real {trigger.name}", load_layered_frame(trigger).image, None
            except (OSError, ValueError) as error:
                print(f"skipping {trigger}: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dds_env.apply()
    import rclpy
    from cherry_classifier_msgs.msg import CherryDecisionArray, ModelInfo
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from tqdm import tqdm

    from cherry_classifier.imaging.conversion import array_to_image_fields
    from cherry_classifier.launch_stub import launch_command
    from cherry_classifier.processes import ros_process, wait_until

    _, command = launch_command(model_path=args.model_path)
    command += ["-p", "image_topics:=[demo/image]", "-p", "qos_reliability:=reliable"]
    log_path = REPO_ROOT / "log" / "demo_classifier.log"
    log_path.parent.mkdir(exist_ok=True)
    frames = list(demo_frames(args))

    rclpy.init()
    node = rclpy.create_node("demo_driver")
    decisions: list = []
    infos: list = []
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(
        depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE
    )
    node.create_subscription(
        CherryDecisionArray, "/classifier/decisions", decisions.append, reliable
    )
    node.create_subscription(ModelInfo, "/classifier/model_info", infos.append, latched)
    publisher = node.create_publisher(Image, "/demo/image", reliable)

    def spin() -> None:
        rclpy.spin_once(node, timeout_sec=0.02)

    print(f"starting the classifier (log: {log_path})")
    with ros_process(command, log_path) as process:
        wait_until(lambda: bool(infos) or process.poll() is not None, 120, spin, "the classifier")
        if process.poll() is not None:
            print(log_path.read_text(), file=sys.stderr)
            return 1
        info = infos[-1]
        print(
            f"model {info.model_id or 'NONE (fail-safe)'}: {info.architecture} "
            f"classes {list(info.class_names)} from {info.path}"
        )
        wait_until(lambda: publisher.get_subscription_count() > 0, 30, spin, "the subscription")
        shown = 0
        with tqdm(total=len(frames), unit="frame", desc="decisions") as progress:
            for index, (name, image, _) in enumerate(frames):
                message = Image(**array_to_image_fields(image, "bgr8"))
                message.header.frame_id = name
                message.header.stamp = node.get_clock().now().to_msg()
                publisher.publish(message)
                deadline = time.monotonic() + 1.0 / args.rate
                while time.monotonic() < deadline or (
                    index == len(frames) - 1 and len(decisions) < len(frames)
                ):
                    spin()
                    if time.monotonic() > deadline + 60:
                        break
                while shown < len(decisions):
                    array = decisions[shown]
                    counts = Counter(LABELS[d.label] for d in array.decisions)
                    progress.set_postfix_str(f"{array.header.frame_id}: {dict(counts)}")
                    progress.update()
                    shown += 1
    print_verdict(decisions, info)
    print_truth(decisions, {name: truth for name, _, truth in frames if truth is not None})
    node.destroy_node()
    rclpy.try_shutdown()
    return 0 if len(decisions) == len(frames) else 1


def print_verdict(decisions: list, info) -> None:
    totals: Counter = Counter()
    print(f"\n{'frame':<28}{'cherries':>9}{'clean':>7}{'maybe':>7}{'pit':>5}")
    for array in decisions:
        counts = Counter(LABELS[d.label] for d in array.decisions)
        totals.update(counts)
        print(
            f"{array.header.frame_id:<28}{len(array.decisions):>9}"
            f"{counts['clean']:>7}{counts['maybe']:>7}{counts['pit']:>5}"
        )
    cherries = sum(totals.values())
    print(
        f"{'total':<28}{cherries:>9}{totals['clean']:>7}{totals['maybe']:>7}{totals['pit']:>5}\n"
        f"{len(decisions)} frames decided by model {info.model_id} "
        f"(thresholds v{info.thresholds_version}: pit {info.pit_threshold:.2f}, "
        f"maybe {info.maybe_threshold:.2f}, clean {info.clean_threshold:.2f})"
    )


def print_truth(decisions: list, truths: dict[str, list]) -> None:
    """Synthetic frames know their cherries: match decisions to them by crop centre."""
    confusion: Counter = Counter()
    for array in decisions:
        truth = truths.get(array.header.frame_id)
        if not truth:
            continue
        for decision in array.decisions:
            region = decision.region
            cx, cy = region.x_offset + region.width / 2, region.y_offset + region.height / 2
            x, y, label = min(truth, key=lambda t: (t[0] - cx) ** 2 + (t[1] - cy) ** 2)
            if (x - cx) ** 2 + (y - cy) ** 2 <= 20**2:
                confusion[label, LABELS[decision.label]] += 1
    if not confusion:
        return
    print(f"\nsynthetic cherries (truth x decision){'':6}" + "".join(f"{d:>8}" for d in LABELS))
    for truth_label in LABELS:
        print(f"  {truth_label:<38}" + "".join(f"{confusion[truth_label, d]:>8}" for d in LABELS))
    pits = sum(confusion["pit", d] for d in LABELS)
    cleans = sum(confusion["clean", d] for d in LABELS)
    caught = pits - confusion["pit", "clean"]
    print(
        f"pit recall (PIT or MAYBE): {caught}/{pits}"
        + (f" = {caught / pits:.3f}" if pits else "")
        + f"; clean yield: {confusion['clean', 'clean']}/{cleans}"
        + (f" = {confusion['clean', 'clean'] / cleans:.3f}" if cleans else "")
    )


if __name__ == "__main__":
    sys.exit(main())
