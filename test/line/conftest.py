"""The line's own interface package ``cherry_interfaces``: expected type hashes and a sample.

``EXPECTED_HASHES`` are the ROS 2 Kilted RIHS01 hashes of the line's real package. Both the test
copy built by ``scripts/bootstrap.sh`` (``test/line_interfaces/cherry_interfaces``) and the
shipped typestore (``cherry_classifier/bags/line_types.py``) must reproduce them exactly.
"""

from __future__ import annotations

import pytest

from test.conftest import require

PACKAGE = "cherry_interfaces"

EXPECTED_HASHES = {
    "cherry_interfaces/msg/Cherry": (
        "RIHS01_4a4d7b670dd2e4d86388af7a315886699a33aeb314e98308c1cd753b6f0e3870"
    ),
    "cherry_interfaces/msg/CherryArray": (
        "RIHS01_5d723744ca81ce62f14770576312cb6a4efd17dbffc93e6eaa481723890eb421"
    ),
    "cherry_interfaces/msg/ImageLayer": (
        "RIHS01_53bb7d99c65e4e43cd374459a9a21ffbe8eb2f87f921a2307cf7b8883ad7f03b"
    ),
    "cherry_interfaces/msg/ImageSetHdr": (
        "RIHS01_3f6eeb2320d6e3d30d09d0eb8a5634cabd984e483e6d6d6456d9a37ec76d1084"
    ),
    "cherry_interfaces/msg/Trigger": (
        "RIHS01_0d5f24a441e73f288e201b03e80bbc09468e1c3d28706d41eace11d1aa6c13b9"
    ),
    "cherry_interfaces/srv/Detectionhdr": (
        "RIHS01_bc0f5f677b61babba50b9a4f9ad8bd18ad8bd60da87de79bb65f3968728e234f"
    ),
}
MSG_TYPES = sorted(name for name in EXPECTED_HASHES if "/msg/" in name)


@pytest.fixture
def line_msgs():
    """``cherry_interfaces.msg`` as built by the bootstrap (skipped where it is not built)."""
    return require("cherry_interfaces.msg", "the line's interfaces (test copy: bootstrap.sh)")


@pytest.fixture
def image_set_hdr(line_msgs):
    """An rclpy ``ImageSetHdr``: a trigger and three layers of different sizes and encodings."""
    trigger = line_msgs.Trigger(frame_id=-(2**40) - 3, encoder_count=2**62 + 17, encoder_mm=-1234)
    trigger.stamp.sec, trigger.stamp.nanosec = 1_714_159_166, 761_726_468
    layers = []
    for index, (name, encoding, width, height, channels) in enumerate(
        [("bot1", "mono8", 5, 3, 1), ("top2", "bgr8", 4, 2, 3), ("bot2", "mono16", 3, 3, 2)]
    ):
        layer = line_msgs.ImageLayer(name=name, frame_id=f"cam_{name}_µ", count=index * 1000 - 7)
        layer.mm = 10_000 + index
        image = layer.image
        image.header.frame_id = f"cam_{name}"
        image.header.stamp = trigger.stamp
        image.height, image.width, image.encoding = height, width, encoding
        image.is_bigendian = index % 2
        image.step = width * channels + 1  # padded rows
        image.data = bytes((17 * i + index) % 256 for i in range(image.step * height))
        layers.append(layer)
    return line_msgs.ImageSetHdr(trigger=trigger, images=layers)


_SIZES = {"bool": 1, "byte": 1, "char": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2}
_SIZES.update({"int32": 4, "uint32": 4, "float32": 4, "int64": 8, "uint64": 8, "float64": 8})


def cdr_padding(raw: bytes, typename: str, store) -> list[int]:
    """Offsets of the alignment padding bytes in CDR ``raw`` of ``typename`` (little endian).

    rclpy (Fast CDR) leaves padding bytes as it found the buffer (not zeroed; they change from
    call to call), rosbags writes zeros: the two encodings agree byte for byte everywhere else.
    """
    from rosbags.interfaces import Nodetype

    assert raw[:4] == b"\x00\x01\x00\x00", "expected little-endian plain CDR"
    pos, padding = 4, []

    def align(size: int) -> None:
        nonlocal pos
        while (pos - 4) % size:
            padding.append(pos)
            pos += 1

    def u32() -> int:
        nonlocal pos
        align(4)
        value = int.from_bytes(raw[pos : pos + 4], "little")
        pos += 4
        return value

    def field(nodetype, desc) -> None:
        nonlocal pos
        if nodetype == Nodetype.NAME:
            fields = store.fielddefs[desc][1]
            for _, (sub_type, sub_desc) in fields or [("", (Nodetype.BASE, ("uint8", 0)))]:
                field(sub_type, sub_desc)
        elif nodetype == Nodetype.BASE and desc[0] == "string":
            length = u32()  # counts the terminating NUL; not `pos += u32()`: u32 moves pos
            pos += length
        elif nodetype == Nodetype.BASE:
            align(_SIZES[desc[0]])
            pos += _SIZES[desc[0]]
        elif nodetype in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            (sub_type, sub_desc), count = desc
            count = u32() if nodetype == Nodetype.SEQUENCE else count
            for _ in range(count):
                field(sub_type, sub_desc)
        else:
            raise AssertionError(f"unexpected field node {nodetype}")

    field(Nodetype.NAME, typename)
    assert pos <= len(raw) < pos + 4, (pos, len(raw))
    return padding + list(range(pos, len(raw)))


def zero_padding(raw: bytes, typename: str, store) -> bytes:
    """``raw`` with its alignment padding zeroed, as rosbags writes it."""
    out = bytearray(raw)
    for offset in cdr_padding(raw, typename, store):
        out[offset] = 0
    return bytes(out)
