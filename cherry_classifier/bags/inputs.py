"""What the classifier node reads from a bag in each input mode, for both bag tools.

``cherry-eval`` (offline) and ``cherry-replay`` (live) take the same settings from the node's
parameters file (:func:`node_params`), choose the same topics (:func:`choose_topics`) and join
decisions to the images they came from by the same key (:func:`decision_keys`): the node's
``source_topic`` and the header stamp of the frame it decided.

- crops, frames: Image / CompressedImage topics; source: the topic; stamp: the image's;
- layers: one mono topic per layer, in layer order; source: the topics joined by ","; stamp:
  the set's first layer's;
- image_set: one ``cherry_interfaces/ImageSetHdr`` topic; source: the topic; stamp: the
  reference (first) layer's image.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from cherry_classifier.bags.io import IMAGE_TYPES, BagError, BagMessage, decode, iter_messages
from cherry_classifier.bags.io import bag_summary as read_summary
from cherry_classifier.bags.line_types import IMAGE_SET_HDR
from cherry_classifier.bags.messages import COMPRESSED_IMAGE, stamp_ns
from cherry_classifier.imaging.image_set import layer_key
from cherry_classifier.imaging.layer_sync import LayerSynchronizer
from cherry_classifier.imaging.layers import LAYER_ORDER, PX_PER_ENCODER_COUNT
from cherry_classifier.imaging.localizer import LocalizerParams
from cherry_classifier.imaging.pipeline import DEFAULT_LAYER_OFFSETS_PX, INPUT_MODES

LOGGER = logging.getLogger(__name__)
NODE_NAME = "classifier"
MONO_ENCODINGS = ("mono8", "mono16", "8UC1", "16UC1")

Key = tuple[str, int]  # (the node's source_topic, header stamp ns)


def node_params(path: str | Path, node: str = NODE_NAME) -> dict[str, Any]:
    """The ``ros__parameters`` of ``node`` (or ``/**``) in a ROS 2 parameters file, flattened
    (``localizer: {channel: 1}`` becomes ``localizer.channel``)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    for key in (f"/**/{node}", node, f"/{node}", "/**"):
        section = data.get(key)
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            return _flatten(section["ros__parameters"])
    raise ValueError(f"{path}: no '/**/{node}: ros__parameters:' section")


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def localizer_params_from(params: Mapping[str, Any]) -> LocalizerParams:
    names = {f.name for f in fields(LocalizerParams)}
    prefix = "localizer."
    return LocalizerParams(
        **{
            k[len(prefix) :]: v
            for k, v in params.items()
            if k.startswith(prefix) and k[len(prefix) :] in names
        }
    )


def resolve_topics(wanted: Sequence[str], available: Sequence[str]) -> list[str] | None:
    """Bag topics for the node's (possibly relative) topic names; None if none is in the bag."""
    resolved, missing = [], []
    for topic in wanted:
        name = topic if topic.startswith("/") else "/" + topic
        matches = [name] if name in available else [t for t in available if t.endswith(name)]
        if len(matches) > 1:
            raise ValueError(f"topic {topic!r} is ambiguous in the bag: {matches}")
        (resolved if matches else missing).append(matches[0] if matches else topic)
    if not resolved:
        return None
    if missing:
        raise ValueError(f"topic(s) {missing} not in the bag; its topics: {sorted(available)}")
    return resolved


@dataclass(frozen=True)
class InputSettings:
    """The node's input settings that decide what it makes of a bag's messages."""

    input_mode: str = "frames"
    topics: tuple[str, ...] = ()
    layer_names: tuple[str, ...] = LAYER_ORDER
    layer_offsets_px: tuple[int, ...] = DEFAULT_LAYER_OFFSETS_PX
    layer_sync_tolerance_s: float = 0.05
    layer_timeout_s: float = 1.0
    encoder_px_per_count: float = PX_PER_ENCODER_COUNT

    def __post_init__(self) -> None:
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"input mode must be one of {INPUT_MODES}, got {self.input_mode!r}")

    @property
    def joined_source(self) -> str:
        """Layers mode: the source topic the node decides a joined set under."""
        return ",".join(self.topics)

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], input_mode: str, topics: Sequence[str]
    ) -> InputSettings:
        """Settings from a flattened parameters file (:func:`node_params`; defaults: the node's)."""
        return cls(
            input_mode=input_mode,
            topics=tuple(topics),
            layer_names=tuple(params.get("layer_names", LAYER_ORDER)),
            layer_offsets_px=tuple(params.get("layer_offsets_px", DEFAULT_LAYER_OFFSETS_PX)),
            layer_sync_tolerance_s=float(params.get("layer_sync_tolerance_ms", 50.0)) / 1000,
            layer_timeout_s=float(params.get("layer_timeout_ms", 1000.0)) / 1000,
            encoder_px_per_count=float(params.get("encoder_px_per_count", PX_PER_ENCODER_COUNT)),
        )


