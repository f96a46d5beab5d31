"""Model bundles: weights + manifest in one folder (or file), loaded without running any code.

Canonical layout (see docs/model_bundle.md)::

    my_model/
      manifest.yaml   # model_id + the ModelManifest: contract, temperature, thresholds,
                      # provenance, accepted low-precision variants
      weights.pt      # a plain state_dict (tensors only), denormal-free
      golden.npz      # crops + expected probabilities, checked before a hot-swap; required
                      # by the model store unless require_golden is false
      variants/       # optional: fp32.onnx, int8.onnx (written by core.variants.export_variants)

Also accepted: one ``.pt`` file holding ``{"format": BUNDLE_FORMAT, "manifest": {...},
"state_dict": {...}}``, training checkpoints (``{"manifest": {...}, "state_dict"|"model": {...}}``)
and bare torchvision state_dicts such as production's ``classification-*.pt`` when the missing
manifest fields are given explicitly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from cherry_classifier.core.architectures import build_model
from cherry_classifier.core.golden import GoldenSet, with_names, write_golden
from cherry_classifier.core.manifest import CONTRACT_FIELDS, ManifestError, ModelManifest
from cherry_classifier.core.safe_io import (
    GOLDEN_LIMITS,
    MAX_FILE_BYTES,
    ModelLoadError,
    check_manifest_strings,
    check_npz,
    read_yaml_mapping,
    torch_load_safely,
)

__all__ = [
    "BUNDLE_FORMAT",
    "MAX_FILE_BYTES",
    "ModelBundle",
    "ModelLoadError",
    "compute_model_id",
    "flush_denormals",
    "load_bundle",
    "save_bundle",
    "write_manifest",
]

LOGGER = logging.getLogger(__name__)

BUNDLE_FORMAT = "cherry_classifier.bundle/1"
MANIFEST_FILE = "manifest.yaml"
WEIGHTS_FILE = "weights.pt"
GOLDEN_FILE = "golden.npz"
VARIANTS_DIR = "variants"
MODEL_ID_LENGTH = 16
# A bare state_dict says nothing about these: they must be given, never assumed.
REQUIRED_FOR_BARE_WEIGHTS = ("architecture", "class_names", "input_scale")


@dataclass(frozen=True)
class ModelBundle:
    manifest: ModelManifest
    state_dict: dict[str, torch.Tensor]
    model_id: str
    path: Path | None = None
    denormals_flushed: int = 0

    @property
    def folder(self) -> Path | None:
        """The bundle folder (None for single-file bundles, checkpoints and bare weights)."""
        return self.path if self.path is not None and self.path.is_dir() else None

    @property
    def golden_path(self) -> Path | None:
        """The folder's golden set; anything under that name counts (a FIFO is refused by
        :func:`load_bundle`, never taken for "no golden set")."""
        if self.folder is not None and os.path.lexists(self.folder / GOLDEN_FILE):
            return self.folder / GOLDEN_FILE
        return None

    def build(self) -> nn.Module:
        """The architecture with (a float32 copy of) these weights, in eval mode."""
        state = {name: _as_float32(tensor).clone() for name, tensor in self.state_dict.items()}
        model = _build_on_meta(self.manifest)
        model.load_state_dict(state, strict=True, assign=True)
        if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # unsaved buffers
            model = build_model(self.manifest.architecture, self.manifest.num_classes)
            model.load_state_dict(state, strict=True)
        return model.eval()


def _as_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.float() if tensor.is_floating_point() else tensor


def _build_on_meta(manifest: ModelManifest) -> nn.Module:
    """The architecture without allocating or initialising weights (fast shape reference)."""
    with torch.device("meta"):
        return build_model(manifest.architecture, manifest.num_classes)


def compute_model_id(state_dict: dict[str, torch.Tensor], manifest: ModelManifest) -> str:
    """Content hash of the weights (names, dtypes, shapes, bytes) and the I/O contract.

    The first 16 hex digits of a sha256 over the JSON of ``manifest.contract()`` followed, in
    sorted name order, by ``name|dtype|shape`` and the raw bytes of every tensor.
    """
    digest = hashlib.sha256(json.dumps(manifest.contract(), sort_keys=True).encode())
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:MODEL_ID_LENGTH]


# dtype -> (same-size integer dtype, exponent mask, mantissa mask)
_FLOAT_BITS = {
    torch.float32: (torch.int32, 0x7F800000, 0x007FFFFF),
    torch.float64: (torch.int64, 0x7FF0000000000000, 0x000FFFFFFFFFFFFF),
    torch.float16: (torch.int16, 0x7C00, 0x03FF),
    torch.bfloat16: (torch.int16, 0x7F80, 0x007F),
}


def flush_denormals(state_dict: dict[str, torch.Tensor]) -> int:
    """Zero subnormal floats in place (they once made CPU inference 10x slower); return count.

    Reads the bit patterns, so it finds them even while the CPU runs in flush-to-zero mode.
    """
    flushed = 0
    for tensor in state_dict.values():
        if tensor.dtype not in _FLOAT_BITS:
            continue
        int_dtype, exponent, mantissa = _FLOAT_BITS[tensor.dtype]
        bits = tensor.view(int_dtype)
        mask = ((bits & exponent) == 0) & ((bits & mantissa) != 0)
        count = int(mask.sum())
        if count:
            bits[mask] = 0
            flushed += count
    return flushed


def save_bundle(
    path: str | Path,
    model_or_state_dict: nn.Module | dict[str, torch.Tensor],
    manifest: ModelManifest,
    golden: GoldenSet | dict[str, np.ndarray] | None = None,
) -> ModelBundle:
    """Write a bundle and return it as loaded.

    ``path`` ending in ``.pt`` writes the single-file form; anything else a bundle folder
    (manifest.yaml + weights.pt [+ golden.npz]). ``golden`` (folders only): a
    :class:`~cherry_classifier.core.golden.GoldenSet`, or ``{"crops": (N,H,W,C) uint8,
    "probabilities": (N, C)}`` in this manifest's output order; either way it is written with
    class names and each crop's decided label (``core.golden``), so its check sees the class
    order.
    """
    state = model_or_state_dict
    if isinstance(state, nn.Module):
        state = state.state_dict()
    state = {name: tensor.detach().cpu().clone() for name, tensor in state.items()}
    path = Path(path)
    _check_weights(state, manifest, source=path)
    flush_denormals(state)
    model_id = compute_model_id(state, manifest)
    manifest_dict = plain_data(manifest.to_dict())
    if path.suffix == ".pt":
        if golden is not None:
            raise ValueError(f"{path}: golden crops need a bundle folder, not a single file")
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"model_id": model_id, **manifest_dict}
        torch.save({"format": BUNDLE_FORMAT, "manifest": document, "state_dict": state}, path)
        return ModelBundle(manifest, state, model_id, path)
    path.mkdir(parents=True, exist_ok=True)
    torch.save(state, path / WEIGHTS_FILE)
    write_manifest(path, manifest, model_id)
    if golden is not None:
        write_golden(path / GOLDEN_FILE, with_names(golden, manifest))
    return ModelBundle(manifest, state, model_id, path)


def write_manifest(folder: Path, manifest: ModelManifest, model_id: str) -> None:
    """(Re)write ``folder/manifest.yaml`` atomically."""
    document = plain_data({"model_id": model_id, **manifest.to_dict()})
    temporary = folder / f".{MANIFEST_FILE}.tmp"
    temporary.write_text(yaml.safe_dump(document, sort_keys=False))
    temporary.replace(folder / MANIFEST_FILE)


def load_bundle(
    path: str | Path, *, manifest_overrides: dict[str, Any] | None = None
) -> ModelBundle:
    """Load a bundle folder, a bundle/checkpoint file, or a bare state_dict (+ overrides).

    ``manifest_overrides``: for bare weights, the manifest (``architecture``, ``class_names``
    and ``input_scale`` at least); for files that carry a manifest, only fields outside the
    contract (temperature, thresholds, provenance) may differ from it.
    """
    path = Path(path)
    source = path
    if path.is_dir():
        manifest_data: dict[str, Any] | None = read_yaml_mapping(path / MANIFEST_FILE)
        if os.path.lexists(path / GOLDEN_FILE):  # before the weights: a bomb costs nothing
            check_npz(path / GOLDEN_FILE, GOLDEN_LIMITS)
        source = path / WEIGHTS_FILE
        state = torch_load_safely(source)
    elif path.is_file():
        if path.suffix.lower() == ".onnx":
            raise ModelLoadError(
                f"{path}: an ONNX file is a variant inside a bundle; load the bundle folder "
                "and pick the backend instead"
            )
        manifest_data, state = _split_file(torch_load_safely(path), path)
        if manifest_data is not None:
            check_manifest_strings(manifest_data, path)
    else:
        raise ModelLoadError(f"{path}: no such file or folder")
    state = _as_state_dict(state, source)
    manifest, recorded_id = _resolve_manifest(manifest_data, manifest_overrides, path)
    _check_weights(state, manifest, source=source)
    flushed = flush_denormals(state)
    if flushed:
        LOGGER.warning("%s: %d subnormal weights flushed to zero", source, flushed)
    model_id = compute_model_id(state, manifest)
    if recorded_id is not None and recorded_id != model_id:
        raise ModelLoadError(
            f"{path}: the manifest records model_id {recorded_id} but the weights and contract "
            f"hash to {model_id}: weights or contract changed after export"
        )
    return ModelBundle(manifest, state, model_id, path, flushed)


def _split_file(loaded: Any, path: Path) -> tuple[dict[str, Any] | None, Any]:
    """(manifest or None, weights) from a single-file bundle, a checkpoint or bare weights."""
    if not isinstance(loaded, dict):
        raise ModelLoadError(f"{path}: expected a dict, found {type(loaded).__name__}")
    if "format" in loaded:
        if loaded["format"] != BUNDLE_FORMAT:
            raise ModelLoadError(
                f"{path}: unknown bundle format {loaded['format']!r} (this code reads "
                f"{BUNDLE_FORMAT!r})"
            )
        if not isinstance(loaded.get("manifest"), dict) or "state_dict" not in loaded:
            raise ModelLoadError(f"{path}: a bundle file needs 'manifest' and 'state_dict'")
        return loaded["manifest"], loaded["state_dict"]
    for key in ("state_dict", "model"):
        if isinstance(loaded.get(key), dict):
            manifest = loaded.get("manifest")
            if manifest is not None and not isinstance(manifest, dict):
                raise ModelLoadError(f"{path}: 'manifest' is not a mapping")
            return manifest, loaded[key]
    return None, loaded  # a bare state_dict


def _as_state_dict(state: Any, source: Path) -> dict[str, torch.Tensor]:
    if not isinstance(state, dict) or not state:
        raise ModelLoadError(f"{source}: weights are not a non-empty state_dict")
    not_tensors = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors or not all(isinstance(k, str) for k in state):
        raise ModelLoadError(
            f"{source}: weights are not a state_dict of named tensors (e.g. {not_tensors[:3]})"
        )
    if all(key.startswith("module.") for key in state):  # saved from DataParallel
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return state


def _resolve_manifest(
    data: dict[str, Any] | None, overrides: dict[str, Any] | None, path: Path
) -> tuple[ModelManifest, str | None]:
    """The manifest to use and the model id it records (None when it records none)."""
    overrides = dict(overrides or {})
    if data is None:
        missing = [name for name in REQUIRED_FOR_BARE_WEIGHTS if name not in overrides]
        if missing:
            raise ModelLoadError(
                f"{path}: bare weights carry no manifest; give {', '.join(missing)} explicitly "
                "(architecture, class order and input scale are never assumed)"
            )
        data, recorded_id = overrides, None
    else:
        data = dict(data)
        recorded_id = data.pop("model_id", None)
        _refuse_contract_overrides(data, overrides, path)
        data.update(overrides)
    try:
        return ModelManifest.from_dict(data), recorded_id
    except (ManifestError, TypeError, ValueError) as error:
        raise ModelLoadError(f"{path}: bad manifest: {error}") from error


def _refuse_contract_overrides(data: dict[str, Any], overrides: dict[str, Any], path: Path) -> None:
    """A model's own contract (class order, scale, ...) cannot be overridden, only restated."""
    for name in CONTRACT_FIELDS:
        if name in overrides and _normalised(overrides[name]) != _normalised(data.get(name)):
            raise ModelLoadError(
                f"{path}: {name} {overrides[name]!r} contradicts the model's manifest "
                f"({data.get(name)!r}); the contract travels with the weights"
            )


