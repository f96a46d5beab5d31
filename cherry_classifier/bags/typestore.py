"""The message types bags are written and read with (the ``rosbags`` typestore, no rclpy).

:func:`build_typestore` starts from rosbags' ROS 2 Kilted store (``Stores.ROS2_KILTED``: the
standard ``sensor_msgs``, ``std_msgs``, ``builtin_interfaces`` ... definitions) and registers
every ``cherry_classifier_msgs`` type from its ``.msg`` file, and the line's own
``cherry_interfaces`` message types from their embedded definitions
(:mod:`cherry_classifier.bags.line_types`). The standard definitions are
wire-compatible with the Kilted wheels rclpy uses: the same fields in the same order, so CDR
bytes serialised by rclpy decode here and back, and the type hashes (RIHS01) written to
``metadata.yaml`` are the ones ``ros2 bag`` and rclpy compute.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from cherry_classifier.bags import line_types

MSGS_PACKAGE = "cherry_classifier_msgs"
STORE = Stores.ROS2_KILTED
SOURCE_MSG_DIR = Path(__file__).resolve().parents[2] / "interfaces" / MSGS_PACKAGE / "msg"


def msg_dir() -> Path:
    """The folder of ``cherry_classifier_msgs``' .msg files: source tree, else installed share."""
    if SOURCE_MSG_DIR.is_dir():
        return SOURCE_MSG_DIR
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for prefix in prefixes:
        candidate = Path(prefix) / "share" / MSGS_PACKAGE / "msg"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"no {MSGS_PACKAGE} .msg files: neither {SOURCE_MSG_DIR} nor share/{MSGS_PACKAGE}/msg "
        "under AMENT_PREFIX_PATH (source env.sh)"
    )


@functools.cache
def build_typestore() -> Typestore:
    """ROS 2 Kilted standard types, every ``cherry_classifier_msgs/msg/*`` type and the line's
    ``cherry_interfaces/msg/*`` types."""
    store = get_typestore(STORE)
    types = {}
    for path in sorted(msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{MSGS_PACKAGE}/msg/{path.stem}"))
    for typename, definition in line_types.MSG_DEFINITIONS.items():
        types.update(get_types_from_msg(definition, typename))
    store.register(types)
    return store
