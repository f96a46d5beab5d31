"""uint8 crops -> the model's input tensor, exactly as the manifest says (one function for all)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from cherry_classifier.core.manifest import ModelManifest


def resize_crop(crop: np.ndarray, size: int) -> np.ndarray:
    """Square-resize one HxWxC crop: INTER_AREA when shrinking, INTER_LINEAR when growing."""
    height, width = crop.shape[:2]
    if (height, width) == (size, size):
        return crop
    interpolation = cv2.INTER_AREA if max(height, width) > size else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (size, size), interpolation=interpolation)
    return resized.reshape(size, size, crop.shape[2])


def stack_crops(crops: Sequence[np.ndarray] | np.ndarray, manifest: ModelManifest) -> np.ndarray:
    """(N, S, S, C) uint8 from crops of any size; refuses wrong channel counts or dtypes."""
    size, channels = manifest.input_size, manifest.num_channels
    out = np.empty((len(crops), size, size, channels), np.uint8)
    for index, crop in enumerate(crops):
        crop = np.asarray(crop)
        if crop.ndim == 2:
            crop = crop[..., None]
        if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != channels:
            raise ValueError(
                f"crop {index}: expected uint8 HxWx{channels} ({', '.join(manifest.channel_names)})"
                f", got {crop.dtype} {crop.shape}"
            )
        if min(crop.shape[:2]) == 0:
            raise ValueError(f"crop {index} is empty: {crop.shape}")
        out[index] = resize_crop(crop, size)
    return out


def preprocess(crops: Sequence[np.ndarray] | np.ndarray, manifest: ModelManifest) -> torch.Tensor:
    """float32 (N, C, S, S) channels_last: pixels * input_scale, then (x - mean) / std if set."""
    batch = torch.from_numpy(stack_crops(crops, manifest)).permute(0, 3, 1, 2)
    tensor = batch.to(torch.float32).mul_(float(manifest.input_scale))
    if manifest.mean is not None:
        tensor.sub_(torch.tensor(manifest.mean, dtype=torch.float32).view(1, -1, 1, 1))
    if manifest.std is not None:
        tensor.div_(torch.tensor(manifest.std, dtype=torch.float32).view(1, -1, 1, 1))
    return tensor.contiguous(memory_format=torch.channels_last)
