"""Decisions as the line's buffer reads them: ``cherry_interfaces/Cherry`` codes and belt metres.

The buffer that feeds the robot sorts cherries by type code and logs any other value as an
error: 1 clean, 2 pit, 3 side (a cherry cut by the frame edge, not classified), 5 maybe
(6 stem is never emitted). Positions follow the old detector: a box centre (u, v) in frame
pixels maps to metres as x = -(v - 652) / 2710.316, y = -(u - 2448) / 2710.316 (origin
(2448, 652) px, 2710.316 px per metre; the image is turned 90 degrees and rolled 180 degrees).
:class:`BeltTransform` holds those figures, which the node exposes as parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cherry_classifier.core.decision import CLEAN, MAYBE, PIT
from cherry_classifier.imaging.localizer import region_box

LINE_CODES = {CLEAN: 1, PIT: 2, MAYBE: 5}  # decision label -> the line's Cherry.type
SIDE_CODE = 3
AXES = ("u", "-u", "v", "-v")  # what a belt axis is made of: image column (u) or row (v)


@dataclass(frozen=True)
class BeltTransform:
    """Frame pixels to belt metres: ``axis = sign * (pixel - origin) / px_per_m`` per axis."""

    origin_u: float = 2448.0
    origin_v: float = 652.0
    px_per_m: float = 2710.316
    x_axis: str = "-v"
    y_axis: str = "-u"

    def __post_init__(self) -> None:
        if self.px_per_m <= 0:
            raise ValueError(f"px_per_m must be > 0, got {self.px_per_m}")
        for axis in (self.x_axis, self.y_axis):
            if axis not in AXES:
                raise ValueError(f"a belt axis must be one of {', '.join(AXES)}, got {axis!r}")
        if self.x_axis[-1] == self.y_axis[-1]:
            raise ValueError(f"x and y must use different image axes, got both {self.x_axis[-1]}")

    def to_belt(self, u: float, v: float) -> tuple[float, float]:
        """(x, y) in metres of the pixel (u: column, v: row)."""
        return self._axis(self.x_axis, u, v), self._axis(self.y_axis, u, v)

    def _axis(self, axis: str, u: float, v: float) -> float:
        offset = u - self.origin_u if axis.endswith("u") else v - self.origin_v
        sign = -1.0 if axis.startswith("-") else 1.0
        return sign * offset / self.px_per_m


@dataclass(frozen=True)
class LineCherry:
    """One cherry for the line: belt position (m) and type code."""

    x: float
    y: float
    code: int


def is_side(region: Any, width: int, height: int, margin_px: int = 0) -> bool:
    """True when the cherry's box reaches within ``margin_px`` of the frame edge (cut by it)."""
    x, y, w, h = region_box(region)
    return (
        x <= margin_px
        or y <= margin_px
        or x + w >= width - margin_px
        or y + h >= height - margin_px
    )


def line_cherries(
    regions: Sequence[Any],
    labels: Sequence[int],
    frame_size: tuple[int, int],
    transform: BeltTransform,
    side_margin_px: int = 0,
) -> list[LineCherry]:
    """Each decided cherry as the line codes it; ``frame_size`` is (width, height)."""
    width, height = frame_size
    cherries = []
    for region, label in zip(regions, labels, strict=True):
        x, y, w, h = region_box(region)
        belt_x, belt_y = transform.to_belt(x + w / 2.0, y + h / 2.0)
        side = is_side(region, width, height, side_margin_px)
        cherries.append(LineCherry(belt_x, belt_y, SIDE_CODE if side else LINE_CODES[int(label)]))
    return cherries
