"""Layered production frames: mono exposures of one trigger, aligned along the belt and stacked.

A trigger takes its layers (bot1, bot2, top1, top2) one after another while the belt moves, so
each layer sees the cherries a little further along. Measured on the shared production frames:
the belt runs along the frame's rows axis (the 500-px one) and a later layer shows the cherries
at *smaller* row indices, by about 0.2456 px per encoder count (~13 rows for bot1 -> bot2). To
align a layer with the reference, its content is moved *down* by that many rows: the offsets
from :func:`belt_offsets_from_encoders` are positive for layers taken after the reference.

The old production pipeline did exactly this (``annotated/test2.png``: bot2 moved down 13 rows,
top2 25, i.e. ``int(counts * 0.2456)``, rows shifted in set to 0), which is the default here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cherry_classifier.core.contract import LAYER_ORDER  # the models' channel order

PX_PER_ENCODER_COUNT = 0.24555903866248  # the line's own constant (threading_ws)
LAYER_FILE_SUFFIXES = {  # file stem endings of each layer, both naming styles
    "bot1": ("_bot1", "_bot_1"),
    "bot2": ("_bot2", "_bot_2"),
    "top1": ("_top1", "_top_1"),
    "top2": ("_top2", "_top_2"),
}
IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")
FILLS = ("zero", "edge")
ROUNDINGS = ("trunc", "round")


@dataclass(frozen=True)
class LayeredFrame:
    """One trigger's layers stacked as channels (HxWxC uint8, channels in ``order``)."""

    image: np.ndarray
    order: tuple[str, ...]
    frame_id: str  # the sidecar's frame id, else the folder name
    encoder_counts: dict[str, int] = field(default_factory=dict)  # every layer in the sidecar
    offsets_px: dict[str, int] = field(default_factory=dict)  # row shifts applied (0: none)
    source: Path | None = None


def load_layered_frame(
    folder: str | Path,
    order: Sequence[str] = LAYER_ORDER,
    align: bool = True,
    px_per_count: float = PX_PER_ENCODER_COUNT,
) -> LayeredFrame:
    """Read one trigger folder (``*_bot1.png`` or ``*_bot_1.bmp`` naming) and its sidecar.

    With ``align`` the layers are shifted along the belt by their encoder offsets relative to
    ``order[0]``, as the production line stacks them; a ValueError says when counts are missing.
    """
    folder = Path(folder)
    layers = load_layers(folder, order)
    frame_id, counts = read_sidecar(folder)
    offsets = {name: 0 for name in order}
    if align:
        missing = [name for name in order if name not in counts]
        if missing:
            raise ValueError(f"{folder}: no encoder counts for {missing}; pass align=False")
        offsets = belt_offsets_from_encoders(
            {name: counts[name] for name in order}, px_per_count, reference=order[0]
        )
    return LayeredFrame(
        image=stack_layers(layers, order, offsets),
        order=tuple(order),
        frame_id=frame_id or folder.name,
        encoder_counts=counts,
        offsets_px=offsets,
        source=folder,
    )


