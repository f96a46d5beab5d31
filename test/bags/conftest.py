"""Bags for the bag tools' tests: small synthetic frame and crop bags, and the demo model."""

from __future__ import annotations

import cherry_classifier.core  # noqa: F401  first: sets OMP_WAIT_POLICY before torch loads

# isort: split
from pathlib import Path

import pytest

from cherry_classifier.bags.make_bag import synthetic_triggers, write_image_bag

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO_ROOT / "models" / "default"


@pytest.fixture(scope="session")
def classifier():
    """The bundled demo model (trained on synthetic cherries: right on the easy frames here)."""
    from cherry_classifier.core.classifier import Classifier

    return Classifier.from_path(DEFAULT_MODEL, num_threads=1)


@pytest.fixture(scope="session")
def synthetic_bag(tmp_path_factory) -> Path:
    """2 synthetic frames (12 and 14 cherries) with their truth, PNG, sqlite3."""
    path = tmp_path_factory.mktemp("bags") / "synthetic"
    triggers = synthetic_triggers(2, "/line1/image", cherries=(12, 14), seed=3)
    write_image_bag(path, triggers, "sqlite3", "png")
    return path
