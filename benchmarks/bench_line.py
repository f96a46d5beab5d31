"""End-to-end latency on the line: image_set mode next to frames mode, at line load.

Starts the classifier as the launch file does (``line:=true`` for image sets, the shipped
``threading_ws.yaml`` for frames), and the line camera stand-in (``test/fixtures/line_camera.py``)
in its own process, sending the real production frames at 1.8 sets/s, reliable, depth 10.
Latency is the camera's header stamp to the decision array's receipt in this process (all on
one host, one clock). Every set is accounted for: decided, or lost (sent but never decided).

    source env.sh && python benchmarks/bench_line.py [--count 54] [--frames-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
FOLDERS = ("10439811", "10487561", "20240426T121926876364")
LATE_MS = 500  # a set decided later than this is listed by its place in the sending order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=54, help="sets per mode (default: 54, 30 s)")
    parser.add_argument(
        "--frames-dir",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "data" / "production_frames",
        help="folder holding the production trigger folders",
    )
    return parser


def measure(mode: str, count: int, folders: list[Path], domain: int, log_dir: Path) -> dict:
    import rclpy
    from cherry_classifier_msgs.msg import CherryDecisionArray
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from cherry_dev import dds_env
    from cherry_dev.launch_stub import launch_command
    from cherry_dev.processes import ros_process, wait_until

    topic = "/image_set" if mode == "image_set" else "/camera/image"
    arguments = {"line": "true"} if mode == "image_set" else {}
    _, command = launch_command(**arguments)
    if mode == "image_set":  # the line profile refuses demo models; the bundled one is a demo
        command += ["-p", "allow_demo_model:=true"]
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("bench_line", context=context)
    received: list[tuple[float, CherryDecisionArray]] = []
    matched = {"n": 0}

    def on_diagnostics(array: DiagnosticArray) -> None:
        for status in array.status:
            if status.name == f"/classifier: input {topic}":
                values = {kv.key: kv.value for kv in status.values}
                matched["n"] = int(values.get("matched_publishers", 0))

    qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(
        CherryDecisionArray,
        "/classifier/decisions",
        lambda m: received.append((time.time(), m)),
        qos,
    )
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)

    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def spin() -> None:
        executor.spin_once(timeout_sec=0.01)

    camera_command = [sys.executable, str(REPO_ROOT / "test" / "fixtures" / "line_camera.py")]
    camera_command += [*map(str, folders), "--mode", mode, "--topic", topic]
    camera_command += ["--count", str(count), "--out", str(log_dir / f"sent_{mode}.jsonl")]
    env = dds_env.localhost_env(domain)
    env["PYTHONPATH"] = ":".join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    log = log_dir / f"classifier_{mode}.log"
    with ros_process(command, log, ROS_DOMAIN_ID=str(domain)):
        camera = subprocess.Popen(
            camera_command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        wait_until(lambda: bool(select.select([camera.stdout], [], [], 0)[0]), 120, spin, "camera")
        camera.stdout.readline()
        wait_until(lambda: matched["n"] >= 1, 60, spin, "the node to match the camera")
        camera.stdin.write("go\n")
        camera.stdin.flush()
        wait_until(lambda: camera.poll() is not None, count / 1.8 + 60, spin, "the camera")
        end = time.monotonic() + 10
        while len(received) < count and time.monotonic() < end:
            spin()
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)
    by_stamp = sorted(
        (m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, at) for at, m in received
    )
    latencies = np.array([at - stamp for stamp, at in by_stamp])
    cherries = sum(len(m.decisions) for _, m in received)
    return {
        "sent": count,
        "decided": len(received),
        "latencies_ms": latencies * 1e3,
        "cherries": cherries,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cherry_dev import dds_env

    dds_env.apply()
    folders = [args.frames_dir / name for name in FOLDERS]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        print(f"bench_line: production frames not found: {missing}", file=sys.stderr)
        return 2
    log_dir = REPO_ROOT / "log" / "bench_line"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"# {args.count} sets per mode at 1.8 sets/s, bundled model, shipped params files")
    print(f"# load average at start: {os.getloadavg()[0]:.2f}")
    columns = ("sent", "decided", "lost", "cherries", "p50 ms", "p99 ms", "max ms")
    print(f"{'mode':<10} " + " ".join(f"{c:>8}" for c in columns))
    domain = int(dds_env.localhost_env()[dds_env.DOMAIN_ID_VAR])
    for mode in ("image_set", "frames"):
        result = measure(mode, args.count, folders, domain, log_dir)
        latencies = result["latencies_ms"]
        p50, p99, worst = (
            (*np.percentile(latencies, (50, 99)), latencies.max())
            if latencies.size
            else (np.nan,) * 3
        )
        lost = result["sent"] - result["decided"]
        figures = (result["sent"], result["decided"], lost, result["cherries"])
        row = " ".join(f"{v:>8}" for v in figures) + f" {p50:>8.1f} {p99:>8.1f} {worst:>8.1f}"
        print(f"{mode:<10} {row}", flush=True)
        late = [(i, round(ms)) for i, ms in enumerate(latencies) if ms > LATE_MS]
        print(f"#   sets over {LATE_MS} ms (send order, ms): {late or 'none'}", flush=True)
    print(f"# load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
