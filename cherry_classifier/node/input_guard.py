"""Cheap checks of incoming image messages before any pixel is copied, and per-kind counters.

The node runs :meth:`InputGuard.check_raw` / :meth:`InputGuard.check_compressed` on each message
before converting it, and :meth:`InputGuard.record` on anything the conversion or the localizer
still refuses, so every refusal lands in exactly one counter (shown in /diagnostics) and a log
line that says what was wrong, at most one per kind every ``log_period_s``.

Refused (counted as input errors, the frame is not decided; the header rules and their kinds
are the conversion's own, ``conversion.check_image_header`` / ``check_compressed_header``):
  bad_encoding        encoding not in ``conversion.ENCODINGS``
  bad_size            zero width or height, or more than ``MAX_PIXELS`` pixels (checked from the
                      header, before allocating; for PNG and JPEG payloads from the size their
                      own header claims, other compressed formats are held to the same limit
                      while decoding, via OpenCV's ``OPENCV_IO_MAX_IMAGE_PIXELS``)
  bad_step            ``step`` shorter than a row, or not a whole number of samples
  truncated_data      ``data`` shorter than ``step * height``
  corrupt_compressed  a CompressedImage payload that is empty or does not decode
  bad_image           anything else the conversion or the localizer refuses
  internal_error      an unexpected exception (a bug: the message says which)

Accepted but counted as warnings (header passthrough matters more than a clean clock):
  long_data           ``data`` longer than ``step * height`` (the tail is ignored)
  zero_stamp          header stamp 0.0
  backwards_stamp     a stamp older than the previous one on the same topic (clock jump,
                      publisher restart); in layers mode such layers simply form new sets,
                      and stale sets still time out by arrival time
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cherry_classifier.imaging.conversion import (
    COMPRESSED_HEADER_BYTES,
    MAX_PIXELS,
    ImageFormatError,
    check_compressed_header,
    check_image_header,
)

# Hold compressed payloads to the raw limit while decoding (read by OpenCV at its first decode).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

ERROR_KINDS = (
    "bad_encoding",
    "bad_size",
    "bad_step",
    "truncated_data",
    "corrupt_compressed",
    "bad_image",
    "internal_error",
)
WARNING_KINDS = ("long_data", "zero_stamp", "backwards_stamp")


@dataclass(frozen=True)
class InputFault:
    """What is wrong with one message: a kind from ERROR_KINDS or WARNING_KINDS and a reason."""

    kind: str
    reason: str

    @classmethod
    def of(cls, error: ImageFormatError) -> InputFault:
        return cls(error.kind, str(error))


def raw_image_fault(
    encoding: Any, height: int, width: int, step: int, data_length: int
) -> InputFault | None:
    """Why a sensor_msgs/Image with these fields cannot be converted, or None.

    The conversion's own header rules (``conversion.check_image_header``), run before the data
    is copied; data beyond ``step * height`` is a ``long_data`` warning.
    """
    try:
        check_image_header(encoding, height, width, step, data_length)
    except ImageFormatError as error:
        return InputFault.of(error)
    if data_length > step * height:
        return InputFault(
            "long_data", f"data has {data_length - step * height} bytes beyond step * height"
        )
    return None


def compressed_fault(data: bytes) -> InputFault | None:
    """Why a CompressedImage payload is refused before decoding, or None (the conversion's
    ``check_compressed_header``: empty, or a PNG/JPEG header claiming an impossible size)."""
    try:
        check_compressed_header(data)
    except ImageFormatError as error:
        return InputFault.of(error)
    return None


@dataclass
class InputGuard:
    """Thread-safe per-kind counters, last stamps per topic and a per-kind log rate limit."""

    log_period_s: float = 5.0
    counts: dict[str, int] = field(default_factory=dict)
    _last_stamp: dict[str, float] = field(default_factory=dict)
    _last_log: dict[str, float] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_raw(self, message: Any) -> InputFault | None:
        return raw_image_fault(
            message.encoding, message.height, message.width, message.step, len(message.data)
        )

    def check_compressed(self, message: Any) -> InputFault | None:
        return compressed_fault(bytes(message.data[:COMPRESSED_HEADER_BYTES]))

    def check_stamp(self, source: str, stamp: Any) -> InputFault | None:
        """A warning for a zero stamp or one older than the last on ``source`` (else None)."""
        seconds = stamp.sec + stamp.nanosec * 1e-9
        with self._lock:
            previous = self._last_stamp.get(source)
            self._last_stamp[source] = seconds
        if seconds == 0.0:
            return InputFault("zero_stamp", "header stamp is zero")
        if previous is not None and seconds < previous:
            return InputFault(
                "backwards_stamp",
                f"stamp {seconds:.3f} s is {previous - seconds:.3f} s older than the previous one",
            )
        return None

    def record(self, fault: InputFault, now: float | None = None) -> str | None:
        """Count ``fault``; return the log line to write, or None while its kind is throttled.

        The line says how many of the same kind were not logged since the last one.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            self.counts[fault.kind] = self.counts.get(fault.kind, 0) + 1
            last = self._last_log.get(fault.kind)
            if last is not None and now - last < self.log_period_s:
                self._suppressed[fault.kind] = self._suppressed.get(fault.kind, 0) + 1
                return None
            self._last_log[fault.kind] = now
            suppressed = self._suppressed.pop(fault.kind, 0)
        more = f" (+{suppressed} more of this kind not logged)" if suppressed else ""
        return f"{fault.kind}: {fault.reason}{more}"

    def snapshot(self) -> dict[str, int]:
        """Every kind's count (zeros included), errors first."""
        with self._lock:
            return {kind: self.counts.get(kind, 0) for kind in ERROR_KINDS + WARNING_KINDS}

    @property
    def errors(self) -> int:
        with self._lock:
            return sum(self.counts.get(kind, 0) for kind in ERROR_KINDS)
