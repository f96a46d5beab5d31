"""Build ``rosbags`` message objects (Header, Image, CompressedImage) from NumPy arrays.

The pixel encoding is the one the node reads (``imaging.conversion``): raw images through
:func:`array_to_image_fields`, compressed ones as image_transport writes them
("bgr8; png compressed bgr8").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cherry_classifier.bags.typestore import build_typestore
from cherry_classifier.imaging.conversion import (
    array_to_compressed,
    array_to_image_fields,
    compressed_format_for,
)

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
COMPRESSIONS = ("none", "png", "jpeg")


def msg_class(msgtype: str) -> Any:
    """The ``rosbags`` dataclass of a message type, e.g. "std_msgs/msg/Header"."""
    return build_typestore().types[msgtype]


def stamp_ns(header: Any) -> int:
    """A header's stamp in nanoseconds (rosbags and rclpy headers alike)."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def header(stamp: int, frame_id: str = "") -> Any:
    """A std_msgs/Header stamped ``stamp`` nanoseconds after the epoch."""
    time = msg_class("builtin_interfaces/msg/Time")(
        sec=int(stamp // 1_000_000_000), nanosec=int(stamp % 1_000_000_000)
    )
    return msg_class("std_msgs/msg/Header")(stamp=time, frame_id=frame_id)


def image_msgtype(compression: str) -> str:
    """Image for "none", CompressedImage for "png"/"jpeg"."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    return IMAGE if compression == "none" else COMPRESSED_IMAGE


def image_message(
    array: np.ndarray,
    stamp: int,
    frame_id: str = "",
    compression: str = "none",
    encoding: str | None = None,
    jpeg_quality: int = 90,
) -> Any:
    """An Image (``compression="none"``) or CompressedImage message of ``array``.

    ``encoding`` (raw only) defaults to mono8 for HxW and bgr8 for HxWx3; pass "8UC3" for a
    stacked layer frame to say that its channels are not colours.
    """
    array = np.ascontiguousarray(array)
    if image_msgtype(compression) == COMPRESSED_IMAGE:
        return msg_class(COMPRESSED_IMAGE)(
            header=header(stamp, frame_id),
            format=compressed_format_for(array, compression),
            data=np.frombuffer(array_to_compressed(array, compression, jpeg_quality), np.uint8),
        )
    encoding = encoding or ("mono8" if array.ndim == 2 else "bgr8")
    fields = array_to_image_fields(array, encoding)
    fields["data"] = np.frombuffer(fields["data"], np.uint8)
    return msg_class(IMAGE)(header=header(stamp, frame_id), **fields)
