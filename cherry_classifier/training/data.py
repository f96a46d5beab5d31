"""Training data: class folders or synthetic crops, seeded stratified splits, augmentation.

Class order always comes from the config (and so the manifest), never from folder sorting.
Images are read as stored: a 3-channel PNG's B, G, R planes are the manifest's channels in order
(bot1, bot2, top2 for the line's layered crops, as ``cherry-synth`` writes them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cherry_classifier.training.synth import render_dataset

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


def load_splits(config: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train"|"val"|"test": (N,H,W,3) uint8 crops, (N,) int64 labels}."""
    classes = list(config.class_names)
    if not config.data_dir:
        crops, labels = render_dataset(config.synthetic_per_class, classes, config.seed)
        return stratified_split(crops, labels, config.val_share, config.test_share, config.seed)
    root = Path(config.data_dir)
    if all((root / split).is_dir() for split in SPLITS):
        return {split: read_class_folders(root / split, classes) for split in SPLITS}
    crops, labels = read_class_folders(root, classes)
    return stratified_split(crops, labels, config.val_share, config.test_share, config.seed)


def read_class_folders(root: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    crops, labels = [], []
    unknown = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in classes)
    if unknown:
        raise ValueError(f"{root}: folders {unknown} are not among the classes {classes}")
    for index, name in enumerate(classes):
        folder = root / name
        files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        for path in files:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{path}: unreadable image")
            crops.append(image)
            labels.append(index)
    if not crops:
        raise ValueError(f"{root}: no images in class folders {classes}")
    size = max(max(c.shape[:2]) for c in crops)
    crops = [c if c.shape[:2] == (size, size) else cv2.resize(c, (size, size)) for c in crops]
    return np.stack(crops), np.asarray(labels, np.int64)


def stratified_split(
    crops: np.ndarray, labels: np.ndarray, val_share: float, test_share: float, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {split: [] for split in SPLITS}
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        n_val, n_test = round(len(index) * val_share), round(len(index) * test_share)
        parts["val"] += index[:n_val].tolist()
        parts["test"] += index[n_val : n_val + n_test].tolist()
        parts["train"] += index[n_val + n_test :].tolist()
    return {split: (crops[sorted(ix)], labels[sorted(ix)]) for split, ix in parts.items()}


def augment_batch(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cherries have no "up": flips, any rotation, small shifts, per-layer exposure, blur."""
    out = np.empty_like(crops)
    for index, crop in enumerate(crops):
        height, width = crop.shape[:2]
        matrix = cv2.getRotationMatrix2D(
            (width / 2, height / 2), rng.uniform(0, 360), rng.uniform(0.9, 1.1)
        )
        matrix[:, 2] += rng.uniform(-5, 5, 2)
        image = cv2.warpAffine(crop, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
        if rng.random() < 0.5:
            image = image[:, ::-1]
        gain = rng.uniform(0.9, 1.1, 3)
        bias = rng.uniform(-8, 8, 3)
        image = np.clip(image.astype(np.float32) * gain + bias, 0, 255)
        if rng.random() < 0.2:
            image = cv2.GaussianBlur(image, (3, 3), rng.uniform(0.3, 1.0))
        out[index] = image.astype(np.uint8)
    return out
