"""Bags through a live node: live vs offline verdicts, the threshold sweep, the recorder, the
README's main command. Real node processes over localhost DDS, real rosbag2 bags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from test.conftest import REPO_ROOT, require

rclpy = require("rclpy", "ROS 2 tests (rclpy: the venv's ROS wheels, scripts/bootstrap.sh)")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402

from cherry_classifier.bags.io import bag_summary, decode, iter_messages  # noqa: E402
from cherry_classifier.bags.make_bag import synthetic_triggers, write_image_bag  # noqa: E402
from cherry_classifier.bags.offline import evaluate_bag  # noqa: E402
from cherry_classifier.core.classifier import Classifier  # noqa: E402
from cherry_classifier.core.decision import Thresholds  # noqa: E402
from cherry_classifier.core.model_paths import default_models_dir  # noqa: E402
from cherry_classifier.evaluation.record_metrics import (  # noqa: E402
    decisions_at,
    record_metrics,
    recorded_thresholds,
)
from cherry_classifier.imaging.pipeline import FramePipeline, decode_image  # noqa: E402
from cherry_classifier.live.replay import LiveReplay, node_overrides  # noqa: E402
from cherry_dev import dds_env  # noqa: E402
from cherry_dev.launch_stub import launch_command, launch_commands  # noqa: E402
from cherry_dev.processes import process_output, ros_process, wait_until  # noqa: E402
from cherry_dev.shipped_params import shipped_backend  # noqa: E402

pytestmark = pytest.mark.ros
NAMESPACE = "replay"
NODE = f"/{NAMESPACE}/classifier"
TOPICS = ["/line1/image/compressed", "/line2/image/compressed"]


@pytest.fixture(scope="module")
def labelled_bag(tmp_path_factory) -> Path:
    """Two cameras, 4 triggers of synthetic frames with their truth, PNG in sqlite3."""
    path = tmp_path_factory.mktemp("live") / "labelled"
    line1 = synthetic_triggers(4, "/line1/image", cherries=(8, 22, 14, 27), seed=5)
    line2 = synthetic_triggers(4, "/line2/image", cherries=(18, 11, 25, 6), seed=6)
    write_image_bag(path, (a + b for a, b in zip(line1, line2, strict=True)), "sqlite3", "png")
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory, labelled_bag, module_domain):
    """The classifier (as the launch file starts it, bundled model) and a replay client, in a
    ROS domain of this module's own (its tests use the one node in turn)."""
    folder = tmp_path_factory.mktemp("live_node")
    _, command = launch_command(namespace=NAMESPACE, log_level="info")
    command += node_overrides(labelled_bag, TOPICS)
    command += ["-p", "max_frame_age_ms:=0.0"]  # no deadline: a slow CI machine drops nothing
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=module_domain)
    node = rclpy.create_node("replay_client", context=context)
    with ros_process(
        command, folder / "classifier.log", ROS_DOMAIN_ID=str(module_domain)
    ) as process:
        replay = LiveReplay(node, labelled_bag, TOPICS, speed=2.0, node_name=NODE)
        replay.exit_check = lambda: process.poll() is not None
        replay.model_info()
        replay.wait_for_node()
        replay.folder = folder
        replay.domain = module_domain
        yield replay
        replay.close()
    node.destroy_node()
    rclpy.shutdown(context=context)


@pytest.fixture(scope="module")
def first_run(live):
    return live.run(drain_timeout_s=30.0)


def keyed(records):
    return {(r.source_topic, r.stamp_ns, r.index): r for r in records.records}


def set_parameters(replay: LiveReplay, **values) -> None:
    client = AsyncParameterClient(replay.node, NODE)
    wait_until(lambda: client.services_are_ready(), 30, replay.spin_once, "parameter services")
    future = client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    wait_until(future.done, 30, replay.spin_once, f"set {values}")
    assert all(result.successful for result in future.result().results), future.result()


