"""A yardstick from the one real labelled frame: the old production detector's boxes.

``annotated/test2.png`` under the production frames folder is trigger
``20240426T121926876364`` (its layers in the folder of that name) as the old detector drew it:
one rectangle per cherry, limegreen clean, red pit, yellow maybe, cyan side, saved with red and
blue swapped. Read as OpenCV reads it (B, G, R), the rectangles are therefore

- clean (50, 205, 50), pit (255, 0, 0), maybe (255, 255, 0), side (0, 255, 255),

and the picture under them is the aligned layer stack itself: B, G, R = bot1, bot2, top2, each
moved down the belt by its encoder offset (bot2 13 rows, top2 25; the rows shifted in are zero,
hence the blue and cyan bands along the top). Measured: 99.3 % or more of each channel's pixels
equal the aligned layer's, the rest being the rectangles; the PNG is neither turned nor scaled.
Should an annotation come at another size, its boxes are scaled to the frame's
(:func:`to_frame_boxes`).

:func:`yardstick_report` runs the project's localizer on the aligned frame, matches its boxes to
the old detector's (nearest centres, each box used once) and reports the localizer's recall,
the label agreement between a classifier and the old model on the matched non-side cherries,
and the old pits the classifier decided clean. The old model is not ground truth: agreement
says how far two models differ, not which is right.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cherry_classifier.core.decision import LABEL_NAMES, Thresholds
from cherry_classifier.imaging.layers import load_layered_frame
from cherry_classifier.imaging.localizer import region_box
from cherry_classifier.imaging.pipeline import FramePipeline

ANNOTATED_PNG = Path("annotated") / "test2.png"
ANNOTATED_FRAME = "20240426T121926876364"  # the trigger folder the PNG shows
SIDE = "side"  # the old detector's cherries cut by the frame edge: not classified
# The old detector's box colours as stored in the PNG, in OpenCV's B, G, R order.
BOX_COLOURS_BGR: dict[str, tuple[int, int, int]] = {
    "clean": (50, 205, 50),
    "pit": (255, 0, 0),
    "maybe": (255, 255, 0),
    SIDE: (0, 255, 255),
}
MIN_BOX_SIDE_PX = 16  # smaller outlines are not cherry boxes
MAX_BOX_SIDE_PX = 300
MIN_EDGE_COVER = 0.8  # share of a rectangle's outline that must be drawn in its colour
MAX_INSIDE_COVER = 0.2  # a filled area (the band along the top) is not a box
TWIN_PX = 3  # rectangles whose corners all lie this close are one (a thick outline's twins)


@dataclass(frozen=True)
class OldBox:
    """One rectangle of the old detector: its label and (x, y, width, height) in frame px."""

    label: str
    box: tuple[int, int, int, int]

    @property
    def centre(self) -> tuple[float, float]:
        x, y, width, height = self.box
        return x + width / 2.0, y + height / 2.0


@dataclass
class YardstickResult:
    """What one classifier and the project's localizer make of the old detector's frame."""

    model_id: str
    old_boxes: list[OldBox]
    localizer_boxes: list[tuple[int, int, int, int]]
    matches: list[tuple[int, int]]  # (old box index, localizer box index)
    new_labels: dict[int, str] = field(default_factory=dict)  # old box index -> classifier label
    frame: str = ANNOTATED_FRAME

    @property
    def found(self) -> int:
        return len(self.matches)

    @property
    def recall(self) -> float:
        """Share of the old detector's boxes the localizer found."""
        return self.found / len(self.old_boxes) if self.old_boxes else float("nan")

    @property
    def compared(self) -> list[int]:
        """Old box indices that were found and are not side cherries (those get labels)."""
        return [old for old, _ in self.matches if self.old_boxes[old].label != SIDE]

    @property
    def agreeing(self) -> int:
        return sum(self.new_labels[old] == self.old_boxes[old].label for old in self.compared)

    @property
    def agreement(self) -> float:
        """Share of the compared cherries on which the classifier gives the old label."""
        return self.agreeing / len(self.compared) if self.compared else float("nan")

    @property
    def old_pits(self) -> int:
        return sum(self.old_boxes[old].label == "pit" for old in self.compared)

    @property
    def old_pits_decided_clean(self) -> int:
        return sum(
            self.old_boxes[old].label == "pit" and self.new_labels[old] == "clean"
            for old in self.compared
        )

    def confusion(self) -> Counter[tuple[str, str]]:
        """(old label, classifier label) counts over the compared cherries."""
        return Counter((self.old_boxes[o].label, self.new_labels[o]) for o in self.compared)

    def summary(self) -> dict[str, Any]:
        """The figures as plain data (a report's JSON), with :meth:`format`'s lines."""
        return {
            "frame": self.frame,
            "model_id": self.model_id,
            "old_boxes": len(self.old_boxes),
            "localizer_found": self.found,
            "localizer_recall": self.recall,
            "compared": len(self.compared),
            "agreeing": self.agreeing,
            "agreement": self.agreement,
            "old_pits": self.old_pits,
            "old_pits_decided_clean": self.old_pits_decided_clean,
            "old_to_new": {f"{o}->{n}": c for (o, n), c in sorted(self.confusion().items())},
            "lines": self.format().splitlines(),
        }

    def format(self) -> str:
        """A few lines for people, with the caveat."""
        old_counts = Counter(box.label for box in self.old_boxes)
        counts = ", ".join(f"{old_counts[name]} {name}" for name in BOX_COLOURS_BGR)
        pairs = ", ".join(f"{old}->{new} {n}" for (old, new), n in sorted(self.confusion().items()))
        return "\n".join(
            [
                f"yardstick: frame {self.frame}, old production detector's boxes ({counts})",
                f"  localizer found {self.found} of {len(self.old_boxes)} old boxes "
                f"(recall {self.recall:.2f}; {len(self.localizer_boxes)} boxes in all)",
                f"  model {self.model_id} agrees with the old model's label on "
                f"{self.agreeing} of {len(self.compared)} found non-side cherries "
                f"({self.agreement:.2f})",
                f"  old pits decided clean: {self.old_pits_decided_clean} of {self.old_pits}",
                f"  old -> new: {pairs}",
                "  caveat: the old model is not ground truth; one frame, "
                f"{len(self.compared)} cherries",
            ]
        )


