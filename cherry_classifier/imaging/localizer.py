"""Find cherries in a backlit frame and cut fixed-size crops around them (OpenCV, ROS-free).

Cherries are dark blobs on the bright backlit belt. :class:`CherryLocalizer` works on one
channel (default 1: the short backlit exposure bot2 of a bot1, bot2, top2 frame; the long one,
bot1, is mostly saturated) scaled down by ``downscale``:

1. the lighting is divided out: a median filter over a window wider than two cherries
   (computed on a further 1/4 image, twice, with the dark pixels of the first pass replaced)
   estimates the belt's brightness everywhere, vignette included, and the image becomes a
   0..255 ratio to it. Where that background is darker than ``min_background``, and on whole
   rows/columns darker than that (what a layer shift fills with 0), there is no light: nothing
   is found there;
2. pixels darker than ``relative_threshold`` x background (or Otsu's level, or a fixed grey
   level) are cherry; an opening removes specks, small holes (pits, glints) are filled;
3. connected components of cherry size are kept; large ones are split into touching cherries
   (distance-transform peaks at least ``split_depth_px`` above the waist seed a watershed);
4. a cherry closer than ``edge_margin_px`` to the frame edge or to an unlit area is cut off:
   it is dropped (``border_policy="exclude"``; it is seen whole in the next frame) or returned
   with ``at_border=True`` (``"flag"``).

All lengths and areas in :class:`LocalizerParams` are in full-resolution frame pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from cherry_classifier.core.contract import CROP_SIZE_PX

THRESHOLD_METHODS = ("relative", "otsu", "fixed")
BORDER_POLICIES = ("exclude", "flag")
PAD_MODES = ("constant", "reflect", "edge")
PEAK_LEVEL_STEP = 0.25  # working-image pixels between distance levels tried when splitting
BACKGROUND_SUBSAMPLE = 4  # the lighting estimate runs on a further 1/4 of the working image


@dataclass(frozen=True)
class Region:
    """A box in frame pixels with a centre and an area.

    From :meth:`CherryLocalizer.locate`: the cherry's bounding box, its centroid and its area in
    pixels. From :func:`cut_crops`: the crop window, with the cherry's centre and area. ``cx``,
    ``cy`` default to the box centre and ``area`` to the box area.
    """

    x: int
    y: int
    width: int
    height: int
    cx: float | None = None
    cy: float | None = None
    area: int | None = None
    at_border: bool = False  # cut by the frame edge or an unlit area

    def __post_init__(self) -> None:
        if self.cx is None:
            object.__setattr__(self, "cx", self.x + self.width / 2)
        if self.cy is None:
            object.__setattr__(self, "cy", self.y + self.height / 2)
        if self.area is None:
            object.__setattr__(self, "area", self.width * self.height)

    @property
    def centre(self) -> tuple[float, float]:
        return self.cx, self.cy

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.width, self.height


@dataclass(frozen=True)
class LocalizerParams:
    """Tunable localizer settings (plain types: the node exposes each as ``localizer.<name>``).

    Lengths and areas are in full-resolution frame pixels.
    """

    channel: int = 1  # channel to threshold: 1 = bot2 (backlit short) in bot1, bot2, top2
    threshold_method: str = "relative"  # relative | otsu | fixed (see the module docstring)
    relative_threshold: float = 0.8  # cherry: darker than this share of the local background
    fixed_threshold: int = 128  # grey level for threshold_method="fixed" (no lighting division)
    min_background: int = 60  # background darker than this is unlit: no cherries there
    background_window_px: int = 145  # lighting estimate: median over this window (> 2 cherries)
    downscale: int = 4  # work on a 1/downscale image (speed); centres stay within ~1 px
    open_kernel_px: int = 12  # opening against specks and thin stems
    min_area_px: int = 400  # smaller blobs are dirt, stems or slivers of cut cherries
    max_area_px: int = 9000  # larger blobs (after splitting) are not cherries
    edge_margin_px: int = 4  # closer to the frame edge or an unlit area: cut off
    border_policy: str = "exclude"  # exclude | flag cut-off cherries
    max_cherries: int = 64  # at most this many regions a frame (left to right)
    split_touching: bool = True  # split blobs of touching cherries (watershed)
    split_min_area_px: int = 3400  # only blobs at least this large are tried
    split_depth_px: float = 3.0  # split where the blob's waist is this much under both halves

    def __post_init__(self) -> None:
        problems = [
            message
            for failed, message in (
                (self.channel < 0, "channel must be >= 0"),
                (self.threshold_method not in THRESHOLD_METHODS, "unknown threshold_method"),
                (not 0.0 < self.relative_threshold < 1.0, "relative_threshold must be in (0, 1)"),
                (not 0 <= self.fixed_threshold <= 255, "fixed_threshold must be 0..255"),
                (not 0 <= self.min_background <= 255, "min_background must be 0..255"),
                (not 1 <= self.downscale <= 16, "downscale must be 1..16"),
                (self.background_window_px < 3, "background_window_px must be >= 3"),
                (self.open_kernel_px < 0, "open_kernel_px must be >= 0"),
                (self.min_area_px < 1, "min_area_px must be >= 1"),
                (self.max_area_px < self.min_area_px, "max_area_px must be >= min_area_px"),
                (self.edge_margin_px < 0, "edge_margin_px must be >= 0"),
                (self.border_policy not in BORDER_POLICIES, "unknown border_policy"),
                (self.max_cherries < 1, "max_cherries must be >= 1"),
                (self.split_min_area_px < 1, "split_min_area_px must be >= 1"),
                (not self.split_depth_px > 0, "split_depth_px must be > 0"),
            )
            if failed
        ]
        if problems:
            raise ValueError(f"inconsistent localizer parameters: {'; '.join(problems)}: {self}")

    def scaled(self, length_px: int, minimum: int = 1, factor: int = 1) -> int:
        """A full-resolution length in working-image pixels (1/(downscale x factor))."""
        return max(minimum, round(length_px / (self.downscale * factor)))


class CherryLocalizer:
    """Finds cherries (dark blobs on the backlit belt); see the module docstring."""

    def __init__(self, params: LocalizerParams | None = None) -> None:
        self.params = params or LocalizerParams()
        p = self.params
        self._median_size = p.scaled(p.background_window_px, 3, BACKGROUND_SUBSAMPLE) | 1
        opening = p.scaled(p.open_kernel_px, 0) | 1  # odd: an even kernel shifts the blobs
        self._open_kernel = (
            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (opening, opening))
            if opening > 1
            else None
        )

    def locate(self, frame: np.ndarray) -> list[Region]:
        """Cherries in ``frame`` (HxW or HxWxC uint8), left to right."""
        p = self.params
        plane = self._plane(frame)
        if plane.size < p.min_area_px:  # smaller than one cherry (and 1x1 trips OpenCV)
            return []
        small = self._downscale(plane)
        mask, unlit = self.dark_mask(small)
        count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        near_edge = self._near_edge(unlit)
        scale_x, scale_y = plane.shape[1] / small.shape[1], plane.shape[0] / small.shape[0]
        cell_area = scale_x * scale_y
        regions = []
        for label in range(1, count):
            area_px = stats[label, cv2.CC_STAT_AREA] * cell_area
            if area_px < p.min_area_px:
                continue
            blob = _Blob.from_component(labels, label, stats[label], centroids[label])
            blobs = [blob]
            if p.split_touching and area_px >= p.split_min_area_px:
                blobs = self._split(small, blob, p.min_area_px / cell_area)
            for part in blobs:
                if not p.min_area_px <= part.area * cell_area <= p.max_area_px:
                    continue
                at_border = part.touches(near_edge)
                if at_border and p.border_policy == "exclude":
                    continue
                regions.append(part.to_region(scale_x, scale_y, plane.shape, at_border))
        regions.sort(key=lambda r: (r.cx, r.cy))
        return regions[: p.max_cherries]

    def dark_mask(self, small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cherry mask, unlit mask), uint8 0/255, of a working-size (downscaled) mono plane."""
        p = self.params
        unlit = _dead_lines(small, p.min_background)
        if p.threshold_method == "fixed":
            mask = cv2.compare(small, p.fixed_threshold, cv2.CMP_LT)
        else:
            background = self.background(small)
            unlit = cv2.bitwise_or(unlit, cv2.compare(background, p.min_background, cv2.CMP_LT))
            ratio = cv2.divide(small, background, scale=255.0)
            mask = cv2.compare(ratio, self._ratio_level(ratio, unlit), cv2.CMP_LT)
        mask = cv2.bitwise_and(mask, cv2.bitwise_not(unlit))
        if self._open_kernel is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open_kernel)
        return _fill_holes(mask, p.max_area_px / p.downscale**2), unlit

    def background(self, small: np.ndarray) -> np.ndarray:
        """The belt's brightness without cherries (median filter, twice: clusters are masked)."""
        height, width = small.shape
        size = self._median_size
        sub_w, sub_h = width // BACKGROUND_SUBSAMPLE, height // BACKGROUND_SUBSAMPLE
        if min(sub_w, sub_h) < size:  # a tiny image: one level for all of it
            return np.full_like(small, np.percentile(small, 90))
        sub = cv2.resize(small, (sub_w, sub_h), interpolation=cv2.INTER_AREA)
        first = cv2.medianBlur(sub, size)
        dark = sub < first * self.params.relative_threshold
        second = cv2.medianBlur(np.where(dark, first, sub), size)
        return cv2.resize(second, (width, height), interpolation=cv2.INTER_LINEAR)

    def _ratio_level(self, ratio: np.ndarray, unlit: np.ndarray) -> float:
        """Grey level of the lighting-divided image below which a pixel is cherry."""
        relative = 255.0 * self.params.relative_threshold
        if self.params.threshold_method == "relative":
            return relative
        lit = np.ascontiguousarray(ratio[unlit == 0]).reshape(-1, 1)
        if lit.size == 0:
            return 0.0
        otsu, _ = cv2.threshold(lit, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        return min(otsu, relative)  # an empty belt has no dark class: never above relative

    def _split(self, small: np.ndarray, blob: _Blob, min_area: float) -> list[_Blob]:
        """Touching cherries of one blob: distinct distance-transform peaks seed a watershed."""
        inside = np.pad(blob.mask, 1).astype(np.uint8)
        distance = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
        count, markers = _distinct_peaks(
            distance, self.params.split_depth_px / self.params.downscale
        )
        if count < 2:
            return [blob]
        markers[inside == 0] = count + 1  # everything outside the blob is one more basin
        x0, y0 = blob.x - 1, blob.y - 1
        roi = _padded_roi(small, x0, y0, inside.shape)
        cv2.watershed(cv2.cvtColor(roi, cv2.COLOR_GRAY2BGR), markers)
        masks = [
            ((markers == seed) & (inside > 0)).astype(np.uint8) for seed in range(1, count + 1)
        ]
        if any(np.count_nonzero(part) < min_area for part in masks):
            return [blob]  # a sliver: the seeds were bumps of one cherry
        return [_Blob.from_mask(part, x0, y0) for part in masks]

    def _plane(self, frame: np.ndarray) -> np.ndarray:
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            raise ValueError(f"need an HxW or HxWxC uint8 frame, got {_describe(frame)}")
        if frame.ndim == 2:
            return frame
        if self.params.channel >= frame.shape[2]:
            raise ValueError(f"channel {self.params.channel} of a {frame.shape[2]}-channel frame")
        return np.ascontiguousarray(frame[..., self.params.channel])

    def _downscale(self, plane: np.ndarray) -> np.ndarray:
        factor = self.params.downscale
        height, width = plane.shape
        if factor == 1 or height < 2 * factor or width < 2 * factor:
            return plane
        return cv2.resize(plane, (width // factor, height // factor), interpolation=cv2.INTER_AREA)

    def _near_edge(self, unlit: np.ndarray) -> np.ndarray:
        """Bool mask: within the edge margin of the frame edge or of an unlit area."""
        margin = self.params.scaled(self.params.edge_margin_px, 1)
        near = unlit.copy()
        if unlit.any():
            kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * margin + 1, 2 * margin + 1))
            near = cv2.dilate(unlit, kernel)
        near[:margin], near[-margin:], near[:, :margin], near[:, -margin:] = 255, 255, 255, 255
        return near > 0


def _dead_lines(small: np.ndarray, min_level: int) -> np.ndarray:
    """0/255 mask of whole rows and columns darker than ``min_level`` (a layer shift's fill)."""
    dead = np.zeros_like(small)
    dead[small.max(axis=1) < min_level] = 255
    dead[:, small.max(axis=0) < min_level] = 255
    return dead


def _distinct_peaks(distance: np.ndarray, depth: float) -> tuple[int, np.ndarray]:
    """(count, int32 markers 1..count) of the peaks rising ``depth`` above the waist between them.

    Thresholds the distance map at rising levels; at each level, the pieces whose top is at least
    ``depth`` higher are distinct peaks. The level with the most such pieces wins.
    """
    best_count, best_markers = 0, np.zeros(distance.shape, np.int32)
    for level in np.arange(depth, float(distance.max()) - depth + 1e-6, PEAK_LEVEL_STEP):
        count, markers = cv2.connectedComponents((distance >= level).astype(np.uint8))
        tops = np.zeros(count, np.float32)
        np.maximum.at(tops, markers.ravel(), distance.ravel())
        distinct = np.flatnonzero(tops[1:] >= level + depth) + 1
        if len(distinct) > best_count:
            relabel = np.zeros(count, np.int32)
            relabel[distinct] = np.arange(1, len(distinct) + 1)
            best_count, best_markers = len(distinct), relabel[markers]
    return best_count, best_markers


def _fill_holes(mask: np.ndarray, max_hole_area: float) -> np.ndarray:
    """``mask`` with enclosed holes up to ``max_hole_area`` (pits, glints on a cherry) filled."""
    outside = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    cv2.floodFill(outside, None, (0, 0), 255)
    holes = cv2.bitwise_not(outside[1:-1, 1:-1])
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    small_holes = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] <= max_hole_area) + 1
    if len(small_holes) == count - 1:
        return cv2.bitwise_or(mask, holes)
    return cv2.bitwise_or(mask, np.isin(labels, small_holes).astype(np.uint8) * 255)


