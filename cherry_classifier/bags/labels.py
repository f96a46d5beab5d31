"""Labels recorded next to the images: ``cherry_classifier_msgs/CherryLabelArray`` messages.

One label array per labelled image, by default on ``/cherry_labels``, carrying that image's
header unchanged and its topic in ``source_topic``: labels join images by
(source_topic, header stamp). See docs/bags.md.

Decisions join labels by region centres (:func:`match_decisions_to_labels`): a decision takes
the label whose box centre is nearest to its cherry box's centre, if that distance is at most
``max_distance_px`` (default: half the label box's larger side, i.e. the decision's centre lies
on the labelled cherry); each label is taken at most once, closest pairs first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cherry_classifier.bags.io import BagWriter, decode, iter_messages
from cherry_classifier.bags.messages import msg_class, stamp_ns
from cherry_classifier.core.decision import LABEL_NAMES
from cherry_classifier.imaging.localizer import region_box

LABELS_TOPIC = "/cherry_labels"
LABEL_ARRAY = "cherry_classifier_msgs/msg/CherryLabelArray"
LABEL = "cherry_classifier_msgs/msg/CherryLabel"
SYNTHETIC_TRUTH = "synthetic truth"

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


def label_array_message(source_topic: str, header: Any, labels: Sequence[Label]) -> Any:
    """The ``rosbags`` CherryLabelArray of one image (``header``: the image's header)."""
    roi, label_msg = msg_class("sensor_msgs/msg/RegionOfInterest"), msg_class(LABEL)
    return msg_class(LABEL_ARRAY)(
        header=header,
        source_topic=source_topic,
        labels=[
            label_msg(
                label=int(item.label),
                label_name=item.name,
                region=roi(
                    x_offset=max(0, int(item.region[0])),
                    y_offset=max(0, int(item.region[1])),
                    height=int(item.region[3]),
                    width=int(item.region[2]),
                    do_rectify=False,
                ),
                origin=item.origin,
            )
            for item in labels
        ],
    )


def write_labels(
    bag: BagWriter,
    source_topic: str,
    header: Any,
    labels: Sequence[Label],
    timestamp_ns: int | None = None,
    topic: str = LABELS_TOPIC,
) -> None:
    """Write one image's labels (bag time: ``timestamp_ns``, default the header stamp)."""
    bag.add_topic(topic, LABEL_ARRAY)
    stamp = stamp_ns(header) if timestamp_ns is None else timestamp_ns
    bag.write(topic, stamp, label_array_message(source_topic, header, labels))


def read_labels(path: str | Path, topic: str = LABELS_TOPIC) -> dict[tuple[str, int], list[Label]]:
    """All label arrays of a bag, keyed by (source_topic, header stamp in ns).

    A later array for the same image replaces an earlier one. Empty when the bag has none.
    """
    labels: dict[tuple[str, int], list[Label]] = {}
    for message in iter_messages(path, [topic]):
        array = decode(message)
        labels[(array.source_topic, stamp_ns(array.header))] = [
            Label(
                region=(
                    int(item.region.x_offset),
                    int(item.region.y_offset),
                    int(item.region.width),
                    int(item.region.height),
                ),
                label=int(item.label),
                origin=str(item.origin),
            )
            for item in array.labels
        ]
    return labels


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
