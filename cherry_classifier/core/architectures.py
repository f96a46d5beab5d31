"""One architecture factory for training and inference. Never downloads weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision import models

ARCHITECTURES = (
    "resnet18",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "efficientnet_b2",
    "convnext_tiny",
    "convnextv2_tiny",
)


def _replace_last_linear(
    module: nn.Module, attribute: str, index: int | None, classes: int
) -> None:
    head = getattr(module, attribute)
    if index is None:
        setattr(module, attribute, nn.Linear(head.in_features, classes))
    else:
        head[index] = nn.Linear(head[index].in_features, classes)


def _torchvision(name: str, attribute: str, index: int | None) -> Callable[[int], nn.Module]:
    def build(num_classes: int) -> nn.Module:
        model = getattr(models, name)(weights=None)
        _replace_last_linear(model, attribute, index, num_classes)
        return model

    return build


def _convnextv2_tiny(num_classes: int) -> nn.Module:
    try:
        import timm
    except ImportError as error:
        raise ValueError("convnextv2_tiny needs the timm package (pip install timm)") from error
    return timm.create_model("convnextv2_tiny", pretrained=False, num_classes=num_classes)


_BUILDERS: dict[str, Callable[[int], nn.Module]] = {
    "resnet18": _torchvision("resnet18", "fc", None),
    "resnet50": _torchvision("resnet50", "fc", None),
    "mobilenet_v3_small": _torchvision("mobilenet_v3_small", "classifier", 3),
    "mobilenet_v3_large": _torchvision("mobilenet_v3_large", "classifier", 3),
    "efficientnet_b0": _torchvision("efficientnet_b0", "classifier", 1),
    "efficientnet_b2": _torchvision("efficientnet_b2", "classifier", 1),
    "convnext_tiny": _torchvision("convnext_tiny", "classifier", 2),
    "convnextv2_tiny": _convnextv2_tiny,
}


def build_model(
    architecture: str, num_classes: int, in_channels: int = 3, init_weights: Path | None = None
) -> nn.Module:
    """A randomly initialised model with a ``num_classes`` head.

    ``init_weights``: a local backbone state_dict (e.g. ImageNet); its head is skipped.
    """
    if architecture not in _BUILDERS:
        raise ValueError(
            f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}"
        )
    if in_channels != 3:
        raise ValueError(f"{architecture}: only 3 input channels are supported, got {in_channels}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    model = _BUILDERS[architecture](num_classes)
    if init_weights is not None:
        state = torch.load(init_weights, map_location="cpu", weights_only=True)
        own = model.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(usable, strict=False)
    return model
