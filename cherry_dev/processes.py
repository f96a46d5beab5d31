"""Start and stop real ROS 2 processes (tests, benchmarks) with localhost-only DDS."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cherry_classifier.live.node_start import running_node, stop_process
from cherry_classifier.live.waiting import wait_until
from cherry_dev import dds_env

FAILURE_LOG_LINES = 30

__all__ = ["process_output", "ros_process", "stop_process", "wait_until"]


@contextmanager
def ros_process(
    command: Sequence[str], log_path: Path, **env_overrides: str
) -> Iterator[subprocess.Popen]:
    """Run `command` with localhost DDS; on exit interrupt it (SIGINT) and reap it. Should the
    block fail, the last lines of the process's log are printed (pytest shows them beside the
    failure: a CI log then says what the node was doing)."""
    with running_node(command, log_path, {**dds_env.localhost_env(), **env_overrides}) as process:
        try:
            yield process
        except Exception:
            lines = process_output(log_path).splitlines()[-FAILURE_LOG_LINES:]
            print(f"--- last {len(lines)} lines of {log_path} ---", *lines, sep="\n")
            raise


def process_output(log_path: Path) -> str:
    return log_path.read_text(errors="replace") if log_path.exists() else ""
