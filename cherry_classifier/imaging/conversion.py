"""sensor_msgs Image / CompressedImage fields <-> NumPy arrays, without cv_bridge or ROS imports.

Functions take plain fields (encoding, height, width, step, data) so the node can pass
``msg.encoding, msg.height, msg.width, msg.step, msg.data``. Anything unsupported or
inconsistent raises :class:`ImageFormatError` (a ``ValueError``) whose message says what is wrong
and whose ``kind`` names the rule (the node's input guard counts refusals by it).
:func:`check_image_header` and :func:`check_compressed_header` are those rules on the header
alone: the guard runs them before any pixel is copied, the conversions run them too.

Colour handling for the model (:func:`to_model_channels`): the model sees HxWx3 uint8 in the
channel order named by :func:`channel_order_for` — bgr8/bgra8 keep b,g,r; rgb8/rgba8 are
reordered to b,g,r; alpha is dropped; mono is replicated to 3 channels; 16-bit is reduced to 8 bit
by :func:`mono16_to_mono8`; 8UC3 (e.g. a bot1, bot2, top2 layered frame) is passed through as sent.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import cv2
import numpy as np

MAX_PIXELS = 64 * 1024 * 1024  # refuse anything larger: a corrupt header, not a camera frame
COMPRESSED_HEADER_BYTES = 65536  # where a PNG's IHDR or a JPEG's frame header must be

# encoding -> (channels, dtype, channel names in memory order)
ENCODINGS: dict[str, tuple[int, np.dtype, tuple[str, ...]]] = {
    "mono8": (1, np.dtype(np.uint8), ("mono",)),
    "8UC1": (1, np.dtype(np.uint8), ("mono",)),
    "mono16": (1, np.dtype(np.uint16), ("mono",)),
    "16UC1": (1, np.dtype(np.uint16), ("mono",)),
    "bgr8": (3, np.dtype(np.uint8), ("b", "g", "r")),
    "rgb8": (3, np.dtype(np.uint8), ("r", "g", "b")),
    "8UC3": (3, np.dtype(np.uint8), ("c0", "c1", "c2")),
    "bgra8": (4, np.dtype(np.uint8), ("b", "g", "r", "a")),
    "rgba8": (4, np.dtype(np.uint8), ("r", "g", "b", "a")),
}
MONO_ENCODINGS = frozenset(name for name, spec in ENCODINGS.items() if spec[0] == 1)
_MODEL_ORDER = {1: ("mono", "mono", "mono"), 3: ("b", "g", "r"), 4: ("b", "g", "r")}


class ImageFormatError(ValueError):
    """An image that cannot be converted; the message says why, ``kind`` which rule it broke:
    bad_encoding, bad_size, bad_step, truncated_data, corrupt_compressed or bad_image."""

    def __init__(self, message: str, kind: str = "bad_image") -> None:
        super().__init__(message)
        self.kind = kind


def check_image_header(encoding: Any, height: int, width: int, step: int, data_length: int) -> None:
    """Raise ImageFormatError if an Image with these fields cannot be converted (data unread).

    ``data`` longer than ``step * height`` is accepted (the tail is ignored).
    """
    channels, dtype = _encoding_spec(encoding)
    _check_pixels(width, height)
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageFormatError(
            f"step {step} is shorter than a row of {width} {encoding} pixels ({row_bytes} bytes)",
            "bad_step",
        )
    if step % dtype.itemsize:
        raise ImageFormatError(
            f"step {step} is not a whole number of {dtype.itemsize}-byte samples", "bad_step"
        )
    if data_length < step * height:
        raise ImageFormatError(
            f"data has {data_length} bytes; {width}x{height} {encoding} at step {step} "
            f"needs {step * height}",
            "truncated_data",
        )


# -- raw sensor_msgs/Image ------------------------------------------------------------------------
def image_to_array(
    encoding: str,
    height: int,
    width: int,
    step: int,
    data: Any,
    is_bigendian: bool = False,
) -> np.ndarray:
    """HxW (mono) or HxWxC array of an Image message's pixels.

    ``step`` may exceed a row's bytes (padding is skipped); ``data`` may be longer than
    ``step * height`` (the tail is ignored). 16-bit encodings come back as native uint16.
    8-bit images without row padding are a zero-copy, read-only view of ``data``.
    """
    channels, dtype = _encoding_spec(encoding)
    height, width = _as_size("height", height), _as_size("width", width)
    step = _as_size("step", step)
    _check_pixels(width, height)
    buffer = _as_byte_array(data)
    check_image_header(encoding, height, width, step, buffer.size)
    row_bytes = width * channels * dtype.itemsize
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    if dtype.itemsize > 1:
        wire = dtype.newbyteorder(">" if is_bigendian else "<")
        rows = rows.view(wire).astype(dtype, copy=False)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.ascontiguousarray(rows.reshape(shape))


def array_to_image_fields(
    array: np.ndarray, encoding: str, step: int | None = None, is_bigendian: bool = False
) -> dict[str, Any]:
    """Fields of a sensor_msgs/Image: height, width, encoding, is_bigendian, step, data.

    ``step`` (default: no padding) pads each row with zero bytes; ``is_bigendian`` writes 16-bit
    samples most significant byte first. Inverse of :func:`image_to_array`.
    """
    channels, dtype = _encoding_spec(encoding)
    array = np.asarray(array)
    if array.ndim == 3 and channels == 1 and array.shape[2] == 1:
        array = array[..., 0]
    expected_ndim = 2 if channels == 1 else 3
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        raise ImageFormatError(f"{encoding} needs {channels} channel(s), got shape {array.shape}")
    if array.dtype != dtype:
        raise ImageFormatError(f"{encoding} needs {dtype} pixels, got {array.dtype}")
    height, width = array.shape[:2]
    _check_pixels(width, height)
    row_bytes = width * channels * dtype.itemsize
    step = row_bytes if step is None else _as_size("step", step)
    if step < row_bytes or step % dtype.itemsize:
        raise ImageFormatError(f"step {step} does not fit rows of {row_bytes} bytes")
    wire = array.astype(dtype.newbyteorder(">" if is_bigendian else "<"), copy=False)
    rows = np.ascontiguousarray(wire).view(np.uint8).reshape(height, row_bytes)
    if step > row_bytes:
        rows = np.concatenate([rows, np.zeros((height, step - row_bytes), np.uint8)], axis=1)
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": int(bool(is_bigendian)),
        "step": step,
        "data": rows.tobytes(),
    }


def mono16_to_mono8(array: np.ndarray, significant_bits: int = 16) -> np.ndarray:
    """Scale 16-bit samples to uint8: the top 8 of ``significant_bits`` (e.g. 12 for 12-bit)."""
    if not 8 <= significant_bits <= 16:
        raise ValueError(f"significant_bits must be 8..16, got {significant_bits}")
    shifted = np.asarray(array, np.uint16) >> (significant_bits - 8)
    return np.minimum(shifted, 255).astype(np.uint8)


# -- sensor_msgs/CompressedImage ------------------------------------------------------------------
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers


def compressed_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) a PNG or JPEG payload's header claims, read without decoding it;
    None for other formats or a header too short to say."""
    if data[:8] == PNG_SIGNATURE:
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    position = 2
    while position + 9 <= len(data):  # walk the segments up to the first frame header
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker in JPEG_SOF_MARKERS:
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return width, height
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def check_compressed_header(data: bytes) -> None:
    """Raise ImageFormatError for an empty payload, or a PNG or JPEG header that claims an empty
    image or more than ``MAX_PIXELS`` pixels (read from the first ``COMPRESSED_HEADER_BYTES``;
    other formats are left to the decoder)."""
    if len(data) == 0:
        raise ImageFormatError("empty CompressedImage payload", "corrupt_compressed")
    size = compressed_dimensions(bytes(data[:COMPRESSED_HEADER_BYTES]))
    if size is None:
        return
    width, height = size
    if width == 0 or height == 0:
        raise ImageFormatError(
            f"compressed header claims an empty image: {width}x{height}", "bad_size"
        )
    if width * height > MAX_PIXELS:
        raise ImageFormatError(
            f"compressed header claims {width}x{height}, over {MAX_PIXELS} pixels", "bad_size"
        )


