"""The classifier node in a real process, started as the launch file starts it, over real DDS.

Covers issue 4's acceptance: decisions per image with the source header, live thresholds,
model hot-swap and refusals, and accounting under overload.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil
import pytest

from test.conftest import require

rclpy = require("rclpy", "ROS 2 tests (rclpy: the venv's ROS wheels, scripts/bootstrap.sh)")
msgs = require("cherry_classifier_msgs.msg", "the package's own interfaces (colcon build)")
srvs = require("cherry_classifier_msgs.srv", "the package's own interfaces (colcon build)")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from cherry_classifier.core.architectures import build_model  # noqa: E402
from cherry_classifier.core.bundle import save_bundle  # noqa: E402
from cherry_classifier.core.decision import Thresholds, decide  # noqa: E402
from cherry_classifier.core.manifest import ModelManifest  # noqa: E402
from cherry_classifier.core.stage_times import STAGES  # noqa: E402
from cherry_classifier.imaging.layers import load_layered_frame  # noqa: E402
from cherry_dev.golden_sets import write_golden_set  # noqa: E402
from cherry_dev.launch_stub import launch_command  # noqa: E402
from cherry_dev.processes import process_output  # noqa: E402
from test.ros_client import (  # noqa: E402
    RELIABLE,
    Client,
    image_msg,
    start_classifier,
    synthetic_frame,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
FLOOD_GROWTH_MIB = 16.2  # node RSS growth over the 300-frame flood, measured 2026-12-02 (2 cores)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """Two small bundles (different weights, so different ids) and some bad files."""
    import torch

    folder = tmp_path_factory.mktemp("models")
    for name, seed in (("a", 1), ("b", 2)):
        torch.manual_seed(seed)
        model = build_model("mobilenet_v3_small", 3)
        manifest = ModelManifest(
            architecture="mobilenet_v3_small", class_names=("clean", "maybe", "pit")
        )
        save_bundle(folder / name, model, manifest)
        write_golden_set(folder / name)
    (folder / "corrupt.pt").write_bytes(b"\x80\x02not a model at all" * 10)
    (folder.parent / "outside").mkdir(exist_ok=True)
    return folder


@pytest.fixture
def frames_node(tmp_path, models_dir, ros_domain):
    """The classifier with the shipped params (frames mode), started as the launch file does, in
    this test's own ROS domain; only its model (models_dir, model "a") is the test's."""
    log_dir = tmp_path
    with start_classifier(log_dir, models_dir, "line1", domain=ros_domain) as process:
        client = Client("line1", ros_domain)
        try:
            client.wait(lambda: client.swap.service_is_ready() and client.model_infos, "the node")
            client.settle()
            yield client
        finally:
            client.close()
            assert process.poll() is None, process_output(log_dir / "classifier_line1.log")


def test_launch_file_starts_the_classifier_node_with_the_production_params():
    node, command = launch_command()
    assert (node.package, node.executable, node.name) == (
        "cherry_classifier",
        "classifier_node",
        "classifier",
    )
    assert command[command.index("--params-file") + 1].endswith("config/threading_ws.yaml")
    assert Path(command[1]).exists(), "classifier_node is not installed: run scripts/bootstrap.sh"


def test_model_info_names_the_running_model(frames_node, models_dir):
    info = frames_node.model_infos[-1]
    assert info.model_id and not info.fail_safe
    assert list(info.class_names) == ["clean", "maybe", "pit"]
    assert info.path == str((models_dir / "a").resolve())
    assert info.input_scale == pytest.approx(1 / 255)


def test_the_bundled_demo_model_runs_in_the_plain_profile_and_says_so(tmp_path, ros_domain):
    """Shipped threading_ws.yaml (allow_demo_model: true) with the bundled model: model_info,
    /diagnostics (WARN while it runs, no input needed) and the log all say it is a demo model."""
    from cherry_classifier.core.model_paths import default_models_dir

    bundled = default_models_dir()
    log = tmp_path / "classifier_demo.log"
    with start_classifier(tmp_path, bundled, "demo", "default", domain=ros_domain) as process:
        client = Client("demo", ros_domain)
        try:
            client.wait(lambda: client.swap.service_is_ready() and client.model_infos, "the node")
            info = client.model_infos[-1]
            status = client.fresh_status(f"{client.node_name}: inference")
            client.wait(lambda: "trained on synthetic crops only" in process_output(log), "log")
        finally:
            client.close()
        assert process.poll() is None, process_output(log)
    assert info.model_id == "6b6790f7e0bad52c" and not info.fail_safe
    assert info.demo_model and info.training_data == "synthetic, 2222 crops"
    assert status["_level"] == DiagnosticStatus.WARN, status
    assert "demo model" in status["_message"] and "not for sorting" in status["_message"]
    assert status["demo_model"] == "True" and status["training_data"] == "synthetic, 2222 crops"
    warning = next(line for line in process_output(log).splitlines() if "demo model" in line)
    assert "WARN" in warning and "trained on synthetic crops only" in warning


def test_a_model_that_is_not_a_demo_model_is_reported_as_such(frames_node):
    info = frames_node.model_infos[-1]
    assert not info.demo_model and info.training_data == "unknown"
    status = frames_node.fresh_status(f"{frames_node.node_name}: inference")
    assert status["demo_model"] == "False" and "demo model" not in status["_message"]


def test_frames_get_one_decision_array_each_with_header_and_cherry_count(frames_node):
    layouts = [[(300, 250), (700, 120), (1500, 380)], [], [(200 + 140 * i, 250) for i in range(15)]]
    images = [
        image_msg(synthetic_frame(centres, seed), "bgr8", 1000 + seed, f"cam{seed}")
        for seed, centres in enumerate(layouts)
    ]
    arrays = frames_node.send_and_collect(images)
    assert [a.header.frame_id for a in arrays] == ["cam0", "cam1", "cam2"]
    assert [a.header.stamp.sec for a in arrays] == [1000, 1001, 1002]
    assert [len(a.decisions) for a in arrays] == [3, 0, 15]
    assert all(a.source_topic == "/line1/camera/image" for a in arrays)
    decision, region = arrays[0].decisions[0], arrays[0].decisions[0].region
    # the region is the cherry's box (56 x 52 px drawn at 300, 250), not the 128 px crop
    assert 40 < region.width < 70 and 40 < region.height < 70
    assert region.x_offset < 300 < region.x_offset + region.width
    assert region.y_offset < 250 < region.y_offset + region.height
    assert sum(decision.probabilities) == pytest.approx(1.0, abs=1e-4)
    # where the three frames' time went, stage by stage, in /diagnostics (figures: benchmarks)
    status = frames_node.fresh_status("/line1/classifier: inference")
    for stage in STAGES:
        assert status[f"stage_{stage}_ms_n"] == "3", stage
        assert float(status[f"stage_{stage}_ms_p99"]) >= float(status[f"stage_{stage}_ms_p50"])


def test_a_real_production_frame(frames_node, production_frames_dir):
    frame = load_layered_frame(production_frames_dir / "20240426T121926876364")
    (array,) = frames_node.send_and_collect([image_msg(frame.image, "bgr8", 7, "line")])
    # the localizer's own test pins this frame to 23-27 cherries (test_localizer.py)
    assert 23 <= len(array.decisions) <= 27, len(array.decisions)


def test_thresholds_change_live_and_invalid_sets_change_nothing(frames_node):
    centres = [(200 + 140 * i, 250) for i in range(12)]
    before = frames_node.send_and_collect([image_msg(synthetic_frame(centres), "bgr8", 1, "c")])[0]
    # A new pit threshold with crops between it and the shipped 0.5, so that an ignored change
    # would show: the crops' own P(pit), from the first frame, pick it.
    pit = np.array([d.probabilities[2] for d in before.decisions])
    median = float(np.median(pit))  # move the threshold just past it, towards it from 0.5
    new = float(np.clip(median - 1e-3 if median < 0.5 else median + 1e-3, 0.21, 0.99))
    between = [p for p in pit if min(new, 0.5) <= p < max(new, 0.5)]
    assert between, f"no crop between the thresholds: P(pit) {pit}, new {new}"
    shipped = Thresholds(0.5, 0.2, 0.5)
    changed = Thresholds(new, 0.2, 0.5)
    names = before.decisions[0].class_names
    probabilities = np.array([d.probabilities for d in before.decisions])
    assert not np.array_equal(
        decide(probabilities, names, shipped).labels, decide(probabilities, names, changed).labels
    )

    (result,) = frames_node.set(pit_threshold=new)
    assert result.successful, result.reason
    after = frames_node.send_and_collect([image_msg(synthetic_frame(centres), "bgr8", 2, "c")])[0]
    assert after.pit_threshold == pytest.approx(new)
    assert after.thresholds_version == before.thresholds_version + 1
    probabilities = np.array([d.probabilities for d in after.decisions])
    expected = decide(probabilities, after.decisions[0].class_names, changed)
    assert [d.label for d in after.decisions] == expected.labels.tolist()
    assert expected.labels.tolist() != decide(probabilities, names, shipped).labels.tolist()

    (rejected,) = frames_node.set(maybe_threshold=0.99)  # above pit_threshold
    assert not rejected.successful and "maybe_threshold" in rejected.reason
    assert frames_node.get("pit_threshold", "maybe_threshold") == pytest.approx([new, 0.2])
    last = frames_node.send_and_collect([image_msg(synthetic_frame(centres), "bgr8", 3, "c")])[0]
    assert last.thresholds_version == after.thresholds_version
    (restored,) = frames_node.set(pit_threshold=0.5)
    assert restored.successful


def test_swap_model_and_refusals_keep_the_old_model_answering(frames_node, models_dir):
    frame = image_msg(synthetic_frame([(500, 250), (900, 250)]), "bgr8", 5, "c")
    old_id = frames_node.send_and_collect([frame])[0].model_id

    for bad in ("corrupt.pt", "../outside", "missing_model", "/etc/passwd"):
        response = frames_node.swap_to(bad)
        assert not response.success and response.message.startswith("refused"), bad
        assert response.previous_model_id == old_id
        assert frames_node.send_and_collect([frame])[0].model_id == old_id

    checked = frames_node.swap_to("b", validate_only=True)
    assert checked.success and checked.new_model_id not in ("", old_id)
    assert frames_node.send_and_collect([frame])[0].model_id == old_id

    swapped = frames_node.swap_to("b")
    assert swapped.success and swapped.previous_model_id == old_id
    frames_node.wait(
        lambda: frames_node.model_infos[-1].model_id == swapped.new_model_id, "model_info"
    )
    assert all(
        a.model_id == swapped.new_model_id for a in frames_node.send_and_collect([frame] * 3)
    )
    assert frames_node.swap_to("a").success


def test_crops_mode_and_overload_accounting(tmp_path, models_dir, ros_domain):
    """Crops of any size and encoding; a flood is dropped whole-frame and counted exactly."""
    with start_classifier(
        tmp_path,
        models_dir,
        "line2",
        domain=ros_domain,
        input_mode="crops",
        max_queue_frames=4,
        max_batch_size=8,
        # The flood is a burst of 300 frames: for all of them to reach the node's queue (what
        # this test is about), the reader's history must hold the burst; the shipped 10 holds
        # 5.5 s of the line's rate but only 10 frames of a burst (measured: 10 of 300 arrive).
        qos_depth=1000,
    ) as process:
        client = Client("line2", ros_domain)
        try:
            client.wait(lambda: bool(client.model_infos), "the crops node")
            client.settle()
            rng = np.random.default_rng(0)
            crops = [
                image_msg(rng.integers(0, 255, (size, size, 3), np.uint8), encoding, i, "crop")
                for i, (size, encoding) in enumerate([(128, "bgr8"), (60, "rgb8"), (200, "bgr8")])
            ]
            crops.append(image_msg(rng.integers(0, 255, (90, 90), np.uint8), "mono8", 3, "crop"))
            arrays = client.send_and_collect(crops)
            assert [len(a.decisions) for a in arrays] == [1, 1, 1, 1]
            assert [a.header.stamp.sec for a in arrays] == [0, 1, 2, 3]

            node_process = psutil.Process(process.pid)
            rss_before = node_process.memory_info().rss
            sent = 300
            start = len(client.decisions)
            flood = image_msg(rng.integers(0, 255, (128, 128, 3), np.uint8), "bgr8", 9, "f")
            topic = client.fresh_status(
                "/line2/classifier: input /line2/camera/image",
                lambda v: v.get("frames_decided") == "4",
            )
            received_before = int(topic["frames_received"])
            for _ in range(sent):
                client.images.publish(flood)
            client.images.wait_for_all_acked()  # reliable: every frame reached the node's reader
            counts: dict = {}

            def settled() -> bool:
                values = client.status("/line2/classifier: input /line2/camera/image")
                if not values:
                    return False
                counts.update(
                    received=int(values["frames_received"]) - received_before,
                    decided=len(client.decisions) - start,
                    dropped=int(values["frames_dropped"]),
                )
                return counts["decided"] + counts["dropped"] == counts["received"] == sent

            try:
                client.wait(settled, f"decided + dropped = received = {sent}", timeout=120)
            except TimeoutError as error:
                raise AssertionError(f"not every frame accounted for: {counts}") from error
            values = client.inference_status("/line2/classifier")
            assert int(values["frames_dropped"]) == counts["dropped"] > 0, (
                "the flood should have overrun a 4-frame queue"
            )
            growth_mb = (node_process.memory_info().rss - rss_before) / 2**20
            print(f"node RSS growth over a {sent}-frame flood: {growth_mb:.1f} MiB")
            # Twice the measured growth (FLOOD_GROWTH_MIB); a 50 MiB leak fails here.
            assert growth_mb < 2 * FLOOD_GROWTH_MIB, f"memory grew by {growth_mb:.0f} MiB"
            assert values["_level"] in (b"\x00", b"\x01")  # OK or WARN, never ERROR
        finally:
            client.close()
            assert process.poll() is None, process_output(tmp_path / "classifier_line2.log")


def test_debug_image_is_published_while_someone_watches(frames_node):
    images: list = []
    frame = image_msg(synthetic_frame([(400, 250), (800, 250)]), "bgr8", 11, "dbg")
    frames_node.send_and_collect([frame])
    assert not images  # nobody watched: nothing drawn
    frames_node.node.create_subscription(Image, "/line1/classifier/debug_image", images.append, 10)
    frames_node.fresh_status(  # the node's own view of its debug subscribers
        "/line1/classifier: inference", lambda v: v.get("debug_image_subscribers") == "1"
    )
    frame = image_msg(synthetic_frame([(400, 250), (800, 250)]), "bgr8", 12, "dbg")
    frames_node.send_and_collect([frame])
    frames_node.wait(lambda: bool(images), "a debug image")
    assert (images[0].height, images[0].width, images[0].encoding) == (500, 2464, "bgr8")
    assert images[0].header.frame_id == "dbg" and images[0].header.stamp.sec == 12
    assert len(images) == 1


def test_layers_mode_joins_compressed_mono_layers_by_stamp(tmp_path, models_dir, ros_domain):
    from sensor_msgs.msg import CompressedImage

    from cherry_classifier.imaging.conversion import array_to_compressed

    topics = ["layers/bot1", "layers/bot2", "layers/top2"]
    with start_classifier(
        tmp_path,
        models_dir,
        "line3",
        domain=ros_domain,
        input_mode="layers",
        image_transport="compressed",
        image_topics="[" + ",".join(topics) + "]",
        layer_timeout_ms=300.0,
    ) as process:
        client = Client("line3", ros_domain)
        try:
            publishers = [
                client.node.create_publisher(CompressedImage, f"/line3/{t}", RELIABLE)
                for t in topics
            ]
            client.settle(publishers)
            frame = synthetic_frame([(300, 250), (900, 200), (1700, 300), (2100, 260)])

            def send(layers: range, stamp: int) -> None:
                for index in layers:
                    message = CompressedImage(format="jpeg")
                    message.data = array_to_compressed(frame[..., index], "jpg")
                    message.header.stamp.sec, message.header.stamp.nanosec = stamp, 1000 * index
                    message.header.frame_id = "belt"
                    publishers[index].publish(message)

            def unmatched() -> int:
                status = client.inference_status("/line3/classifier")
                return int(status.get("unmatched_layer_sets", -1))

            stamp = 100
            send(range(3), stamp)  # once: a set that needs a resend has found a defect
            client.wait(lambda: bool(client.decisions), "the joined set's decisions")
            (array,) = client.decisions
            assert len(array.decisions) == 4 and array.header.stamp.sec == stamp
            client.wait(lambda: unmatched() >= 0, "diagnostics")
            before = unmatched()
            send(range(2), 400)  # top2 never comes: the set times out and is counted
            client.wait(lambda: unmatched() == before + 1, "the incomplete set to be counted")
            assert len(client.decisions) == 1
        finally:
            client.close()
            assert process.poll() is None, process_output(tmp_path / "classifier_line3.log")
