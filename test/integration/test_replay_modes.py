"""Issue 13 acceptance: real production frames in a bag, as whole frames, as separate layer topics
and as the line camera's image sets, replayed live by the ``cherry-replay`` process into a node
started as the launch file does, and evaluated offline by the ``cherry-eval`` process: the same
decisions per cherry in every mode, the node's per-topic diagnostics count every layer and set,
and the live records rescored by ``cherry-eval --records`` give the live report's figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test.conftest import REPO_ROOT, require

rclpy = require("rclpy", "ROS 2 tests (rclpy: the venv's ROS wheels, scripts/bootstrap.sh)")
require("cherry_interfaces.msg", "the line's interfaces (test copy: bootstrap.sh)")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from cherry_classifier.bags.make_bag import production_triggers, write_image_bag  # noqa: E402
from cherry_classifier.evaluation.records import RecordSet  # noqa: E402
from cherry_classifier.live.replay import node_overrides  # noqa: E402
from cherry_dev import dds_env  # noqa: E402
from cherry_dev.launch_stub import launch_command  # noqa: E402
from cherry_dev.processes import process_output, ros_process, wait_until  # noqa: E402

pytestmark = pytest.mark.ros
NAMESPACE = "modes"
NODE = f"/{NAMESPACE}/classifier"
TRIGGERS = ("10439811", "20240426T121926876364")  # two real triggers: both sidecar styles
LAYERS = ["/cam/image/bot1", "/cam/image/bot2", "/cam/image/top2"]
MODES = {  # input mode -> (bag topics, messages per topic per trigger)
    "frames": ["/cam/image"],
    "layers": LAYERS,
    "image_set": ["/cam/image_set"],
}
PARAMS_FILE = REPO_ROOT / "config" / "threading_ws.yaml"  # what the launch file starts with


@pytest.fixture(scope="module")
def production_bag(tmp_path_factory, production_frames_dir) -> Path:
    """Each trigger three ways: the stacked frame, its layers as taken, its image set (raw)."""
    folders = [production_frames_dir / name for name in TRIGGERS]
    ways = [production_triggers(folders, "/cam/image", mode) for mode in MODES]
    path = tmp_path_factory.mktemp("modes") / "production"
    triggers = ([image for way in images for image in way] for images in zip(*ways, strict=True))
    write_image_bag(path, triggers, "mcap", "none")
    return path


class Diagnostics:
    """The node's per-topic input statuses, as a client in the test's domain sees them."""

    def __init__(self, domain: int) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("modes_watcher", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.inputs: dict[str, dict[str, str]] = {}
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._receive, 10)

    def _receive(self, array: DiagnosticArray) -> None:
        prefix = f"{NODE}: input "
        for status in array.status:
            if status.name.startswith(prefix):
                values = {kv.key: kv.value for kv in status.values}
                self.inputs[status.name.removeprefix(prefix)] = values

    def wait(self, condition, what: str) -> None:
        wait_until(condition, 60, lambda: self.executor.spin_once(timeout_sec=0.05), what)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def run_tool(module: str, *arguments: str, domain: int | None = None) -> str:
    """Run a ``cherry-*`` tool's module in a process of its own; its output (exit 0 asserted)."""
    env = dds_env.localhost_env(domain)
    completed = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout + completed.stderr


def keyed(records: RecordSet) -> dict:
    return {(r.source_topic, r.stamp_ns, r.index): r for r in records.records}