def compressed_to_array(fmt: str, data: Any) -> np.ndarray:
    """Decode a CompressedImage payload (jpeg, png, ... anything cv2.imdecode reads).

    ``fmt`` is the message's format field: plain ("jpeg", "png") or as image_transport writes it
    ("bgr8; jpeg compressed bgr8", "mono8; png compressed mono8"). Returns HxW for grey payloads
    and for mono sources (``fmt`` starting "mono8;"/"mono16;"...), else HxWx3 in b,g,r order
    (alpha dropped). 16-bit PNG stays uint16 (see :func:`encoding_of`).
    """
    fmt = fmt if isinstance(fmt, str) else ""
    if "compresseddepth" in fmt.lower():
        raise ImageFormatError(f"compressedDepth images ({fmt!r}) are not supported")
    buffer = _as_byte_array(data)
    check_compressed_header(buffer[:COMPRESSED_HEADER_BYTES].tobytes())
    try:
        decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageFormatError(
            f"CompressedImage ({fmt or 'no format'}): {error}", "corrupt_compressed"
        ) from None
    if decoded is None or decoded.size == 0:
        raise ImageFormatError(
            f"CompressedImage ({fmt or 'no format'}) could not be decoded", "corrupt_compressed"
        )
    _check_pixels(decoded.shape[1], decoded.shape[0])
    if decoded.dtype not in (np.uint8, np.uint16):
        raise ImageFormatError(f"decoded {decoded.dtype} pixels; only 8 and 16 bit are supported")
    if decoded.ndim == 3 and decoded.shape[2] == 4:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2BGR)
    if decoded.ndim == 3 and source_encoding(fmt) in MONO_ENCODINGS:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(decoded)


