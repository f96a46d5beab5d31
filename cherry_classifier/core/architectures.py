"""One architecture factory for training and inference. Never downloads weights.

torchvision models are built with ``weights=None`` and timm's ``convnextv2_tiny`` with
``pretrained=False``; timm is imported only when that architecture is asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision import models

LOGGER = logging.getLogger(__name__)

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
        load_backbone(model, Path(init_weights), architecture)
    return model


def load_backbone(model: nn.Module, path: Path, architecture: str = "") -> list[str]:
    """Copy the tensors of a local (e.g. ImageNet) state_dict whose names and shapes fit.

    The head (another class count) is skipped; refused when less than 90% of the model's
    tensors fit (the file is for another architecture). Returns the names left initialised.
    """
    from cherry_classifier.core.safe_io import ModelLoadError, torch_load_safely

    state = torch_load_safely(path)
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{path}: init_weights is not a state_dict of named tensors")
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if len(usable) < 0.9 * len(own):
        raise ModelLoadError(
            f"{path}: only {len(usable)} of {architecture}'s {len(own)} tensors fit by name and "
            "shape: these init weights are for another architecture"
        )
    model.load_state_dict(usable, strict=False)
    left = sorted(set(own) - set(usable))
    LOGGER.info("init weights %s: %d tensors loaded, left initialised: %s", path, len(usable), left)
    return left
