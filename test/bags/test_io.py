"""Bags written and read back with rosbags, in both storages: bytes, fields and metadata."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from cherry_classifier.bags.io import (
    BagError,
    BagWriter,
    bag_summary,
    decode,
    image_topics,
    iter_messages,
    storage_of,
)
from cherry_classifier.bags.labels import LABEL_ARRAY, Label, read_labels, write_labels
from cherry_classifier.bags.messages import COMPRESSED_IMAGE, IMAGE, header, image_message
from cherry_classifier.bags.typestore import build_typestore
from cherry_classifier.core.decision import MAYBE, PIT
from cherry_classifier.imaging.pipeline import decode_image
from test.conftest import require

STORAGE_FILES = {"sqlite3": ".db3", "mcap": ".mcap"}
T0 = 1_700_000_000_000_000_000


def _frame(seed: int, shape=(40, 60, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_round_trip_keeps_images_labels_and_raw_bytes(tmp_path, storage):
    path = tmp_path / "bag"
    colour, mono = _frame(1), _frame(2, (30, 20))
    labels = [Label((1, 2, 10, 12), PIT, "synthetic truth"), Label((20, 5, 8, 9), MAYBE, "human")]
    raw_payload = bytes(build_typestore().serialize_cdr(image_message(mono, T0 + 5), IMAGE))
    with BagWriter(path, storage) as bag:
        bag.add_topic("/cam/image", IMAGE)
        bag.add_topic("/cam/image/compressed", COMPRESSED_IMAGE)
        for index in range(3):
            stamp = T0 + index * 1_000_000
            raw = image_message(colour, stamp, f"frame{index}", encoding="8UC3")
            bag.write("/cam/image", stamp, raw)
            bag.write("/cam/image/compressed", stamp, image_message(colour, stamp, "c", "png"))
            write_labels(bag, "/cam/image", raw.header, labels if index else [])
        bag.write_raw("/cam/mono", IMAGE, T0 + 5, raw_payload)

    assert (path / "metadata.yaml").is_file()
    assert (path / f"bag{STORAGE_FILES[storage]}").is_file()
    info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 9 and info["storage_identifier"] == storage
    assert isinstance(info["custom_data"], dict)  # rosbag2 parses it as a map
    hashes = {t["topic_metadata"]["name"]: t for t in info["topics_with_message_count"]}
    assert hashes["/cam/image"]["topic_metadata"]["type_description_hash"].startswith("RIHS01_")
    assert hashes["/cherry_labels"]["message_count"] == 3
    assert storage_of(path) == storage

    summary = bag_summary(path)
    assert summary.storage == storage and summary.message_count == 10
    assert summary.topics["/cherry_labels"] == (LABEL_ARRAY, 3)
    assert summary.start_ns == T0 and summary.end_ns == T0 + 2_000_000
    assert image_topics(path) == {
        "/cam/image": IMAGE,
        "/cam/image/compressed": COMPRESSED_IMAGE,
        "/cam/mono": IMAGE,
    }

    messages = list(iter_messages(path))
    assert [m.timestamp_ns for m in messages] == sorted(m.timestamp_ns for m in messages)
    (stored_raw,) = [m for m in messages if m.topic == "/cam/mono"]
    assert stored_raw.raw == raw_payload
    np.testing.assert_array_equal(decode_image(decode(stored_raw), compressed=False)[..., 0], mono)
    images = [decode(m) for m in iter_messages(path, ["/cam/image"])]
    assert [m.header.frame_id for m in images] == ["frame0", "frame1", "frame2"]
    assert images[0].encoding == "8UC3"
    np.testing.assert_array_equal(decode_image(images[1], compressed=False), colour)
    compressed = [decode(m) for m in iter_messages(path, ["/cam/image/compressed"])]
    assert compressed[0].format == "bgr8; png compressed bgr8"
    np.testing.assert_array_equal(decode_image(compressed[2], compressed=True), colour)

    read = read_labels(path)
    assert read[("/cam/image", T0)] == []
    assert read[("/cam/image", T0 + 1_000_000)] == labels


def test_writer_refuses_existing_folders_unknown_topics_and_types(tmp_path):
    (tmp_path / "exists").mkdir()
    with pytest.raises(BagError, match="exists"):
        BagWriter(tmp_path / "exists")
    with pytest.raises(BagError, match="storage"):
        BagWriter(tmp_path / "x", storage="rosbag1")
    with BagWriter(tmp_path / "bag") as bag:
        with pytest.raises(BagError, match="add_topic"):
            bag.write("/nowhere", T0, image_message(_frame(0), T0))
        with pytest.raises(BagError, match="unknown message type"):
            bag.add_topic("/x", "no_pkg/msg/Nothing")
        bag.add_topic("/x", IMAGE)
        with pytest.raises(BagError, match="already in the bag"):
            bag.add_topic("/x", COMPRESSED_IMAGE)
    with pytest.raises(BagError, match="not a rosbag2 bag"):
        bag_summary(tmp_path)


def test_rclpy_and_rosbags_agree_on_the_wire(tmp_path):
    """Bytes rclpy serialises are stored and decoded here, and the reverse (no DDS involved)."""
    serialization = require("rclpy.serialization", "comparing rclpy's bytes with rosbags'")
    msgs = require("cherry_classifier_msgs.msg", "the package's own messages (colcon build)")
    sensor_msgs = require("sensor_msgs.msg", "comparing rclpy's bytes with rosbags'")

    image = sensor_msgs.Image(height=2, width=3, encoding="mono8", step=3, data=bytes(range(6)))
    image.header.stamp.sec, image.header.frame_id = 7, "cam"
    path = tmp_path / "bag"
    labels = [Label((4, 5, 6, 7), PIT, "human")]
    with BagWriter(path, "mcap") as bag:
        bag.write_raw("/img", IMAGE, T0, serialization.serialize_message(image))
        write_labels(bag, "/img", header(T0, "cam"), labels)
    (stored,) = list(iter_messages(path, ["/img"]))
    decoded = decode(stored)
    assert (decoded.height, decoded.width, decoded.encoding) == (2, 3, "mono8")
    assert bytes(decoded.data) == bytes(range(6)) and decoded.header.frame_id == "cam"
    (label_raw,) = list(iter_messages(path, ["/cherry_labels"]))
    array = serialization.deserialize_message(label_raw.raw, msgs.CherryLabelArray)
    assert array.source_topic == "/img" and array.labels[0].label == msgs.CherryLabel.PIT
    assert array.labels[0].label_name == "pit" and array.labels[0].region.width == 6
