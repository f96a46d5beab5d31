"""The line's own interface package, ``cherry_interfaces``: optional, found at start-up.

A line's workspace already has it built (its camera node and buffer speak it); the classifier
needs it only for ``input_mode: image_set`` and ``line_output``. Without it the node runs every
other mode as before; asked for either, it exits with code 2 and says how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cherry_classifier.bags.line_types import PACKAGE
from cherry_classifier.imaging.line_output import LineCherry


@dataclass(frozen=True)
class LineInterfaces:
    """The message and service classes of ``cherry_interfaces`` the node uses."""

    ImageSetHdr: type
    Cherry: type
    CherryArray: type
    Detectionhdr: type

    def cherry_array(self, cherries: list[LineCherry], encoder_mm: int) -> Any:
        """A ``CherryArray``: its ``encoder_count`` holds the reference layer's mm."""
        return self.CherryArray(cherries=self.cherries(cherries), encoder_count=int(encoder_mm))

    def cherries(self, cherries: list[LineCherry]) -> list[Any]:
        # Cherry.type is a `byte`: rclpy wants it as one byte.
        return [self.Cherry(x=float(c.x), y=float(c.y), type=bytes([c.code])) for c in cherries]


def load_line_interfaces(why: str) -> LineInterfaces:
    """Import ``cherry_interfaces``, or raise ValueError saying ``why`` it is needed and how."""
    try:
        from cherry_interfaces.msg import Cherry, CherryArray, ImageSetHdr
        from cherry_interfaces.srv import Detectionhdr
    except ImportError as error:
        raise ValueError(
            f"{why} needs the line's {PACKAGE} package, which is not importable ({error}); "
            "source the line's workspace (install/setup.bash) before starting the node"
        ) from None
    return LineInterfaces(ImageSetHdr, Cherry, CherryArray, Detectionhdr)