def _padded_roi(plane: np.ndarray, x0: int, y0: int, shape: tuple[int, int]) -> np.ndarray:
    """plane[y0:y0+h, x0:x0+w], edge-replicated where that reaches outside the plane."""
    height, width = shape
    top, left = max(0, -y0), max(0, -x0)
    bottom = max(0, y0 + height - plane.shape[0])
    right = max(0, x0 + width - plane.shape[1])
    roi = plane[max(0, y0) : y0 + height, max(0, x0) : x0 + width]
    return np.ascontiguousarray(np.pad(roi, ((top, bottom), (left, right)), mode="edge"))


@dataclass(frozen=True)
class _Blob:
    """One cherry in downscaled pixels: bounding box, area, centroid, mask inside the box."""

    x: int
    y: int
    width: int
    height: int
    area: int
    cx: float
    cy: float
    mask: np.ndarray  # bool, height x width

    @classmethod
    def from_component(
        cls, labels: np.ndarray, label: int, stats: np.ndarray, centroid: np.ndarray
    ) -> _Blob:
        x, y, width, height, area = (int(v) for v in stats[:5])
        mask = labels[y : y + height, x : x + width] == label
        return cls(x, y, width, height, area, float(centroid[0]), float(centroid[1]), mask)

    @classmethod
    def from_mask(cls, mask: np.ndarray, x0: int, y0: int) -> _Blob:
        """The blob of a uint8 0/1 ``mask`` whose pixel (0, 0) is plane pixel (y0, x0)."""
        bx, by, width, height = cv2.boundingRect(mask)
        moments = cv2.moments(mask, binaryImage=True)
        area = int(moments["m00"])
        cx, cy = moments["m10"] / area, moments["m01"] / area
        inside = mask[by : by + height, bx : bx + width] > 0
        return cls(x0 + bx, y0 + by, width, height, area, x0 + cx, y0 + cy, inside)

    def touches(self, near_edge: np.ndarray) -> bool:
        box = near_edge[self.y : self.y + self.height, self.x : self.x + self.width]
        return bool((box & self.mask).any())

    def to_region(
        self, scale_x: float, scale_y: float, shape: Sequence[int], at_border: bool
    ) -> Region:
        x0, y0 = round(self.x * scale_x), round(self.y * scale_y)
        x1 = min(shape[1], round((self.x + self.width) * scale_x))
        y1 = min(shape[0], round((self.y + self.height) * scale_y))
        return Region(
            x=x0,
            y=y0,
            width=x1 - x0,
            height=y1 - y0,
            cx=(self.cx + 0.5) * scale_x - 0.5,
            cy=(self.cy + 0.5) * scale_y - 0.5,
            area=round(self.area * scale_x * scale_y),
            at_border=at_border,
        )


