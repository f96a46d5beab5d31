"""Labels recorded next to the images: ``cherry_classifier_msgs/CherryLabelArray`` messages.

One label array per labelled image, by default on ``/cherry_labels``, carrying that image's
header unchanged and its topic in ``source_topic``: labels join images by
(source_topic, header stamp). See docs/bags.md.

:class:`Label` and the matching of decisions to labels are ROS-free:
:mod:`cherry_classifier.evaluation.labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cherry_classifier.bags.io import BagWriter, decode, iter_messages
from cherry_classifier.bags.messages import msg_class, stamp_ns
from cherry_classifier.evaluation.labels import Label

LABELS_TOPIC = "/cherry_labels"
LABEL_ARRAY = "cherry_classifier_msgs/msg/CherryLabelArray"
LABEL = "cherry_classifier_msgs/msg/CherryLabel"
SYNTHETIC_TRUTH = "synthetic truth"


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
