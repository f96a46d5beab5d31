"""Find cherries in a backlit frame and cut fixed-size crops around them (OpenCV, ROS-free).

Cherries are dark blobs on the bright backlit belt. The localizer thresholds one channel
(default: index 1, the short backlit exposure bot2 of a bot1/bot2/top2 frame) on a downscaled
copy, relative to the local background (a grey closing wider than a cherry removes the cherries
and keeps the lighting's vignette, so the dark frame edges do not swallow nearby cherries),
cleans the mask, and keeps connected components of cherry size that do not touch the frame
border (those are cut off and seen whole in the next frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Region:
    """A box in frame pixels: the cherry's bounding box, or a crop window cut around it."""

    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


@dataclass(frozen=True)
class LocalizerParams:
    channel: int = 1  # channel to threshold (bot2 in a bot1, bot2, top2 frame)
    relative_threshold: float = 0.8  # cherry: darker than this share of the local background
    background_kernel_px: int = 31  # closing width (downscaled px), wider than any cherry
    downscale: int = 4  # work on a 1/downscale image (speed)
    min_area_px: int = 600  # smallest cherry, full-resolution pixels
    max_area_px: int = 9000  # largest blob kept (two touching cherries stay one crop)
    open_kernel_px: int = 3  # morphological opening (downscaled pixels) against specks
    reject_border: bool = True  # drop blobs touching the frame edge (cut-off cherries)
    max_cherries: int = 64

    def __post_init__(self) -> None:
        if self.downscale < 1 or self.min_area_px < 1 or self.max_area_px < self.min_area_px:
            raise ValueError(f"inconsistent localizer parameters: {self}")
        if not 0.0 < self.relative_threshold < 1.0:
            raise ValueError(f"relative_threshold must be in (0, 1), got {self.relative_threshold}")
        if self.background_kernel_px < 3:
            raise ValueError(f"background_kernel_px must be >= 3, got {self.background_kernel_px}")


class CherryLocalizer:
    def __init__(self, params: LocalizerParams | None = None) -> None:
        self.params = params or LocalizerParams()

    def locate(self, frame: np.ndarray) -> list[Region]:
        """Bounding boxes of the cherries in ``frame`` (HxW or HxWxC uint8), left to right."""
        p = self.params
        plane = frame if frame.ndim == 2 else frame[..., min(p.channel, frame.shape[2] - 1)]
        small = (
            cv2.resize(
                plane,
                (plane.shape[1] // p.downscale, plane.shape[0] // p.downscale),
                interpolation=cv2.INTER_AREA,
            )
            if p.downscale > 1
            else plane
        )
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (p.background_kernel_px,) * 2)
        background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
        limit = background.astype(np.float32) * p.relative_threshold
        mask = ((small.astype(np.float32) < limit) * 255).astype(np.uint8)
        if p.open_kernel_px > 1:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p.open_kernel_px,) * 2)
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        scale2 = p.downscale * p.downscale
        height, width = small.shape[:2]
        regions = []
        for x, y, w, h, area in stats[1:count]:
            if not p.min_area_px <= area * scale2 <= p.max_area_px:
                continue
            if p.reject_border and (x == 0 or y == 0 or x + w >= width or y + h >= height):
                continue
            regions.append(
                Region(
                    int(x * p.downscale),
                    int(y * p.downscale),
                    int(w * p.downscale),
                    int(h * p.downscale),
                )
            )
        regions.sort(key=lambda r: (r.x, r.y))
        return regions[: p.max_cherries]


def cut_crops(
    frame: np.ndarray, regions: list[Region], crop_size: int = 128
) -> tuple[np.ndarray, list[Region]]:
    """(N, crop, crop, C) uint8 crops centred on each region, and each crop's window.

    Windows near the frame edge are padded by edge replication; the returned window is the
    unclipped one (it may start at negative coordinates), so crop pixel (i, j) is frame pixel
    (window.y + i, window.x + j).
    """
    image = frame if frame.ndim == 3 else frame[..., None]
    half = crop_size // 2
    padded = cv2.copyMakeBorder(image, half, half, half, half, cv2.BORDER_REPLICATE)
    if padded.ndim == 2:
        padded = padded[..., None]
    crops = np.empty((len(regions), crop_size, crop_size, image.shape[2]), np.uint8)
    windows = []
    for index, region in enumerate(regions):
        cx, cy = (round(c) for c in region.centre)
        x0, y0 = cx - half, cy - half
        crops[index] = padded[y0 + half : y0 + half + crop_size, x0 + half : x0 + half + crop_size]
        windows.append(Region(x0, y0, crop_size, crop_size))
    return crops, windows
