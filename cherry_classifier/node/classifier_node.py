"""The ``classifier`` node: camera topics in, clean/maybe/pit decisions out.

A thin rclpy layer over the ROS-free core: callbacks convert images and cut crops (never run
inference), the core's :class:`InferenceEngine` batches and classifies on its own thread, and
this node publishes one ``CherryDecisionArray`` per source image, the running model's
``ModelInfo`` (latched), ``/diagnostics`` and, while someone watches, ``~/debug_image``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
from cherry_classifier_msgs.msg import CherryDecisionArray, ModelInfo
from cherry_classifier_msgs.srv import SwapModel
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CompressedImage, Image

from cherry_classifier.core.decision import LABEL_NAMES, Thresholds
from cherry_classifier.core.engine import EngineConfig, FrameJob, FrameResult, InferenceEngine
from cherry_classifier.core.model_paths import default_models_dir
from cherry_classifier.imaging.conversion import (
    ImageFormatError,
    array_to_image_fields,
    compressed_to_array,
    image_to_array,
    to_model_channels,
)
from cherry_classifier.imaging.layer_sync import LayerSynchronizer
from cherry_classifier.imaging.layers import stack_layers
from cherry_classifier.imaging.localizer import CherryLocalizer, LocalizerParams, cut_crops
from cherry_classifier.node import messages
from cherry_classifier.node.diagnostics import DiagnosticsState, HealthReport
from cherry_classifier.node.model_loading import ModelLoader, ModelRefusedError
from cherry_classifier.node.parameters import (
    PARAMETERS,
    THRESHOLD_NAMES,
    check_choice,
    thresholds_from,
)

LOCALIZER_PREFIX = "localizer."
DECISION_COLOURS_BGR = {0: (0, 200, 0), 1: (0, 200, 255), 2: (0, 0, 255)}  # clean, maybe, pit
LOG_THROTTLE_S = 5.0


class ClassifierNode(Node):
    """See the module docstring; parameters are documented in ``parameters.py``."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("classifier", **node_kwargs)
        self._declare_parameters()
        self._input_mode: str = self._param("input_mode")
        self._crop_size: int = self._param("crop_size")
        self._fail_safe_label = LABEL_NAMES.index(self._param("fail_safe_label"))
        self._models_dir = Path(self._param("models_dir") or default_models_dir())
        self._loader = ModelLoader(
            models_dir=self._models_dir,
            backend=self._param("backend"),
            num_threads=self._param("num_threads") or None,
            allowed_ids=[i for i in self._param("allowed_model_ids") if i],
        )
        self._localizer = CherryLocalizer(self._localizer_params())
        self._layer_sync = self._make_layer_sync()
        self._layer_lock = threading.Lock()
        self._input_errors = 0
        self._last_input: dict[str, float] = {}
        self._diag_previous: dict[str, Any] = {}
        self._model_path = ""
        self._model_error = ""
        self._diagnostics_state = DiagnosticsState()

        self._decisions_pub = self.create_publisher(CherryDecisionArray, "~/decisions", 10)
        latched = QoSProfile(
            depth=1,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
            reliability=ReliabilityPolicy.RELIABLE,
        )
        self._model_info_pub = self.create_publisher(ModelInfo, "~/model_info", latched)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._debug_pub = self.create_publisher(Image, "~/debug_image", 1)

        classifier = self._load_startup_model()
        self._engine = InferenceEngine(
            classifier,
            self._current_thresholds(),
            EngineConfig(
                max_batch_size=self._param("max_batch_size"),
                max_batch_delay_s=self._param("max_batch_delay_ms") / 1000.0,
                max_queue_frames=self._param("max_queue_frames"),
                fail_safe_label=self._fail_safe_label,
            ),
            on_result=self._publish_result,
            on_drop=self._on_drop,
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._swap_lock = threading.Lock()
        self.create_service(
            SwapModel,
            "swap_model",
            self._on_swap_model,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self._subscriptions = self._subscribe_inputs()
        self.create_timer(self._param("diagnostics_period_s"), self._publish_diagnostics)
        self._engine.start()
        self._publish_model_info()

    # -- parameters --------------------------------------------------------------------------
    def _declare_parameters(self) -> None:
        for name, spec in PARAMETERS.items():
            self.declare_parameter(name, spec.default, spec.descriptor(name))
        for field in fields(LocalizerParams):  # localizer.<name>: tunable per line, read-only
            if isinstance(field.default, bool | int | float | str):
                self.declare_parameter(
                    LOCALIZER_PREFIX + field.name,
                    field.default,
                    ParameterDescriptor(
                        description=f"cherry localizer: {field.name}", read_only=True
                    ),
                )

    def _param(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _localizer_params(self) -> LocalizerParams:
        prefixed = self.get_parameters_by_prefix(LOCALIZER_PREFIX.rstrip("."))
        return LocalizerParams(**{name: parameter.value for name, parameter in prefixed.items()})

    def _make_layer_sync(self) -> LayerSynchronizer | None:
        if self._input_mode != "layers":
            return None
        names, topics = self._param("layer_names"), self._param("image_topics")
        offsets = self._param("layer_offsets_px")
        if len(names) != len(topics) or len(offsets) != len(topics):
            raise ValueError(
                f"layers mode needs one layer name and one offset per topic: {len(topics)} topics, "
                f"{len(names)} layer_names, {len(offsets)} layer_offsets_px"
            )
        return LayerSynchronizer(
            names,
            tolerance_s=self._param("layer_sync_tolerance_ms") / 1000.0,
            timeout_s=self._param("layer_timeout_ms") / 1000.0,
        )

    def _current_thresholds(self) -> Thresholds:
        return thresholds_from({name: self._param(name) for name in THRESHOLD_NAMES})

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Check a set of changes together; apply all of them or none."""
        changes = {p.name: p.value for p in parameters}
        for name, value in changes.items():
            reason = check_choice(name, value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        if any(name in changes for name in THRESHOLD_NAMES):
            values = {name: changes.get(name, self._param(name)) for name in THRESHOLD_NAMES}
            try:
                thresholds = thresholds_from(values)
            except (TypeError, ValueError) as error:
                return SetParametersResult(successful=False, reason=str(error))
            version = self._engine.set_thresholds(thresholds)
            self.get_logger().info(f"thresholds v{version}: {thresholds}")
            self._publish_model_info()
        if "fail_safe_label" in changes:
            self._fail_safe_label = LABEL_NAMES.index(changes["fail_safe_label"])
            self._engine.set_fail_safe_label(self._fail_safe_label)
        return SetParametersResult(successful=True)

    # -- models ------------------------------------------------------------------------------
    def _load_startup_model(self) -> Any:
        requested = self._param("model_path")
        try:
            classifier = self._loader.load(requested)
        except ModelRefusedError as error:
            self._model_error = str(error)
            self.get_logger().error(
                f"no usable model at start-up ({error}); publishing fail-safe decisions "
                f"({LABEL_NAMES[self._fail_safe_label]}) until a model is swapped in"
            )
            return None
        self._model_path = str(classifier.path)
        self.get_logger().info(
            f"model {classifier.model_id} ({classifier.manifest.architecture}, "
            f"classes {', '.join(classifier.manifest.class_names)}) from {classifier.path}"
        )
        return classifier

    def _on_swap_model(self, request: SwapModel.Request, response: SwapModel.Response) -> Any:
        with self._swap_lock:  # one swap at a time, off the inference thread
            previous = self._engine.model
            response.previous_model_id = previous.model_id if previous is not None else ""
            try:
                classifier = self._loader.load(request.model_path)
            except ModelRefusedError as error:
                response.success, response.message = False, f"refused: {error}"
                self.get_logger().warning(f"swap to {request.model_path!r} {response.message}")
                return response
            response.new_model_id = classifier.model_id
            if request.validate_only:
                response.success, response.message = True, f"valid: {classifier.model_id}"
                return response
            if not self._engine.swap_model(classifier):
                response.success, response.message = False, "refused: the swap timed out"
                return response
            self._model_path, self._model_error = str(classifier.path), ""
            response.success = True
            response.message = (
                f"swapped {response.previous_model_id or 'none'} -> {classifier.model_id}"
            )
            self.get_logger().info(response.message)
            self._publish_model_info()
            return response

    def _publish_model_info(self) -> None:
        thresholds, version = self._engine.thresholds
        info = messages.model_info_msg(
            self._engine.model,
            self._model_path,
            self.get_clock().now().to_msg(),
            thresholds,
            version,
        )
        self._model_info_pub.publish(info)

    # -- inputs ------------------------------------------------------------------------------
    def _subscribe_inputs(self) -> list[Any]:
        compressed = self._param("image_transport") == "compressed"
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=self._param("qos_depth"),
            reliability=(
                ReliabilityPolicy.RELIABLE
                if self._param("qos_reliability") == "reliable"
                else qos_profile_sensor_data.reliability
            ),
            durability=DurabilityPolicy.VOLATILE,
        )
        message_type = CompressedImage if compressed else Image
        subscriptions = []
        for index, topic in enumerate(self._param("image_topics")):
            layer = self._layer_sync.layer_names[index] if self._layer_sync else None
            subscription = self.create_subscription(
                message_type, topic, self._make_callback(topic, layer, compressed), qos
            )
            subscriptions.append(subscription)
            self._last_input[subscription.topic_name] = time.monotonic()
        names = ", ".join(s.topic_name for s in subscriptions)
        self.get_logger().info(f"{self._input_mode} mode on {names} ({message_type.__name__})")
        return subscriptions

    def _make_callback(self, topic: str, layer: str | None, compressed: bool):
        source = self.resolve_topic_name(topic)

        def callback(message: Any) -> None:
            self._last_input[source] = time.monotonic()
            try:
                self._handle_image(message, source, layer, compressed)
            except (ImageFormatError, ValueError) as error:
                self._input_errors += 1
                self.get_logger().warning(
                    f"refused an image on {source}: {error}", throttle_duration_sec=LOG_THROTTLE_S
                )
            except Exception as error:  # never raise out of a callback
                self._input_errors += 1
                self.get_logger().error(
                    f"unexpected error on {source}: {type(error).__name__}: {error}",
                    throttle_duration_sec=LOG_THROTTLE_S,
                )

        return callback

    def _handle_image(self, message: Any, source: str, layer: str | None, compressed: bool) -> None:
        if compressed:
            array = compressed_to_array(message.format, bytes(message.data))
            encoding = "bgr8" if array.ndim == 3 else "mono8"
        else:
            encoding = message.encoding
            array = image_to_array(
                encoding,
                message.height,
                message.width,
                message.step,
                bytes(message.data),
                bool(message.is_bigendian),
            )
        if layer is not None:
            self._handle_layer(message.header, source, layer, to_model_channels(array, encoding))
            return
        image = to_model_channels(array, encoding)
        self._submit(source, message.header, image)

    def _handle_layer(self, header: Any, source: str, layer: str, image: np.ndarray) -> None:
        mono = image[..., 0] if image.ndim == 3 else image
        stamp = header.stamp.sec + header.stamp.nanosec * 1e-9
        with self._layer_lock:  # callbacks of several layer topics run concurrently
            complete = self._layer_sync.add(layer, stamp, mono, header)
        if complete is None:
            return
        names = self._layer_sync.layer_names
        offsets = dict(zip(names, self._param("layer_offsets_px"), strict=True))
        frame = stack_layers(complete.layers, names, offsets)
        self._submit(self._layer_source(), complete.header, frame)

    def _layer_source(self) -> str:
        return ",".join(s.topic_name for s in self._subscriptions)

    def _submit(self, source: str, header: Any, image: np.ndarray) -> None:
        if self._input_mode == "crops":
            height, width = image.shape[:2]
            crops, regions = [image], [(0, 0, width, height)]
        else:
            found = self._localizer.locate(image)
            crop_array, regions = cut_crops(image, found, self._crop_size)
            crops = list(crop_array)
        keep_image = self._debug_pub.get_subscription_count() > 0
        self._engine.submit(
            FrameJob(
                source=source,
                crops=crops,
                regions=list(regions),
                header=header,
                image=image if keep_image else None,
            )
        )

    # -- outputs -----------------------------------------------------------------------------
    def _publish_result(self, result: FrameResult) -> None:
        self._decisions_pub.publish(messages.decision_array_msg(result))
        if result.job.image is not None and self._debug_pub.get_subscription_count() > 0:
            self._debug_pub.publish(self._debug_image(result))

    def _on_drop(self, job: FrameJob, reason: str) -> None:
        self.get_logger().warning(
            f"dropped a frame from {job.source}: {reason}", throttle_duration_sec=LOG_THROTTLE_S
        )

    def _debug_image(self, result: FrameResult) -> Image:
        import cv2

        canvas = np.ascontiguousarray(result.job.image[..., :3]).copy()
        for region, label in zip(result.job.regions, result.decisions.labels, strict=False):
            x, y, w, h = messages.region_tuple(region)
            colour = DECISION_COLOURS_BGR[int(label)]
            cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), colour, 2)
        image = Image(**array_to_image_fields(canvas, "bgr8"))
        image.header = result.job.header
        return image

    def _publish_diagnostics(self) -> None:
        try:
            self._diagnostics_pub.publish(self._diagnostics())
        except Exception as error:  # diagnostics must never take the node down
            self.get_logger().error(f"diagnostics failed: {error}", throttle_duration_sec=30.0)

    def _diagnostics(self) -> DiagnosticArray:
        if self._layer_sync is not None:
            with self._layer_lock:  # layer sets whose last layer never came time out here too
                self._layer_sync.expire()
        model = self._engine.model
        frames_waiting, crops_waiting = self._engine.queue_depth()
        report = HealthReport(
            stats=self._engine.stats.snapshot(),
            now=time.monotonic(),
            last_input=dict(self._last_input),
            stale_after_s=self._param("stale_after_s"),
            model_id=model.model_id if model is not None else "",
            model_error=self._model_error,
            frames_waiting=frames_waiting,
            crops_waiting=crops_waiting,
            input_errors=self._input_errors,
            unmatched_layer_sets=self._layer_sync.unmatched_sets if self._layer_sync else 0,
            thresholds_version=self._engine.thresholds[1],
        )
        name = self.get_fully_qualified_name()
        array = DiagnosticArray(status=self._diagnostics_state.update(report, name))
        array.header.stamp = self.get_clock().now().to_msg()
        for topic in report.stale_topics():
            self._log_publishers_qos(topic)
        return array

    def _log_publishers_qos(self, topic: str) -> None:
        """When nothing arrives, say who publishes and with which QoS (mismatches are common)."""
        publishers = self.get_publishers_info_by_topic(topic)
        if not publishers:
            detail = "no publisher on the topic"
        else:
            detail = "; ".join(
                f"{info.node_namespace.rstrip('/')}/{info.node_name}: reliability "
                f"{info.qos_profile.reliability.name.lower()}, durability "
                f"{info.qos_profile.durability.name.lower()}"
                for info in publishers
            )
        self.get_logger().warning(
            f"nothing received on {topic} for {self._param('stale_after_s'):.0f} s ({detail}; "
            f"this node subscribes with reliability {self._param('qos_reliability')})",
            throttle_duration_sec=30.0,
        )

    def destroy_node(self) -> None:
        self._engine.stop()
        super().destroy_node()