def source_encoding(fmt: str) -> str | None:
    """The original encoding named before ';' in an image_transport format string, if any."""
    if ";" not in fmt:
        return None
    name = fmt.split(";", 1)[0].strip()
    return name or None


def encoding_of(array: np.ndarray) -> str:
    """The Image encoding that describes a decoded array: mono8, mono16, bgr8 or bgra8."""
    if array.ndim == 2 and array.dtype in (np.uint8, np.uint16):
        return "mono8" if array.dtype == np.uint8 else "mono16"
    if array.ndim == 3 and array.dtype == np.uint8 and array.shape[2] in (3, 4):
        return "bgr8" if array.shape[2] == 3 else "bgra8"
    raise ImageFormatError(f"no encoding for a {array.dtype} array of shape {array.shape}")


def array_to_compressed(array: np.ndarray, fmt: str = "png", jpeg_quality: int = 95) -> bytes:
    """Encode an HxW or HxWx3 (b,g,r) array as ``fmt`` ("png" or "jpeg"/"jpg")."""
    extension = {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg"}.get(fmt.lower())
    if extension is None:
        raise ImageFormatError(f"unsupported compression {fmt!r}; use png or jpeg")
    options = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if extension == ".jpg" else []
    try:
        ok, encoded = cv2.imencode(extension, np.ascontiguousarray(array), options)
    except cv2.error as error:
        raise ImageFormatError(f"could not encode {array.shape} as {fmt}: {error}") from None
    if not ok:
        raise ImageFormatError(f"could not encode {array.shape} {array.dtype} as {fmt}")
    return encoded.tobytes()


def compressed_format_for(array: np.ndarray, fmt: str = "png") -> str:
    """The CompressedImage format string image_transport would write, e.g. "bgr8; png ..."."""
    encoding = encoding_of(array)
    codec = "jpeg" if fmt.lower() in ("jpeg", "jpg") else fmt.lower()
    return f"{encoding}; {codec} compressed {encoding}"


# -- what the model sees --------------------------------------------------------------------------
def channel_order_for(encoding: str) -> tuple[str, str, str]:
    """Names of the 3 channels :func:`to_model_channels` returns for ``encoding``."""
    channels, _ = _encoding_spec(encoding)
    if encoding == "8UC3":
        return ("c0", "c1", "c2")  # passed through: the sender decides (e.g. bot1, bot2, top2)
    return _MODEL_ORDER[channels]


def to_model_channels(array: np.ndarray, encoding: str) -> np.ndarray:
    """HxWx3 uint8 for the model, channels as named by :func:`channel_order_for`."""
    _encoding_spec(encoding)  # refuses unknown encodings
    array = np.asarray(array)
    if array.dtype == np.uint16:
        array = mono16_to_mono8(array)
    if array.dtype != np.uint8:
        raise ImageFormatError(f"{encoding}: cannot use {array.dtype} pixels")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ImageFormatError(f"{encoding}: cannot use an array of shape {array.shape}")
    if encoding in ("rgb8", "rgba8"):
        return np.ascontiguousarray(array[..., 2::-1])
    return np.ascontiguousarray(array[..., :3])


# -- helpers --------------------------------------------------------------------------------------
def _encoding_spec(encoding: Any) -> tuple[int, np.dtype]:
    if not isinstance(encoding, str) or encoding not in ENCODINGS:
        raise ImageFormatError(
            f"unsupported encoding {encoding!r}; supported: {', '.join(ENCODINGS)}",
            "bad_encoding",
        )
    channels, dtype, _ = ENCODINGS[encoding]
    return channels, dtype


def _as_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ImageFormatError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise ImageFormatError(f"{name} must be positive, got {value}")
    return int(value)


def _check_pixels(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageFormatError(f"empty image: {width}x{height}", "bad_size")
    if width * height > MAX_PIXELS:
        raise ImageFormatError(
            f"image too large: {width}x{height} is over {MAX_PIXELS} pixels", "bad_size"
        )


def _as_byte_array(data: Any) -> np.ndarray:
    """A flat uint8 view of bytes, bytearray, memoryview, array.array or a list of byte values."""
    try:
        return np.frombuffer(memoryview(data).cast("B"), np.uint8)
    except (TypeError, ValueError):
        pass
    if isinstance(data, list | tuple):
        try:
            return np.frombuffer(bytes(data), np.uint8)
        except (TypeError, ValueError) as error:
            raise ImageFormatError(f"data is not a sequence of byte values: {error}") from None
    raise ImageFormatError(f"data must be bytes-like, got {type(data).__name__}")
