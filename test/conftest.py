"""Shared test set-up: localhost-only DDS for every process, and paths to test data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from cherry_classifier import dds_env  # noqa: E402

# Before anything can start DDS: this process and every child stay on this host.
dds_env.apply()


def shared_dir() -> Path:
    """The read-only shared folder beside the checkout (absent on users' machines)."""
    return Path(os.environ.get("CHERRY_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def production_frames_dir() -> Path:
    """Real production frames; the test is skipped where they are not available."""
    folder = shared_dir() / "data" / "production_frames"
    if not folder.is_dir():
        pytest.skip(f"production frames not available at {folder}")
    return folder
