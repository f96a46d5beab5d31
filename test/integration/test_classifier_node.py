"""The classifier node in a real process, started as the launch file starts it, over real DDS.

Covers issue 4's acceptance: decisions per image with the source header, live thresholds,
model hot-swap and refusals, and accounting under overload.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import psutil
import pytest

rclpy = pytest.importorskip("rclpy")
msgs = pytest.importorskip("cherry_classifier_msgs.msg")
srvs = pytest.importorskip("cherry_classifier_msgs.srv")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.parameter import Parameter, parameter_value_to_python  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from cherry_classifier.core.architectures import build_model  # noqa: E402
from cherry_classifier.core.bundle import save_bundle  # noqa: E402
from cherry_classifier.core.decision import Thresholds, decide  # noqa: E402
from cherry_classifier.core.manifest import ModelManifest  # noqa: E402
from cherry_classifier.imaging.conversion import array_to_image_fields  # noqa: E402
from cherry_classifier.imaging.layers import load_layered_frame  # noqa: E402
from cherry_classifier.launch_stub import launch_command  # noqa: E402
from cherry_classifier.processes import process_output, ros_process, wait_until  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]

LATCHED = QoSProfile(
    depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE
)
RELIABLE = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)


def synthetic_frame(centres: list[tuple[int, int]], seed: int = 0) -> np.ndarray:
    """A bright backlit belt with dark 56 px cherries at `centres` (bot1, bot2, top2 layers)."""
    import cv2

    rng = np.random.default_rng(seed)
    frame = np.full((500, 2464, 3), (250, 240, 60), np.uint8)
    for cx, cy in centres:
        cv2.ellipse(frame, (cx, cy), (28, 26), 0, 0, 360, (120, 90, 170), -1)
        cv2.circle(frame, (cx, cy), 8, (60, 40, 120), -1)
    noise = rng.integers(-6, 7, frame.shape)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def image_msg(array: np.ndarray, encoding: str, stamp_sec: int, frame_id: str) -> Image:
    message = Image(**array_to_image_fields(array, encoding))
    message.header.stamp.sec, message.header.frame_id = stamp_sec, frame_id
    return message


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
    (folder / "corrupt.pt").write_bytes(b"\x80\x02not a model at all" * 10)
    (folder.parent / "outside").mkdir(exist_ok=True)
    return folder


class Client:
    """The test's own node: publishes images and collects what the classifier publishes."""

    def __init__(self, namespace: str) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(f"client_{namespace}", context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        prefix = f"/{namespace}" if namespace else ""
        self.decisions: list = []
        self.model_infos: list = []
        self.diagnostics: list = []
        self.node.create_subscription(
            msgs.CherryDecisionArray,
            f"{prefix}/classifier/decisions",
            self.decisions.append,
            RELIABLE,
        )
        self.node.create_subscription(
            msgs.ModelInfo, f"{prefix}/classifier/model_info", self.model_infos.append, LATCHED
        )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.images = self.node.create_publisher(Image, f"{prefix}/camera/image", RELIABLE)
        self.swap = self.node.create_client(srvs.SwapModel, f"{prefix}/swap_model")
        self.parameters = AsyncParameterClient(self.node, f"{prefix}/classifier")

    def spin(self) -> None:
        self.executor.spin_once(timeout_sec=0.02)

    def wait(self, condition, what: str, timeout: float = 60.0) -> None:
        wait_until(condition, timeout, self.spin, what)

    def settle(self, publishers=()) -> None:
        """Wait until the node subscribes to our publishers, plus a second for both ends of
        discovery to match (a writer can see the reader before the reader sees the writer)."""
        publishers = list(publishers) or [self.images]
        self.wait(lambda: all(p.get_subscription_count() for p in publishers), "subscriptions")
        deadline = time.monotonic() + 1.0
        self.wait(lambda: time.monotonic() > deadline, "discovery to settle")

    def call(self, future, what: str):
        self.wait(future.done, what)
        return future.result()

    def swap_to(self, path: str, validate_only: bool = False):
        request = srvs.SwapModel.Request(model_path=path, validate_only=validate_only)
        return self.call(self.swap.call_async(request), f"swap to {path}")

    def set(self, **values):
        parameters = [Parameter(name, value=value) for name, value in values.items()]
        return self.call(self.parameters.set_parameters(parameters), f"set {values}").results

    def get(self, *names):
        values = self.call(self.parameters.get_parameters(list(names)), f"get {names}").values
        return [parameter_value_to_python(value) for value in values]

    def inference_status(self, node: str) -> dict[str, str]:
        """Latest diagnostics key/values of `node`'s inference status ({} before the first)."""
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name == f"{node}: inference":
                    return {kv.key: kv.value for kv in status.values} | {"_level": status.level}
        return {}

    def send_and_collect(self, images: list[Image]) -> list:
        start = len(self.decisions)
        for image in images:
            self.images.publish(image)
            self.spin()
        self.wait(lambda: len(self.decisions) >= start + len(images), f"{len(images)} decisions")
        return self.decisions[start:]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def start_classifier(tmp_path, models_dir: Path, namespace: str, **parameters):
    _, command = launch_command(namespace=namespace, model_path="a", log_level="info")
    overrides = {
        "models_dir": str(models_dir),
        "image_topics": "[camera/image]",
        "qos_reliability": "reliable",
        "qos_depth": "1000",
        "num_threads": "1",
        **{k: str(v) for k, v in parameters.items()},
    }
    command += [arg for k, v in overrides.items() for arg in ("-p", f"{k}:={v}")]
    return ros_process(command, tmp_path / f"classifier_{namespace}.log")


@pytest.fixture(scope="module")
def frames_node(tmp_path_factory, models_dir):
    """The classifier with the production params (frames mode), started as the launch file does."""
    log_dir = tmp_path_factory.mktemp("frames_node")
    with start_classifier(log_dir, models_dir, "line1") as process:
        client = Client("line1")
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
    decision = arrays[0].decisions[0]
    assert decision.region.width == decision.region.height == 128
    assert sum(decision.probabilities) == pytest.approx(1.0, abs=1e-4)


def test_a_real_production_frame(frames_node, production_frames_dir):
    frame = load_layered_frame(production_frames_dir / "20240426T121926876364")
    (array,) = frames_node.send_and_collect([image_msg(frame.image, "bgr8", 7, "line")])
    assert 15 <= len(array.decisions) <= 35, len(array.decisions)


def test_thresholds_change_live_and_invalid_sets_change_nothing(frames_node):
    centres = [(200 + 140 * i, 250) for i in range(12)]
    before = frames_node.send_and_collect([image_msg(synthetic_frame(centres), "bgr8", 1, "c")])[0]

    (result,) = frames_node.set(pit_threshold=0.7)
    assert result.successful, result.reason
    after = frames_node.send_and_collect([image_msg(synthetic_frame(centres), "bgr8", 2, "c")])[0]
    assert after.pit_threshold == pytest.approx(0.7)
    assert after.thresholds_version == before.thresholds_version + 1
    probabilities = np.array([d.probabilities for d in after.decisions])
    expected = decide(probabilities, after.decisions[0].class_names, Thresholds(0.7, 0.2, 0.5))
    assert [d.label for d in after.decisions] == expected.labels.tolist()

    (rejected,) = frames_node.set(maybe_threshold=0.9)  # above pit_threshold
    assert not rejected.successful and "maybe_threshold" in rejected.reason
    assert frames_node.get("pit_threshold", "maybe_threshold") == [0.7, 0.2]
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


def test_crops_mode_and_overload_accounting(tmp_path, models_dir):
    """Crops of any size and encoding; a flood is dropped whole-frame and counted exactly."""
    with start_classifier(
        tmp_path, models_dir, "line2", input_mode="crops", max_queue_frames=4, max_batch_size=8
    ) as process:
        client = Client("line2")
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
            for _ in range(sent):
                client.images.publish(flood)
            time.sleep(0.5)

            def settled() -> bool:
                values = client.inference_status("/line2/classifier")
                decided = len(client.decisions) - start
                return bool(values) and decided + int(values["frames_dropped"]) == sent

            client.wait(settled, "decisions + drops to account for every frame", timeout=120)
            values = client.inference_status("/line2/classifier")
            assert int(values["frames_dropped"]) > 0, (
                "the flood should have overrun a 4-frame queue"
            )
            growth_mb = (node_process.memory_info().rss - rss_before) / 2**20
            print(f"node RSS growth over a {sent}-frame flood: {growth_mb:.1f} MiB")
            assert growth_mb < 150, f"memory grew by {growth_mb:.0f} MiB"
            assert values["_level"] in (b"\x00", b"\x01")  # OK or WARN, never ERROR
        finally:
            client.close()
            assert process.poll() is None, process_output(tmp_path / "classifier_line2.log")


def test_debug_image_is_published_while_someone_watches(frames_node):
    images: list = []
    frames_node.node.create_subscription(Image, "/line1/classifier/debug_image", images.append, 10)
    frames_node.wait(lambda: frames_node.images.get_subscription_count() > 0, "subscription")
    frame = image_msg(synthetic_frame([(400, 250), (800, 250)]), "bgr8", 11, "dbg")
    time.sleep(1.0)  # let the node see the new debug subscriber
    frames_node.send_and_collect([frame])
    frames_node.wait(lambda: bool(images), "a debug image")
    assert (images[0].height, images[0].width, images[0].encoding) == (500, 2464, "bgr8")
    assert images[0].header.frame_id == "dbg"


def test_layers_mode_joins_compressed_mono_layers_by_stamp(tmp_path, models_dir):
    from sensor_msgs.msg import CompressedImage

    from cherry_classifier.imaging.conversion import array_to_compressed

    topics = ["layers/bot1", "layers/bot2", "layers/top2"]
    with start_classifier(
        tmp_path,
        models_dir,
        "line3",
        input_mode="layers",
        image_transport="compressed",
        image_topics="[" + ",".join(topics) + "]",
        layer_timeout_ms=300.0,
    ) as process:
        client = Client("line3")
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

            for stamp in (100, 200, 300):  # a set whose first layer DDS lost is retried
                send(range(3), stamp)
                deadline = time.monotonic() + 10
                client.wait(lambda d=deadline: client.decisions or time.monotonic() > d, "result")
                if client.decisions:
                    break
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
