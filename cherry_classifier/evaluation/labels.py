"""Labelled cherries and how decisions join them (ROS-free; bags read and write them).

Decisions join labels by region centres (:func:`match_decisions_to_labels`): a decision takes
the label whose box centre is nearest to its cherry box's centre, if that distance is at most
``max_distance_px`` (default: half the label box's larger side, i.e. the decision's centre lies
on the labelled cherry); each label is taken at most once, closest pairs first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cherry_classifier.core.decision import LABEL_NAMES
from cherry_classifier.imaging.localizer import region_box

Box = tuple[int, int, int, int]  # x, y, width, height in image pixels


@dataclass(frozen=True)
class Label:
    """One labelled cherry: its box in the image and its class (CLEAN, MAYBE or PIT)."""

    region: Box
    label: int
    origin: str = ""

    @property
    def name(self) -> str:
        return LABEL_NAMES[self.label]

    @property
    def centre(self) -> tuple[float, float]:
        return box_centre(self.region)


def label_from_name(name: str) -> int:
    """The label code of "clean", "maybe" or "pit"."""
    try:
        return LABEL_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown label {name!r}; expected one of {LABEL_NAMES}") from None


def box_centre(region: Box | Any) -> tuple[float, float]:
    """Centre of an (x, y, width, height) box, or of a Region's box."""
    x, y, width, height = region_box(region)
    return x + width / 2, y + height / 2


@dataclass
class LabelMatch:
    """The result of :func:`match_decisions_to_labels` for one image."""

    label_index: list[int | None]  # per decision: the index of its label, None if unlabelled
    truth: list[int | None]  # per decision: that label's class, None if unlabelled
    missed: list[int] = field(default_factory=list)  # labels no decision took (not found)


def match_decisions_to_labels(
    regions: Sequence[Box | Any],
    labels: Sequence[Label],
    max_distance_px: float | None = None,
) -> LabelMatch:
    """Pair decision regions (cherry boxes) with labels by centre distance (module docstring).

    With one whole-image region and one label (crops mode), they always pair.
    """
    centres = [box_centre(r) for r in regions]
    if len(regions) == 1 and len(labels) == 1 and max_distance_px is None:
        return LabelMatch([0], [labels[0].label], [])
    pairs = []
    for d, (x, y) in enumerate(centres):
        for index, item in enumerate(labels):
            limit = max_distance_px
            if limit is None:
                limit = max(item.region[2], item.region[3]) / 2
            distance = math.hypot(x - item.centre[0], y - item.centre[1])
            if distance <= limit:
                pairs.append((distance, d, index))
    label_index: list[int | None] = [None] * len(regions)
    taken: set[int] = set()
    for _, d, index in sorted(pairs):
        if label_index[d] is None and index not in taken:
            label_index[d] = index
            taken.add(index)
    truth = [None if i is None else labels[i].label for i in label_index]
    missed = [i for i in range(len(labels)) if i not in taken]
    return LabelMatch(label_index, truth, missed)
