"""The line's input contract: the defaults every layer shares, and whether a model fits an input.

Every literal of the line's contract is defined here once: its classes in decision label order,
its layers in model channel order (a manifest's ``channel_names`` *is* the layer order), the side
cut from the frame around each cherry, the side the model sees and how crops are resized.
A model's :class:`~cherry_classifier.core.manifest.ModelManifest` carries its own values;
these are the defaults old manifests load with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cherry_classifier.core.manifest import ModelManifest

LINE_CLASSES = ("clean", "maybe", "pit")  # also the decision labels 0, 1, 2
LAYER_ORDER = ("bot1", "bot2", "top2")  # the line's layers, in the models' channel order
CROP_SIZE_PX = 128  # side cut from the frame around each cherry on the line, in frame pixels
INPUT_SIZE_PX = 128  # side of the square crops the line's models take
# How a crop is resized to the model's input side. "area": OpenCV's INTER_AREA when shrinking
# and INTER_LINEAR when enlarging (INTER_AREA upscales blockily), the other names: that cv2 flag.
INTERPOLATIONS = ("area", "linear", "nearest", "cubic")
DEFAULT_INTERPOLATION = "area"


@dataclass(frozen=True)
class InputContract:
    """What a node's inputs give a model.

    ``channel_names``: the crops' channels in order (the node's ``layer_names``);
    ``crop_size``: the side it cuts from frames, or None where the model's own applies or no
    crop is cut (crops mode: each image is the crop).
    """

    channel_names: tuple[str, ...]
    crop_size: int | None = None

    @classmethod
    def of(cls, channel_names: Sequence[str], crop_size: int | None = None) -> InputContract:
        return cls(tuple(channel_names), crop_size or None)


def contract_mismatch(manifest: ModelManifest, inputs: InputContract) -> str | None:
    """Why a model with ``manifest`` cannot take these inputs, or None when it fits."""
    if tuple(manifest.channel_names) != inputs.channel_names:
        return (
            f"the model takes channels ({', '.join(manifest.channel_names)}) but the inputs "
            f"give ({', '.join(inputs.channel_names)}) (layer_names)"
        )
    if inputs.crop_size is not None and manifest.crop_size != inputs.crop_size:
        return (
            f"the model takes {manifest.crop_size} px crops cut from the frame but the inputs "
            f"cut {inputs.crop_size} px (crop_size)"
        )
    return None
