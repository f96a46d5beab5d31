"""The crop dataset layout: what capture and ``cherry-synth`` write, and training reads.

- ``ROOT/{train,val,test}/<class>/...``: the splits as given, or ``ROOT/<class>/...``: one pool
  (split at training time);
- a sample is one 3-channel image (its planes, as OpenCV reads them, are the model's channels in
  order: B, G, R = bot1, bot2, top2) or a layered crop: one mono file per layer named
  ``<stem>_<layer>.<ext>`` (``0001_bot1.png`` ...; ``bot_1`` style names also match);
- ``ROOT/captured.jsonl``: one JSON line per crop captured from the line
  (:mod:`.capture`); ``ROOT/SYNTHETIC.json``: the folder holds SYNTHETIC crops (:mod:`.synthetic`).

Class order always comes from the caller (the config, and so the manifest), never from folder
sorting; a folder that is not one of the classes is refused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cherry_classifier.core.manifest import MIXED_DATA, REAL_DATA, SYNTHETIC_DATA

LOGGER = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
CAPTURE_INDEX = "captured.jsonl"
SYNTHETIC_MARKER = "SYNTHETIC.json"


@dataclass
class Split:
    """Crops (N, H, W, C) uint8 in the manifest's channel order and labels (N,) int64."""

    crops: np.ndarray
    labels: np.ndarray
    names: list[str] | None = None  # sample names (file stems), for error reports

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self, num_classes: int) -> list[int]:
        return np.bincount(self.labels, minlength=num_classes).tolist()


def dataset_kind(root: str | Path) -> str:
    """What a dataset folder holds: ``synthetic``, ``real`` or ``mixed``.

    ``SYNTHETIC.json`` (at the root or in a split folder) marks synthetic crops; a folder with
    it and crops captured from the line (``captured.jsonl``) is mixed; one without it is real.
    """
    root = Path(root)
    folders = [root, *(root / split for split in SPLITS)]
    synthetic = any((folder / SYNTHETIC_MARKER).is_file() for folder in folders)
    captured = any((folder / CAPTURE_INDEX).is_file() for folder in folders)
    if synthetic:
        return MIXED_DATA if captured else SYNTHETIC_DATA
    return REAL_DATA


def class_folder(root: str | Path, class_name: str) -> Path:
    """Where the samples of ``class_name`` lie under ``root`` (one split or a pool)."""
    return Path(root) / class_name


def layer_file_name(stem: str, layer: str, suffix: str = ".png") -> str:
    """The file of one layer of a layered crop: ``<stem>_<layer><suffix>``."""
    return f"{stem}_{layer}{suffix}"


def read_class_samples(
    root: Path, classes: Sequence[str], channels: Sequence[str]
) -> tuple[list[np.ndarray], list[int], list[str]]:
    """(crops, labels, names) of every sample under ``root/<class>/`` (sizes as stored).

    Label = the class's index in ``classes``; name = ``<class>/<stem>``.
    """
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    unknown = [name for name in folders if name not in classes]
    if unknown:
        raise ValueError(f"{root}: folders {unknown} are not among the classes {list(classes)}")
    crops: list[np.ndarray] = []
    labels: list[int] = []
    names: list[str] = []
    for index, name in enumerate(classes):
        folder = class_folder(root, name)
        if not folder.is_dir():
            LOGGER.warning("%s: no folder for class %r", root, name)
            continue
        for stem, crop in read_samples(folder, channels):
            crops.append(crop)
            labels.append(index)
            names.append(f"{name}/{stem}")
    if not crops:
        raise ValueError(f"{root}: no images in class folders {list(classes)}")
    return crops, labels, names


def read_samples(folder: Path, channels: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """(stem, HxWxC uint8) for every sample in ``folder``: layered file groups or images."""
    pattern = _layer_pattern(channels)
    layered: dict[str, dict[str, Path]] = {}
    images: list[Path] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        match = pattern.match(path.stem)
        if match:
            layer = _normalise_layer(match.group("layer"))
            layered.setdefault(match.group("stem"), {})[layer] = path
        else:
            images.append(path)
    samples = [(path.stem, _read_image(path, len(channels))) for path in images]
    wanted = [_normalise_layer(c) for c in channels]
    for stem, files in sorted(layered.items()):
        missing = [c for c, key in zip(channels, wanted, strict=True) if key not in files]
        if missing:
            raise ValueError(f"{folder}/{stem}: layered crop lacks layer(s) {missing}")
        planes = [_read_mono(files[key]) for key in wanted]
        shapes = {plane.shape for plane in planes}
        if len(shapes) != 1:
            raise ValueError(f"{folder}/{stem}: layers differ in size {sorted(shapes)}")
        samples.append((stem, np.stack(planes, axis=-1)))
    return samples


def _layer_pattern(channels: Sequence[str]) -> re.Pattern[str]:
    names = "|".join(
        re.escape(name) for c in channels for name in {c, re.sub(r"(\D)(\d)", r"\1_\2", c)}
    )
    return re.compile(rf"^(?P<stem>.+)_(?P<layer>{names})$", re.IGNORECASE)


def _normalise_layer(name: str) -> str:
    return name.lower().replace("_", "")


def _read_image(path: Path, channels: int) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path}: unreadable image")
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: expected 8-bit pixels, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 4 and channels == 3:
        image = image[..., :3]
    if image.shape[2] != channels:
        raise ValueError(
            f"{path}: {image.shape[2]} channel(s), the model takes {channels} (name layered "
            "files <stem>_<layer>.png to join mono layers)"
        )
    return image


def _read_mono(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path}: unreadable image")
    if image.ndim == 3:
        raise ValueError(f"{path}: a layer file must be mono, got {image.shape[2]} channels")
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: expected 8-bit pixels, got {image.dtype}")
    return image
