"""sensor_msgs Image / CompressedImage fields <-> NumPy arrays, without cv_bridge.

Functions take plain fields (encoding, height, width, step, data) so they need no ROS import;
the node passes ``msg.encoding, msg.height, ...``. Anything inconsistent raises
:class:`ImageFormatError` with a message that says what is wrong.
"""

from __future__ import annotations

import numpy as np

MAX_PIXELS = 64 * 1024 * 1024

# encoding -> (channels, NumPy dtype, channel names in memory order)
ENCODINGS: dict[str, tuple[int, np.dtype, tuple[str, ...]]] = {
    "mono8": (1, np.dtype(np.uint8), ("mono",)),
    "8UC1": (1, np.dtype(np.uint8), ("mono",)),
    "mono16": (1, np.dtype(np.uint16), ("mono",)),
    "16UC1": (1, np.dtype(np.uint16), ("mono",)),
    "bgr8": (3, np.dtype(np.uint8), ("b", "g", "r")),
    "8UC3": (3, np.dtype(np.uint8), ("c0", "c1", "c2")),
    "rgb8": (3, np.dtype(np.uint8), ("r", "g", "b")),
    "bgra8": (4, np.dtype(np.uint8), ("b", "g", "r", "a")),
    "rgba8": (4, np.dtype(np.uint8), ("r", "g", "b", "a")),
}


class ImageFormatError(ValueError):
    """An image message that cannot be converted; the message says why."""


def image_to_array(
    encoding: str, height: int, width: int, step: int, data: bytes, is_bigendian: bool = False
) -> np.ndarray:
    """HxW (mono) or HxWxC array viewing ``data``; rows padded to ``step`` bytes are handled."""
    if encoding not in ENCODINGS:
        raise ImageFormatError(
            f"unsupported encoding {encoding!r}; supported: {', '.join(ENCODINGS)}"
        )
    channels, dtype, _ = ENCODINGS[encoding]
    if height <= 0 or width <= 0:
        raise ImageFormatError(f"empty image: {width}x{height}")
    if height * width > MAX_PIXELS:
        raise ImageFormatError(f"image too large: {width}x{height} is over {MAX_PIXELS} pixels")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageFormatError(
            f"step {step} is shorter than a row of {width} {encoding} pixels ({row_bytes} bytes)"
        )
    if step % dtype.itemsize:
        raise ImageFormatError(f"step {step} is not a multiple of {dtype.itemsize} bytes")
    needed = step * (height - 1) + row_bytes
    if len(data) < needed:
        raise ImageFormatError(
            f"data has {len(data)} bytes; {width}x{height} {encoding} at step {step} needs {needed}"
        )
    buffer = np.frombuffer(
        data, dtype=np.uint8, count=step * height if len(data) >= step * height else needed
    )
    if len(buffer) < step * height:  # the last row may be unpadded
        buffer = np.concatenate([buffer, np.zeros(step * height - len(buffer), np.uint8)])
    rows = buffer.reshape(height, step)[:, :row_bytes]
    array = (
        rows.view(dtype.newbyteorder(">" if is_bigendian else "<")) if dtype.itemsize > 1 else rows
    )
    array = array.reshape(height, width, channels) if channels > 1 else array.reshape(height, width)
    return np.ascontiguousarray(array.astype(dtype, copy=False))


def array_to_image_fields(array: np.ndarray, encoding: str) -> dict:
    """Fields of a sensor_msgs/Image (height, width, encoding, is_bigendian, step, data)."""
    if encoding not in ENCODINGS:
        raise ImageFormatError(f"unsupported encoding {encoding!r}")
    channels, dtype, _ = ENCODINGS[encoding]
    array = np.ascontiguousarray(array)
    expected_ndim = 2 if channels == 1 else 3
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        raise ImageFormatError(f"{encoding} needs {channels} channel(s), got shape {array.shape}")
    if array.dtype != dtype:
        raise ImageFormatError(f"{encoding} needs {dtype}, got {array.dtype}")
    height, width = array.shape[:2]
    little = array.astype(dtype.newbyteorder("<"), copy=False)
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": 0,
        "step": width * channels * dtype.itemsize,
        "data": little.tobytes(),
    }


def compressed_to_array(fmt: str, data: bytes) -> np.ndarray:
    """Decode a CompressedImage payload (jpeg/png) to BGR8 (or mono8 for grey images)."""
    import cv2

    if not data:
        raise ImageFormatError("empty CompressedImage payload")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ImageFormatError(f"CompressedImage ({fmt or 'no format'}) could not be decoded")
    if decoded.dtype == np.uint16:
        decoded = mono16_to_mono8(decoded)
    if decoded.ndim == 3 and decoded.shape[2] == 4:
        decoded = decoded[..., :3]
    return np.ascontiguousarray(decoded)


def array_to_compressed(array: np.ndarray, fmt: str = "png") -> bytes:
    import cv2

    ok, encoded = cv2.imencode(f".{fmt}", array)
    if not ok:
        raise ImageFormatError(f"could not encode {array.shape} as {fmt}")
    return encoded.tobytes()


def mono16_to_mono8(array: np.ndarray) -> np.ndarray:
    """Keep the high byte: 16-bit cameras' full range mapped to 0..255."""
    return (array >> 8).astype(np.uint8)


def channel_order_for(encoding: str) -> tuple[str, ...]:
    """Channel names of what :func:`to_model_channels` returns for this encoding."""
    channels = ENCODINGS[encoding][0] if encoding in ENCODINGS else 3
    return (
        ("mono",) * 3
        if channels == 1
        else ("b", "g", "r")
        if encoding != "8UC3"
        else ("c0", "c1", "c2")
    )


def to_model_channels(array: np.ndarray, encoding: str) -> np.ndarray:
    """HxWx3 uint8 in memory order b,g,r (colour) or the 3 stacked layers as sent (8UC3/bgr8).

    Mono images are replicated to 3 channels; rgb is reordered to bgr; alpha is dropped;
    16-bit is reduced to 8. A layered frame sent as bgr8/8UC3 keeps its channel order
    (e.g. bot1, bot2, top2), which the model's manifest names.
    """
    if array.dtype == np.uint16:
        array = mono16_to_mono8(array)
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if encoding in ("rgb8", "rgba8"):
        array = array[..., 2::-1] if encoding == "rgba8" else array[..., ::-1]
    return np.ascontiguousarray(array[..., :3])
