"""Capture crops from the line for labelling, straight into the training dataset layout.

Every MAYBE crop (the manual-review band: what the model is unsure of) and a random sample of
the others are written as ``ROOT/<decided label>/<name>.png`` (3-channel PNG whose B, G, R planes
are the model's channels in order: :mod:`cherry_classifier.evaluation.dataset`'s layout), with
one JSON line per crop in ``ROOT/captured.jsonl``: probabilities, model id, thresholds version,
source topic, header stamp, region and why it was kept. A labeller moves each file into the
folder of its true class (``clean``, ``maybe``, ``pit``); ``cherry-train`` then reads ROOT as a
class-folder pool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cherry_classifier.core.decision import LABEL_NAMES, MAYBE
from cherry_classifier.evaluation.dataset import CAPTURE_INDEX, class_folder

INDEX_FILE = CAPTURE_INDEX


@dataclass(frozen=True)
class CapturePolicy:
    """Which crops to keep: every crop decided as one of ``always`` and a ``sample_share`` of the
    rest (seeded), at most ``max_crops`` in all (0: no limit)."""

    always: tuple[int, ...] = (MAYBE,)
    sample_share: float = 0.02
    max_crops: int = 10000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.sample_share <= 1.0:
            raise ValueError(f"sample_share must be in [0, 1], got {self.sample_share}")
        if self.max_crops < 0:
            raise ValueError(f"max_crops must be >= 0, got {self.max_crops}")


class CropCapture:
    """Writes kept crops and their metadata under ``root`` (see the module docstring)."""

    def __init__(self, root: str | Path, policy: CapturePolicy | None = None) -> None:
        self.root = Path(root)
        self.policy = policy or CapturePolicy()
        self._rng = np.random.default_rng(self.policy.seed)
        self.root.mkdir(parents=True, exist_ok=True)
        index = self.root / INDEX_FILE  # crops kept before a restart count towards the limit
        self.kept = index.read_text().count("\n") if index.is_file() else 0

    def reason_to_keep(self, label: int) -> str | None:
        """Why to keep a crop decided ``label`` ("decided maybe", "sample") or None to skip it.

        Draws from the seeded generator for the sampled share."""
        if self.policy.max_crops and self.kept >= self.policy.max_crops:
            return None
        if label in self.policy.always:
            return f"decided {LABEL_NAMES[label]}"
        if self._rng.random() < self.policy.sample_share:
            return "sample"
        return None

    def save(
        self,
        crop: np.ndarray,
        label: int,
        reason: str,
        source_topic: str,
        stamp_ns: int,
        index: int,
        probabilities: Sequence[float],
        class_names: Sequence[str],
        **metadata: Any,
    ) -> Path:
        """Write one crop (HxWx3 or HxW uint8) and its index line; returns the image path."""
        if crop.dtype != np.uint8 or crop.ndim not in (2, 3):
            raise ValueError(f"crops are HxW(xC) uint8, got {crop.dtype} {crop.shape}")
        folder = class_folder(self.root, LABEL_NAMES[label])
        folder.mkdir(exist_ok=True)
        name = f"{_slug(source_topic)}_{stamp_ns}_{index:03d}.png"
        path = folder / name
        if not cv2.imwrite(str(path), np.ascontiguousarray(crop)):
            raise OSError(f"could not write {path}")
        entry = {
            "file": str(path.relative_to(self.root)),
            "decided": LABEL_NAMES[label],
            "reason": reason,
            "source_topic": source_topic,
            "stamp_ns": int(stamp_ns),
            "index": int(index),
            "probabilities": dict(zip(class_names, map(float, probabilities), strict=True)),
            **metadata,
        }
        with (self.root / INDEX_FILE).open("a") as index_file:
            index_file.write(json.dumps(entry) + "\n")
        self.kept += 1
        return path


def _slug(topic: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", topic).strip("-") or "image"
