"""The classifier node's ROS parameters: declarations with descriptors, and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

from cherry_classifier.core.decision import LABEL_NAMES, Thresholds

INPUT_MODES = ("crops", "frames", "layers")
RELIABILITIES = ("best_effort", "reliable")
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
    "backend": Spec(
        "eager",
        "inference backend: eager, torchscript, onnxruntime or a low-precision variant",
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
        "longest wait for a fuller batch, from the arrival of the oldest waiting frame",
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
        "input topics (one per camera or line; one per layer in layers mode)",
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
        "layers: mono layer topics joined by stamp into one frame",
        ParameterType.PARAMETER_STRING,
        choices=INPUT_MODES,
    ),
    "crop_size": Spec(
        128,
        "side of the crops cut around each cherry in frames/layers mode (px)",
        ParameterType.PARAMETER_INTEGER,
        int_range=(8, 1024),
    ),
    "layer_names": Spec(
        ["bot1", "bot2", "top2"],
        "layers mode: channel name of each image_topics entry, in model channel order",
        ParameterType.PARAMETER_STRING_ARRAY,
    ),
    "layer_offsets_px": Spec(
        [0, 0, 0],
        "layers mode: shift of each layer along the belt, in px, to align it with the first",
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
    "qos_reliability": Spec(
        "best_effort",
        "input QoS reliability (sensor data: best_effort)",
        ParameterType.PARAMETER_STRING,
        choices=RELIABILITIES,
    ),
    "qos_depth": Spec(
        5, "input QoS history depth", ParameterType.PARAMETER_INTEGER, int_range=(1, 1000)
    ),
    # Monitoring.
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
    thresholds_from({name: values[name] for name in THRESHOLD_NAMES})


def check_choice(name: str, value: Any) -> str | None:
    """Return why `value` is not allowed for `name`, or None."""
    spec = PARAMETERS.get(name)
    if spec is not None and spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, got {value!r}"
    return None
