"""Reading model files without ever running code from them, and with every refusal named."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from numpy.lib import format as npy_format

MAX_FILE_BYTES = 1 << 30  # 1 GiB: far above any model here, far below a memory problem
# A manifest is a few KiB (models/default: 4.7 KiB, longest string 112 characters, the
# provenance note). 1 MiB and 64 KiB per string leave room for long provenance and refuse a
# 20 MiB string, which once made a swap take 16 s.
MAX_MANIFEST_BYTES = 1 << 20
MAX_MANIFEST_STRING_CHARS = 64 << 10
MAX_MANIFEST_ITEMS = 100_000  # keys, values and list items together
# A reference distribution (reference.json, core.drift) is under 1 KiB (models/default: 816
# bytes); 64 KiB leaves room for a long source note and refuses anything else.
MAX_REFERENCE_BYTES = 64 << 10


@dataclass(frozen=True)
class NpzLimits:
    """What an ``.npz`` may hold, checked from its zip directory and .npy headers alone."""

    max_rows: int  # first dimension of every array (the crop count of a golden set)
    max_member_bytes: int  # uncompressed, one array
    max_total_bytes: int  # uncompressed, all arrays; also the most the file itself may weigh
    max_members: int = 8


# Golden sets: models/default holds 16 crops of 128x128x3 (768 KiB uncompressed, 274 KiB on
# disk); training writes ``golden_crops`` (default 16) test crops at the crop contract's size.
# 64 crops of 256x256x3 are 12 MiB: the largest set a contract here could need.
GOLDEN_LIMITS = NpzLimits(max_rows=64, max_member_bytes=12 << 20, max_total_bytes=16 << 20)


class ModelLoadError(ValueError):
    """A model file or folder was refused; the message names the file and the problem."""


def check_file(path: Path, what: str = "file", limit: int | None = None) -> int:
    """Return the size of ``path``; refuse a missing, empty, oversized or non-regular file
    (a FIFO would block the reader, a device never end) before reading."""
    try:
        status = os.stat(path)
    except OSError:
        raise ModelLoadError(f"{path}: no such {what}") from None
    if not stat.S_ISREG(status.st_mode):
        raise ModelLoadError(f"{path}: not a regular file (a {what} must be one)")
    size = status.st_size
    limit = MAX_FILE_BYTES if limit is None else limit
    if size == 0:
        raise ModelLoadError(f"{path}: empty file")
    if size > limit:
        raise ModelLoadError(f"{path}: {size} bytes is over the {limit}-byte limit for a {what}")
    return size


def check_npz(path: Path, limits: NpzLimits, what: str = "golden set") -> None:
    """Refuse an ``.npz`` whose arrays would exceed ``limits``, before reading any array.

    Reads only the zip directory and each member's .npy header (a few hundred bytes
    decompressed): a decompression bomb is refused without being inflated. The header's
    shape and dtype must account for the member's uncompressed size exactly, so neither
    can understate what reading would allocate.
    """
    check_file(path, what, limit=limits.max_total_bytes)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > limits.max_members:
                raise ModelLoadError(
                    f"{path}: {len(members)} arrays, over the {limits.max_members}-array limit "
                    f"for a {what}"
                )
            total = 0
            for member in members:
                _check_npz_member(path, archive, member, limits, what)
                total += member.file_size
                if total > limits.max_total_bytes:
                    raise ModelLoadError(
                        f"{path}: over {total} bytes uncompressed, over the "
                        f"{_mib(limits.max_total_bytes)} limit for a {what}"
                    )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as error:
        raise ModelLoadError(f"{path}: unreadable {what}: {error}") from error


def _check_npz_member(
    path: Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo, limits: NpzLimits, what: str
) -> None:
    name = member.filename
    if member.file_size > limits.max_member_bytes:
        raise ModelLoadError(
            f"{path}: {name} is {member.file_size} bytes uncompressed, over the "
            f"{_mib(limits.max_member_bytes)} limit for one array of a {what}"
        )
    with archive.open(member) as stream:
        try:
            version = npy_format.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(stream)
            elif version in ((2, 0), (3, 0)):
                shape, _, dtype = npy_format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unknown .npy version {version}")
        except ValueError as error:
            raise ModelLoadError(f"{path}: {name} is not a plain .npy array: {error}") from error
        header_bytes = stream.tell()
    if dtype.hasobject:
        raise ModelLoadError(f"{path}: {name} holds Python objects; a {what} holds numbers")
    if shape and shape[0] > limits.max_rows:
        raise ModelLoadError(
            f"{path}: {name} holds {shape[0]} rows, over the {limits.max_rows}-crop limit "
            f"for a {what}"
        )
    data_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else dtype.itemsize
    if header_bytes + data_bytes != member.file_size:
        raise ModelLoadError(
            f"{path}: {name} declares shape {shape} of {dtype} ({data_bytes} bytes) but the "
            f"archive records {member.file_size - header_bytes}"
        )


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB"


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
                f"{path}: not a plain weights file ({detail}); only tensors and plain "
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
    """A YAML mapping read with ``safe_load`` (no tags, no objects), within the manifest
    limits: the file's size before parsing, every string's length after."""
    check_file(path, "manifest", limit=MAX_MANIFEST_BYTES)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as error:
        raise ModelLoadError(f"{path}: unreadable manifest: {str(error)[:200]}") from error
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: the manifest is not a mapping")
    check_manifest_strings(data, path)
    return data


def check_manifest_strings(data: Any, source: Path | str) -> None:
    """Refuse a manifest holding a string (key or value) over MAX_MANIFEST_STRING_CHARS or
    more than MAX_MANIFEST_ITEMS items. Each container is visited once, so YAML aliases that
    repeat one list many times cost nothing."""
    seen: set[int] = set()
    pending: list[tuple[str, Any]] = [("manifest", data)]
    items = 0
    while pending:
        where, value = pending.pop()
        items += 1
        if items > MAX_MANIFEST_ITEMS:
            raise ModelLoadError(
                f"{source}: the manifest holds over {MAX_MANIFEST_ITEMS} items (limit)"
            )
        if isinstance(value, str | bytes):
            if len(value) > MAX_MANIFEST_STRING_CHARS:
                raise ModelLoadError(
                    f"{source}: {where} is a {len(value)}-character string, over the "
                    f"{MAX_MANIFEST_STRING_CHARS}-character limit for a manifest string"
                )
        elif isinstance(value, dict | list | tuple):
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, dict):
                for key, item in value.items():
                    label = f"{where}.{str(key)[:40]}"
                    pending.append((f"{where} key", key))
                    pending.append((label, item))
            else:
                pending.extend((f"{where}[{i}]", item) for i, item in enumerate(value))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
