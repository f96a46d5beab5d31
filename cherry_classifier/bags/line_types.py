"""The sorting line's own message types (package ``cherry_interfaces``), as ``.msg`` text.

The line's camera and detection stack publishes these; bags record and replay them. The wire
format is a fact of the line, so the five message definitions are embedded here: the same fields
in the same order as the line's ``cherry_interfaces`` (comments do not change CDR or type hashes),
so :func:`cherry_classifier.bags.typestore.build_typestore` decodes and re-encodes the line's
bytes and writes the line's RIHS01 hashes to ``metadata.yaml``. Shipped code must not read the
test copy of the package (``test/line_interfaces``); the tests check both against the same
expected hashes.

``Cherry.type`` codes: 1 clean, 2 pit, 3 side (cut by the frame edge / outside the region of
interest, not classified), 5 maybe, 6 stem. Positions are in metres, x along the belt.
``CherryArray.encoder_count`` holds millimetres (the bot1 layer's mm).
"""

from __future__ import annotations

PACKAGE = "cherry_interfaces"

TRIGGER = f"{PACKAGE}/msg/Trigger"
IMAGE_LAYER = f"{PACKAGE}/msg/ImageLayer"
IMAGE_SET_HDR = f"{PACKAGE}/msg/ImageSetHdr"
CHERRY = f"{PACKAGE}/msg/Cherry"
CHERRY_ARRAY = f"{PACKAGE}/msg/CherryArray"

# Cherry.type codes (a ``byte``): cherry_classifier.imaging.line_output.LINE_CODES.

MSG_DEFINITIONS: dict[str, str] = {
    TRIGGER: """\
int64 frame_id
builtin_interfaces/Time stamp
int64 encoder_count
int64 encoder_mm
""",
    IMAGE_LAYER: """\
string name
string frame_id
sensor_msgs/Image image
int64 count
int64 mm
""",
    IMAGE_SET_HDR: """\
cherry_interfaces/Trigger trigger
cherry_interfaces/ImageLayer[] images
""",
    CHERRY: """\
float32 x
float32 y
byte type
""",
    CHERRY_ARRAY: """\
cherry_interfaces/Cherry[] cherries
int64 encoder_count
""",
}
"""Type name (``cherry_interfaces/msg/X``) -> its ``.msg`` definition."""
