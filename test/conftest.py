"""Shared test set-up: localhost-only DDS for every process, paths to test data, and the one way a
test may be skipped for a missing prerequisite (:func:`require`).

No silent skips in CI: with ``CI=true`` in the environment (``.ci/run`` sets it), a missing
prerequisite (rclpy, the message package ``cherry_classifier_msgs``, the shared production frames,
a pinned dependency, the bundled sample bag) fails the run, saying what is missing and what needs
it; elsewhere (a user's machine without ROS or without ``../shared``) the tests that need it are
skipped with the same message. The only other skips allowed under CI are
:func:`skip_by_design` ones (a test that cannot apply to this hardware, e.g. bf16 on a CPU without
AVX512-BF16/AMX); any other skip, however raised, is turned into a failure under CI by the hooks
at the bottom of this file.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from cherry_dev import dds_env  # noqa: E402

# Before anything can start DDS: this process and every child stay on this host.
dds_env.apply()

BY_DESIGN = "by design: "  # prefix of the reason of every skip that CI accepts


def in_ci(environ: dict[str, str] | None = None) -> bool:
    """Whether this run is CI's (``CI=true``, as GitHub, GitLab and ``.ci/run`` set it)."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in ("1", "true", "yes")


def missing(message: str) -> NoReturn:
    """Skip (locally) or fail (``CI=true``) for a missing prerequisite; works at module level."""
    if in_ci():
        pytest.fail(f"CI=true: missing prerequisite fails the run: {message}", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require(what: str | Path, why: str) -> Any:
    """A prerequisite of the calling test or module: a module's dotted name, or a path.

    Returns the imported module, or the path. If it is missing, the test (or, called at module
    level, the whole module) is skipped, or under ``CI=true`` fails, with a message naming what is
    missing and ``why`` it is needed.
    """
    if isinstance(what, Path):
        if what.exists():
            return what
        missing(f"{what} does not exist; needed for {why}")
    try:
        return importlib.import_module(what)
    except ImportError as error:
        missing(f"cannot import {what} ({error}); needed for {why}")


def skip_by_design(reason: str) -> NoReturn:
    """Skip a test that cannot apply here by design (hardware), also under ``CI=true``."""
    pytest.skip(BY_DESIGN + reason)


def shared_dir() -> Path:
    """The read-only shared folder beside the checkout (absent on users' machines)."""
    return Path(os.environ.get("CHERRY_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def production_frames_dir() -> Path:
    """Real production frames (skipped where absent; under CI=true their absence fails)."""
    return require(shared_dir() / "data" / "production_frames", "the real production frames")


# -- CI: a skip that did not come through skip_by_design fails ---------------------------------
def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_skip_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if reason.startswith(BY_DESIGN):
        return
    report.outcome = "failed"
    report.longrepr = f"CI=true: a skip fails the run (missing prerequisite?): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())


# ROS domain ids of their own for each test (and each module's shared node): test/ros_domains.py
from test.ros_domains import module_domain, ros_domain, session_domain  # noqa: E402, F401
