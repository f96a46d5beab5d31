"""The classifier node's ROS parameters: declarations with descriptors, and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

from cherry_classifier.core.backends import BACKENDS
from cherry_classifier.core.contract import LAYER_ORDER
from cherry_classifier.core.decision import LABEL_NAMES, Thresholds
from cherry_classifier.core.drift import DEFAULT_WINDOW, DRIFT_ALARM_LEVEL, MIN_DECISIONS
from cherry_classifier.imaging.layers import PX_PER_ENCODER_COUNT
from cherry_classifier.imaging.line_output import AXES, BeltTransform
from cherry_classifier.imaging.pipeline import DEFAULT_LAYER_OFFSETS_PX, INPUT_MODES

RELIABILITIES = ("best_effort", "reliable")
MIN_CROP_SIZE_PX, MAX_CROP_SIZE_PX = 8, 1024
TRANSPORTS = ("raw", "compressed")
THRESHOLD_NAMES = ("pit_threshold", "maybe_threshold", "clean_threshold")


@dataclass(frozen=True)
class Spec:
    """One parameter: default, description, range and whether it may change at run time."""

    default: Any
    description: str
    type: int
    read_only: bool = True
    float_range: tuple[float, float] | None = None
    int_range: tuple[int, int] | None = None
    choices: tuple[str, ...] = ()
    # How many entries an array parameter must have (0: any number, 1 or more).
    length: int = 0

    def descriptor(self, name: str) -> ParameterDescriptor:
        constraints = f"one of {', '.join(self.choices)}" if self.choices else ""
        descriptor = ParameterDescriptor(
            name=name,
            type=self.type,
            description=self.description,
            read_only=self.read_only,
            additional_constraints=constraints,
        )
        if self.float_range:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=self.float_range[0], to_value=self.float_range[1])
            ]
        if self.int_range:
            descriptor.integer_range = [
                IntegerRange(from_value=self.int_range[0], to_value=self.int_range[1], step=1)
            ]
        return descriptor


def _threshold(default: float, description: str) -> Spec:
    return Spec(
        default,
        description,
        ParameterType.PARAMETER_DOUBLE,
        read_only=False,
        float_range=(0.0, 1.0),
    )


PARAMETERS: dict[str, Spec] = {
    # Decision thresholds: live, checked together, versioned.
    "pit_threshold": _threshold(0.5, "PIT when P(pit) >= pit_threshold"),
    "maybe_threshold": _threshold(
        0.2, "otherwise MAYBE when P(pit) >= maybe_threshold (must be <= pit_threshold)"
    ),
    "clean_threshold": _threshold(0.5, "otherwise MAYBE when P(clean) < clean_threshold"),
    "fail_safe_label": Spec(
        "maybe",
        "label given to crops the model could not decide (inference failure, no model)",
        ParameterType.PARAMETER_STRING,
        read_only=False,
        choices=LABEL_NAMES,
    ),
    # Model.
    "model_path": Spec(
        "default",
        "model loaded at start-up: bundle folder or file; relative paths resolve in models_dir",
        ParameterType.PARAMETER_STRING,
    ),
    "models_dir": Spec(
        "",
        "folder that every model (start-up and /swap_model) must resolve into; "
        "empty: this package's share/cherry_classifier/models",
        ParameterType.PARAMETER_STRING,
    ),
    "allowed_model_ids": Spec(
        [""],
        "if set, only models with these ids (content hashes) load; [''] allows any",
        ParameterType.PARAMETER_STRING_ARRAY,
    ),
    "require_golden": Spec(
        True,
        "refuse a model (start-up and /swap_model) that is not a bundle folder with a golden "
        "set (golden.npz): without one nothing checks that this backend reproduces the "
        "probabilities training measured; false: only for bundles known to have none",
        ParameterType.PARAMETER_BOOL,
    ),
    "allow_demo_model": Spec(
        False,
        "load demo models (trained on synthetic crops only, never seen a real cherry; "
        "model_info's demo_model); false refuses them at start-up and /swap_model, as on the line",
        ParameterType.PARAMETER_BOOL,
    ),
    "backend": Spec(
        "eager",
        "inference backend: auto (the fastest accepted variant this CPU runs, logged with "
        "why), eager, torchscript, onnxruntime or a low-precision variant",
        ParameterType.PARAMETER_STRING,
        choices=BACKENDS,
    ),
    "shadow_model_path": Spec(
        "",
        "shadow model loaded at start-up (empty: none), with the same checks as model_path: it "
        "runs on the live model's crops with spare capacity only, publishes ~/shadow_decisions "
        "and is scored against the live model in /diagnostics; ~/swap_shadow changes it at run "
        "time (this parameter then still names the start-up one), ~/promote_shadow makes it live",
        ParameterType.PARAMETER_STRING,
    ),
    "num_threads": Spec(
        0, "inference threads; 0: all cores", ParameterType.PARAMETER_INTEGER, int_range=(0, 256)
    ),
    # Batching.
    "max_batch_size": Spec(
        32,
        "most crops one inference batch holds",
        ParameterType.PARAMETER_INTEGER,
        int_range=(1, 1024),
    ),
    "max_batch_delay_ms": Spec(
        50.0,
        "longest hold of waiting crops for a fuller batch (from the oldest waiting frame's "
        "arrival), only while another frame is being converted; never when none is",
        ParameterType.PARAMETER_DOUBLE,
        float_range=(0.0, 10000.0),
    ),
    "max_frame_age_ms": Spec(
        2000.0,
        "deadline: a frame that waited longer than this when its inference would start is "
        "dropped and counted, never decided late; 0: no deadline",
        ParameterType.PARAMETER_DOUBLE,
        float_range=(0.0, 600000.0),
    ),
    "max_queue_frames": Spec(
        16,
        "frames that may wait; beyond, the oldest waiting frame is dropped (and counted)",
        ParameterType.PARAMETER_INTEGER,
        int_range=(1, 10000),
    ),
    # Inputs.
    "image_topics": Spec(
        ["image"],
        "input topics (one per camera or line; one per layer in layers mode; the line camera's "
        "image_set topic in image_set mode)",
        ParameterType.PARAMETER_STRING_ARRAY,
    ),
    "image_transport": Spec(
        "raw",
        "raw: sensor_msgs/Image; compressed: sensor_msgs/CompressedImage",
        ParameterType.PARAMETER_STRING,
        choices=TRANSPORTS,
    ),
    "input_mode": Spec(
        "frames",
        "crops: each image is one cherry; frames: whole frames, cherries found by the localizer; "
        "layers: mono layer topics joined by stamp into one frame; image_set: the line's "
        "cherry_interfaces/ImageSetHdr, layers aligned by their encoder counts",
        ParameterType.PARAMETER_STRING,
        choices=INPUT_MODES,
    ),
    "crop_size": Spec(
        0,
        "side of the crops cut around each cherry in frames/layers/image_set mode (frame px); "
        "0: the start-up model's crop_size. A model whose crop_size differs is refused",
        ParameterType.PARAMETER_INTEGER,
        int_range=(0, MAX_CROP_SIZE_PX),
    ),
    "layer_names": Spec(
        list(LAYER_ORDER),
        "channel names in model channel order (a model whose channel_names differ is refused); "
        "layers mode: of each image_topics entry; image_set mode: the layers taken from each "
        "set (the first is the alignment reference)",
        ParameterType.PARAMETER_STRING_ARRAY,
    ),
    "layer_offsets_px": Spec(
        list(DEFAULT_LAYER_OFFSETS_PX),
        "layers mode only (no encoder counts there): shift of each layer along the belt, in px, "
        "to align it with the first; image_set mode aligns by the layers' encoder counts",
        ParameterType.PARAMETER_INTEGER_ARRAY,
    ),
    "layer_sync_tolerance_ms": Spec(
        50.0,
        "layers mode: largest stamp difference within one trigger",
        ParameterType.PARAMETER_DOUBLE,
        float_range=(0.0, 10000.0),
    ),
    "layer_timeout_ms": Spec(
        1000.0,
        "layers mode: a trigger missing a layer this long is discarded and counted",
        ParameterType.PARAMETER_DOUBLE,
        float_range=(1.0, 60000.0),
    ),
    "encoder_px_per_count": Spec(
        PX_PER_ENCODER_COUNT,
        "image_set mode: rows of belt travel per encoder count (a layer moves down by "
        "int((count - count_reference) * this))",
        ParameterType.PARAMETER_DOUBLE,
        float_range=(0.0, 100.0),
    ),
    "qos_reliability": Spec(
        "reliable",
        "input QoS reliability; reliable matches the line camera and is the only one that "
        "receives whole frames between processes over Fast DDS (docs/transport.md)",
        ParameterType.PARAMETER_STRING,
        choices=RELIABILITIES,
    ),
    "qos_depth": Spec(
        10, "input QoS history depth", ParameterType.PARAMETER_INTEGER, int_range=(1, 1000)
    ),
    # The line's own output (drop-in for the old detection_server).
    "line_output": Spec(
        False,
        "also publish cherry_interfaces/CherryArray for the line's buffer and serve the old "
        "detector's Detectionhdr service (needs the line's cherry_interfaces package)",
        ParameterType.PARAMETER_BOOL,
    ),
    "line_detections_topic": Spec(
        "/detection_server/detections",
        "line output: the CherryArray topic the line's buffer reads",
        ParameterType.PARAMETER_STRING,
    ),
    "line_detect_service": Spec(
        "/detection_server/detect",
        "line output: the name of the Detectionhdr service",
        ParameterType.PARAMETER_STRING,
    ),
    "line_origin_px": Spec(
        [BeltTransform.origin_u, BeltTransform.origin_v],
        "line output: frame pixel (u: column, v: row) at the belt's origin",
        ParameterType.PARAMETER_DOUBLE_ARRAY,
        length=2,
    ),
    "line_px_per_m": Spec(
        BeltTransform.px_per_m,
        "line output: frame pixels per metre of belt",
        ParameterType.PARAMETER_DOUBLE,
        float_range=(1.0, 1.0e6),
    ),
    "line_axes": Spec(
        [BeltTransform.x_axis, BeltTransform.y_axis],
        f"line output: the image axis of belt x and of belt y, each one of {', '.join(AXES)} "
        "(x = -(v - origin_v) / px_per_m for '-v')",
        ParameterType.PARAMETER_STRING_ARRAY,
        length=2,
    ),
    "line_side_margin_px": Spec(
        0,
        "line output: a cherry whose box comes this close to the frame edge is type 3 (side)",
        ParameterType.PARAMETER_INTEGER,
        int_range=(0, 1000),
    ),
    # Monitoring.
    "drift_warn_level": Spec(
        DRIFT_ALARM_LEVEL,
        "drift diagnostics WARN when the drift score (the larger PSI of label shares and of the "
        "P(pit) histogram, window against the model's reference.json) reaches this",
        ParameterType.PARAMETER_DOUBLE,
        read_only=False,
        float_range=(0.01, 10.0),
    ),
    "drift_window": Spec(
        DEFAULT_WINDOW,
        f"decisions in the drift window (no score below {MIN_DECISIONS}); a change empties it",
        ParameterType.PARAMETER_INTEGER,
        read_only=False,
        int_range=(MIN_DECISIONS, 100_000),
    ),
    "stale_after_s": Spec(
        5.0,
        "diagnostics WARN when an input topic was silent this long",
        ParameterType.PARAMETER_DOUBLE,
        float_range=(0.1, 3600.0),
    ),
    "diagnostics_period_s": Spec(
        1.0,
        "period of /diagnostics",
        ParameterType.PARAMETER_DOUBLE,
        float_range=(0.1, 60.0),
    ),
}


def thresholds_from(values: dict[str, float]) -> Thresholds:
    """Build and validate a threshold set (raises ValueError naming the broken rule)."""
    return Thresholds(**{name: float(values[name]) for name in THRESHOLD_NAMES}).validated()


def check_startup(values: dict[str, Any]) -> None:
    """Refuse, with ValueError naming the parameter, a start-up set the node cannot run with."""
    for name, value in values.items():
        reason = check_choice(name, value)
        if reason:
            raise ValueError(reason)
        length = PARAMETERS[name].length if name in PARAMETERS else 0
        if length and len(value) != length:
            raise ValueError(f"{name} needs {length} values, got {list(value)}")
    thresholds_from({name: values[name] for name in THRESHOLD_NAMES})
    if values["crop_size"] and values["crop_size"] < MIN_CROP_SIZE_PX:
        raise ValueError(
            f"crop_size must be 0 (the model's) or {MIN_CROP_SIZE_PX}..{MAX_CROP_SIZE_PX}, "
            f"got {values['crop_size']}"
        )
    topics = [topic for topic in values["image_topics"] if topic.strip()]
    if not topics or len(topics) != len(values["image_topics"]):
        raise ValueError(
            f"image_topics must name at least one topic, none empty: got {values['image_topics']}"
        )
    if values["input_mode"] == "image_set" and len(topics) != 1:
        raise ValueError(f"image_set mode reads one ImageSetHdr topic, got image_topics {topics}")
    if values["line_output"] and values["input_mode"] != "image_set":
        raise ValueError(
            "line_output needs input_mode image_set (the line's encoder position comes with "
            f"its image sets), got input_mode {values['input_mode']}"
        )
    belt_transform_from(values)  # raises ValueError naming a bad axis or scale


def belt_transform_from(values: dict[str, Any]) -> BeltTransform:
    """The line output's pixel-to-metre transform from the node's parameters."""
    origin_u, origin_v = values["line_origin_px"]
    x_axis, y_axis = values["line_axes"]
    return BeltTransform(origin_u, origin_v, values["line_px_per_m"], x_axis, y_axis)


def check_choice(name: str, value: Any) -> str | None:
    """Return why `value` is not allowed for `name`, or None."""
    spec = PARAMETERS.get(name)
    if spec is not None and spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, got {value!r}"
    return None
