"""uint8 crops -> the model's input tensor, exactly as the manifest says (one function for all).

Training evaluation, the node and the bag tools all call :func:`preprocess`, so input size,
interpolation, channel order, scale and normalisation are stated once, in the model's manifest.
:func:`resize_crop` is the one resize: training's data loader brings mixed-size crop folders
to the model's input size with it too, so training and serving see the same pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from cherry_classifier.core.contract import DEFAULT_INTERPOLATION, INTERPOLATIONS
from cherry_classifier.core.manifest import ModelManifest

Crops = Sequence[np.ndarray] | np.ndarray
_CV2_FLAGS = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC}


def resize_crop(
    crop: np.ndarray, size: int, interpolation: str = DEFAULT_INTERPOLATION
) -> np.ndarray:
    """Square-resize one HxWxC crop to ``size`` with one of ``INTERPOLATIONS``.

    "area": INTER_AREA when the larger side shrinks, else INTER_LINEAR. Crop by crop on
    purpose: cv2's 3-channel kernels beat resizing a channel-stacked batch (measured 0.75 ms
    vs 2.6 ms for 32 crops to 128 px).
    """
    height, width = crop.shape[:2]
    if (height, width) == (size, size):
        return crop
    if interpolation == "area":
        flag = cv2.INTER_AREA if max(height, width) > size else cv2.INTER_LINEAR
    elif interpolation in _CV2_FLAGS:
        flag = _CV2_FLAGS[interpolation]
    else:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    resized = cv2.resize(crop, (size, size), interpolation=flag)
    return resized.reshape(size, size, crop.shape[2])


def stack_crops(crops: Crops, manifest: ModelManifest) -> np.ndarray:
    """(N, S, S, C) uint8 from crops of any size; refuses wrong channel counts or dtypes.

    An (N, S, S, C) uint8 array already at the model's size passes through without a copy.
    """
    size, channels = manifest.input_size, manifest.num_channels
    if isinstance(crops, np.ndarray) and crops.ndim == 4:
        _check_crop_dtype_and_channels(crops, "crops", manifest)
        if min(crops.shape[1:3]) == 0:
            raise ValueError(f"crops are empty: {crops.shape}")
        if crops.shape[1:3] == (size, size):
            return crops
    out = np.empty((len(crops), size, size, channels), np.uint8)
    for index, crop in enumerate(crops):
        crop = np.asarray(crop)
        if crop.ndim == 2:
            crop = crop[..., None]
        _check_crop(crop, index, manifest)
        out[index] = resize_crop(crop, size, manifest.interpolation)
    return out


def preprocess(crops: Crops, manifest: ModelManifest) -> torch.Tensor:
    """float32 (N, C, S, S) channels_last: pixels * input_scale, then (x - mean) / std if set.

    ``crops``: a list of uint8 HxWxC arrays (sizes may differ) or an (N, H, W, C) array, with
    C and channel order as in ``manifest.channel_names``.
    """
    stacked = stack_crops(crops, manifest)
    if not stacked.flags.writeable:
        stacked = stacked.copy()
    nchw = torch.from_numpy(stacked).permute(0, 3, 1, 2)  # a channels_last view, no copy
    tensor = nchw.to(dtype=torch.float32, memory_format=torch.channels_last)
    scale, offset = _affine(manifest)
    if offset is None:
        return tensor.mul_(manifest.input_scale)
    return tensor.mul_(scale).add_(offset)


def _affine(manifest: ModelManifest) -> tuple[torch.Tensor | float, torch.Tensor | None]:
    """(x * scale - mean) / std == x * (scale / std) + (-mean / std), per channel."""
    if manifest.mean is None and manifest.std is None:
        return manifest.input_scale, None
    channels = manifest.num_channels
    mean = np.asarray(manifest.mean if manifest.mean is not None else [0.0] * channels)
    std = np.asarray(manifest.std if manifest.std is not None else [1.0] * channels)
    gain = torch.tensor(manifest.input_scale / std, dtype=torch.float32).view(1, -1, 1, 1)
    offset = torch.tensor(-mean / std, dtype=torch.float32).view(1, -1, 1, 1)
    return gain, offset


def _check_crop(crop: np.ndarray, index: int, manifest: ModelManifest) -> None:
    _check_crop_dtype_and_channels(crop, f"crop {index}", manifest)
    if min(crop.shape[:2]) == 0:
        raise ValueError(f"crop {index} is empty: {crop.shape}")


def _check_crop_dtype_and_channels(array: np.ndarray, what: str, manifest: ModelManifest) -> None:
    channels = manifest.num_channels
    if array.dtype != np.uint8 or array.ndim < 3 or array.shape[-1] != channels:
        raise ValueError(
            f"{what}: expected uint8 HxWx{channels} ({', '.join(manifest.channel_names)}), "
            f"got {array.dtype} {array.shape}"
        )
