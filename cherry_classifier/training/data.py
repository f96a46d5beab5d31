"""Training data: class folders or synthetic crops, seeded stratified splits, torch datasets.

Layouts read (class order always comes from the config, and so the manifest, never from folder
sorting; a folder that is not a configured class is refused):

- ``ROOT/{train,val,test}/<class>/...``: the splits as given;
- ``ROOT/<class>/...``: one pool, split by a seeded, stratified split (``val_share``,
  ``test_share``).

A sample is either one 3-channel image (its planes, as OpenCV reads them, are the manifest's
channels in order: B, G, R = bot1, bot2, top2, as ``cherry-synth --stacked`` writes them) or a
layered crop: one mono file per layer named ``<stem>_<layer>.<ext>`` (``0001_bot1.png``,
``0001_bot2.png``, ``0001_top2.png``; ``bot_1`` style names also match), joined in the
manifest's channel order. Crops are held in memory as uint8 (48 KiB each at 128 px).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from cherry_classifier.training.augment import AugmentConfig, augment
from cherry_classifier.training.synth import SynthStyle, render_dataset

LOGGER = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


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


def synthetic_splits(
    per_class: int,
    classes: Sequence[str],
    seed: int,
    val_share: float,
    test_share: float,
    size: int = 128,
    maybe_share: float | None = None,
) -> dict[str, Split]:
    """A synthetic pool (``cherry-synth``'s renderer), split like a real one-folder dataset."""
    crops, labels = render_dataset(per_class, classes, seed, size, SynthStyle(), maybe_share)
    return stratified_split(Split(crops, labels), val_share, test_share, seed)


def load_folder_splits(
    root: str | Path,
    classes: Sequence[str],
    channels: Sequence[str],
    val_share: float,
    test_share: float,
    seed: int,
) -> dict[str, Split]:
    """Read ``root`` as split folders or one class-folder pool (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} is not a folder")
    present = [split for split in SPLITS if (root / split).is_dir()]
    if present:
        missing = [split for split in SPLITS if split not in present]
        if missing:
            raise ValueError(f"{root}: has {present} but lacks {missing} (give all three or none)")
        return {split: read_class_folders(root / split, classes, channels) for split in SPLITS}
    return stratified_split(
        read_class_folders(root, classes, channels), val_share, test_share, seed
    )


def read_class_folders(root: Path, classes: Sequence[str], channels: Sequence[str]) -> Split:
    """All samples under ``root/<class>/``; label = the class's index in ``classes``."""
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    unknown = [name for name in folders if name not in classes]
    if unknown:
        raise ValueError(f"{root}: folders {unknown} are not among the classes {list(classes)}")
    crops: list[np.ndarray] = []
    labels: list[int] = []
    names: list[str] = []
    for index, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            LOGGER.warning("%s: no folder for class %r", root, name)
            continue
        for stem, crop in read_samples(folder, channels):
            crops.append(crop)
            labels.append(index)
            names.append(f"{name}/{stem}")
    if not crops:
        raise ValueError(f"{root}: no images in class folders {list(classes)}")
    sizes = {crop.shape[:2] for crop in crops}
    if len(sizes) > 1:  # the core's preprocess resizes each crop; keep them in one array here
        side = max(max(size) for size in sizes)
        LOGGER.info("%s: crops of %d sizes, resized to %d px", root, len(sizes), side)
        crops = [_resize(crop, side) for crop in crops]
    return Split(np.stack(crops), np.asarray(labels, np.int64), names)


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


def _resize(crop: np.ndarray, side: int) -> np.ndarray:
    if crop.shape[:2] == (side, side):
        return crop
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_LINEAR).reshape(
        side, side, crop.shape[2]
    )


def stratified_split(
    pool: Split, val_share: float, test_share: float, seed: int
) -> dict[str, Split]:
    """Seeded split keeping each class's share in train, val and test."""
    if not (0 < val_share < 1 and 0 < test_share < 1 and val_share + test_share < 1):
        raise ValueError(f"bad shares: val {val_share}, test {test_share}")
    rng = np.random.default_rng([seed, 7919])
    parts: dict[str, list[int]] = {split: [] for split in SPLITS}
    for label in np.unique(pool.labels):
        index = rng.permutation(np.flatnonzero(pool.labels == label))
        n_val, n_test = round(len(index) * val_share), round(len(index) * test_share)
        parts["val"] += index[:n_val].tolist()
        parts["test"] += index[n_val : n_val + n_test].tolist()
        parts["train"] += index[n_val + n_test :].tolist()
    out = {}
    for split, indices in parts.items():
        chosen = np.array(sorted(indices), np.int64)
        names = [pool.names[i] for i in chosen] if pool.names else None
        out[split] = Split(pool.crops[chosen], pool.labels[chosen], names)
    return out


class AugmentedCrops(Dataset):
    """(augmented uint8 HxWxC crop, label); the draws depend on (seed, epoch, index) only.

    So any number of workers or processes, and a resumed run, see the very same samples.
    Call :meth:`set_epoch` before each epoch (workers re-read it: no persistent workers).
    """

    def __init__(self, split: Split, config: AugmentConfig, seed: int) -> None:
        self.split, self.config, self.seed, self.epoch = split, config, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        crop = augment(self.split.crops[index], rng, self.config)
        return crop, int(self.split.labels[index])


def collate_uint8(batch: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, torch.Tensor]:
    """Stack crops as (N, H, W, C) uint8 (preprocessed later by the core) and labels."""
    crops = np.stack([np.ascontiguousarray(crop) for crop, _ in batch])
    labels = torch.tensor([label for _, label in batch], dtype=torch.int64)
    return crops, labels


class EpochSampler(Sampler[int]):
    """Seeded per-epoch order, shuffled or class-balanced, sharded across DDP ranks.

    ``balanced``: draws with replacement so every class is equally likely (the epoch keeps the
    dataset's length). The order depends on (seed, epoch) only; each rank takes every
    ``world_size``-th index after padding, as ``DistributedSampler`` does.
    """

    def __init__(
        self,
        labels: np.ndarray,
        seed: int,
        balanced: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.labels, self.seed, self.balanced = np.asarray(labels), seed, balanced
        self.rank, self.world_size, self.epoch = rank, world_size, 0
        self.per_rank = -(-len(self.labels) // world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch, 104729])
        count = len(self.labels)
        if self.balanced:
            _, inverse = np.unique(self.labels, return_inverse=True)
            weights = 1.0 / np.bincount(inverse)[inverse]
            order = rng.choice(count, count, replace=True, p=weights / weights.sum())
        else:
            order = rng.permutation(count)
        padding = self.per_rank * self.world_size - count
        return np.concatenate([order, order[:padding]]) if padding else order

    def __iter__(self):
        return iter(self.global_order()[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return self.per_rank
