"""Reading model files without ever running code from them, and with every refusal named."""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
import yaml

MAX_FILE_BYTES = 1 << 30  # 1 GiB: far above any model here, far below a memory problem


class ModelLoadError(ValueError):
    """A model file or folder was refused; the message names the file and the problem."""


def check_file(path: Path, what: str = "file") -> int:
    """Return the size of ``path``; refuse a missing, empty or oversized file before reading."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such {what}")
    size = path.stat().st_size
    if size == 0:
        raise ModelLoadError(f"{path}: empty file")
    limit = MAX_FILE_BYTES
    if size > limit:
        raise ModelLoadError(f"{path}: {size} bytes is over the {limit}-byte limit for a {what}")
    return size


def torch_load_safely(path: Path) -> Any:
    """``torch.load(weights_only=True, map_location="cpu")`` with named refusals.

    ``weights_only`` admits tensors and plain containers only: a pickle that would import or
    call anything (``__reduce__`` tricks) is refused before any of it runs.
    """
    check_file(path, "weights file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        detail = _unpickler_detail(str(error))
        if detail is not None:
            raise ModelLoadError(
                f"{path}: refused: not a plain weights file ({detail}); only tensors and plain "
                "containers are unpickled, a model file must never run code"
            ) from error
        raise ModelLoadError(f"{path}: unreadable or truncated weights file: {error}") from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError) as error:
        raise ModelLoadError(f"{path}: unreadable or truncated weights file: {error}") from error


def _unpickler_detail(message: str) -> str | None:
    """The reason torch's weights-only unpickler gave, or None if it was not that unpickler."""
    marker = "WeightsUnpickler error:"
    if marker not in message:
        return None
    after = message.split(marker, 1)[1].strip()
    first = after.splitlines()[0].strip() if after else "refused"
    return first.split(". Please use")[0].rstrip(".")


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML mapping read with ``safe_load`` (no tags, no objects)."""
    check_file(path, "manifest")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ModelLoadError(f"{path}: unreadable manifest: {error}") from error
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: the manifest is not a mapping")
    return data


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
