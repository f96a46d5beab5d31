"""Which input QoS and Fast DDS transports deliver the line's whole frames between processes?

A publisher process sends ``sensor_msgs/Image`` frames as the line's camera does (reliable,
depth 10) at the line's 1.8 frames/s; a subscriber process (what the classifier would be)
counts what arrives and how late, for each subscriber reliability and each
``FASTDDS_BUILTIN_TRANSPORTS`` setting (both processes), at several message sizes. Prints one
row per case; ``docs/transport.md`` quotes its output.

    python benchmarks/bench_transport.py [--frames 10] [--rate 1.8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from dds_pair import stamp_age_s, stamped_image, wait_until_matched

SIZES = {  # name: (height, width, encoding, bytes per pixel)
    "bgr8 frame 3.7 MB": (500, 2464, "bgr8", 3),
    "mono8 layer 1.2 MB": (500, 2464, "mono8", 1),
    "crop-sized 360 kB": (240, 500, "bgr8", 3),
}
TRANSPORTS = ("", "SHM", "UDPv4", "LARGE_DATA")  # "": Fast DDS's default (SHM + UDPv4)
RELIABILITIES = ("best_effort", "reliable")
TOPIC = "/bench_transport/image"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10, help="frames per case (default: 10)")
    parser.add_argument("--rate", type=float, default=1.8, help="frames/s (default: 1.8)")
    parser.add_argument("--role", choices=("pub", "sub"), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    return parser


def run_publisher(case: dict) -> None:
    import numpy as np
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_transport_pub")
    publisher = node.create_publisher(
        Image, TOPIC, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    )
    height, width, _, channels = case["shape"]
    pixels = np.random.default_rng(0).integers(0, 255, height * width * channels, np.uint8)
    wait_until_matched(rclpy, node, [publisher], timeout_s=20)
    for index in range(case["frames"]):
        publisher.publish(stamped_image(Image, node, case["shape"], pixels.tobytes(), str(index)))
        time.sleep(1.0 / case["rate"])
    end = time.monotonic() + 3.0  # reliable: leave time for repairs
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    node.destroy_node()
    rclpy.shutdown()


def run_subscriber(case: dict) -> None:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_transport_sub")
    latencies: list[float] = []

    def received(message: Image) -> None:
        latencies.append(stamp_age_s(message, node.get_clock().now().nanoseconds * 1e-9))

    reliability = getattr(ReliabilityPolicy, case["reliability"].upper())
    node.create_subscription(Image, TOPIC, received, QoSProfile(depth=10, reliability=reliability))
    end = time.monotonic() + case["frames"] / case["rate"] + 12
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(json.dumps({"received": len(latencies), "latencies": latencies}))
    node.destroy_node()
    rclpy.shutdown()


def measure(case: dict) -> dict:
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env.setdefault("ROS_DOMAIN_ID", str(70 + os.getpid() % 20))
    env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    if case["transport"]:
        env["FASTDDS_BUILTIN_TRANSPORTS"] = case["transport"]
    command = [sys.executable, __file__, "--case", json.dumps(case)]
    subscriber = subprocess.Popen([*command, "--role", "sub"], env=env, stdout=subprocess.PIPE)
    publisher = subprocess.Popen([*command, "--role", "pub"], env=env)
    publisher.wait()
    output, _ = subscriber.communicate()
    return json.loads(output.decode().strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.role:
        case = json.loads(args.case)
        (run_publisher if args.role == "pub" else run_subscriber)(case)
        return 0
    print(f"# {args.frames} frames per case at {args.rate} frames/s; publisher reliable, depth 10")
    print(f"# load average at start: {os.getloadavg()[0]:.2f}")
    print(
        f"{'message':<20} {'transports':<11} {'subscriber':<12} {'arrived':>8} "
        f"{'p50 ms':>7} {'max ms':>7}"
    )
    for size, shape in SIZES.items():
        for transport in TRANSPORTS:
            for reliability in RELIABILITIES:
                case = {
                    "shape": shape,
                    "frames": args.frames,
                    "rate": args.rate,
                    "transport": transport,
                    "reliability": reliability,
                }
                result = measure(case)
                latencies = sorted(result["latencies"])
                p50 = latencies[len(latencies) // 2] * 1e3 if latencies else float("nan")
                worst = latencies[-1] * 1e3 if latencies else float("nan")
                print(
                    f"{size:<20} {transport or 'default':<11} {reliability:<12} "
                    f"{result['received']:>4}/{args.frames:<3} {p50:>7.1f} {worst:>7.1f}",
                    flush=True,
                )
    print(f"# load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
