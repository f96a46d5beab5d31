"""The ``classifier`` node: camera topics in, clean/maybe/pit decisions out.

A thin rclpy layer over the ROS-free core: callbacks convert images and cut crops (never run
inference), the core's :class:`InferenceEngine` batches and classifies on its own thread, and
this node publishes one ``CherryDecisionArray`` per source image, the running model's
``ModelInfo`` (latched), ``/diagnostics`` and, while someone watches, ``~/debug_image``.

On the line (``input_mode: image_set``, ``line_output: true``) it is a drop-in for the old
``detection_server``: it reads the camera node's ``cherry_interfaces/ImageSetHdr``, aligns the
layers by their encoder counts, and also publishes ``cherry_interfaces/CherryArray`` for the
line's buffer and answers the old ``Detectionhdr`` service through the same engine.

Under fault (README, "Under fault and overload"): no callback, service or timer lets an exception
out; every refused image is counted by kind (see ``input_guard``); a bad start-up model leaves
the node up, publishing flagged fail-safe decisions; frames past ``max_frame_age_ms`` are dropped
and counted, never decided late.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from cherry_classifier_msgs.msg import CherryDecisionArray, ModelInfo
from cherry_classifier_msgs.srv import SwapModel
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
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
from std_srvs.srv import Trigger

from cherry_classifier.core.contract import CROP_SIZE_PX, InputContract
from cherry_classifier.core.decision import LABEL_NAMES, Thresholds
from cherry_classifier.core.drift_monitor import DriftMonitor
from cherry_classifier.core.engine import (
    Arrival,
    EngineConfig,
    FrameJob,
    FrameResult,
    InferenceEngine,
    fault_injection_from_env,
    inference_delay_from_env,
)
from cherry_classifier.core.model_paths import default_models_dir
from cherry_classifier.core.shadow import ShadowRunner
from cherry_classifier.core.stage_times import StageTimes
from cherry_classifier.imaging.conversion import ImageFormatError, array_to_image_fields
from cherry_classifier.imaging.image_set import (
    ImageSetError,
    JoinedSet,
    LayerInput,
    join_layers,
    layers_of_detect_request,
    layers_of_image_set,
)
from cherry_classifier.imaging.line_output import line_cherries
from cherry_classifier.imaging.localizer import LocalizerParams, region_box
from cherry_classifier.imaging.pipeline import FramePipeline, decode_image
from cherry_classifier.node import messages
from cherry_classifier.node.diagnostics import (
    DiagnosticsState,
    HealthReport,
    drift_status,
    shadow_status,
)
from cherry_classifier.node.input_guard import ERROR_KINDS, InputFault, InputGuard
from cherry_classifier.node.line_interfaces import LineInterfaces, load_line_interfaces
from cherry_classifier.node.model_loading import ModelLoader, ModelRefusedError
from cherry_classifier.node.parameters import (
    PARAMETERS,
    THRESHOLD_NAMES,
    belt_transform_from,
    check_choice,
    check_startup,
    thresholds_from,
)

LOCALIZER_PREFIX = "localizer."
DECISION_COLOURS_BGR = {0: (0, 200, 0), 1: (0, 200, 255), 2: (0, 0, 255)}  # clean, maybe, pit
LOG_THROTTLE_S = 5.0
DETECT_TIMEOUT_S = 10.0  # longest a Detectionhdr call waits for its frame's decisions
BEST_EFFORT_HINT = (
    "this node subscribes best effort, and Fast DDS's default transports lose large messages "
    "sent best effort between processes (whole frames: none arrive, docs/transport.md); "
    "set qos_reliability: reliable"
)


@dataclass
class PendingDetect:
    """A Detectionhdr call waiting for its frame: the result, or why it was dropped."""

    job: FrameJob  # held here: the pending table is keyed by id(job)
    done: threading.Event
    result: FrameResult | None = None
    dropped: str = ""


class ClassifierNode(Node):
    """See the module docstring; parameters are documented in ``parameters.py``."""

    START_WITHOUT_MODEL = True  # a refused start-up model: fail-safe decisions (managed: refuse)

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("classifier", **node_kwargs)
        self._configure()
        self._open_inputs()

    def _configure(self) -> None:
        """All but the inputs: parameters, model, engine, outputs, services and diagnostics."""
        try:
            self._declare_parameters()
            values = {name: self._param(name) for name in PARAMETERS}
        except ParameterException as error:  # wrong type, out of range or unset at start-up
            raise ValueError(f"{type(error).__name__}: {error}") from error
        check_startup(values)
        self._fault_every = fault_injection_from_env()
        self._inference_delay_s = inference_delay_from_env()
        self._input_mode: str = self._param("input_mode")
        self._crop_size: int = self._param("crop_size")
        self._fail_safe_label = LABEL_NAMES.index(self._param("fail_safe_label"))
        self._models_dir = Path(self._param("models_dir") or default_models_dir())
        if not self._models_dir.is_dir():
            raise ValueError(f"models_dir {str(self._models_dir)!r} is not a folder")
        self._line: LineInterfaces | None = None
        if self._input_mode == "image_set" or self._param("line_output"):
            why = "line_output" if self._param("line_output") else "input_mode image_set"
            self._line = load_line_interfaces(why)
        self._belt = belt_transform_from(values)
        self._detect_pending: dict[int, PendingDetect] = {}
        self._detect_lock = threading.Lock()
        self._detect_source = ""  # the Detectionhdr service's name: its frames' source
        self._loader = ModelLoader(
            models_dir=self._models_dir,
            backend=self._param("backend"),
            num_threads=self._param("num_threads") or None,
            allowed_ids=[i for i in self._param("allowed_model_ids") if i],
            require_golden=self._param("require_golden"),
            allow_demo_models=self._param("allow_demo_model"),
        )
        self._layer_lock = threading.Lock()
        self._layers_received: dict[str, int] = {}  # layers mode: decoded layers per topic
        self._input_guard = InputGuard(log_period_s=LOG_THROTTLE_S)
        self._last_input: dict[str, float] = {}
        self._model_path = ""
        self._model_error = ""
        self._diagnostics_state = DiagnosticsState()
        self._stage_times = StageTimes()

        self._decisions_pub = self._output_publisher(CherryDecisionArray, "~/decisions", 10)
        latched = QoSProfile(
            depth=1,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
            reliability=ReliabilityPolicy.RELIABLE,
        )
        self._model_info_pub = self.create_publisher(ModelInfo, "~/model_info", latched)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._debug_pub = self._output_publisher(Image, "~/debug_image", 1)
        self._shadow_pub = self._output_publisher(CherryDecisionArray, "~/shadow_decisions", 10)
        self._drift = DriftMonitor(self._param("drift_warn_level"), self._param("drift_window"))
        self._shadow = ShadowRunner(on_result=self._publish_shadow)
        self._shadow_error = ""  # why the start-up shadow was refused
        self._line_pub = None
        if self._param("line_output"):  # the line's buffer: reliable, as the old detector
            self._line_pub = self._output_publisher(
                self._line.CherryArray, self._param("line_detections_topic"), 10
            )

        classifier = self._load_startup_model()
        if not self._crop_size:  # crop_size 0: the start-up model's (it stays for the run)
            self._crop_size = classifier.manifest.crop_size if classifier else CROP_SIZE_PX
        self._pipeline = self._make_pipeline()
        self._engine = InferenceEngine(
            classifier,
            self._current_thresholds(),
            EngineConfig(
                max_batch_size=self._param("max_batch_size"),
                max_batch_delay_s=self._param("max_batch_delay_ms") / 1000.0,
                max_queue_frames=self._param("max_queue_frames"),
                fail_safe_label=self._fail_safe_label,
                max_frame_age_s=self._param("max_frame_age_ms") / 1000.0 or None,
                fail_every_nth_batch=self._fault_every,
                inference_delay_s=self._inference_delay_s,
            ),
            on_result=self._publish_result,
            on_drop=self._on_drop,
            idle_work=self._shadow,  # only with spare capacity, between live batches
        )
        self._shadow.set_wake(self._engine.wake)
        self._watch_drift(classifier)
        self._load_startup_shadow()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._swap_lock = threading.Lock()
        self.create_service(
            SwapModel,
            "swap_model",
            self._on_swap_model,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self._input_subscriptions: list[Any] = []
        self.create_service(
            SwapModel,
            "~/swap_shadow",
            self._on_swap_shadow,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.create_service(
            Trigger,
            "~/promote_shadow",
            self._on_promote_shadow,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.create_timer(self._param("diagnostics_period_s"), self._publish_diagnostics)
        self._engine.start()
        self._publish_model_info()
        if self._inference_delay_s:
            self.get_logger().warning(
                f"TEST ONLY: every inference batch takes {self._inference_delay_s:.3f} s longer"
            )
        if self._fault_every:
            self.get_logger().warning(
                f"TEST ONLY fault injection: every {self._fault_every}th inference batch fails"
            )

    def _output_publisher(self, message_type: Any, topic: str, qos: Any) -> Any:
        """A publisher of decided frames (the managed node's publish only while active)."""
        return self.create_publisher(message_type, topic, qos)

    def _open_inputs(self) -> None:
        """Start taking frames: the image subscriptions and, on the line, Detectionhdr."""
        self._input_subscriptions = self._subscribe_inputs()
        if self._param("line_output"):
            self._detect_service = self.create_service(
                self._line.Detectionhdr,
                self._param("line_detect_service"),
                self._on_detect,
                callback_group=MutuallyExclusiveCallbackGroup(),
            )
            self._detect_source = self._detect_service.srv_name
            self.get_logger().info(
                f"line output: {self._line_pub.topic_name} (CherryArray) and "
                f"{self._detect_service.srv_name} (Detectionhdr)"
            )

    # -- parameters --------------------------------------------------------------------------
    def _declare_parameters(self) -> None:
        """Declare those not declared yet (a managed node may configure more than once)."""
        for name, spec in PARAMETERS.items():
            if not self.has_parameter(name):
                self.declare_parameter(name, spec.default, spec.descriptor(name))
        for field in fields(LocalizerParams):  # localizer.<name>: tunable per line, read-only
            if isinstance(field.default, bool | int | float | str) and not self.has_parameter(
                LOCALIZER_PREFIX + field.name
            ):
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

    def _make_pipeline(self) -> FramePipeline:
        """The crop extraction shared with the bag tools (``imaging/pipeline.py``)."""
        topics = self._param("image_topics")
        names, offsets = self._param("layer_names"), self._param("layer_offsets_px")
        if self._input_mode == "layers" and (
            len(names) != len(topics) or len(offsets) != len(topics)
        ):
            raise ValueError(
                f"layers mode needs one layer name and one offset per topic: {len(topics)} topics, "
                f"{len(names)} layer_names, {len(offsets)} layer_offsets_px"
            )
        return FramePipeline(
            self._input_mode,
            self._crop_size,
            self._localizer_params(),
            layer_names=names,
            layer_offsets_px=offsets,
            layer_sync_tolerance_s=self._param("layer_sync_tolerance_ms") / 1000.0,
            layer_timeout_s=self._param("layer_timeout_ms") / 1000.0,
        )

    def _current_thresholds(self) -> Thresholds:
        return thresholds_from({name: self._param(name) for name in THRESHOLD_NAMES})

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Check a set of changes together; apply all of them or none (never raise)."""
        try:
            return self._apply_parameters(parameters)
        except Exception as error:
            self.get_logger().error(f"parameter change failed: {type(error).__name__}: {error}")
            return SetParametersResult(
                successful=False, reason=f"internal error: {type(error).__name__}: {error}"
            )

    def _apply_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
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
        if "drift_warn_level" in changes or "drift_window" in changes:
            try:
                self._drift.configure(changes.get("drift_warn_level"), changes.get("drift_window"))
            except (TypeError, ValueError) as error:
                return SetParametersResult(successful=False, reason=str(error))
        if "fail_safe_label" in changes:
            self._fail_safe_label = LABEL_NAMES.index(changes["fail_safe_label"])
            self._engine.set_fail_safe_label(self._fail_safe_label)
        return SetParametersResult(successful=True)

    # -- models ------------------------------------------------------------------------------
    def _load_startup_model(self) -> Any:
        requested = self._param("model_path")
        try:
            classifier = self._loader.load(requested, self._model_inputs())
        except ModelRefusedError as error:
            if not self.START_WITHOUT_MODEL:
                raise
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
        self._log_backend(classifier)
        self._warn_if_demo_model(classifier)
        return classifier

    def _log_backend(self, classifier: Any) -> None:
        """Which backend runs the model and, for ``backend: auto``, why that one."""
        choice = getattr(classifier, "choice", None)
        detail = choice.describe() if choice is not None else "as configured"
        self.get_logger().info(f"backend {classifier.backend_name} ({detail})")

    def _warn_if_demo_model(self, classifier: Any) -> None:
        """Say at WARN, each time one starts answering, that a demo model is not for sorting."""
        warning = classifier.manifest.demo_model_warning()
        if warning:
            self.get_logger().warning(
                f"model {classifier.model_id} is a {warning} (allow_demo_model is true)"
            )

    def _model_inputs(self) -> InputContract:
        """What this node feeds a model: its layer order and, where it cuts crops, their side."""
        cuts = self._input_mode != "crops"
        return InputContract.of(self._param("layer_names"), self._crop_size if cuts else None)

    def _on_swap_model(self, request: SwapModel.Request, response: SwapModel.Response) -> Any:
        try:
            return self._swap_model(request, response)
        except Exception as error:  # the old model keeps answering; say what went wrong
            response.success = False
            response.message = f"refused: internal error: {type(error).__name__}: {error}"
            self.get_logger().error(f"swap to {request.model_path!r} {response.message}")
            return response

    def _swap_model(self, request: SwapModel.Request, response: SwapModel.Response) -> Any:
        with self._swap_lock:  # one swap at a time, off the inference thread
            previous = self._engine.model
            response.previous_model_id = previous.model_id if previous is not None else ""
            try:
                classifier = self._loader.load(request.model_path, self._model_inputs())
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
            self._log_backend(classifier)
            self._warn_if_demo_model(classifier)
            self._live_model_changed(classifier)
            return response

    def _live_model_changed(self, classifier: Any) -> None:
        """After a swap or a promotion: drift starts a new window against the new model's
        reference, the shadow's figures start again (they compared it with the old one)."""
        self._watch_drift(classifier)
        self._shadow.set_model(self._shadow.model)
        self._publish_model_info()

    def _watch_drift(self, classifier: Any) -> None:
        """Point the drift alarm at the live model's reference; say once if it has none."""
        if classifier is None:
            self._drift.set_model("", None)
            return
        line = self._drift.set_model(classifier.model_id, getattr(classifier, "path", None))
        if self._drift.enabled:
            self.get_logger().info(f"drift alarm for model {classifier.model_id}: {line}")
        else:
            self.get_logger().warning(
                f"drift alarm disabled for model {classifier.model_id}: {line} "
                "(cherry-model reference writes one)"
            )

    # -- the shadow model --------------------------------------------------------------------
    def _load_startup_shadow(self) -> None:
        requested = self._param("shadow_model_path")
        if not requested.strip():
            return
        try:
            shadow = self._loader.load(requested, self._model_inputs())
        except ModelRefusedError as error:  # the live model runs on; diagnostics say why
            self._shadow_error = str(error)
            self.get_logger().error(f"shadow model refused at start-up: {error}")
            return
        self._shadow.set_model(shadow)
        self.get_logger().info(f"shadow model {shadow.model_id} from {shadow.path}")

    def _on_swap_shadow(self, request: SwapModel.Request, response: SwapModel.Response) -> Any:
        try:
            return self._swap_shadow(request, response)
        except Exception as error:  # the shadow (if any) stays as it was
            response.success = False
            response.message = f"refused: internal error: {type(error).__name__}: {error}"
            self.get_logger().error(f"shadow swap to {request.model_path!r} {response.message}")
            return response

    def _swap_shadow(self, request: SwapModel.Request, response: SwapModel.Response) -> Any:
        """The same checks as /swap_model (models_dir, allow-list, golden set, contract);
        an empty path removes the shadow."""
        with self._swap_lock:
            previous = self._shadow.model
            response.previous_model_id = previous.model_id if previous is not None else ""
            if not request.model_path.strip():
                response.success = True
                if request.validate_only:
                    response.message = "valid: removes the shadow"
                    return response
                self._shadow.set_model(None)
                self._shadow_error = ""
                response.message = f"shadow {response.previous_model_id or 'none'} removed"
                self.get_logger().info(response.message)
                return response
            try:
                shadow = self._loader.load(request.model_path, self._model_inputs())
            except ModelRefusedError as error:
                response.success, response.message = False, f"refused: {error}"
                self.get_logger().warning(
                    f"shadow swap to {request.model_path!r} {response.message}"
                )
                return response
            response.new_model_id = shadow.model_id
            response.success = True
            if request.validate_only:
                response.message = f"valid: {shadow.model_id}"
                return response
            self._shadow.set_model(shadow)
            self._shadow_error = ""
            response.message = f"shadow {response.previous_model_id or 'none'} -> {shadow.model_id}"
            self.get_logger().info(f"{response.message} from {shadow.path}")
            return response

    def _on_promote_shadow(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        try:
            return self._promote_shadow(response)
        except Exception as error:
            response.success = False
            response.message = f"refused: internal error: {type(error).__name__}: {error}"
            self.get_logger().error(f"promote_shadow {response.message}")
            return response

    def _promote_shadow(self, response: Trigger.Response) -> Any:
        """The shadow becomes the live model between two frames, as a swap does; the old live
        model becomes the shadow (promote again to go back), figures and drift start again."""
        with self._swap_lock:
            shadow = self._shadow.model
            if shadow is None:
                response.success, response.message = False, "refused: no shadow model to promote"
                return response
            live, live_path = self._engine.model, self._model_path
            self._shadow.set_model(None)  # nothing is compared while the roles change
            if not self._engine.swap_model(shadow):
                self._shadow.set_model(shadow)
                response.success, response.message = False, "refused: the swap timed out"
                return response
            self._model_path, self._model_error = str(shadow.path), ""
            self._shadow.set_model(live)  # None when no live model ran (fail-safe)
            response.success = True
            response.message = f"promoted shadow {shadow.model_id} to live; " + (
                f"{live.model_id} ({live_path}) is the shadow now" if live else "no shadow now"
            )
            self.get_logger().info(response.message)
            self._log_backend(shadow)
            self._warn_if_demo_model(shadow)
            self._watch_drift(shadow)
            self._publish_model_info()
            return response

    def _publish_shadow(self, shadow: FrameResult, live: FrameResult) -> None:
        """A frame's shadow decisions: same header as the live array, the shadow's model id."""
        self._shadow_pub.publish(messages.decision_array_msg(shadow))

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
        if self._input_mode == "image_set":
            message_type = self._line.ImageSetHdr
        subscriptions = []
        for index, topic in enumerate(self._param("image_topics")):
            try:
                self.resolve_topic_name(topic)
            except Exception as error:  # rclpy's InvalidTopicNameException and kin
                raise ValueError(
                    f"image_topics: {topic!r} is not a valid topic name ({error})"
                ) from None
            layer_sync = self._pipeline.layer_sync
            layer = layer_sync.layer_names[index] if layer_sync else None
            if self._input_mode == "image_set":
                callback = self._make_image_set_callback(topic)
            else:
                callback = self._make_callback(topic, layer, compressed)
            subscription = self.create_subscription(
                message_type,
                topic,
                callback,
                qos,
                # One group per topic: with a shared group, the multi-threaded executor skips a
                # topic whose message arrived while another topic's callback ran, and takes it
                # only when its next message comes (layers of one trigger then never meet).
                callback_group=MutuallyExclusiveCallbackGroup(),
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
                stages = {"transfer": self._transfer_s(message.header)}
                with self._engine.arriving() as arrival:  # crops waiting may be held for it
                    if not self._admit(message, source, compressed):
                        return
                    self._handle_image(message, source, layer, compressed, arrival, stages)
            except ImageFormatError as error:
                kind = "corrupt_compressed" if compressed else "bad_image"
                self._input_fault(source, InputFault(kind, str(error)))
            except ValueError as error:
                self._input_fault(source, InputFault("bad_image", str(error)))
            except Exception as error:  # never raise out of a callback
                reason = f"unexpected {type(error).__name__}: {error}"
                self._input_fault(source, InputFault("internal_error", reason))

        return callback

    def _make_image_set_callback(self, topic: str):
        source = self.resolve_topic_name(topic)

        def callback(message: Any) -> None:
            self._last_input[source] = time.monotonic()
            try:
                entered = time.perf_counter()
                with self._engine.arriving() as arrival:  # crops waiting may be held for it
                    frame_id, layers = layers_of_image_set(message)
                    joined = self._join(source, frame_id, layers)
                    if joined is not None:
                        stages = {
                            "transfer": self._transfer_s(joined.header),
                            "conversion": time.perf_counter() - entered,
                        }
                        self._submit(
                            source, joined.header, joined.image, arrival, stages, joined.trigger
                        )
            except Exception as error:  # never raise out of a callback
                reason = f"unexpected {type(error).__name__}: {error}"
                self._input_fault(source, InputFault("internal_error", reason))

        return callback

    def _join(self, source: str, frame_id: int, layers: list[LayerInput]) -> JoinedSet | None:
        """Check each layer's header, then align and stack them (None: refused and counted)."""
        for layer in layers:
            if not self._admit(layer.image, source, compressed=False, check_stamp=False):
                return None
        try:
            joined = join_layers(
                frame_id, layers, self._param("layer_names"), self._param("encoder_px_per_count")
            )
        except (ImageSetError, ValueError) as error:  # ImageFormatError is a ValueError
            self._input_fault(source, InputFault("bad_image", str(error)))
            return None
        stamp_fault = self._input_guard.check_stamp(source, joined.header.stamp)
        if stamp_fault is not None:
            self._input_fault(source, stamp_fault)
        return joined

    def _admit(self, message: Any, source: str, compressed: bool, check_stamp: bool = True) -> bool:
        """Header checks before any pixel is copied: refuse (False) or accept with warnings."""
        guard = self._input_guard
        fault = guard.check_compressed(message) if compressed else guard.check_raw(message)
        if fault is not None:
            self._input_fault(source, fault)
            if fault.kind in ERROR_KINDS:
                return False
        if not check_stamp:
            return True
        stamp_fault = guard.check_stamp(source, message.header.stamp)
        if stamp_fault is not None:
            self._input_fault(source, stamp_fault)
        return True

    def _input_fault(self, source: str, fault: InputFault) -> None:
        """Count a refused image or an input warning; log it, at most once per kind a while."""
        line = self._input_guard.record(fault)
        if line is None:
            return
        logger = self.get_logger()
        if fault.kind == "internal_error":
            logger.error(f"refused an image on {source}: {line}")
        elif fault.kind in ERROR_KINDS:
            logger.warning(f"refused an image on {source}: {line}")
        else:
            logger.warning(f"accepted an image on {source} despite {line}")

    def _handle_image(
        self,
        message: Any,
        source: str,
        layer: str | None,
        compressed: bool,
        arrival: Arrival,
        stages: dict[str, float],
    ) -> None:
        entered = time.perf_counter()
        image = decode_image(message, compressed)
        if layer is None:
            stages["conversion"] = time.perf_counter() - entered
            self._submit(source, message.header, image, arrival, stages)
            return
        with self._layer_lock:  # callbacks of several layer topics run concurrently
            self._layers_received[source] = self._layers_received.get(source, 0) + 1
            joined = self._pipeline.add_layer(layer, message.header, image)
        if joined is not None:  # the last layer's transfer and conversion (with the stacking)
            stages["conversion"] = time.perf_counter() - entered
            self._submit(self._layer_source(), joined.header, joined.image, arrival, stages)

    def _transfer_s(self, header: Any) -> float:
        """Seconds from the header stamp (the camera's clock, this host's) to now."""
        stamp = header.stamp.sec + header.stamp.nanosec * 1e-9
        return self.get_clock().now().nanoseconds * 1e-9 - stamp

    def _layer_source(self) -> str:
        return ",".join(s.topic_name for s in self._input_subscriptions)

    def _submit(
        self,
        source: str,
        header: Any,
        image: np.ndarray,
        arrival: Arrival,
        stages: dict[str, float],
        trigger: Any = None,
    ) -> None:
        job = self._job(source, header, image, trigger)
        job.stages_s.update(stages)
        arrival.submit(job)

    def _job(
        self, source: str, header: Any, image: np.ndarray, trigger: Any, keep_image: bool = False
    ) -> FrameJob:
        entered = time.perf_counter()
        crops, regions = self._pipeline.crops(image)
        localizing = time.perf_counter() - entered
        keep_image = keep_image or self._debug_pub.get_subscription_count() > 0
        return FrameJob(
            source=source,
            crops=crops,
            regions=regions,
            header=header,
            image=image if keep_image else None,
            trigger=trigger,
            stages_s={"localizing": localizing},
        )

    # -- the old detector's service ----------------------------------------------------------
    def _on_detect(self, request: Any, response: Any) -> Any:
        """Detectionhdr: one trigger's layers in, the line's cherries out (same engine)."""
        source = self._detect_source
        try:
            with self._engine.arriving() as arrival:  # crops waiting may be held for it
                frame_id, layers = layers_of_detect_request(request)
                joined = self._join(source, frame_id, layers)
                if joined is None:
                    return response  # refused and counted: no cherries
                job = self._job(
                    source, joined.header, joined.image, joined.trigger, keep_image=True
                )
                pending = PendingDetect(job, threading.Event())
                with self._detect_lock:
                    self._detect_pending[id(job)] = pending
                arrival.submit(job)
            if not pending.done.wait(DETECT_TIMEOUT_S):
                with self._detect_lock:
                    self._detect_pending.pop(id(job), None)
                self.get_logger().error(f"detect: frame {frame_id} not decided in time")
                return response
            if pending.result is None:
                self.get_logger().warning(f"detect: frame {frame_id} dropped ({pending.dropped})")
                return response
            result = pending.result
            response.cherries = self._line.cherries(self._line_cherries(result))
            response.encoder_count = int(joined.trigger.encoder_mm)
            response.keypoint_image = self._debug_image(result)
        except Exception as error:  # never raise out of a service
            self.get_logger().error(f"detect failed: {type(error).__name__}: {error}")
        return response

    def _take_pending_detect(self, job: FrameJob) -> PendingDetect | None:
        with self._detect_lock:
            return self._detect_pending.pop(id(job), None)

    def _line_cherries(self, result: FrameResult) -> list:
        return line_cherries(
            result.job.regions,
            result.decisions.labels,
            result.job.trigger.frame_size,
            self._belt,
            self._param("line_side_margin_px"),
        )

    # -- outputs -----------------------------------------------------------------------------
    def _publish_result(self, result: FrameResult) -> None:
        entered = time.perf_counter()
        self._publish_decisions(result)
        stages = dict(result.job.stages_s)
        stages.update(queue_wait=result.queue_wait_s, inference=result.inference_s)
        stages["publish"] = time.perf_counter() - entered
        stages["in_node"] = (
            stages.get("conversion", 0.0)
            + stages.get("localizing", 0.0)
            + result.latency_s
            + stages["publish"]
        )
        self._stage_times.record(stages)

    def _publish_decisions(self, result: FrameResult) -> None:
        self._decisions_pub.publish(messages.decision_array_msg(result))
        self._drift.add(result)
        self._shadow.submit(result)  # after the live decisions are out; spare capacity only
        pending = self._take_pending_detect(result.job)
        if pending is not None:  # a Detectionhdr call: answered there, not on the topic
            pending.result = result
            pending.done.set()
        elif (  # an image set; a Detectionhdr frame decided after its call gave up is not one
            self._line_pub is not None
            and result.job.trigger is not None
            and result.job.source != self._detect_source
        ):
            cherries = self._line_cherries(result)
            encoder_mm = result.job.trigger.encoder_mm
            self._line_pub.publish(self._line.cherry_array(cherries, encoder_mm))
        if result.job.image is not None and self._debug_pub.get_subscription_count() > 0:
            self._debug_pub.publish(self._debug_image(result))

    def _on_drop(self, job: FrameJob, reason: str) -> None:
        pending = self._take_pending_detect(job)
        if pending is not None:
            pending.dropped = reason
            pending.done.set()
        self.get_logger().warning(
            f"dropped a frame from {job.source}: {reason}", throttle_duration_sec=LOG_THROTTLE_S
        )

    def _debug_image(self, result: FrameResult) -> Image:
        import cv2

        canvas = np.ascontiguousarray(result.job.image[..., :3]).copy()
        for region, label in zip(result.job.regions, result.decisions.labels, strict=False):
            x, y, w, h = region_box(region)
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
        layer_sync = self._pipeline.layer_sync
        if layer_sync is not None:
            with self._layer_lock:  # layer sets whose last layer never came time out here too
                layer_sync.expire()
        model = self._engine.model
        frames_waiting, crops_waiting = self._engine.queue_depth()
        input_counts = self._input_guard.snapshot()
        report = HealthReport(
            stats=self._engine.stats.snapshot(),
            now=time.monotonic(),
            last_input=dict(self._last_input),
            stale_after_s=self._param("stale_after_s"),
            model_id=model.model_id if model is not None else "",
            model_error=self._model_error,
            frames_waiting=frames_waiting,
            crops_waiting=crops_waiting,
            input_errors=sum(input_counts[kind] for kind in ERROR_KINDS),
            input_counts=input_counts,
            max_frame_age_ms=self._param("max_frame_age_ms"),
            fault_injection_every=self._fault_every,
            unmatched_layer_sets=layer_sync.unmatched_sets if layer_sync else 0,
            thresholds_version=self._engine.thresholds[1],
            matched_publishers={
                s.topic_name: s.get_publisher_count() for s in self._input_subscriptions
            },
            silence_hint=self._silence_hint(),
            layer_sets_source=self._layer_source() if layer_sync is not None else "",
            layers_received=self._layers_snapshot(),
            debug_image_subscribers=self._debug_pub.get_subscription_count(),
            demo_model_warning=model.manifest.demo_model_warning() if model is not None else "",
            training_data=model.manifest.training_data_summary() if model is not None else "",
            stage_ms=self._stage_times.percentiles_ms(),
        )
        name = self.get_fully_qualified_name()
        statuses = self._diagnostics_state.update(report, name)
        statuses.append(drift_status(name, self._drift.status()))
        statuses.append(shadow_status(name, self._shadow, report.model_id, self._shadow_error))
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.get_clock().now().to_msg()
        for topic in report.stale_topics():
            self._log_publishers_qos(topic)
        return array

    def _layers_snapshot(self) -> dict[str, int]:
        with self._layer_lock:
            return dict(self._layers_received)

    def _silence_hint(self) -> str:
        """The likely cause when matched publishers send and nothing arrives, and its fix."""
        if self._param("qos_reliability") == "best_effort":
            return BEST_EFFORT_HINT
        return "check that the publisher sends, and the QoS of each publisher (in the log)"

    def _log_publishers_qos(self, topic: str) -> None:
        """When nothing arrives, say who publishes and with which QoS (mismatches are common)."""
        publishers = self.get_publishers_info_by_topic(topic)
        matched = sum(
            s.get_publisher_count() for s in self._input_subscriptions if s.topic_name == topic
        )
        if not publishers:
            detail = "no publisher on the topic"
        elif matched:
            detail = f"{matched} matched publisher(s), yet nothing arrives: {self._silence_hint()}"
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
        engine = getattr(self, "_engine", None)  # absent when the configuration was refused
        if engine is not None:
            engine.stop()
        super().destroy_node()
