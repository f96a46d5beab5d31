"""Start and stop real ROS 2 processes (tests, demo, bag replay) with localhost-only DDS."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cherry_classifier import dds_env


@contextmanager
def ros_process(
    command: Sequence[str], log_path: Path, **env_overrides: str
) -> Iterator[subprocess.Popen]:
    """Run `command` with localhost DDS; on exit interrupt it (SIGINT) and reap it."""
    env = dds_env.localhost_env()
    env.update(env_overrides)
    env["PYTHONUNBUFFERED"] = "1"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(list(command), env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            stop_process(process)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """Interrupt a process like Ctrl-C, then kill it if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode


def wait_until(
    condition: Callable[[], bool], timeout: float, spin: Callable[[], None], what: str
) -> None:
    """Spin until `condition()` holds, failing with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        spin()


def process_output(log_path: Path) -> str:
    return log_path.read_text(errors="replace") if log_path.exists() else ""
