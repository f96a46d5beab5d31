"""Where models may be loaded from: every path must resolve inside one models folder.

The swap service is open to anyone on the DDS domain, so a requested path is resolved (``..``
and symbolic links included) and refused unless it stays inside ``models_dir``; so is every file
of a bundle folder that loading reads (``confine_bundle_files``). Messages name the reason
only: the caller prefixes the requested path once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
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
        raise ModelPathError("the path contains a NUL byte")
    root = Path(os.path.realpath(models_dir))
    if not root.is_dir():
        raise ModelPathError(f"models_dir {models_dir} is not a folder")
    candidate = Path(requested).expanduser()
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = Path(os.path.realpath(candidate))
    if not _is_inside(resolved, root):
        raise ModelPathError(f"resolves to {resolved}, outside models_dir {root}")
    if not resolved.exists():
        raise ModelPathError(f"no such file or folder in {root}")
    return resolved


def confine_bundle_files(folder: Path, models_dir: str | Path, names: Iterable[str]) -> None:
    """Refuse a bundle folder whose files ``names`` (or, for a folder among them, its entries)
    resolve outside ``models_dir``: a ``weights.pt -> /elsewhere/weights.pt`` link would load
    what the confinement was meant to keep out."""
    roots = trusted_roots(models_dir)
    for name in names:
        path = folder / name
        if not os.path.lexists(path):
            continue
        _refuse_outside(path, folder, roots)
        if path.is_dir():
            for entry in sorted(path.iterdir()):
                _refuse_outside(entry, folder, roots)


def trusted_roots(models_dir: str | Path) -> tuple[Path, ...]:
    """Where a bundle's files may resolve: ``models_dir``; and, when it is this package's own
    installed models folder, the folder its shipped files link to after ``colcon build
    --symlink-install`` (each installed file is a link into the package's sources)."""
    root = Path(os.path.realpath(models_dir))
    shipped = default_models_dir()
    sample = shipped / "default" / "manifest.yaml"
    if Path(os.path.realpath(shipped)) == root and sample.is_symlink():
        return root, Path(os.path.realpath(sample)).parents[1]
    return (root,)


def _refuse_outside(path: Path, folder: Path, roots: tuple[Path, ...]) -> None:
    resolved = Path(os.path.realpath(path))
    if not any(_is_inside(resolved, root) for root in roots):
        raise ModelPathError(
            f"{path.relative_to(folder)} resolves to {resolved}, outside models_dir {roots[0]}"
        )


def _is_inside(path: Path, root: Path) -> bool:
    return os.path.commonpath([root, path]) == str(root)