def mode_types(input_mode: str) -> tuple[str, ...]:
    """The message types the node reads in ``input_mode``."""
    return (IMAGE_SET_HDR,) if input_mode == "image_set" else IMAGE_TYPES


def input_topics(bag: str | Path, input_mode: str | None = None) -> dict[str, str]:
    """The bag's topics the node can read (in ``input_mode``; None: any mode), with types."""
    types = mode_types(input_mode) if input_mode else (*IMAGE_TYPES, IMAGE_SET_HDR)
    return {t: m for t, (m, _) in read_summary(bag).topics.items() if m in types}


def choose_topics(
    bag: str | Path,
    input_mode: str,
    topics: Sequence[str] | None = None,
    params_topics: Sequence[str] = (),
    layer_names: Sequence[str] = LAYER_ORDER,
) -> list[str]:
    """The bag topics to read: ``topics`` (``--topics``) if given, else the parameters file's
    ``image_topics`` found in the bag, else (crops, frames) every image topic or (image_set) the
    one image set topic. Raises ValueError saying what the bag has and which flag to pass."""
    available = sorted(input_topics(bag, input_mode))
    kind = "ImageSetHdr" if input_mode == "image_set" else "image (Image/CompressedImage)"
    if not available:
        others = sorted(input_topics(bag))
        raise ValueError(
            f"{input_mode} mode reads {kind} topics and {bag} has none; its readable topics: "
            f"{others or 'none'}" + _mode_hint(bag, others)
        )
    if topics:
        resolved = resolve_topics(topics, available)
        if resolved is None:
            raise ValueError(
                f"none of --topics {list(topics)} in {bag}; its {kind} topics: {available}"
            )
        return resolved
    resolved = resolve_topics(params_topics, available) if params_topics else None
    if resolved is not None:
        return resolved
    if input_mode in ("crops", "frames"):
        LOGGER.info("reading every image topic of the bag: %s", available)
        return available
    if input_mode == "image_set":
        if len(available) == 1:
            return available
        raise ValueError(
            f"image_set mode reads one ImageSetHdr topic; {bag} has {available}: pass --topics "
            "with one of them"
        )
    guess = layer_topics_guess(available, layer_names)
    suggestion = f" (e.g. --topics {' '.join(guess)})" if guess else ""
    raise ValueError(
        f"layers mode needs one mono topic per layer ({', '.join(layer_names)}), in that order, "
        f"and no image_topics of the parameters file is in {bag}. Its image topics: {available}. "
        f"Pass --topics in layer order{suggestion}"
    )


def layer_topics_guess(available: Sequence[str], layer_names: Sequence[str]) -> list[str]:
    """One topic per layer name (the one ending in ``/<layer>``), or [] when that is ambiguous."""
    guess = []
    for name in layer_names:
        matches = [t for t in available if t.rstrip("/").endswith("/" + name)]
        if len(matches) != 1:
            return []
        guess.append(matches[0])
    return guess


