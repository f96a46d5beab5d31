"""From an image message to the crops the model sees: one code path for the node and the bag tools.

ROS-free: messages are duck-typed, so rclpy messages and ``rosbags`` message objects both work
(Image: header, encoding, height, width, step, is_bigendian, data; CompressedImage: header,
format, data).

- :func:`decode_image`: the message's pixels as HxWx3 uint8 in the model's channel order;
- :class:`FramePipeline`: the crops of one image in the node's input mode (``crops``: the image
  is one crop; ``frames``/``layers``/``image_set``: the localizer finds the cherries and crops
  are cut around them), and in layers mode the joining of mono layer images into one stacked
  frame (image sets are joined by :mod:`cherry_classifier.imaging.image_set`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cherry_classifier.core.contract import CROP_SIZE_PX
from cherry_classifier.imaging.conversion import (
    compressed_to_array,
    image_to_array,
    to_model_channels,
)
from cherry_classifier.imaging.layer_sync import LayerSynchronizer
from cherry_classifier.imaging.layers import LAYER_ORDER, stack_layers
from cherry_classifier.imaging.localizer import CherryLocalizer, LocalizerParams, Region, cut_crops

INPUT_MODES = ("crops", "frames", "layers", "image_set")  # image_set: the line's ImageSetHdr
# Layers mode: rows bot1, bot2, top2 are shifted along the belt on the threading workstation
# (measured). The one default: the node's layer_offsets_px, the bag tools and make_bag use it.
DEFAULT_LAYER_OFFSETS_PX = (0, 13, 25)


def decode_image(message: Any, compressed: bool) -> np.ndarray:
    """HxWx3 uint8 pixels of an Image (``compressed=False``) or CompressedImage message.

    Channel order as :func:`to_model_channels` gives it (bgr8 stays b,g,r; rgb8 is reordered;
    mono is replicated; 8UC3 passes through). Raises ImageFormatError (a ValueError) with the
    reason for anything it cannot convert.
    """
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
    return to_model_channels(array, encoding)


def header_stamp_s(header: Any) -> float:
    """A header's stamp in seconds (what the layer synchroniser compares)."""
    return header.stamp.sec + header.stamp.nanosec * 1e-9


@dataclass(frozen=True)
class JoinedFrame:
    """A complete set of layers stacked into one frame, under the first layer's header."""

    header: Any
    image: np.ndarray  # HxWxlayers uint8, channels in layer_names order


class FramePipeline:
    """Crop extraction exactly as the classifier node does it, for one input mode.

    ``localizer_params``: a LocalizerParams or a mapping of its fields (the node's
    ``localizer.<name>`` parameters). Layers mode: ``layer_names`` are the layers of the image
    topics in order, ``layer_offsets_px`` their row shifts along the belt (see
    :func:`stack_layers`); layers of one trigger are joined by header stamp within
    ``layer_sync_tolerance_s``.
    """

    def __init__(
        self,
        input_mode: str = "frames",
        crop_size: int = CROP_SIZE_PX,
        localizer_params: LocalizerParams | Mapping[str, Any] | None = None,
        layer_names: Sequence[str] = LAYER_ORDER,
        layer_offsets_px: Sequence[int] = DEFAULT_LAYER_OFFSETS_PX,
        layer_sync_tolerance_s: float = 0.05,
        layer_timeout_s: float = 1.0,
    ) -> None:
        if input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
        if crop_size < 1:
            raise ValueError(f"crop_size must be >= 1, got {crop_size}")
        if isinstance(localizer_params, Mapping):
            localizer_params = LocalizerParams(**localizer_params)
        self.input_mode = input_mode
        self.crop_size = crop_size
        self.localizer = CherryLocalizer(localizer_params)
        self.layer_sync: LayerSynchronizer | None = None
        self.layer_offsets: dict[str, int] = {}
        if input_mode == "layers":
            if len(layer_offsets_px) != len(layer_names):
                raise ValueError(
                    f"layers mode needs one offset per layer: {len(layer_names)} layer_names, "
                    f"{len(layer_offsets_px)} layer_offsets_px"
                )
            self.layer_sync = LayerSynchronizer(
                layer_names, tolerance_s=layer_sync_tolerance_s, timeout_s=layer_timeout_s
            )
            self.layer_offsets = dict(zip(layer_names, layer_offsets_px, strict=True))

    def crops(self, image: np.ndarray) -> tuple[list[np.ndarray], list[Region]]:
        """(crops, the cherries' regions) of one image: crops mode keeps it whole.

        Regions are the localizer's boxes of the cherries (inside the image: what decisions
        publish and labels are matched to); each crop is the ``crop_size`` square centred on
        its cherry, padded where it reaches past the image edge.
        """
        if self.input_mode == "crops":
            height, width = image.shape[:2]
            return [image], [Region(0, 0, width, height)]
        found = self.localizer.locate(image)
        crop_array, _ = cut_crops(image, found, self.crop_size)
        return list(crop_array), list(found)

    def add_layer(
        self, layer: str, header: Any, image: np.ndarray, now: float | None = None
    ) -> JoinedFrame | None:
        """Add one decoded layer image (layers mode); the joined frame when it completes a set.

        ``now``: arrival time for the synchroniser's timeout (default: the monotonic clock;
        offline replays pass the bag time so results never depend on how fast they run).
        Not thread-safe: callers that add from several threads hold a lock.
        """
        if self.layer_sync is None:
            raise ValueError(f"add_layer needs input_mode 'layers', not {self.input_mode!r}")
        mono = image[..., 0] if image.ndim == 3 else image
        complete = self.layer_sync.add(layer, header_stamp_s(header), mono, header, now=now)
        if complete is None:
            return None
        names = self.layer_sync.layer_names
        return JoinedFrame(
            complete.header, stack_layers(complete.layers, names, self.layer_offsets)
        )