def test_live_and_offline_verdicts_are_identical(labelled_bag, first_run):
    assert first_run.sent == 8 and first_run.decided == 8 and not first_run.lost
    live_records = first_run.records
    # the backend the shipped params give the node (auto: the same variant it picks here)
    classifier = Classifier.from_path(default_models_dir() / "default", backend=shipped_backend())
    offline = evaluate_bag(
        labelled_bag,
        classifier,
        thresholds=recorded_thresholds(live_records),
        input_mode="frames",
        image_topics=TOPICS,
    )
    live_by_key, offline_by_key = keyed(live_records), keyed(offline)
    assert live_by_key.keys() == offline_by_key.keys()
    assert len(live_by_key) == 8 + 22 + 14 + 27 + 18 + 11 + 25 + 6
    for key, live_record in live_by_key.items():
        offline_record = offline_by_key[key]
        assert live_record.label == offline_record.label, key
        assert live_record.truth == offline_record.truth, key
        assert live_record.region == offline_record.region, key
        np.testing.assert_allclose(
            live_record.probabilities, offline_record.probabilities, atol=1e-5
        )
    assert live_records.model_id == offline.model_id == classifier.model_id
    live_metrics, offline_metrics = record_metrics(live_records), record_metrics(offline)
    for name in ("confusion", "pit_recall", "clean_yield", "maybe_rate", "decided", "labelled"):
        assert live_metrics[name] == offline_metrics[name], name
    assert live_metrics["labelled"] == len(live_by_key)  # every decision found its label
    assert np.all(first_run.records.latencies > 0)


def test_the_threshold_sweep_reproduces_live_decisions_at_the_swept_point(live, first_run):
    swept = Thresholds(pit_threshold=0.9, maybe_threshold=0.02, clean_threshold=0.97)
    predicted = decisions_at(first_run.records, swept)
    assert not np.array_equal(predicted, first_run.records.labels)  # the sweep changes some
    set_parameters(
        live,
        pit_threshold=swept.pit_threshold,
        maybe_threshold=swept.maybe_threshold,
        clean_threshold=swept.clean_threshold,
    )
    second = live.run(drain_timeout_s=30.0)
    assert second.decided == 8 and not second.lost
    assert recorded_thresholds(second.records) == swept
    before, after = keyed(first_run.records), keyed(second.records)
    assert before.keys() == after.keys()
    expected = dict(zip(before, predicted, strict=True))
    assert {key: record.label for key, record in after.items()} == expected


