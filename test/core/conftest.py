"""Small models and crops for the core's tests (resnet18 at 64 px keeps them fast)."""

from __future__ import annotations

import cherry_classifier.core  # noqa: F401  first: sets OMP_WAIT_POLICY before torch loads

# isort: split
import numpy as np
import pytest
import torch

from cherry_classifier.core.architectures import build_model
from cherry_classifier.core.manifest import ModelManifest

THREE = ("clean", "maybe", "pit")
TWO = ("clean", "pit")


def make_manifest(**changes) -> ModelManifest:
    return ModelManifest(
        **{"architecture": "resnet18", "class_names": THREE, "input_size": 64, **changes}
    )


def random_crops(count: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Crops with structure (a bright or dark disc on a gradient), not just noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    crops = np.empty((count, size, size, 3), np.uint8)
    for index in range(count):
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2) < (rng.uniform(0.1, 0.3) * size) ** 2
        base = rng.uniform(0, 255, 3) * (xx[..., None] / size) + rng.uniform(0, 60, 3)
        base[disc] = rng.uniform(0, 255, 3)
        crops[index] = np.clip(base + rng.normal(0, 8, base.shape), 0, 255)
    return crops


@pytest.fixture(scope="session")
def resnet18_three() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("resnet18", 3).eval()


def separate_head(
    model: torch.nn.Module,
    crops: np.ndarray,
    class_names: tuple[str, ...],
    input_scale: float = 1 / 255,
) -> None:
    """Set a ResNet's ``fc`` so that it decides some of ``crops`` clean and some pit, clearly.

    A random-init head gives near-uniform probabilities (every crop MAYBE), which no class
    order check can tell apart. Here the logit gap clean - pit follows the pooled feature that
    varies most over ``crops`` (at the model's input size, scaled by ``input_scale``), centred
    at its median: half the crops clean, half pit, far from the thresholds.
    """
    trunk = torch.nn.Sequential(*list(model.children())[:-1])
    with torch.inference_mode():
        batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float() * input_scale
        features = trunk(batch).flatten(1)
    feature = int(features.std(0).argmax())
    values = features[:, feature]
    scale = 12.0 / float(values.std() + 1e-6)
    weight = torch.zeros_like(model.fc.weight)
    bias = torch.zeros_like(model.fc.bias)
    clean, pit = class_names.index("clean"), class_names.index("pit")
    weight[clean, feature], weight[pit, feature] = scale, -scale
    bias[clean], bias[pit] = -scale * float(values.median()), scale * float(values.median())
    with torch.no_grad():
        model.fc.weight.copy_(weight)
        model.fc.bias.copy_(bias)