def find_boxes(annotated: np.ndarray) -> list[OldBox]:
    """The old detector's rectangles in a B, G, R image, by colour (top to bottom, left to right).

    A rectangle is found from its top-left corner: a pixel of a box colour with the colour
    running right and down from it but not left of it or above it; it counts where most of its
    outline and little of its inside are in that colour (overlapping boxes keep their own).
    """
    boxes = []
    for label, colour in BOX_COLOURS_BGR.items():
        mask = np.all(annotated == np.asarray(colour, np.uint8), axis=-1)
        boxes += [OldBox(label, box) for box in _rectangles(mask)]
    return sorted(boxes, key=lambda b: (b.box[1], b.box[0], b.label))


def _rectangles(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    right = _run_lengths(mask)  # how far the colour runs right from each pixel
    down = _run_lengths(mask.T).T  # and down
    left_free = np.ones_like(mask)
    left_free[:, 1:] = ~mask[:, :-1]
    above_free = np.ones_like(mask)
    above_free[1:] = ~mask[:-1]
    corners = mask & left_free & above_free
    corners &= (right >= MIN_BOX_SIDE_PX) & (down >= MIN_BOX_SIDE_PX)
    found = []
    for y, x in zip(*np.nonzero(corners), strict=True):
        width = min(int(right[y, x]), MAX_BOX_SIDE_PX + 1)
        height = min(int(down[y, x]), MAX_BOX_SIDE_PX + 1)
        if width > MAX_BOX_SIDE_PX or height > MAX_BOX_SIDE_PX:
            continue
        window = mask[y : y + height, x : x + width]
        outline = np.concatenate([window[0], window[-1], window[:, 0], window[:, -1]])
        inside = window[3:-3, 3:-3]
        if outline.mean() >= MIN_EDGE_COVER and inside.mean() <= MAX_INSIDE_COVER:
            found.append((int(x), int(y), width, height))
    return _merge_twins(found)


def _merge_twins(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """One box per rectangle: a thick outline with clipped corners has two top-left corners,
    giving twins a few pixels apart; each group of twins becomes their union."""
    merged: list[tuple[int, int, int, int]] = []
    for box in boxes:
        for index, kept in enumerate(merged):
            if _corners_within(box, kept, TWIN_PX):
                x0, y0 = min(box[0], kept[0]), min(box[1], kept[1])
                x1 = max(box[0] + box[2], kept[0] + kept[2])
                y1 = max(box[1] + box[3], kept[1] + kept[3])
                merged[index] = (x0, y0, x1 - x0, y1 - y0)
                break
        else:
            merged.append(box)
    return merged


def _corners_within(a: tuple[int, ...], b: tuple[int, ...], distance: int) -> bool:
    corners_a = (a[0], a[1], a[0] + a[2], a[1] + a[3])
    corners_b = (b[0], b[1], b[0] + b[2], b[1] + b[3])
    return all(abs(p - q) <= distance for p, q in zip(corners_a, corners_b, strict=True))


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """For each pixel, how many set pixels run rightwards from it (0 where unset)."""
    runs = np.zeros(mask.shape, np.int32)
    for column in range(mask.shape[1] - 1, -1, -1):
        following = runs[:, column + 1] if column + 1 < mask.shape[1] else 0
        runs[:, column] = np.where(mask[:, column], following + 1, 0)
    return runs


def to_frame_boxes(
    boxes: list[OldBox], annotated_shape: tuple[int, ...], frame_shape: tuple[int, ...]
) -> list[OldBox]:
    """Boxes drawn on an image of ``annotated_shape`` in the pixels of a frame of
    ``frame_shape`` (the same orientation; identity where the sizes agree, as for test2.png)."""
    scale_y = frame_shape[0] / annotated_shape[0]
    scale_x = frame_shape[1] / annotated_shape[1]
    if (scale_x, scale_y) == (1.0, 1.0):
        return list(boxes)
    return [
        OldBox(
            box.label,
            (
                round(box.box[0] * scale_x),
                round(box.box[1] * scale_y),
                round(box.box[2] * scale_x),
                round(box.box[3] * scale_y),
            ),
        )
        for box in boxes
    ]


def match_boxes(old: list[OldBox], found: list[tuple[int, int, int, int]]) -> list[tuple[int, int]]:
    """(old index, found index) pairs: nearest centres first, each box used once, and a pair
    only where each centre lies inside the other's box."""
    pairs = []
    for i, old_box in enumerate(old):
        ox, oy = old_box.centre
        for j, box in enumerate(found):
            fx, fy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
            if _inside((ox, oy), box) and _inside((fx, fy), old_box.box):
                pairs.append((float(np.hypot(ox - fx, oy - fy)), i, j))
    matched: list[tuple[int, int]] = []
    used_old: set[int] = set()
    used_found: set[int] = set()
    for _, i, j in sorted(pairs):
        if i not in used_old and j not in used_found:
            matched.append((i, j))
            used_old.add(i)
            used_found.add(j)
    return sorted(matched)


def _inside(point: tuple[float, float], box: tuple[int, int, int, int]) -> bool:
    x, y, width, height = box
    return x <= point[0] <= x + width and y <= point[1] <= y + height


def yardstick_report(
    classifier: Any, frames_dir: str | Path, thresholds: Thresholds | None = None
) -> YardstickResult:
    """Measure ``classifier`` (a core ``Classifier``) and the localizer against the old detector.

    ``frames_dir``: the production frames folder (``annotated/test2.png`` and the trigger
    folder ``20240426T121926876364``). ``thresholds``: the decision thresholds (default: the
    model's own, from its manifest).
    """
    frames_dir = Path(frames_dir)
    png = frames_dir / ANNOTATED_PNG
    annotated = cv2.imread(str(png), cv2.IMREAD_COLOR) if png.is_file() else None
    if annotated is None:
        raise FileNotFoundError(f"{png}: no such image")
    frame = load_layered_frame(frames_dir / ANNOTATED_FRAME, classifier.manifest.channel_names)
    old = to_frame_boxes(find_boxes(annotated), annotated.shape, frame.image.shape)
    pipeline = FramePipeline("frames", crop_size=classifier.manifest.crop_size)
    crops, regions = pipeline.crops(frame.image)
    found = [region_box(region) for region in regions]
    matches = match_boxes(old, found)
    result = YardstickResult(classifier.model_id, old, found, matches)
    compared = [(o, f) for o, f in matches if old[o].label != SIDE]
    if compared:
        decisions = classifier.classify([crops[f] for _, f in compared], thresholds)
        result.new_labels = {
            o: LABEL_NAMES[int(label)]
            for (o, _), label in zip(compared, decisions.labels, strict=True)
        }
    return result
