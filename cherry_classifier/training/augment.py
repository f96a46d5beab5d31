"""Augmentation for cherries, which have no "up": on uint8 HxWxC crops, before preprocessing.

Flips, any rotation (0-360), a mild affine (scale, shear, shift), per-layer brightness and
contrast (each exposure varies on its own), Gaussian blur and motion blur. Geometry is applied
once to all layers, so they stay registered. The random draws come from the generator passed
in, which the dataset seeds per (seed, epoch, sample): runs are reproducible and resumable.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    enabled: bool = True
    flip: bool = True  # horizontal and vertical
    rotate: bool = True  # uniform over 0-360 degrees
    scale: tuple[float, float] = (0.9, 1.1)
    shear_deg: float = 5.0
    translate_px: float = 5.0
    brightness: float = 0.1  # per-layer gain in 1 +- brightness
    contrast: float = 0.1  # per-layer contrast around the layer's mean, 1 +- contrast
    offset: float = 8.0  # per-layer additive shift in grey levels, +- offset
    blur_probability: float = 0.2
    blur_sigma: tuple[float, float] = (0.3, 1.0)
    motion_blur_probability: float = 0.1
    motion_blur_px: tuple[int, int] = (2, 5)


def augment(crop: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """One augmented copy of an HxWxC uint8 crop."""
    if not config.enabled:
        return crop
    image = _geometry(crop, rng, config)
    image = _photometry(image, rng, config)
    return image


def _geometry(crop: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    height, width = crop.shape[:2]
    if config.flip:
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < 0.5:
            crop = crop[::-1]
    angle = np.deg2rad(rng.uniform(0.0, 360.0)) if config.rotate else 0.0
    scale = rng.uniform(*config.scale)
    shear = np.tan(np.deg2rad(rng.uniform(-config.shear_deg, config.shear_deg)))
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    shift = rng.uniform(-config.translate_px, config.translate_px, 2)
    matrix = np.hstack([linear, (centre - linear @ centre + shift)[:, None]])
    if np.allclose(matrix, [[1, 0, 0], [0, 1, 0]]):
        return np.ascontiguousarray(crop)
    warped = cv2.warpAffine(
        np.ascontiguousarray(crop),
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,  # the belt continues: no black corners
    )
    return warped.reshape(crop.shape)


def _photometry(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    channels = image.shape[2]
    work = image.astype(np.float32)
    if config.brightness or config.contrast or config.offset:
        mean = work.reshape(-1, channels).mean(axis=0)
        contrast = rng.uniform(1 - config.contrast, 1 + config.contrast, channels)
        gain = rng.uniform(1 - config.brightness, 1 + config.brightness, channels)
        offset = rng.uniform(-config.offset, config.offset, channels)
        work = ((work - mean) * contrast + mean) * gain + offset
    if rng.random() < config.blur_probability:
        work = cv2.GaussianBlur(work, (0, 0), rng.uniform(*config.blur_sigma))
    if rng.random() < config.motion_blur_probability:
        length = int(rng.integers(config.motion_blur_px[0], config.motion_blur_px[1] + 1))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2] = 1.0 / length
        rotation = cv2.getRotationMatrix2D(
            ((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0
        )
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        kernel /= max(kernel.sum(), 1e-6)
        work = cv2.filter2D(work, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(work.reshape(image.shape) + 0.5, 0, 255).astype(np.uint8)
