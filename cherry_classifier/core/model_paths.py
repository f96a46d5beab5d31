"""Where models may be loaded from: every path must resolve inside one models folder.

The swap service is open to anyone on the DDS domain, so a requested path is resolved (``..``
and symbolic links included) and refused unless it stays inside ``models_dir``.
"""

from __future__ import annotations

import os
from pathlib import Path


class ModelPathError(ValueError):
    """A requested model path is missing or outside the models folder."""


def package_share_dir() -> Path:
    """This package's installed share folder, or the source tree when not installed."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("cherry_classifier"))
    except Exception:  # not installed with colcon (tests from source, pip installs)
        return Path(__file__).resolve().parents[2]


def default_models_dir() -> Path:
    """This package's installed models folder, or the source tree's when not installed."""
    return package_share_dir() / "models"


def resolve_model_path(requested: str, models_dir: str | Path) -> Path:
    """Resolve ``requested`` (relative to ``models_dir`` unless absolute); refuse it outside."""
    if not requested or not requested.strip():
        raise ModelPathError("no model path given")
    if "\0" in requested:
        raise ModelPathError(f"{requested!r} contains a NUL byte")
    root = Path(os.path.realpath(models_dir))
    if not root.is_dir():
        raise ModelPathError(f"models_dir {models_dir} is not a folder")
    candidate = Path(requested).expanduser()
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = Path(os.path.realpath(candidate))
    if os.path.commonpath([root, resolved]) != str(root):
        raise ModelPathError(f"{requested} resolves to {resolved}, outside models_dir {root}")
    if not resolved.exists():
        raise ModelPathError(f"{requested}: no such file or folder in {root}")
    return resolved
