"""What a finished run leaves behind for the node, the old detector and other runtimes.

- the bundle (``core.bundle.save_bundle``: denormal-free weights, manifest with temperature,
  thresholds and provenance, a named golden set covering every decided label) and its
  reference distribution (``core.drift``: the validation split's decided label shares and
  P(pit) histogram, ``reference.json``);
- its low-precision variants, gated and recorded by ``core.variants.export_variants``;
- ``params.yaml``: the node's parameters with the tuned thresholds;
- ``model.onnx``: fp32 ONNX (``core.onnx_export.export_onnx``; input ``input`` N x C x S x S,
  preprocessed as the manifest says; output ``logits``, before temperature);
- ``production_state_dict.pt``: a bare torchvision ResNet50 state_dict, classes clean, maybe,
  pit, for the old detector (only for resnet50 runs with exactly those classes).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from cherry_classifier.core.bundle import ModelBundle, flush_denormals, save_bundle
from cherry_classifier.core.contract import INPUT_SIZE_PX, LAYER_ORDER, LINE_CLASSES
from cherry_classifier.core.decision import Thresholds, softmax
from cherry_classifier.core.drift import ReferenceDistribution, write_reference
from cherry_classifier.core.golden import MAX_GOLDEN_CROPS, select_golden
from cherry_classifier.core.manifest import ModelManifest
from cherry_classifier.core.onnx_export import export_onnx

LOGGER = logging.getLogger(__name__)

PRODUCTION_ARCHITECTURE = "resnet50"
PRODUCTION_CLASSES = LINE_CLASSES
PARAMS_HEADER = """\
# Node parameters for this model, written by cherry-train (thresholds tuned on validation).
# model_path resolves inside the node's models_dir: copy the bundle folder there (or point
# models_dir at the folder holding it). Use with:
#   ros2 launch cherry_classifier threading_ws.launch.py params_file:=<this file>
"""


def write_bundle(
    folder: Path,
    model: nn.Module,
    manifest: ModelManifest,
    golden_crops: np.ndarray,
    golden_logits: np.ndarray,
    golden_labels: np.ndarray | None = None,
    golden_limit: int = MAX_GOLDEN_CROPS,
) -> ModelBundle:
    """Save the bundle with a named golden set picked from these crops (at most
    ``golden_limit``, every decided label covered, clear-cut ones first; ``golden_labels``:
    their true class indices in the manifest's order)."""
    golden = None
    if len(golden_crops):
        true_names = None
        if golden_labels is not None:
            true_names = [manifest.class_names[int(label)] for label in golden_labels]
        golden = select_golden(
            np.ascontiguousarray(golden_crops),
            softmax(golden_logits, manifest.temperature),
            manifest,
            true_names,
            limit=min(golden_limit, MAX_GOLDEN_CROPS),
        )
    cpu_model = {
        k: v.detach().cpu().float() if v.is_floating_point() else v.detach().cpu()
        for k, v in model.state_dict().items()
    }
    return save_bundle(folder, cpu_model, manifest, golden=golden)


def write_validation_reference(
    folder: Path, bundle: ModelBundle, val: Any, val_logits: np.ndarray
) -> ReferenceDistribution:
    """``folder/reference.json`` from the validation split (``val``: crops' true ``labels``)
    decided with the bundle's temperature and thresholds, as the node will decide."""
    manifest = bundle.manifest
    reference = ReferenceDistribution.from_probabilities(
        softmax(val_logits, manifest.temperature),
        manifest.class_names,
        manifest.thresholds,
        bundle.model_id,
        f"validation split ({len(val_logits)} crops) of the training run",
        [manifest.class_names[int(label)] for label in val.labels],
    )
    write_reference(folder, reference)
    return reference


def write_variants(
    folder: Path,
    calibration_crops: np.ndarray,
    heldout_crops: np.ndarray,
    heldout_labels: np.ndarray,
    variants: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """The core's variant export and gate; returns its records (also in the manifest)."""
    if not variants:
        return {}
    try:
        from cherry_classifier.core.variants import export_variants
    except ImportError:  # an older core without variants: the bundle stays fp32 only
        LOGGER.warning("core.variants is missing: no low-precision variants exported")
        return {}
    return export_variants(
        folder, calibration_crops, heldout_crops, heldout_labels, variants=tuple(variants)
    )


def write_params(path: Path, thresholds: Thresholds, model_path: str) -> None:
    """``/**/classifier: ros__parameters: {pit,maybe,clean}_threshold, model_path`` (keyed to
    apply under any namespace)."""
    values = {**thresholds.to_dict(), "model_path": model_path}
    params = {"/**/classifier": {"ros__parameters": values}}
    path.write_text(PARAMS_HEADER + yaml.safe_dump(params, sort_keys=False))


def write_onnx(path: Path, model: nn.Module, manifest: ModelManifest) -> Path:
    cpu = _cpu_copy(model)
    path.write_bytes(export_onnx(cpu, manifest.input_size, manifest.num_channels))
    return path


def write_production_state_dict(
    path: Path, model: nn.Module, manifest: ModelManifest
) -> Path | None:
    """A bare state_dict the old detector loads, or None (with the reason logged) if unfit.

    The old detector builds ``torchvision.models.resnet50(num_classes=3)`` and feeds it
    unnormalised [0, 1] input with classes clean=0, maybe=1, pit=2; anything else would be
    misread by it, so nothing is written.
    """
    reasons = []
    if manifest.architecture != PRODUCTION_ARCHITECTURE:
        reasons.append(f"architecture {manifest.architecture} (needs {PRODUCTION_ARCHITECTURE})")
    if tuple(manifest.class_names) != PRODUCTION_CLASSES:
        reasons.append(f"classes {list(manifest.class_names)} (needs {list(PRODUCTION_CLASSES)})")
    if (
        manifest.mean is not None
        or manifest.std is not None
        or abs(manifest.input_scale - 1 / 255) > 1e-12
    ):
        reasons.append("normalised input (the old detector feeds pixels / 255)")
    if manifest.channel_names != LAYER_ORDER or manifest.input_size != INPUT_SIZE_PX:
        reasons.append("input other than 128 px bot1, bot2, top2")
    if reasons:
        LOGGER.info("no production state_dict: %s", "; ".join(reasons))
        return None
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    flush_denormals(state)
    torch.save(state, path)
    return path


def _cpu_copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).float().cpu().eval()
