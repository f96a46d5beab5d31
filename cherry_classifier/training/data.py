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

Crops of another size than the model's ``input_size`` are resized on loading by the core's
:func:`~cherry_classifier.core.preprocess.resize_crop` with the model's interpolation: the one
resize the node's preprocessing applies, so a mixed-size folder gives the model the same pixels
in training as in service.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from cherry_classifier.core.contract import DEFAULT_INTERPOLATION, INPUT_SIZE_PX
from cherry_classifier.core.preprocess import resize_crop
from cherry_classifier.evaluation.dataset import SPLITS, Split, read_class_samples
from cherry_classifier.evaluation.synthetic import (
    SynthStyle,
    dataset_labels,
    render_crops,
    render_dataset,
)
from cherry_classifier.training.augment import AugmentConfig, augment

LOGGER = logging.getLogger(__name__)


def synthetic_splits(
    per_class: int,
    classes: Sequence[str],
    seed: int,
    val_share: float,
    test_share: float,
    size: int = INPUT_SIZE_PX,
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
    input_size: int | None = None,
    interpolation: str = DEFAULT_INTERPOLATION,
) -> dict[str, Split]:
    """Read ``root`` as split folders or one class-folder pool (see the module docstring).

    ``input_size``/``interpolation``: the model's (see :func:`read_class_folders`).
    """
    size = {"input_size": input_size, "interpolation": interpolation}
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} is not a folder")
    present = [split for split in SPLITS if (root / split).is_dir()]
    if present:
        missing = [split for split in SPLITS if split not in present]
        if missing:
            raise ValueError(f"{root}: has {present} but lacks {missing} (give all three or none)")
        return {
            split: read_class_folders(root / split, classes, channels, **size) for split in SPLITS
        }
    return stratified_split(
        read_class_folders(root, classes, channels, **size), val_share, test_share, seed
    )


def read_class_folders(
    root: Path,
    classes: Sequence[str],
    channels: Sequence[str],
    input_size: int | None = None,
    interpolation: str = DEFAULT_INTERPOLATION,
) -> Split:
    """All samples under ``root/<class>/``; label = the class's index in ``classes``.

    Crops not at ``input_size`` are resized to it as the model's preprocessing would; without
    ``input_size``, mixed sizes are brought to the largest side (and preprocessing resizes
    them again: give ``input_size`` for the model's own pixels).
    """
    crops, labels, names = read_class_samples(root, classes, channels)
    sizes = {crop.shape[:2] for crop in crops}
    side = input_size or max(max(size) for size in sizes)
    if (input_size or len(sizes) > 1) and sizes != {(side, side)}:  # as preprocessing does
        LOGGER.info("%s: crops of %d size(s), resized to %d px", root, len(sizes), side)
        crops = [resize_crop(crop, side, interpolation) for crop in crops]
    return Split(np.stack(crops), np.asarray(labels, np.int64), names)


def stratified_split(
    pool: Split, val_share: float, test_share: float, seed: int
) -> dict[str, Split]:
    """Seeded split keeping each class's share in train, val and test."""
    out = {}
    for split, chosen in split_indices(pool.labels, val_share, test_share, seed).items():
        names = [pool.names[i] for i in chosen] if pool.names else None
        out[split] = Split(pool.crops[chosen], pool.labels[chosen], names)
    return out


def split_indices(
    labels: np.ndarray, val_share: float, test_share: float, seed: int
) -> dict[str, np.ndarray]:
    """The sorted pool indices of each split (:func:`stratified_split`'s choice)."""
    if not (0 < val_share < 1 and 0 < test_share < 1 and val_share + test_share < 1):
        raise ValueError(f"bad shares: val {val_share}, test {test_share}")
    rng = np.random.default_rng([seed, 7919])
    parts: dict[str, list[int]] = {split: [] for split in SPLITS}
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        n_val, n_test = round(len(index) * val_share), round(len(index) * test_share)
        parts["val"] += index[:n_val].tolist()
        parts["test"] += index[n_val : n_val + n_test].tolist()
        parts["train"] += index[n_val + n_test :].tolist()
    return {split: np.array(sorted(indices), np.int64) for split, indices in parts.items()}


def synthetic_split(
    per_class: int,
    classes: Sequence[str],
    seed: int,
    val_share: float,
    test_share: float,
    split: str,
    size: int = INPUT_SIZE_PX,
    maybe_share: float | None = None,
) -> Split:
    """One split of :func:`synthetic_splits`, the same pixels, rendering only that split."""
    labels = dataset_labels(per_class, classes, seed, maybe_share)
    chosen = split_indices(labels, val_share, test_share, seed)[split]
    crops = render_crops(labels, chosen, classes, seed, size, SynthStyle())
    return Split(crops, labels[chosen])


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
