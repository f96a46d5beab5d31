"""How late do the line's large reliable messages arrive, and does the writer's heartbeat fix it?

A publisher process sends what the line sends at 1.8 triggers/s, reliable, depth 10: either a
burst of three 1.2 MB mono layers per trigger (layers mode, a replay) or one 3.7 MB bgr8 frame.
A subscriber process (reliable, depth 10, what the classifier is) records each message's delay
from its header stamp. Fast DDS repairs a lost fragment only when the writer next announces what
it holds (its heartbeat, 3 s by default, or the next sample's): each case runs with the
publisher's default, with the shipped writer profile ``config/fastdds_line_camera.xml``
(heartbeat 100 ms), and with bigger socket buffers on the subscriber only. Prints, per case and
run, how many messages were later than ``--late-ms`` and the worst delay; docs/transport.md
quotes it.

    python benchmarks/bench_repair.py [--triggers 60] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dds_pair import stamp_age_s, stamped_image, wait_until_matched

PROFILE = Path(__file__).resolve().parents[1] / "config" / "fastdds_line_camera.xml"
PATTERNS = {  # name: (messages per trigger, height, width, encoding, bytes per pixel)
    "3 layers 1.2 MB": (3, 500, 2464, "mono8", 1),
    "frame 3.7 MB": (1, 500, 2464, "bgr8", 3),
}
CASES = {  # name: (publisher environment, subscriber environment)
    "default": ({}, {}),
    "writer heartbeat 100 ms": ({"FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)}, {}),
    "reader sockets 4 MB": ({}, {"FASTDDS_BUILTIN_TRANSPORTS": "DEFAULT?sockets_size=4MB"}),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=60, help="triggers per run (default: 60)")
    parser.add_argument("--runs", type=int, default=2, help="runs per case (default: 2)")
    parser.add_argument("--rate", type=float, default=1.8, help="triggers/s (default: 1.8)")
    parser.add_argument(
        "--late-ms", type=float, default=300.0, help="a message later than this is late (300)"
    )
    parser.add_argument("--role", choices=("pub", "sub"), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    return parser


def topics(count: int) -> list[str]:
    return [f"/bench_repair/image{index}" for index in range(count)]


def run_publisher(case: dict) -> None:
    import numpy as np
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    per_trigger, *shape = case["pattern"]
    height, width, _, channels = shape
    rclpy.init()
    node = rclpy.create_node("bench_repair_pub")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    publishers = [node.create_publisher(Image, topic, qos) for topic in topics(per_trigger)]
    wait_until_matched(rclpy, node, publishers)
    pixels = np.random.default_rng(0).integers(0, 255, height * width * channels, np.uint8)
    payload = pixels.tobytes()
    start = time.monotonic()
    for trigger in range(case["triggers"]):
        while time.monotonic() < start + trigger / case["rate"]:
            time.sleep(0.002)  # pacing: the line's trigger rate
        for publisher in publishers:  # a trigger's messages go out back to back, as a burst
            publisher.publish(stamped_image(Image, node, shape, payload, str(trigger)))
    for publisher in publishers:
        publisher.wait_for_all_acked()
    node.destroy_node()
    rclpy.shutdown()


def run_subscriber(case: dict) -> None:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_repair_sub")
    delays: list[float] = []

    def received(message) -> None:
        delays.append(stamp_age_s(message, time.time()))

    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    for topic in topics(case["pattern"][0]):
        node.create_subscription(Image, topic, received, qos)
    end = time.monotonic() + case["triggers"] / case["rate"] + 15
    expected = case["triggers"] * case["pattern"][0]
    while time.monotonic() < end and len(delays) < expected:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(json.dumps({"delays": delays}))
    node.destroy_node()
    rclpy.shutdown()


def measure(case: dict, publisher_env: dict, subscriber_env: dict) -> list[float]:
    base = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    base.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 20))
    for name in ("FASTDDS_BUILTIN_TRANSPORTS", "FASTDDS_DEFAULT_PROFILES_FILE"):
        base.pop(name, None)
    command = [sys.executable, __file__, "--case", json.dumps(case)]
    subscriber = subprocess.Popen(
        [*command, "--role", "sub"], env=base | subscriber_env, stdout=subprocess.PIPE
    )
    subprocess.run([*command, "--role", "pub"], env=base | publisher_env, check=True)
    output, _ = subscriber.communicate()
    return json.loads(output.decode().strip().splitlines()[-1])["delays"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.role:
        case = json.loads(args.case)
        (run_publisher if args.role == "pub" else run_subscriber)(case)
        return 0
    print(f"# {args.triggers} triggers per run at {args.rate}/s, reliable depth 10 both ends")
    print(f"# load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'messages':<16} {'case':<24} {'run':>3} {'arrived':>9} {'late':>5} {'max ms':>7}")
    for pattern_name, pattern in PATTERNS.items():
        for case_name, (publisher_env, subscriber_env) in CASES.items():
            for run in range(1, args.runs + 1):
                case = {"pattern": pattern, "triggers": args.triggers, "rate": args.rate}
                delays = measure(case, publisher_env, subscriber_env)
                expected = args.triggers * pattern[0]
                late = sum(delay * 1e3 > args.late_ms for delay in delays)
                worst = max(delays) * 1e3 if delays else float("nan")
                print(
                    f"{pattern_name:<16} {case_name:<24} {run:>3} {len(delays):>4}/{expected:<4} "
                    f"{late:>5} {worst:>7.0f}",
                    flush=True,
                )
    print(f"# load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
