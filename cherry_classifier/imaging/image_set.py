"""The line's image sets: every layer of one trigger, aligned by its encoder count, as one frame.

The line's camera node publishes one ``cherry_interfaces/ImageSetHdr`` per trigger: the trigger
(``frame_id``, ``stamp``, ``encoder_count``, ``encoder_mm``) and one ``ImageLayer`` per exposure
(``name``, ``image``, ``count``: the encoder count at the start of its acquisition, ``mm``). The
layers are taken a few millimetres of belt apart; each is moved down the rows (along the belt) by
``int((count - count_reference) * px_per_count)`` rows, the reference being the first of
``layer_names`` (bot1), rows shifted in being zero, exactly as the line's own stacking does.

ROS-free and duck-typed: rclpy messages and ``rosbags`` message objects both work, and the old
detector's ``Detectionhdr`` request (six named images with their counts and mm) goes through
:func:`layers_of_detect_request` into the same :func:`join_layers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cherry_classifier.imaging.conversion import image_to_array, to_model_channels
from cherry_classifier.imaging.layers import (
    PX_PER_ENCODER_COUNT,
    belt_offsets_from_encoders,
    stack_layers,
)

DETECT_REQUEST_LAYERS = ("top1", "top2", "top3", "bot1", "bot2", "bot3")  # Detectionhdr's fields


class ImageSetError(ValueError):
    """An image set that cannot be joined (a layer missing, twice, or of another size)."""


@dataclass(frozen=True)
class TriggerInfo:
    """Where on the belt a frame was taken: what the line's buffer needs to find its cherries."""

    frame_id: int  # the trigger's frame id
    encoder_count: int  # encoder count of the reference layer
    encoder_mm: int  # belt position of the reference layer, mm (CherryArray.encoder_count)
    frame_size: tuple[int, int] = (0, 0)  # (width, height) of the joined frame, px


@dataclass(frozen=True)
class LayerInput:
    """One exposure of a trigger: its name, Image message, encoder count and mm."""

    name: str
    image: Any  # sensor_msgs/Image (duck-typed)
    count: int
    mm: int


@dataclass(frozen=True)
class JoinedSet:
    """The layers of one trigger stacked into one frame (channels in ``layer_names`` order)."""

    header: Any  # the reference layer's image header
    image: np.ndarray  # HxWxlen(layer_names) uint8
    trigger: TriggerInfo
    offsets_px: dict[str, int] = field(default_factory=dict)


def layer_key(name: str) -> str:
    """A layer name as the line spells it in either style (``bot_1``, ``BOT1`` -> ``bot1``)."""
    return name.strip().lower().replace("_", "")


def layers_of_image_set(message: Any) -> tuple[int, list[LayerInput]]:
    """(trigger frame id, its layers) of an ``ImageSetHdr``."""
    layers = [
        LayerInput(layer.name, layer.image, int(layer.count), int(layer.mm))
        for layer in message.images
    ]
    return int(message.trigger.frame_id), layers


def layers_of_detect_request(request: Any) -> tuple[int, list[LayerInput]]:
    """(frame id, its non-empty layers) of the old detector's ``Detectionhdr`` request."""
    layers = []
    for name in DETECT_REQUEST_LAYERS:
        image = getattr(request, f"image_{name}")
        if image.width and image.height:
            count, mm = getattr(request, f"count_{name}"), getattr(request, f"mm_{name}")
            layers.append(LayerInput(name, image, int(count), int(mm)))
    return int(request.frame_id), layers


def join_layers(
    frame_id: int,
    layers: Sequence[LayerInput],
    layer_names: Sequence[str],
    px_per_count: float = PX_PER_ENCODER_COUNT,
) -> JoinedSet:
    """Decode, align by encoder count and stack the ``layer_names`` layers of one trigger.

    Layers the model does not use (top1, say) are ignored. Raises ImageSetError naming what is
    wrong, or ImageFormatError (a ValueError) for a layer image that cannot be converted.
    """
    by_name: dict[str, LayerInput] = {}
    for layer in layers:
        key = layer_key(layer.name)
        if key in by_name:
            raise ImageSetError(f"layer {layer.name!r} appears twice in trigger {frame_id}")
        by_name[key] = layer
    wanted = [layer_key(name) for name in layer_names]
    missing = [name for name, key in zip(layer_names, wanted, strict=True) if key not in by_name]
    if missing:
        present = ", ".join(layer.name for layer in layers) or "none"
        raise ImageSetError(f"trigger {frame_id} has no layer {missing} (it has: {present})")
    chosen = {name: by_name[key] for name, key in zip(layer_names, wanted, strict=True)}
    planes = {name: mono_plane(layer.image) for name, layer in chosen.items()}
    shapes = {plane.shape for plane in planes.values()}
    if len(shapes) != 1:
        sizes = ", ".join(f"{name} {p.shape[1]}x{p.shape[0]}" for name, p in planes.items())
        raise ImageSetError(f"trigger {frame_id}: layers of different sizes ({sizes})")
    counts = {name: layer.count for name, layer in chosen.items()}
    offsets = belt_offsets_from_encoders(counts, px_per_count, reference=layer_names[0])
    reference = chosen[layer_names[0]]
    height, width = next(iter(shapes))
    return JoinedSet(
        header=reference.image.header,
        image=stack_layers(planes, layer_names, offsets),
        trigger=TriggerInfo(frame_id, reference.count, reference.mm, (width, height)),
        offsets_px=offsets,
    )


def mono_plane(message: Any) -> np.ndarray:
    """HxW uint8 plane of a layer Image (mono as sent; colour: the model's first channel)."""
    array = image_to_array(
        message.encoding,
        message.height,
        message.width,
        message.step,
        bytes(message.data),
        bool(message.is_bigendian),
    )
    if array.ndim == 2 and array.dtype == np.uint8:
        return array
    return to_model_channels(array, message.encoding)[..., 0]