def test_recorder_writes_a_bag_that_evaluates_alike_and_captures_crops(live, labelled_bag):
    folder = live.folder
    output, capture = folder / "recorded", folder / "captured"
    launched = launch_commands(
        namespace=NAMESPACE, record="true", record_output=str(output), capture_dir=str(capture)
    )
    (command,) = [command for node, command in launched if node.executable == "recorder_node"]
    command += ["-p", "capture_sample_share:=1.0"]
    log = folder / "recorder.log"
    status: dict[str, str] = {}

    def on_diagnostics(array: DiagnosticArray) -> None:
        for entry in array.status:
            if entry.name == f"/{NAMESPACE}/cherry_recorder: recording":
                status.clear()
                status.update({kv.key: kv.value for kv in entry.values})

    live.node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)

    def will_receive() -> bool:
        """The recorder holds a reliable subscription matched to each of our publishers, from
        both ends (a volatile reader skips what was sent before it matched the writer)."""
        return (
            all(status.get(f"{topic} reliability") == "reliable" for topic in TOPICS)
            and all(int(status.get(f"{topic} matched publishers", 0)) >= 1 for topic in TOPICS)
            and all(p.get_subscription_count() >= 2 for p in live._publishers.values())
            and "capturing crops" in process_output(log)
        )

    def written(topic: str) -> int:
        return int(status.get(f"{topic} written", 0))

    with ros_process(command, log, ROS_DOMAIN_ID=str(live.domain)) as recorder:
        wait_until(will_receive, 60, live.spin_once, "the recorder's reliable subscriptions")
        run = live.run(drain_timeout_s=30.0)
        wait_until(
            lambda: written(f"{NODE}/decisions") >= 8 and all(written(t) >= 4 for t in TOPICS),
            30,
            live.spin_once,
            "the recorder to write every image and decision array",
        )
    assert recorder.returncode == 0, process_output(log)
    assert run.decided == 8

    summary = bag_summary(output)
    assert summary.topics[f"{NODE}/decisions"][1] == 8
    assert summary.topics[f"{NODE}/model_info"][1] >= 1
    for topic in TOPICS:
        assert summary.topics[topic] == ("sensor_msgs/msg/CompressedImage", 4)
    recorded_images = [m.raw for m in iter_messages(output, TOPICS)]
    assert sorted(recorded_images) == sorted(m.raw for m in iter_messages(labelled_bag, TOPICS))

    # every decision was captured (sample share 1), each the very crop the model saw
    lines = (capture / "captured.jsonl").read_text().splitlines()
    assert len(lines) == len(run.records)
    pipeline = FramePipeline("frames")
    crops = {
        (m.topic, m.timestamp_ns): pipeline.crops(decode_image(decode(m), compressed=True))[0]
        for m in iter_messages(labelled_bag, TOPICS)
    }
    decided = {(r.source_topic, r.stamp_ns, r.index): r.label for r in run.records.records}
    for entry in map(json.loads, lines):
        key = (entry["source_topic"], entry["stamp_ns"], entry["index"])
        assert entry["decided"] == ("clean", "maybe", "pit")[decided[key]]
        assert entry["model_id"] == run.model_ids[0] and len(entry["probabilities"]) == 3
        saved = cv2.imread(str(capture / entry["file"]), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(saved, crops[key[:2]][key[2]])


def test_the_readme_main_command_runs_to_completion(tmp_path, ros_domain):
    """``./scripts/demo.sh`` runs ``python -m cherry_classifier.demo`` after the bootstrap (in
    a ROS domain of its own: nothing else can answer its waits)."""
    out = tmp_path / "demo"
    completed = subprocess.run(
        [sys.executable, "-m", "cherry_classifier.demo", "--speed", "3", "--out", str(out)],
        env=dds_env.localhost_env(ros_domain),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "15/15 images decided" in completed.stdout
    assert "report:" in completed.stdout
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
    assert (out / "latency.png").is_file() and (out / "sweep.png").is_file()
    assert "thresholds from model default: its tuned thresholds" in completed.stdout

    # the README's paired offline command gives the same verdict on the sample bag (issue 13)
    offline = tmp_path / "offline"
    sample = str(REPO_ROOT / "data" / "sample_bag")
    offline_command = [sys.executable, "-m", "cherry_classifier.bags.evaluate", sample]
    offline_command += ["--model", "default", "--out", str(offline), "--threads", "1"]
    evaluated = subprocess.run(
        offline_command,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    (live,) = json.loads((out / "report.json").read_text())["models"].values()
    (alone,) = json.loads((offline / "report.json").read_text())["models"].values()
    assert live["meta"]["thresholds"] == alone["meta"]["thresholds"]
    assert live["meta"]["backend"] == alone["meta"]["backend"]  # auto resolves alike in both
    for name in ("decisions", "decided", "confusion", "pit_recall", "clean_yield", "maybe_rate"):
        assert live["metrics"][name] == alone["metrics"][name], name


def test_the_installed_replay_attaches_to_a_node_of_another_process(
    tmp_path, labelled_bag, ros_domain
):
    """Issue 12: the installed ``cherry-replay --attach``, a process of its own started outside
    the checkout, decides every image through a node that another process started as the launch
    file does. Discovery range and domain id reach the tool only through the environment (the
    localhost range every test sets; the tool sets none of it without ``--localhost-only``)."""
    tool = require(
        REPO_ROOT / "install" / "cherry_classifier" / "lib" / "cherry_classifier" / "cherry-replay",
        "the installed cherry-replay (colcon build: scripts/bootstrap.sh)",
    )
    env = dds_env.localhost_env(ros_domain)
    assert env[dds_env.DISCOVERY_RANGE_VAR] == dds_env.LOCALHOST
    _, command = launch_command(namespace="attached", log_level="info")
    command += node_overrides(labelled_bag, TOPICS)
    command += ["-p", "max_frame_age_ms:=0.0"]  # no deadline: a slow CI machine drops nothing
    out = tmp_path / "report"
    node = ["--attach", "--node", "/attached/classifier"]
    with ros_process(
        command, tmp_path / "classifier.log", ROS_DOMAIN_ID=str(ros_domain)
    ) as classifier:
        completed = subprocess.run(
            [str(tool), str(labelled_bag), *node, "--speed", "2", "--out", str(out)],
            env=env,
            cwd=tmp_path,  # not the checkout: nothing of it on the tool's path
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert classifier.poll() is None, process_output(tmp_path / "classifier.log")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "8/8 images decided" in completed.stdout
    assert "; 0 lost)" in completed.stdout
    assert not (out / "classifier.log").exists()  # attached: it started no node of its own
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
