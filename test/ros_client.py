"""A test-side ROS client for the classifier node: start it as the launch file does, publish
images, call its services and collect what it publishes (shared by the integration and
reliability tests; import only after ``require("rclpy", ...)``).

Each test hands the client and the node the same ROS domain id of its own (the ``ros_domain``
fixture), and waits on what the node itself reports: its latched ``model_info``, and per input
topic ``matched_publishers`` in ``/diagnostics`` (a reliable, volatile reader matched to our
writer: what it is sent from then on, it receives)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rclpy
import rclpy.executors
from cherry_classifier_msgs import msg as msgs
from cherry_classifier_msgs import srv as srvs
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from cherry_classifier.imaging.conversion import array_to_image_fields
from cherry_dev.launch_stub import launch_command
from cherry_dev.processes import ros_process, wait_until

LATCHED = QoSProfile(
    depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE
)
RELIABLE = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
MAX_IN_FLIGHT = 5  # images sent and not yet decided: half the shipped qos_depth


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


class Client:
    """The test's own node: publishes images and collects what the classifier publishes."""

    def __init__(self, namespace: str, domain: int | None = None) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(f"client_{namespace}", context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        prefix = f"/{namespace}" if namespace else ""
        self.node_name = f"{prefix}/classifier"
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
        """Wait until both ends have matched: our publishers see the node's subscriptions, and
        the node's diagnostics report a matched publisher on each of their topics (a volatile
        reader skips what a writer sent before the reader matched it)."""
        publishers = list(publishers) or [self.images]
        self.wait(lambda: all(p.get_subscription_count() for p in publishers), "subscriptions")
        for publisher in publishers:
            self.fresh_status(
                f"{self.node_name}: input {publisher.topic_name}",
                lambda values: int(values.get("matched_publishers", 0)) >= 1,
            )

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
        return self.status(f"{node}: inference")

    def status(self, name: str) -> dict[str, str]:
        """Latest key/values (and "_level", "_message") of the diagnostics status `name`."""
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name == name:
                    return {kv.key: kv.value for kv in status.values} | {
                        "_level": status.level,
                        "_message": status.message,
                    }
        return {}

    def fresh_status(self, name: str, condition=lambda values: True) -> dict[str, str]:
        """The first status `name` published from now on that meets `condition`."""
        self.diagnostics.clear()
        self.wait(lambda: bool(self.status(name)) and condition(self.status(name)), name)
        return self.status(name)

    def send_and_collect(self, images: list[Image]) -> list:
        """Publish `images` and return their decision arrays, never more than
        :data:`MAX_IN_FLIGHT` undecided at once: the node's reader keeps the shipped
        ``qos_depth`` (10) samples, and a burst past it while the node lags (a loaded machine)
        loses the oldest in DDS, with reliable QoS too."""
        start = len(self.decisions)
        for sent, image in enumerate(images):
            self.wait(
                lambda sent=sent: len(self.decisions) - start > sent - MAX_IN_FLIGHT,
                f"decisions on the first {sent - MAX_IN_FLIGHT + 1} of {len(images)} images",
            )
            self.images.publish(image)
            self.spin()
        self.wait(lambda: len(self.decisions) >= start + len(images), f"{len(images)} decisions")
        return self.decisions[start:]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def start_classifier(
    tmp_path: Path,
    models_dir: Path,
    namespace: str,
    model_path: str = "a",
    env: dict[str, str] | None = None,
    domain: int | None = None,
    managed: bool = False,
    **parameters,
):
    """The classifier as the launch file starts it (shipped ``config/threading_ws.yaml``), in
    `namespace` and ROS domain `domain`, running `model_path` from the test's `models_dir`;
    `parameters` are the only other values re-set (those the test is about); `managed`: the
    managed (lifecycle) node, as ``managed:=true`` starts it (unconfigured). Its log goes to
    `tmp_path/classifier_<namespace>.log`."""
    _, command = launch_command(
        namespace=namespace, model_path=model_path, log_level="info", managed=str(managed).lower()
    )
    overrides = {"models_dir": str(models_dir), **{k: str(v) for k, v in parameters.items()}}
    env = dict(env or {})
    if domain is not None:
        env["ROS_DOMAIN_ID"] = str(domain)
    command += [arg for k, v in overrides.items() for arg in ("-p", f"{k}:={v}")]
    return ros_process(command, tmp_path / f"classifier_{namespace}.log", **env)
