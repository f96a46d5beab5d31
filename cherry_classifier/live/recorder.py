"""The line recorder: a classifier node's inputs and outputs into a rosbag2, for later evaluation.

``cherry-record --ros-args -p output:=shift_0712 [-p capture_dir:=to_label]`` starts the
``cherry_recorder`` node. It finds the classifier (``classifier_node``, default ``/classifier``)
in the ROS graph, records the image topics it subscribes to, its ``decisions``,
``shadow_decisions`` (a shadow model's, never captured from) and ``model_info``,
``/cherry_labels`` and ``/diagnostics`` (plus ``extra_topics``), as the exact bytes received,
stamped with the receive time. Ctrl-C (or SIGTERM) closes the bag cleanly;
``cherry-eval`` and ``cherry-replay`` read it back.

Image topics follow their publishers, as they come and go: a topic is subscribed only once a
publisher is seen, reliable while every publisher is (a best-effort reader loses whole frames
over Fast DDS, see ``docs/benchmarks.md``), best effort as soon as one is not, and re-subscribed
whenever that choice changes. ``/diagnostics`` (status ``<recorder>: recording``) says, per
topic, how many messages are in the bag and, for the classifier's input topics, how many the
classifier received (from its own ``/diagnostics``), the reliability it records with and its
matched publishers; WARN when the bag has fewer than the classifier received two periods in a
row (frames the classifier decided but the bag lacks).

With ``capture_dir`` set it also saves, for labelling, every crop the classifier decided MAYBE
and a ``capture_sample_share`` of the others (see :mod:`cherry_classifier.evaluation.capture`):
it cuts them from the recorded image with the classifier's own crop extraction and parameters
(read from the classifier at start-up), so each file is the crop the model saw.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from cherry_classifier_msgs.msg import CherryDecisionArray
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rcl_interfaces.srv import GetParameters
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message

from cherry_classifier.bags.io import IMAGE_TYPES, BagWriter, topic_qos
from cherry_classifier.bags.labels import LABELS_TOPIC
from cherry_classifier.bags.line_types import IMAGE_SET_HDR
from cherry_classifier.bags.shadow_agreement import SHADOW_SUFFIX  # recorded, never captured from
from cherry_classifier.evaluation.capture import CapturePolicy, CropCapture
from cherry_classifier.imaging.image_set import join_layers, layers_of_image_set
from cherry_classifier.imaging.localizer import LocalizerParams
from cherry_classifier.imaging.pipeline import FramePipeline, decode_image
from cherry_classifier.live.replay import rclpy_message_class, stamp_key

PIPELINE_PARAMETERS = (
    "input_mode",
    "crop_size",
    "layer_names",
    "layer_offsets_px",
    "encoder_px_per_count",
)
INPUT_TYPES = (*IMAGE_TYPES, IMAGE_SET_HDR)  # the line camera's image sets: image_set mode
LOG_THROTTLE_S = 5.0
IMAGE_QUEUE_DEPTH = 50  # frames of about 0.5-4 MB: bursts while a crop is being captured


class RecorderNode(Node):
    """See the module docstring."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("cherry_recorder", **node_kwargs)
        self._declare("output", "", "bag folder to create (must not exist); empty: a dated name")
        self._declare("storage", "mcap", "rosbag2 storage: mcap or sqlite3")
        self._declare("classifier_node", "/classifier", "fully qualified classifier node name")
        self._declare("extra_topics", [""], "more topics to record (any type)")
        self._declare("capture_dir", "", "save MAYBE crops and a sample of the rest here")
        self._declare("capture_sample_share", 0.02, "share of non-MAYBE crops captured")
        self._declare("capture_max_crops", 10000, "stop capturing after this many crops")
        self._declare("image_buffer", 32, "recent images kept per topic to cut captured crops from")
        output = self._param("output") or time.strftime("cherry_%Y%m%d_%H%M%S")
        self.output = Path(output)
        self._writer = BagWriter(self.output, storage=self._param("storage"))
        self._writer.__enter__()
        self._recorded_topics: dict[str, Any] = {}  # topic -> subscription (None: refused)
        self._image_reliability: dict[str, ReliabilityPolicy] = {}  # as subscribed now
        self._counts: dict[str, int] = {}
        self._classifier_received: dict[str, int] = {}  # per input topic, its diagnostics' count
        self._behind_before: set[str] = set()  # topics whose bag lagged the previous period
        self._capture = self._make_capture()
        self._pipeline: FramePipeline | None = None
        self._layer_topics: list[str] = []
        self._pipeline_layer_names: list[str] = []  # image_set mode: the classifier's layers
        self._px_per_count = 0.0  # image_set mode: the classifier's encoder_px_per_count
        self._images: OrderedDict[tuple[str, int], Any] = OrderedDict()  # awaiting decisions
        self._waiting_arrays: OrderedDict[tuple[str, int], Any] = OrderedDict()  # awaiting images
        self._parameters_client = self.create_client(
            GetParameters, f"{self._param('classifier_node')}/get_parameters"
        )
        self._parameters_future = None
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(0.5, self._discover)
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(f"recording to {self.output} ({self._param('storage')})")

    # -- set-up ------------------------------------------------------------------------------
    def _declare(self, name: str, default: Any, description: str) -> None:
        self.declare_parameter(
            name, default, ParameterDescriptor(description=description, read_only=True)
        )

    def _param(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _make_capture(self) -> CropCapture | None:
        folder = self._param("capture_dir")
        if not folder:
            return None
        policy = CapturePolicy(
            sample_share=self._param("capture_sample_share"),
            max_crops=self._param("capture_max_crops"),
        )
        return CropCapture(folder, policy)

    def _classifier_topics(self) -> tuple[list[tuple[str, str]], str]:
        """(image topics it subscribes to with types, its namespace-qualified name)."""
        full = self._param("classifier_node")
        namespace, _, name = full.rpartition("/")
        try:
            subscribed = self.get_subscriber_names_and_types_by_node(name, namespace or "/")
        except Exception:  # the node is not (yet) in the graph
            return [], full
        images = [(topic, types[0]) for topic, types in subscribed if types[0] in INPUT_TYPES]
        return images, full

    def _discover(self) -> None:
        """Subscribe to every wanted topic as it appears (the classifier may start later)."""
        try:
            self._discover_topics()
        except Exception as error:  # keep recording what is already subscribed
            self.get_logger().error(
                f"topic discovery failed: {type(error).__name__}: {error}",
                throttle_duration_sec=LOG_THROTTLE_S,
            )

    def _discover_topics(self) -> None:
        images, classifier = self._classifier_topics()
        wanted = {topic: msgtype for topic, msgtype in images}
        own = ("decisions", "shadow_decisions", "model_info")
        for topic in (*(f"{classifier}/{name}" for name in own), LABELS_TOPIC):
            wanted.setdefault(topic, "")
        wanted.setdefault("/diagnostics", "")
        for topic in self._param("extra_topics"):
            if topic:
                wanted.setdefault(self.resolve_topic_name(topic), "")
        known = dict(self.get_topic_names_and_types())
        image_topics = dict(images)
        for topic, msgtype in wanted.items():
            msgtype = msgtype or (known.get(topic) or [""])[0]
            if not msgtype:
                continue
            if topic in image_topics:
                self._follow_image_publishers(topic, msgtype)
            elif topic not in self._recorded_topics:
                self._subscribe(topic, msgtype, self._other_qos(topic))
        if images and self._capture is not None and self._pipeline is None:
            self._request_pipeline([topic for topic, _ in images])

    def _follow_image_publishers(self, topic: str, msgtype: str) -> None:
        """(Re-)subscribe an image topic with the reliability its publishers call for."""
        wanted = self._image_reliability_for(topic)
        current = self._image_reliability.get(topic)
        if wanted is None or wanted == current or self._recorded_topics.get(topic, 0) is None:
            return  # no publisher yet, already right, or a type that cannot be recorded
        subscription = self._recorded_topics.pop(topic, None)
        if subscription is not None:
            self.destroy_subscription(subscription)
            self.get_logger().info(
                f"{topic}: publishers changed, re-subscribing {wanted.name.lower()}"
            )
        qos = QoSProfile(depth=IMAGE_QUEUE_DEPTH, reliability=wanted)
        if self._subscribe(topic, msgtype, qos, is_image=True, first=current is None):
            self._image_reliability[topic] = wanted

    def _image_reliability_for(self, topic: str) -> ReliabilityPolicy | None:
        """Reliable when every publisher is (as rosbag2 does): no frame lost to the recorder;
        best effort as soon as one camera publishes best effort; None while none publishes."""
        publishers = self.get_publishers_info_by_topic(topic)
        if not publishers:
            return None
        if all(p.qos_profile.reliability == ReliabilityPolicy.RELIABLE for p in publishers):
            return ReliabilityPolicy.RELIABLE
        return qos_profile_sensor_data.reliability

    @staticmethod
    def _other_qos(topic: str) -> QoSProfile:
        if topic.endswith("/model_info"):
            return QoSProfile(
                depth=1,
                durability=DurabilityPolicy.TRANSIENT_LOCAL,
                reliability=ReliabilityPolicy.RELIABLE,
            )
        return QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)

    def _subscribe(
        self, topic: str, msgtype: str, qos: QoSProfile, is_image: bool = False, first: bool = True
    ) -> bool:
        reliability = qos.reliability.name.lower()
        durability = qos.durability.name.lower()
        try:
            message_class = rclpy_message_class(msgtype)
            if first:
                self._writer.add_topic(
                    topic, msgtype, topic_qos(reliability, qos.depth, durability)
                )
        except (ImportError, AttributeError, ValueError) as error:  # BagError: unknown type
            self.get_logger().warning(f"cannot record {topic} ({msgtype}): {error}")
            self._recorded_topics[topic] = None
            return False

        def callback(raw: bytes) -> None:
            self._record(topic, msgtype, message_class, raw, is_image)

        self._recorded_topics[topic] = self.create_subscription(
            message_class, topic, callback, qos, raw=True
        )
        self.get_logger().info(f"recording {topic} ({msgtype}, {reliability})")
        return True

    def _note_classifier_counts(self, array: DiagnosticArray) -> None:
        """Keep the classifier's own count of messages received per input topic."""
        prefix = f"{self._param('classifier_node')}: input "
        for status in array.status:
            if status.name.startswith(prefix):
                values = {kv.key: kv.value for kv in status.values}
                if "frames_received" in values:
                    topic = status.name.removeprefix(prefix)
                    self._classifier_received[topic] = int(values["frames_received"])

    def _behind(self) -> list[str]:
        """Input topics whose bag has fewer messages than the classifier received, two
        diagnostics periods in a row (one period: still on their way)."""
        behind = {
            topic
            for topic, received in self._classifier_received.items()
            if self._counts.get(topic, 0) < received
        }
        lagging, self._behind_before = sorted(behind & self._behind_before), behind
        return lagging

    def _publish_diagnostics(self) -> None:
        """Per recorded topic: messages in the bag; per input topic also the classifier's count
        of received messages, the reliability recorded with and the matched publishers."""
        try:
            values = [KeyValue(key="bag", value=str(self.output))]
            for topic in sorted(self._recorded_topics):
                values.append(
                    KeyValue(key=f"{topic} written", value=str(self._counts.get(topic, 0)))
                )
                if topic in self._classifier_received:
                    received = str(self._classifier_received[topic])
                    values.append(KeyValue(key=f"{topic} classifier received", value=received))
                reliability = self._image_reliability.get(topic)
                if reliability is not None:  # an image topic: what it will receive from
                    matched = self._recorded_topics[topic].get_publisher_count()
                    values.append(
                        KeyValue(key=f"{topic} reliability", value=reliability.name.lower())
                    )
                    values.append(KeyValue(key=f"{topic} matched publishers", value=str(matched)))
            behind = self._behind()
            message = f"{sum(self._counts.values())} messages on {len(self._counts)} topics"
            if behind:
                message += "; fewer in the bag than the classifier received: " + ", ".join(
                    f"{t} {self._counts.get(t, 0)} of {self._classifier_received[t]}"
                    for t in behind
                )
            status = DiagnosticStatus(
                level=DiagnosticStatus.WARN if behind else DiagnosticStatus.OK,
                name=f"{self.get_fully_qualified_name()}: recording",
                message=message,
                hardware_id=self.get_fully_qualified_name(),
                values=values,
            )
            array = DiagnosticArray(status=[status])
            array.header.stamp = self.get_clock().now().to_msg()
            self._diagnostics_pub.publish(array)
        except Exception as error:  # diagnostics never stop the recording
            self.get_logger().error(
                f"diagnostics failed: {error}", throttle_duration_sec=LOG_THROTTLE_S
            )

    def _request_pipeline(self, image_topics: list[str]) -> None:
        """Ask the classifier for its crop-extraction parameters (once, asynchronously)."""
        if self._parameters_future is not None or not self._parameters_client.service_is_ready():
            return
        localizer = [f"localizer.{name}" for name in LocalizerParams.__dataclass_fields__]
        names = [*PIPELINE_PARAMETERS, *localizer]
        self._parameters_future = self._parameters_client.call_async(
            GetParameters.Request(names=names)
        )

        def done(future: Any) -> None:
            values = dict(
                zip(names, map(parameter_value_to_python, future.result().values), strict=True)
            )
            localizer_params = {
                name.removeprefix("localizer."): values[name]
                for name in localizer
                if values.get(name) is not None
            }
            self._pipeline_layer_names = values["layer_names"]
            self._pipeline = FramePipeline(
                values["input_mode"],
                values["crop_size"],
                localizer_params,
                layer_names=values["layer_names"],
                layer_offsets_px=values["layer_offsets_px"],
            )
            self._layer_topics = image_topics
            self._px_per_count = values["encoder_px_per_count"]
            self.get_logger().info(f"capturing crops ({values['input_mode']} mode)")

        self._parameters_future.add_done_callback(done)

    # -- recording ---------------------------------------------------------------------------
    def _record(
        self, topic: str, msgtype: str, message_class: type, raw: bytes, is_image: bool
    ) -> None:
        try:
            self._writer.write_raw(topic, msgtype, self.get_clock().now().nanoseconds, raw)
            self._counts[topic] = self._counts.get(topic, 0) + 1
            if message_class is DiagnosticArray:
                self._note_classifier_counts(deserialize_message(raw, DiagnosticArray))
            if self._capture is None or self._pipeline is None:
                return
            if is_image:
                self._keep_image(topic, deserialize_message(raw, message_class))
            elif message_class is CherryDecisionArray and not topic.endswith(SHADOW_SUFFIX):
                self._capture_crops(deserialize_message(raw, message_class))  # live decisions
        except Exception as error:  # a bad message never stops the recording
            self.get_logger().error(
                f"on {topic}: {type(error).__name__}: {error}",
                throttle_duration_sec=LOG_THROTTLE_S,
            )

    def _keep_image(self, topic: str, message: Any) -> None:
        """Keep the decoded image (layers mode: the joined frame; image_set mode: the set aligned
        as the classifier aligns it) until its decisions come."""
        if self._pipeline.input_mode == "image_set":
            names = self._pipeline_layer_names
            joined = join_layers(*layers_of_image_set(message), names, self._px_per_count)
            self._keep(stamp_key(topic, joined.header), joined.image)
            return
        image = decode_image(message, compressed=hasattr(message, "format"))
        if self._pipeline.input_mode == "layers":
            names = self._pipeline.layer_sync.layer_names
            layer = names[self._layer_topics.index(topic)]
            joined = self._pipeline.add_layer(layer, message.header, image)
            if joined is None:
                return
            topic, message, image = ",".join(self._layer_topics), joined, joined.image
        self._keep(stamp_key(topic, message.header), image)

    def _keep(self, key: tuple[str, int], image: Any) -> None:
        array = self._waiting_arrays.pop(key, None)
        if array is not None:  # its decisions came first (a small message overtakes a frame)
            self._capture_from(image, array)
            return
        self._images[key] = image
        self._trim(self._images)

    def _trim(self, buffer: OrderedDict) -> None:
        while len(buffer) > self._param("image_buffer") * max(1, len(self._layer_topics)):
            buffer.popitem(last=False)

    def _capture_crops(self, array: CherryDecisionArray) -> None:
        if not array.decisions:
            return
        key = stamp_key(array.source_topic, array.header)
        image = self._images.pop(key, None)
        if image is None:  # the image is still on its way: capture when it is recorded
            self._waiting_arrays[key] = array
            self._trim(self._waiting_arrays)
            return
        self._capture_from(image, array)

    def _capture_from(self, image: Any, array: CherryDecisionArray) -> None:
        key = stamp_key(array.source_topic, array.header)
        crops, _ = self._pipeline.crops(image)
        class_names = list(array.decisions[0].class_names)
        for decision in array.decisions:
            reason = self._capture.reason_to_keep(decision.label)
            if reason is None or decision.index >= len(crops):
                continue
            self._capture.save(
                crops[decision.index],
                decision.label,
                reason,
                array.source_topic,
                key[1],
                decision.index,
                decision.probabilities,
                class_names,
                model_id=array.model_id,
                thresholds_version=array.thresholds_version,
                fail_safe=decision.fail_safe,
                frame_id=array.header.frame_id,
            )

    def close(self) -> None:
        """Close the bag (writes metadata.yaml) and say what was recorded."""
        self._writer.__exit__(None, None, None)
        counts = ", ".join(f"{topic}: {n}" for topic, n in sorted(self._counts.items()))
        captured = f"; {self._capture.kept} crops in {self._capture.root}" if self._capture else ""
        self.get_logger().info(f"closed {self.output} ({counts or 'nothing recorded'}){captured}")


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=argv if argv is not None else sys.argv)
    node = RecorderNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:  # rclpy's RCLError: SIGINT shut the context down while spin built its
        if rclpy.ok():  # wait set (seen under CPU load): a stop as well; anything else is not
            raise
    finally:
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
