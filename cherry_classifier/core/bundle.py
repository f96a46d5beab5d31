"""Model bundles: weights + manifest in one folder (or file), loaded without running any code.

Canonical layout (see docs/model_bundle.md)::

    my_model/
      manifest.yaml   # the ModelManifest: contract, temperature, thresholds, provenance
      weights.pt      # a plain state_dict (tensors only), denormal-free
      golden.npz      # optional: crops + expected probabilities, checked before a hot-swap

Also accepted: one ``.pt`` file holding ``{"manifest": {...}, "state_dict": {...}}`` (training
checkpoints, whose weights may sit under ``"model"``), and bare torchvision state_dicts such as
production's ``classification-*.pt`` when the missing manifest fields are given explicitly.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from cherry_classifier.core.architectures import build_model
from cherry_classifier.core.manifest import ManifestError, ModelManifest

MANIFEST_FILE = "manifest.yaml"
WEIGHTS_FILE = "weights.pt"
GOLDEN_FILE = "golden.npz"
MAX_FILE_BYTES = 1 << 30  # 1 GiB: far above any model here, far below a memory problem
MODEL_ID_LENGTH = 16


class ModelLoadError(ValueError):
    """A model file or folder was refused; the message names the problem."""


@dataclass(frozen=True)
class ModelBundle:
    manifest: ModelManifest
    state_dict: dict[str, torch.Tensor]
    model_id: str
    path: Path | None = None
    denormals_flushed: int = 0

    @property
    def golden_path(self) -> Path | None:
        if self.path is not None and self.path.is_dir() and (self.path / GOLDEN_FILE).exists():
            return self.path / GOLDEN_FILE
        return None

    def build(self) -> nn.Module:
        """The architecture with these weights, in eval mode."""
        model = build_model(self.manifest.architecture, self.manifest.num_classes)
        model.load_state_dict(self.state_dict, strict=True)
        return model.eval()


def compute_model_id(state_dict: dict[str, torch.Tensor], manifest: ModelManifest) -> str:
    """Content hash of the weights (names, dtypes, shapes, bytes) and the I/O contract."""
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
    golden: dict[str, Any] | None = None,
) -> ModelBundle:
    """Write a bundle folder (denormal-free weights + manifest); return it as loaded."""
    state = model_or_state_dict
    if isinstance(state, nn.Module):
        state = state.state_dict()
    state = {name: tensor.detach().cpu().clone() for name, tensor in state.items()}
    _check_weights(state, manifest, source=str(path))
    flush_denormals(state)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / WEIGHTS_FILE)
    model_id = compute_model_id(state, manifest)
    document = {"model_id": model_id, **manifest.to_dict()}
    (folder / MANIFEST_FILE).write_text(yaml.safe_dump(document, sort_keys=False))
    if golden is not None:
        import numpy as np

        np.savez_compressed(folder / GOLDEN_FILE, **golden)
    return ModelBundle(manifest, state, model_id, folder)


def load_bundle(
    path: str | Path, *, manifest_overrides: dict[str, Any] | None = None
) -> ModelBundle:
    """Load a bundle folder, a bundle/checkpoint file, or a bare state_dict (+ overrides)."""
    path = Path(path)
    if path.is_dir():
        manifest_file, weights_file = path / MANIFEST_FILE, path / WEIGHTS_FILE
        if not manifest_file.exists() or not weights_file.exists():
            raise ModelLoadError(
                f"{path}: a bundle folder needs {MANIFEST_FILE} and {WEIGHTS_FILE}"
            )
        manifest_data = _read_manifest(manifest_file)
        state = _torch_load(weights_file)
    elif path.is_file():
        loaded = _torch_load(path)
        manifest_data, state = _split_checkpoint(loaded, path)
    else:
        raise ModelLoadError(f"{path}: no such file or folder")
    if manifest_overrides:
        manifest_data = {**(manifest_data or {}), **manifest_overrides}
    if manifest_data is None:
        raise ModelLoadError(
            f"{path}: bare weights carry no manifest; give architecture, class_names and "
            "input_scale explicitly (the class order and input scale are never assumed)"
        )
    if "model_id" in manifest_data:
        manifest_data = {k: v for k, v in manifest_data.items() if k != "model_id"}
    try:
        manifest = ModelManifest.from_dict(manifest_data)
    except (ManifestError, TypeError, ValueError) as error:
        raise ModelLoadError(f"{path}: bad manifest: {error}") from error
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelLoadError(f"{path}: weights are not a state_dict of named tensors")
    _check_weights(state, manifest, source=str(path))
    flushed = flush_denormals(state)
    return ModelBundle(manifest, state, compute_model_id(state, manifest), path, flushed)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ModelLoadError(f"{path}: unreadable manifest: {error}") from error
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: the manifest is not a mapping")
    return data


def _torch_load(path: Path) -> Any:
    size = path.stat().st_size
    if size == 0:
        raise ModelLoadError(f"{path}: empty file")
    if size > MAX_FILE_BYTES:
        raise ModelLoadError(f"{path}: {size} bytes is over the {MAX_FILE_BYTES}-byte limit")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ModelLoadError(
            f"{path}: refused: the file holds more than plain tensors (weights_only load "
            f"rejected it; a model file must never run code): {str(error).splitlines()[0]}"
        ) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise ModelLoadError(f"{path}: unreadable or truncated weights file: {error}") from error


def _split_checkpoint(loaded: Any, path: Path) -> tuple[dict[str, Any] | None, Any]:
    if not isinstance(loaded, dict):
        raise ModelLoadError(f"{path}: expected a dict, found {type(loaded).__name__}")
    for key in ("state_dict", "model"):
        if key in loaded and isinstance(loaded[key], dict):
            manifest = loaded.get("manifest")
            if manifest is not None and not isinstance(manifest, dict):
                raise ModelLoadError(f"{path}: 'manifest' is not a mapping")
            return manifest, loaded[key]
    return None, loaded  # a bare state_dict


def _check_weights(state: dict[str, torch.Tensor], manifest: ModelManifest, source: str) -> None:
    try:
        expected = build_model(manifest.architecture, manifest.num_classes).state_dict()
    except ValueError as error:
        raise ModelLoadError(f"{source}: {error}") from error
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelLoadError(
            f"{source}: weights do not fit {manifest.architecture}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    classes = ", ".join(manifest.class_names)
    for name, reference in expected.items():
        tensor = state[name]
        if tensor.shape != reference.shape:
            head = reference.ndim >= 1 and reference.shape[0] == manifest.num_classes
            hint = (
                f" but the manifest lists {manifest.num_classes} classes ({classes})"
                if head
                else ""
            )
            raise ModelLoadError(
                f"{source}: {name} has shape {tuple(tensor.shape)}, "
                f"{manifest.architecture} expects {tuple(reference.shape)}{hint}"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelLoadError(f"{source}: {name} holds NaN or Inf values")