def load_layers(folder: str | Path, names: Sequence[str] = LAYER_ORDER) -> dict[str, np.ndarray]:
    """The mono layer images of one trigger folder, by layer name."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    layers = {}
    for name in names:
        endings = LAYER_FILE_SUFFIXES.get(name, (f"_{name}",))
        matches = [p for p in files if p.stem.lower().endswith(endings)]
        if len(matches) != 1:
            found = [p.name for p in matches] or "none"
            raise ValueError(f"{folder}: need one image for layer {name}, found {found}")
        image = cv2.imread(str(matches[0]), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"{matches[0]}: unreadable image")
        layers[name] = image
    return layers


def read_sidecar(folder: str | Path) -> tuple[str | None, dict[str, int]]:
    """(frame id, encoder count per layer) from a folder's JSON sidecar (.json or .txt).

    Two styles exist: ``{"frame_id", "encoder_counts": {layer: count}}`` and
    ``{"frame_id", "images": [{"name", "encoder_count"}, ...]}``. (None, {}) when there is none.
    """
    folder = Path(folder)
    for sidecar in sorted(folder.glob("*.json")) + sorted(folder.glob("*.txt")):
        try:
            data = json.loads(sidecar.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        counts = _counts_from_sidecar(data)
        if counts:
            frame_id = data.get("frame_id")
            return (None if frame_id is None else str(frame_id)), counts
    return None, {}


def _counts_from_sidecar(data: dict) -> dict[str, int]:
    if isinstance(data.get("encoder_counts"), dict):
        return {str(k): int(v) for k, v in data["encoder_counts"].items()}
    images = data.get("images")
    if isinstance(images, list):
        return {
            str(i["name"]): int(i["encoder_count"])
            for i in images
            if isinstance(i, dict) and "name" in i and "encoder_count" in i
        }
    return {}


def belt_offsets_from_encoders(
    counts: Mapping[str, int],
    px_per_count: float = PX_PER_ENCODER_COUNT,
    reference: str = "bot1",
    rounding: str = "trunc",
) -> dict[str, int]:
    """Row shift that aligns each layer with ``reference`` (positive: move content down).

    ``rounding="trunc"`` (toward zero) reproduces the production line's stacking.
    """
    if reference not in counts:
        raise ValueError(f"reference layer {reference!r} has no encoder count")
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    to_int = math.trunc if rounding == "trunc" else round
    return {
        name: int(to_int((count - counts[reference]) * px_per_count))
        for name, count in counts.items()
    }


def stack_layers(
    layers: Mapping[str, np.ndarray],
    order: Sequence[str] = LAYER_ORDER,
    offsets_px: Mapping[str, int] | None = None,
    fill: str = "zero",
) -> np.ndarray:
    """Stack mono layers as channels in ``order``, each moved ``offsets_px[name]`` rows down.

    Rows shifted in from outside the frame are 0 (``fill="zero"``, as production did) or repeat
    the edge row (``fill="edge"``). Layers without an offset are not moved.
    """
    missing = [name for name in order if name not in layers]
    if missing:
        raise ValueError(f"missing layer(s) {missing}")
    shapes = {np.shape(layers[name]) for name in order}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"layers must be mono images of one size, got {sorted(shapes)}")
    offsets = offsets_px or {}
    stacked = np.empty((*next(iter(shapes)), len(order)), np.uint8)
    for channel, name in enumerate(order):
        stacked[..., channel] = shift_along_belt(layers[name], int(offsets.get(name, 0)), fill)
    return stacked


def shift_along_belt(plane: np.ndarray, offset: int, fill: str = "zero") -> np.ndarray:
    """Move a mono plane's content ``offset`` rows down (up when negative)."""
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    if offset == 0:
        return plane
    height = plane.shape[0]
    shifted = np.empty_like(plane)
    amount = min(abs(offset), height)
    kept = slice(0, height - amount)
    if offset > 0:
        shifted[amount:] = plane[kept]
        shifted[:amount] = 0 if fill == "zero" else plane[:1]
    else:
        shifted[: height - amount] = plane[amount:]
        shifted[height - amount :] = 0 if fill == "zero" else plane[-1:]
    return shifted


def measure_belt_shift(
    reference: np.ndarray, moving: np.ndarray, max_rows: int = 40, max_cols: int = 8
) -> tuple[int, int, float]:
    """(rows, cols, score): the shift of ``moving`` that best matches ``reference``.

    Normalised cross-correlation of the two planes after dividing out the lighting (so backlit
    and top-lit layers compare by their dark cherries). Use it to check or calibrate offsets.
    """
    ref, mov = _flatten_lighting(reference), _flatten_lighting(moving)
    template = mov[max_rows:-max_rows, max_cols:-max_cols]
    if template.size == 0:
        raise ValueError(f"planes of shape {moving.shape} are too small for this search")
    scores = cv2.matchTemplate(ref, template, cv2.TM_CCOEFF_NORMED)
    row, col = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(row) - max_rows, int(col) - max_cols, float(scores[row, col])


def _flatten_lighting(plane: np.ndarray, kernel_px: int = 121) -> np.ndarray:
    """Plane divided by its local background (a grey closing wider than any cherry)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (kernel_px, kernel_px))
    background = cv2.morphologyEx(plane, cv2.MORPH_CLOSE, kernel)
    return plane.astype(np.float32) / np.maximum(background, 1).astype(np.float32)
