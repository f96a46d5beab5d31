"""ROS domain ids of their own for tests: no two tests, nor two concurrent runs, can talk.

An id is held with an exclusive lock on ``/tmp/cherry_ros_domain_<id>.lock`` for as long as it
is in use, so concurrent pytest runs on one machine never share one (the session's own id,
which ``dds_env`` derived from the process id, is held the same way). Processes started for a
test get the id through ``ROS_DOMAIN_ID``; the test's own rclpy context through ``domain_id``.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cherry_dev import dds_env

FIRST, LAST = 1, 101  # dds_env's range: clear of Linux's ephemeral ports
LOCK_DIR = Path(tempfile.gettempdir())


def _try_lock(domain: int) -> int | None:
    descriptor = os.open(LOCK_DIR / f"cherry_ros_domain_{domain}.lock", os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


@contextmanager
def held_domain(domain: int | None = None) -> Iterator[int]:
    """Hold ``domain`` (or the first free id after this process's own) until the block ends."""
    start = dds_env.pick_domain_id() if domain is None else domain
    candidates = (
        [domain]
        if domain is not None
        else [
            FIRST + (start - FIRST + step) % (LAST - FIRST + 1)
            for step in range(1, LAST - FIRST + 1)
        ]
    )
    for candidate in candidates:
        descriptor = _try_lock(candidate)
        if descriptor is not None:
            break
    else:
        raise RuntimeError(f"no free ROS domain id among {candidates[:5]}...")
    try:
        yield candidate
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


@pytest.fixture(scope="session", autouse=True)
def session_domain() -> Iterator[int]:
    """The run's own id (``ROS_DOMAIN_ID``, set by ``dds_env``), held for the whole run."""
    own = int(dds_env.localhost_env()[dds_env.DOMAIN_ID_VAR])
    try:
        with held_domain(own) as domain:
            yield domain
    except RuntimeError:
        pytest.exit(f"ROS domain {own} is held by another test run: set another ROS_DOMAIN_ID")


@pytest.fixture
def ros_domain(session_domain) -> Iterator[int]:
    """A domain id of this test's own, free in every concurrent run."""
    with held_domain() as domain:
        yield domain


@pytest.fixture(scope="module")
def module_domain(session_domain) -> Iterator[int]:
    """A domain id for one module's shared node (its tests run one after another)."""
    with held_domain() as domain:
        yield domain
