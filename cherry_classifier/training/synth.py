"""Synthetic cherries for tests and demos. SYNTHETIC: they imitate the line, they are not it.

Each crop has the line's three layers (bot1: backlit long exposure, bot2: backlit short
exposure, top2: top-lit), a cherry of 50-60 px at a random rotation, and per class:

- clean (pitted): a lighter cavity where the pit was pushed out, in the backlit layers;
- pit: a dark, dense core in the backlit layers;
- maybe: an ambiguous fragment: a small or faint core.

Plus stems, blemishes, exposure changes, blur and noise. Everything is seeded.

    cherry-synth OUT_DIR --per-class 200 --seed 0 [--classes clean,maybe,pit] [--split]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

LAYERS = ("bot1", "bot2", "top2")
BACKGROUND = np.array([252.0, 238.0, 45.0])  # backlit belt saturates, top-lit belt is dark
CROP_SIZE = 128


@dataclass
class SyntheticFrame:
    image: np.ndarray  # 500 x 2464 x 3 uint8, layers bot1, bot2, top2
    centres: list[tuple[int, int]]
    labels: list[str]


def draw_cherry(
    canvas: np.ndarray, cx: float, cy: float, label: str, rng: np.random.Generator
) -> None:
    """Draw one cherry of class ``label`` centred at (cx, cy) on a float32 HxWx3 canvas."""
    radius_a, radius_b = rng.uniform(25, 30), rng.uniform(22, 28)
    angle = rng.uniform(0, 180)
    body = np.array([rng.uniform(150, 200), rng.uniform(85, 135), rng.uniform(120, 190)])
    mask = np.zeros(canvas.shape[:2], np.float32)
    centre = (round(cx), round(cy))
    cv2.ellipse(mask, centre, (int(radius_a), int(radius_b)), angle, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (5, 5), 1.5)
    canvas[:] = canvas * (1 - mask[..., None]) + body * mask[..., None]

    inner = min(radius_a, radius_b)
    off = rng.uniform(-0.25, 0.25, 2) * inner
    core_centre = (round(cx + off[0]), round(cy + off[1]))
    if label == "clean":  # the cavity left by the pit: more light through the cherry
        _blend(canvas, core_centre, inner * rng.uniform(0.25, 0.4), rng, gain=(1.25, 1.35, 0.9))
    elif label == "pit":  # the stone: a dense, dark core
        _blend(canvas, core_centre, inner * rng.uniform(0.3, 0.42), rng, gain=(0.45, 0.4, 0.95))
    elif label == "maybe":  # a fragment, or a faint core
        if rng.random() < 0.5:
            _blend(canvas, core_centre, inner * rng.uniform(0.12, 0.2), rng, gain=(0.5, 0.45, 1.0))
        else:
            _blend(canvas, core_centre, inner * rng.uniform(0.3, 0.4), rng, gain=(0.78, 0.75, 1.0))
    else:
        raise ValueError(f"unknown class {label!r}")

    if rng.random() < 0.5:  # a stem: dark against the backlight, light under the top light
        theta = rng.uniform(0, 2 * np.pi)
        start = np.array([cx, cy]) + 0.9 * inner * np.array([np.cos(theta), np.sin(theta)])
        end = start + rng.uniform(10, 25) * np.array([np.cos(theta), np.sin(theta)])
        cv2.line(canvas, tuple(start.astype(int)), tuple(end.astype(int)), (90, 60, 160), 2)
    for _ in range(rng.integers(0, 3)):  # blemishes
        spot = (int(cx + rng.uniform(-0.7, 0.7) * inner), int(cy + rng.uniform(-0.7, 0.7) * inner))
        cv2.circle(canvas, spot, int(rng.integers(2, 5)), tuple(body * 0.75), -1)


def _blend(canvas, centre, radius, rng, gain) -> None:
    mask = np.zeros(canvas.shape[:2], np.float32)
    axes = (max(2, int(radius * rng.uniform(0.8, 1.2))), max(2, int(radius)))
    cv2.ellipse(mask, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (7, 7), 2.0)[..., None]
    canvas[:] = canvas * (1 - mask + mask * np.asarray(gain, np.float32))


def _finish(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure per layer, blur, noise; back to uint8."""
    canvas *= rng.uniform(0.88, 1.12, 3).astype(np.float32)
    if rng.random() < 0.3:
        canvas[:] = cv2.GaussianBlur(canvas, (3, 3), rng.uniform(0.5, 1.2))
    canvas += rng.normal(0, rng.uniform(2, 6), canvas.shape).astype(np.float32)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def render_crop(label: str, rng: np.random.Generator, size: int = CROP_SIZE) -> np.ndarray:
    """One size x size x 3 uint8 crop (bot1, bot2, top2) of class ``label``."""
    canvas = np.empty((size, size, 3), np.float32)
    canvas[:] = BACKGROUND
    centre = size / 2 + rng.uniform(-6, 6, 2)
    draw_cherry(canvas, centre[0], centre[1], label, rng)
    return _finish(canvas, rng)


def render_dataset(
    per_class: int, classes: Sequence[str], seed: int, size: int = CROP_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """(N, size, size, 3) uint8 crops and (N,) labels indexing ``classes``, shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(classes)), per_class)
    rng.shuffle(labels)
    crops = np.stack([render_crop(classes[label], rng, size) for label in labels])
    return crops, labels


def render_frame(
    rng: np.random.Generator,
    num_cherries: int = 25,
    classes: Sequence[str] = ("clean", "maybe", "pit"),
    weights: Sequence[float] = (0.8, 0.05, 0.15),
    height: int = 500,
    width: int = 2464,
) -> SyntheticFrame:
    """A whole line frame with ``num_cherries`` non-touching cherries of random classes."""
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = BACKGROUND
    centres: list[tuple[int, int]] = []
    attempts = 0
    while len(centres) < num_cherries and attempts < 50 * num_cherries:
        attempts += 1
        x, y = int(rng.uniform(80, width - 80)), int(rng.uniform(70, height - 70))
        if all((x - u) ** 2 + (y - v) ** 2 > 75**2 for u, v in centres):
            centres.append((x, y))
    probabilities = np.asarray(weights, float) / np.sum(weights)
    labels = [str(classes[i]) for i in rng.choice(len(classes), len(centres), p=probabilities)]
    half = CROP_SIZE // 2
    for (x, y), label in zip(centres, labels, strict=True):  # draw in a window: fast
        window = canvas[max(0, y - half) : y + half, max(0, x - half) : x + half]
        draw_cherry(window, x - max(0, x - half), y - max(0, y - half), label, rng)
    return SyntheticFrame(_finish(canvas, rng), centres, labels)


def write_dataset(
    out: Path, per_class: int, classes: Sequence[str], seed: int, split: bool
) -> None:
    """Class folders of PNG crops (3 channels stored as B, G, R = bot1, bot2, top2)."""
    splits = {"train": 0.7, "val": 0.15, "test": 0.15} if split else {"": 1.0}
    for offset, (name, share) in enumerate(splits.items()):
        count = max(1, round(per_class * share))
        crops, labels = render_dataset(count, classes, seed + 1000 * offset)
        for index, (crop, label) in enumerate(zip(crops, labels, strict=True)):
            folder = out / name / classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"synthetic_{seed}_{index:05d}.png"), crop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a labelled SYNTHETIC cherry dataset.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--classes", default="clean,maybe,pit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", action="store_true", help="write train/val/test folders")
    args = parser.parse_args(argv)
    write_dataset(args.out, args.per_class, args.classes.split(","), args.seed, args.split)
    print(f"wrote synthetic crops to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