def _normalised(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    if isinstance(value, float):
        return round(value, 12)
    return value


def plain_data(value: Any, where: str = "manifest") -> Any:
    """``value`` as plain YAML/JSON data (str keys, lists, builtin scalars), or TypeError.

    Manifests must be plain: weights_only loading and ``yaml.safe_load`` admit nothing else.
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    for base in (bool, int, float, str):  # subclasses, e.g. torch.__version__, IntEnum
        if isinstance(value, base):
            return base(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain_data(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} is not plain data (YAML/JSON types only)")


def _check_weights(state: dict[str, torch.Tensor], manifest: ModelManifest, source: Path) -> None:
    name = source.name or str(source)
    try:
        expected = _build_on_meta(manifest).state_dict()
    except ValueError as error:
        raise ModelLoadError(f"{name}: {error}") from error
    classes = f"{manifest.num_classes} classes ({', '.join(manifest.class_names)})"
    for key, reference in expected.items():  # the head first: its mismatch says the most
        tensor = state.get(key)
        if tensor is not None and _is_head_mismatch(tensor, reference, manifest.num_classes):
            raise ModelLoadError(
                f"{name}: {key} has shape {tuple(tensor.shape)} but the manifest lists {classes}"
            )
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelLoadError(
            f"{name}: weights do not fit {manifest.architecture}: "
            f"missing {_some(missing)}, unexpected {_some(unexpected)}"
        )
    for key, reference in expected.items():
        tensor = state[key]
        if tensor.shape != reference.shape:
            raise ModelLoadError(
                f"{name}: {key} has shape {tuple(tensor.shape)}, "
                f"{manifest.architecture} expects {tuple(reference.shape)}"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ModelLoadError(f"{name}: {key} holds {bad} NaN or Inf values")


def _is_head_mismatch(tensor: torch.Tensor, reference: torch.Tensor, num_classes: int) -> bool:
    """Same shape but for the first dimension, which is the class count: a head mismatch."""
    return (
        reference.ndim >= 1
        and tensor.ndim == reference.ndim
        and reference.shape[0] == num_classes
        and tensor.shape[0] != num_classes
        and tensor.shape[1:] == reference.shape[1:]
    )


def _some(names: list[str]) -> str:
    return f"{names[:5]}{'...' if len(names) > 5 else ''}"
