"""The test copy of the line's ``cherry_interfaces`` is wire-identical to the line's package.

``scripts/bootstrap.sh`` builds ``test/line_interfaces/cherry_interfaces`` into this checkout's
``install/``: every type's RIHS01 hash, as rosidl generated it into the installed type description
(``share/cherry_interfaces/{msg,srv}/*.json``) and as the middleware announces it, must be the
line's; an ``ImageSetHdr`` survives a CDR round trip through rclpy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cherry_classifier.bags.line_types import IMAGE_SET_HDR
from cherry_classifier.bags.typestore import build_typestore
from test.conftest import missing, require
from test.line.conftest import EXPECTED_HASHES, MSG_TYPES, PACKAGE, zero_padding


@pytest.fixture(scope="module")
def share_dir() -> Path:
    ament_index = require("ament_index_python.packages", "finding the built test copy")
    try:
        return Path(ament_index.get_package_share_directory(PACKAGE))
    except ament_index.PackageNotFoundError:
        missing(f"{PACKAGE} not built (run scripts/bootstrap.sh)")


def installed_hash(share_dir: Path, typename: str) -> str:
    """The hash rosidl generated for ``typename`` (pkg/msg/Name) into its installed .json."""
    _, kind, name = typename.split("/")
    description = json.loads((share_dir / kind / f"{name}.json").read_text())
    hashes = {entry["type_name"]: entry["hash_string"] for entry in description["type_hashes"]}
    return hashes[typename]


@pytest.mark.parametrize("typename", sorted(EXPECTED_HASHES))
def test_installed_type_hash_is_the_lines(share_dir, typename):
    assert installed_hash(share_dir, typename) == EXPECTED_HASHES[typename]


def test_the_copy_is_found_in_this_checkout_only(share_dir):
    # The one built here, from test/line_interfaces: never a line's real package.
    package_xml = (share_dir / "package.xml").read_text()
    assert "TEST COPY" in package_xml


def test_image_set_hdr_cdr_round_trip(line_msgs, image_set_hdr):
    from rclpy.serialization import deserialize_message, serialize_message

    raw = serialize_message(image_set_hdr)
    back = deserialize_message(raw, line_msgs.ImageSetHdr)
    assert back == image_set_hdr
    assert [layer.name for layer in back.images] == ["bot1", "top2", "bot2"]
    assert back.images[2].image.data.tobytes() == image_set_hdr.images[2].image.data.tobytes()
    # Equal up to alignment padding, which rclpy does not zero (it differs from call to call).
    store = build_typestore()
    assert zero_padding(serialize_message(back), IMAGE_SET_HDR, store) == zero_padding(
        raw, IMAGE_SET_HDR, store
    )


def test_cherry_type_is_one_unsigned_byte(line_msgs):
    from rclpy.serialization import deserialize_message, serialize_message

    cherry = line_msgs.Cherry(x=0.25, y=-0.015625, type=bytes([6]))  # float32-exact
    back = deserialize_message(serialize_message(cherry), line_msgs.Cherry)
    assert back.type == bytes([6])
    assert back == cherry
    array = line_msgs.CherryArray(cherries=[cherry, back], encoder_count=123_456)
    assert deserialize_message(serialize_message(array), line_msgs.CherryArray) == array


@pytest.mark.ros
def test_middleware_announces_the_lines_hashes(line_msgs):
    # The hash DDS discovery carries: what a line's subscriber compares against.
    rclpy = require("rclpy", "the middleware's view of the type hashes")
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("line_interfaces_hashes", context=context)
        try:
            announced = {}
            for typename in MSG_TYPES:
                name = typename.rsplit("/", 1)[1]
                topic = f"line_hashes/{name.lower()}"
                node.create_publisher(getattr(line_msgs, name), topic, 1)
                (info,) = node.get_publishers_info_by_topic(topic)
                announced[typename] = str(info.topic_type_hash)
            assert announced == {name: EXPECTED_HASHES[name] for name in MSG_TYPES}
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
