"""Spin-until helper for the live tools (no timers, no sleeps: spin until a condition holds)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool], timeout: float, spin: Callable[[], None], what: str
) -> None:
    """Spin until `condition()` holds, failing with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        spin()
