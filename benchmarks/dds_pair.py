"""What the transport benchmarks' publisher and subscriber processes share (rclpy imported by
the caller, inside the process that runs DDS)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

DISCOVERY_SETTLE_S = 1.0  # after matching here, the subscriber's side finishes its discovery


def wait_until_matched(
    rclpy: Any, node: Any, publishers: Sequence[Any], timeout_s: float | None = None
) -> None:
    """Spin until every publisher has a subscriber (or ``timeout_s``), then settle."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while min(p.get_subscription_count() for p in publishers) == 0:
        if deadline is not None and time.monotonic() > deadline:
            break
        rclpy.spin_once(node, timeout_sec=0.05)
    end = time.monotonic() + DISCOVERY_SETTLE_S
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)


def stamped_image(image_type: Any, node: Any, shape: tuple, payload: bytes, frame_id: str) -> Any:
    """A ``sensor_msgs/Image`` of ``shape`` (height, width, encoding, bytes per pixel) holding
    ``payload``, stamped now: the subscriber measures its delay from that stamp."""
    height, width, encoding, channels = shape
    message = image_type(height=height, width=width, encoding=encoding, step=width * channels)
    message.data = payload
    message.header.frame_id = frame_id
    message.header.stamp = node.get_clock().now().to_msg()
    return message


def stamp_age_s(message: Any, now_s: float) -> float:
    """Seconds from a message's header stamp to ``now_s`` (same host clock)."""
    return now_s - (message.header.stamp.sec + message.header.stamp.nanosec * 1e-9)