@pytest.mark.parametrize("mode", list(MODES))
def test_live_and_offline_decide_every_cherry_alike_in_every_input_mode(
    mode, production_bag, tmp_path, ros_domain
):
    topics = MODES[mode]
    _, command = launch_command(namespace=NAMESPACE, log_level="info")
    command += node_overrides(production_bag, topics, mode)
    command += ["-p", "max_frame_age_ms:=0.0"]  # no deadline: a slow CI machine drops nothing
    live_out, offline_out, rescored_out = tmp_path / "live", tmp_path / "offline", tmp_path / "re"
    watcher = Diagnostics(ros_domain)
    log = tmp_path / "classifier.log"
    try:
        with ros_process(command, log, ROS_DOMAIN_ID=str(ros_domain)) as node:
            replay = [str(production_bag), "--attach", "--node", NODE, "--speed", "1"]
            output = run_tool(
                "cherry_classifier.live.replay",
                *replay,
                "--out",
                str(live_out),
                domain=ros_domain,
            )
            # the node's own count: every layer on each layer topic, every set decided once
            watcher.wait(
                lambda: all(
                    watcher.inputs.get(topic, {}).get("frames_received") == str(len(TRIGGERS))
                    and watcher.inputs[topic].get("frames_decided") == str(len(TRIGGERS))
                    for topic in topics
                ),
                f"the node's diagnostics to count {len(TRIGGERS)} received and decided per topic",
            )
            assert node.poll() is None, process_output(log)
    finally:
        watcher.close()
    assert f"{len(TRIGGERS)}/{len(TRIGGERS)} images decided" in output, output
    assert f"{mode} mode on {', '.join(topics)}" in output
    (live_path,) = live_out.glob("records_*.jsonl")
    live = RecordSet.load(live_path)

    offline_args = [str(production_bag), "--model", "default", "--input-mode", mode]
    offline_args += ["--topics", *topics, "--params-file", str(PARAMS_FILE), "--threads", "1"]
    run_tool("cherry_classifier.bags.evaluate", *offline_args, "--out", str(offline_out))
    offline = RecordSet.load(offline_out / "records_default.jsonl")

    live_by_key, offline_by_key = keyed(live), keyed(offline)
    assert live_by_key.keys() == offline_by_key.keys()
    assert len(live_by_key) > 0
    assert {key[:2] for key in live_by_key} == {key[:2] for key in offline_by_key}
    assert len({key[:2] for key in live_by_key}) == len(TRIGGERS)
    for key, live_record in live_by_key.items():
        offline_record = offline_by_key[key]
        assert live_record.label == offline_record.label, key
        assert live_record.region == offline_record.region, key
        np.testing.assert_allclose(
            live_record.probabilities, offline_record.probabilities, rtol=0, atol=1e-5
        )
    assert live.meta["thresholds"] == offline.meta["thresholds"]
    assert live.meta["input_mode"] == offline.meta["input_mode"] == mode
    # the params file's backend (auto) resolves alike in both: the same variant judged
    assert live.meta["backend"] == offline.meta["backend"]

    run_tool(
        "cherry_classifier.bags.evaluate", "--records", str(live_path), "--out", str(rescored_out)
    )
    live_report = json.loads((live_out / "report.json").read_text())
    rescored_report = json.loads((rescored_out / "report.json").read_text())
    (live_model,) = live_report["models"].values()
    (rescored_model,) = rescored_report["models"].values()
    for part in ("model_id", "meta", "metrics", "per_camera", "sweep"):
        assert rescored_model[part] == live_model[part], part
    assert f"from the running node {NODE}" in (live_out / "report.md").read_text()


def test_replay_starts_its_own_node_on_image_sets_at_the_models_thresholds(
    production_bag, tmp_path, ros_domain
):
    """Without --attach, cherry-replay starts the node as the launch file does (the package's
    params file), re-set to the bag's image set topic, at the model's tuned thresholds (no
    --params-file given), and decides every set; its records equal cherry-eval's."""
    live_out, offline_out = tmp_path / "live", tmp_path / "offline"
    # Half the recorded pace: a set every 1.1 s keeps each well inside the shipped 2 s deadline.
    replay = [str(production_bag), "--input-mode", "image_set", "--speed", "0.5"]
    output = run_tool(
        "cherry_classifier.live.replay", *replay, "--out", str(live_out), domain=ros_domain
    )
    assert "image_set mode on /cam/image_set; thresholds from model default: its tuned" in output
    assert f"{len(TRIGGERS)}/{len(TRIGGERS)} images decided" in output and "; 0 lost)" in output
    (live_path,) = live_out.glob("records_*.jsonl")
    live = RecordSet.load(live_path)
    offline_args = [str(production_bag), "--model", "default", "--input-mode", "image_set"]
    run_tool("cherry_classifier.bags.evaluate", *offline_args, "--out", str(offline_out))
    offline = RecordSet.load(offline_out / "records_default.jsonl")
    assert live.meta["thresholds"] == offline.meta["thresholds"]
    assert live.meta["backend"] == offline.meta["backend"]  # auto, as shipped, in both
    live_by_key, offline_by_key = keyed(live), keyed(offline)
    assert live_by_key.keys() == offline_by_key.keys() and live_by_key
    assert [r.label for r in live_by_key.values()] == [offline_by_key[k].label for k in live_by_key]