# -- crops ----------------------------------------------------------------------------------------
def cut_crops(
    frame: np.ndarray,
    regions: Sequence[Region],
    crop_size: int = CROP_SIZE_PX,
    pad_mode: str = "constant",
    pad_value: int = 0,
) -> tuple[np.ndarray, list[Region]]:
    """(N, crop, crop, C) uint8 crops centred on each region's centre, and each crop's window.

    A window reaching past the frame edge is padded: ``pad_mode`` "constant" (``pad_value``; 0 is
    what the production line's layer shift leaves), "reflect" or "edge". The returned window is
    *not* clipped (x, y may be negative): crop pixel (i, j) is frame pixel (y + i, x + j).
    Windows keep the region's centre, area and at_border flag; see :func:`clip_region`.
    """
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    if crop_size < 1:
        raise ValueError(f"crop_size must be >= 1, got {crop_size}")
    image = frame if frame.ndim == 3 else frame[..., None]
    crops = np.empty((len(regions), crop_size, crop_size, image.shape[2]), np.uint8)
    windows = []
    for index, region in enumerate(regions):
        x0 = int(np.floor(region.cx + 0.5)) - crop_size // 2
        y0 = int(np.floor(region.cy + 0.5)) - crop_size // 2
        crops[index] = _window(image, x0, y0, crop_size, pad_mode, pad_value)
        windows.append(
            Region(
                x0, y0, crop_size, crop_size, region.cx, region.cy, region.area, region.at_border
            )
        )
    return crops, windows


