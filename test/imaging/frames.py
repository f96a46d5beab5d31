"""Synthetic line frames for the imaging tests: dark cherries on a bright, vignetted belt."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HEIGHT, WIDTH = 500, 2464
BELT = (250.0, 245.0, 160.0)  # bot1 (long, near saturation), bot2 (short), top2 (top-lit)
CHERRY = (205.0, 95.0, 90.0)  # a cherry's grey level in the same layers


@dataclass
class SyntheticFrame:
    image: np.ndarray  # HEIGHT x WIDTH x 3 uint8, layers bot1, bot2, top2
    centres: list[tuple[float, float]]


def vignette(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """HxW gain: 1 in the middle, dark (0.1) in the outer 60 px columns, 0.75 at top/bottom."""
    x = np.minimum(np.arange(width), np.arange(width)[::-1]).astype(np.float32)
    y = np.minimum(np.arange(height), np.arange(height)[::-1]).astype(np.float32)
    across = np.clip(0.1 + 0.9 * (x - 40) / 60, 0.1, 1.0)
    along = np.clip(0.75 + 0.25 * y / 50, 0.75, 1.0)
    return along[:, None] * across[None, :]


def draw_cherry(
    image: np.ndarray, centre: tuple[float, float], axes: tuple[int, int], angle: float
) -> None:
    """A dark ellipse (sub-pixel centre) with a brighter hole, like a pitted cherry."""
    shift = 4
    centre_fixed = tuple(round(c * (1 << shift)) for c in centre)
    axes_fixed = tuple(a << shift for a in axes)
    cv2.ellipse(image, centre_fixed, axes_fixed, angle, 0, 360, CHERRY, -1, cv2.LINE_AA, shift)
    cv2.circle(image, centre_fixed, 5 << shift, BELT, -1, cv2.LINE_AA, shift)


def synthetic_frame(
    seed: int,
    count: int,
    noise: float = 4.0,
    min_gap: float = 80.0,
    margin: tuple[int, int] = (110, 70),
) -> SyntheticFrame:
    """``count`` non-touching cherries 50-60 px across at random places, with noise."""
    rng = np.random.default_rng(seed)
    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    image[:] = BELT
    centres: list[tuple[float, float]] = []
    while len(centres) < count:
        x = rng.uniform(margin[0], WIDTH - margin[0])
        y = rng.uniform(margin[1], HEIGHT - margin[1])
        if all(np.hypot(x - u, y - v) > min_gap for u, v in centres):
            centres.append((x, y))
            axes = (int(rng.integers(25, 31)), int(rng.integers(25, 31)))
            draw_cherry(image, (x, y), axes, float(rng.uniform(0, 180)))
    return SyntheticFrame(finish(image, rng, noise), centres)


def finish(image: np.ndarray, rng: np.random.Generator, noise: float = 4.0) -> np.ndarray:
    """Apply the vignette and sensor noise; back to uint8."""
    image = image * vignette(*image.shape[:2])[..., None]
    image += rng.normal(0.0, noise, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def blank_belt(seed: int = 0) -> np.ndarray:
    """A frame with no cherries: belt, vignette, noise."""
    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    image[:] = BELT
    return finish(image, np.random.default_rng(seed))
