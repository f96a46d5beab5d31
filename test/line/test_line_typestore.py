"""The bags' typestore knows the line's ``cherry_interfaces`` messages, wire-identical.

The definitions are embedded in shipped code (``cherry_classifier/bags/line_types.py``, never
read from ``test/``): their RIHS01 hashes (what ``metadata.yaml`` records) must be the line's, and
CDR bytes rclpy serialised must decode and re-encode to the same bytes (rclpy leaves the
alignment padding bytes unzeroed, rosbags zeroes them: compared with the padding zeroed).
"""

from __future__ import annotations

import pytest
import yaml

from cherry_classifier.bags import line_types
from cherry_classifier.bags.io import BagWriter, decode, iter_messages
from cherry_classifier.bags.typestore import build_typestore
from test.line.conftest import EXPECTED_HASHES, MSG_TYPES, cdr_padding, zero_padding

T0 = 1_714_159_166_761_726_468


def test_embedded_types_are_the_lines_messages():
    assert sorted(line_types.MSG_DEFINITIONS) == MSG_TYPES


@pytest.mark.parametrize("typename", MSG_TYPES)
def test_typestore_hash_is_the_lines(typename):
    assert build_typestore().hash_rihs01(typename) == EXPECTED_HASHES[typename]


def test_rclpy_bytes_decode_and_reencode_identically(image_set_hdr):
    from rclpy.serialization import serialize_message

    raw = serialize_message(image_set_hdr)
    store = build_typestore()
    message = store.deserialize_cdr(raw, line_types.IMAGE_SET_HDR)
    assert message.trigger.frame_id == image_set_hdr.trigger.frame_id
    assert message.trigger.encoder_count == image_set_hdr.trigger.encoder_count
    assert message.trigger.stamp.nanosec == 761_726_468
    assert [layer.name for layer in message.images] == ["bot1", "top2", "bot2"]
    assert message.images[0].frame_id == "cam_bot1_µ"
    assert message.images[2].image.data.tobytes() == bytes(image_set_hdr.images[2].image.data)
    again = bytes(store.serialize_cdr(message, line_types.IMAGE_SET_HDR))
    assert len(again) == len(raw)
    assert again == zero_padding(raw, line_types.IMAGE_SET_HDR, store)
    # Every layer pads its image's is_bigendian byte to step's uint32: padding exists here.
    assert len(cdr_padding(raw, line_types.IMAGE_SET_HDR, store)) >= 3 * 3


def test_rclpy_cherry_array_decodes(line_msgs):
    from rclpy.serialization import serialize_message

    cherries = [
        line_msgs.Cherry(x=0.5 + code, y=-0.125, type=bytes([code]))
        for code in (1, 2, 3, 6)  # clean, pit, side, stem
    ]
    raw = serialize_message(line_msgs.CherryArray(cherries=cherries, encoder_count=98_765))
    store = build_typestore()
    message = store.deserialize_cdr(raw, line_types.CHERRY_ARRAY)
    assert [c.type for c in message.cherries] == [1, 2, 3, 6]
    assert [c.x for c in message.cherries] == [1.5, 2.5, 3.5, 6.5]
    assert message.encoder_count == 98_765
    again = bytes(store.serialize_cdr(message, line_types.CHERRY_ARRAY))
    assert again == zero_padding(raw, line_types.CHERRY_ARRAY, store)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_bag_records_and_replays_line_types(tmp_path, storage, image_set_hdr):
    from rclpy.serialization import serialize_message

    raw = serialize_message(image_set_hdr)
    path = tmp_path / "bag"
    with BagWriter(path, storage) as bag:
        bag.write_raw("/line/image_set", line_types.IMAGE_SET_HDR, T0, raw)
    (stored,) = iter_messages(path)
    assert stored.raw == raw
    assert decode(stored).images[1].image.encoding == "bgr8"
    metadata = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    (topic,) = metadata["topics_with_message_count"]
    assert topic["topic_metadata"]["type"] == line_types.IMAGE_SET_HDR
    expected = EXPECTED_HASHES[line_types.IMAGE_SET_HDR]
    assert topic["topic_metadata"]["type_description_hash"] == expected