def region_box(region: Region | Sequence[int]) -> tuple[int, int, int, int]:
    """(x, y, width, height) as ints, of a Region or of a 4-sequence."""
    x, y, width, height = region.box if isinstance(region, Region) else region
    return int(x), int(y), int(width), int(height)


def clip_region(region: Region, frame_shape: Sequence[int]) -> Region:
    """The part of ``region``'s box inside a frame of ``frame_shape`` (H, W, ...)."""
    x0, y0 = max(0, region.x), max(0, region.y)
    x1 = min(frame_shape[1], region.x + region.width)
    y1 = min(frame_shape[0], region.y + region.height)
    return Region(
        x0,
        y0,
        max(0, x1 - x0),
        max(0, y1 - y0),
        region.cx,
        region.cy,
        region.area,
        region.at_border,
    )


def _window(
    image: np.ndarray, x0: int, y0: int, size: int, pad_mode: str, pad_value: int
) -> np.ndarray:
    """image[y0:y0+size, x0:x0+size], padded where it reaches past the edges."""
    height, width = image.shape[:2]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y0 + size - height), max(0, x0 + size - width)
    if not (top or left or bottom or right):
        return image[y0 : y0 + size, x0 : x0 + size]
    if top + bottom >= size or left + right >= size:  # wholly outside the frame
        return np.full((size, size, image.shape[2]), pad_value, np.uint8)
    inside = image[y0 + top : y0 + size - bottom, x0 + left : x0 + size - right]
    if pad_mode == "constant":
        window = np.full((size, size, image.shape[2]), pad_value, np.uint8)
        window[top : size - bottom, left : size - right] = inside
        return window
    pad = ((top, bottom), (left, right), (0, 0))
    return np.pad(inside, pad, mode="reflect" if pad_mode == "reflect" else "edge")


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
