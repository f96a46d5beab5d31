"""Layered production frames: three mono exposures (bot1, bot2, top2) stacked as channels."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

LAYER_ORDER = ("bot1", "bot2", "top2")
PX_PER_ENCODER_COUNT = 0.2456
_FILE_NAMES = {"bot1": ("bot1", "bot_1"), "bot2": ("bot2", "bot_2"), "top2": ("top2", "top_2")}


@dataclass
class LayeredFrame:
    image: np.ndarray  # H x W x 3 uint8, channels in ``order``
    order: tuple[str, ...]
    frame_id: str
    encoder_counts: dict[str, int] = field(default_factory=dict)


def stack_layers(
    layers: Mapping[str, np.ndarray],
    order: Sequence[str] = LAYER_ORDER,
    offsets_px: Mapping[str, int] | None = None,
) -> np.ndarray:
    """Stack mono layers as channels, shifting each along the belt (rows, y) by its offset.

    The belt runs along the frame's 500-px axis: a positive offset moves a layer's content
    down. Rows shifted in from outside the frame repeat the edge row. On the shared production
    frames, bot2 aligns with bot1 at +8 rows (the layers' encoder counts differ by ~52-56).
    """
    missing = [name for name in order if name not in layers]
    if missing:
        raise ValueError(f"missing layer(s) {missing}")
    shapes = {layers[name].shape for name in order}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"layers must be mono images of one size, got {sorted(shapes)}")
    offsets = offsets_px or {}
    planes = [shift_along_belt(layers[name], int(offsets.get(name, 0))) for name in order]
    return np.ascontiguousarray(np.stack(planes, axis=2))


def shift_along_belt(plane: np.ndarray, offset: int) -> np.ndarray:
    """Move a mono plane's content ``offset`` rows down (up when negative)."""
    if offset == 0:
        return plane
    height = plane.shape[0]
    offset = max(-height + 1, min(height - 1, offset))
    if offset > 0:
        return np.concatenate([np.repeat(plane[:1], offset, axis=0), plane[:-offset]], axis=0)
    return np.concatenate([plane[-offset:], np.repeat(plane[-1:], -offset, axis=0)], axis=0)


def belt_offsets_from_encoders(
    counts: Mapping[str, int], px_per_count: float = PX_PER_ENCODER_COUNT, reference: str = "bot1"
) -> dict[str, int]:
    """Row shift of each layer relative to ``reference`` from the encoder counts."""
    return {name: round((c - counts[reference]) * px_per_count) for name, c in counts.items()}


def load_layered_frame(folder: str | Path, order: Sequence[str] = LAYER_ORDER) -> LayeredFrame:
    """Read one trigger folder (``*_bot1.png`` or ``*_bot_1.bmp`` naming) and its sidecar."""
    folder = Path(folder)
    layers = {}
    for name in order:
        candidates = [
            p
            for p in folder.iterdir()
            if p.suffix.lower() in (".png", ".bmp")
            and p.stem.endswith(_FILE_NAMES.get(name, (name,)))
        ]
        if not candidates:
            raise ValueError(f"{folder}: no image for layer {name}")
        image = cv2.imread(str(candidates[0]), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"{candidates[0]}: unreadable image")
        layers[name] = image
    return LayeredFrame(
        stack_layers(layers, order), tuple(order), folder.name, _encoder_counts(folder)
    )


def _encoder_counts(folder: Path) -> dict[str, int]:
    for sidecar in list(folder.glob("*.json")) + list(folder.glob("*.txt")):
        try:
            data = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        if "encoder_counts" in data:
            return {k: int(v) for k, v in data["encoder_counts"].items()}
        if "images" in data:
            return {i["name"]: int(i["encoder_count"]) for i in data["images"] if "name" in i}
    return {}