def _mode_hint(bag: str | Path, readable: Sequence[str]) -> str:
    types = {input_topics(bag)[t] for t in readable}
    if IMAGE_SET_HDR in types:
        return "; for ImageSetHdr topics pass --input-mode image_set"
    if types:
        return "; for image topics pass --input-mode frames, crops or layers"
    return ""


def mono_topics(bag: str | Path, topics: Iterable[str]) -> list[str]:
    """Of ``topics``, those whose first image has one channel (a layer, not a whole frame)."""
    import cv2
    import numpy as np

    found, seen = [], set()
    for message in iter_messages(bag, topics):
        if message.topic in seen or message.msgtype not in IMAGE_TYPES:
            continue
        seen.add(message.topic)
        image = decode(message)
        if message.msgtype == COMPRESSED_IMAGE:
            array = cv2.imdecode(np.frombuffer(bytes(image.data), np.uint8), cv2.IMREAD_UNCHANGED)
            mono = array is not None and array.ndim == 2
        else:
            mono = image.encoding in MONO_ENCODINGS
        if mono:
            found.append(message.topic)
        if seen >= set(topics):
            break
    return sorted(found)


def frames_over_mono_warning(bag: str | Path, settings: InputSettings) -> str:
    """A warning when frames mode is to read mono topics (layers, most likely), else ""."""
    if settings.input_mode != "frames":
        return ""
    mono = mono_topics(bag, settings.topics)
    if not mono:
        return ""
    guess = layer_topics_guess(mono, settings.layer_names)
    hint = f" --topics {' '.join(guess)}" if guess else " --topics <one per layer, in order>"
    return (
        f"frames mode over mono topic(s) {mono}: each image is taken as a whole frame (its one "
        f"channel copied to all three), not as a layer. For layered cameras pass --input-mode "
        f"layers{hint}, or a --params-file with the line's input_mode"
    )


def decision_keys(bag: str | Path, settings: InputSettings) -> list[Key | None]:
    """For each message of ``settings.topics`` (in :func:`iter_messages` order): the key of the
    decision array the node answers it with; None for a message the node decides nothing for
    (a layer whose set never completes, an image set without the reference layer)."""
    topics = list(settings.topics)
    keys: list[Key | None] = []
    sync = None
    if settings.input_mode == "layers":
        if len(topics) != len(settings.layer_names):
            raise ValueError(
                f"layers mode needs one topic per layer {list(settings.layer_names)}, got {topics}"
            )
        sync = LayerSynchronizer(
            settings.layer_names, settings.layer_sync_tolerance_s, settings.layer_timeout_s
        )
        layer_of = dict(zip(topics, settings.layer_names, strict=True))
    for index, message in enumerate(iter_messages(bag, topics)):
        keys.append(None)
        if settings.input_mode == "image_set":
            keys[index] = image_set_key(message, settings.layer_names[0])
            continue
        header = decode(message).header
        if sync is None:
            keys[index] = (message.topic, stamp_ns(header))
            continue
        stamp_s = header.stamp.sec + header.stamp.nanosec * 1e-9
        complete = sync.add(
            layer_of[message.topic], stamp_s, index, header, now=message.timestamp_ns * 1e-9
        )
        if complete is not None:
            for member in complete.layers.values():
                keys[member] = (settings.joined_source, stamp_ns(complete.header))
    return keys


def image_set_key(message: BagMessage, reference_layer: str) -> Key | None:
    """An image set's key: its topic and the reference layer's image stamp (None: no such layer)."""
    if message.msgtype != IMAGE_SET_HDR:
        raise BagError(f"{message.topic} holds {message.msgtype}, not {IMAGE_SET_HDR}")
    wanted = layer_key(reference_layer)
    for layer in decode(message).images:
        if layer_key(layer.name) == wanted:
            return message.topic, stamp_ns(layer.image.header)
    return None
