"""The training step and inference for evaluation; both feed the model through the core.

``preprocess(crops, manifest)`` from ``core.preprocess`` turns uint8 crops into the model's
input, here exactly as in the node, so the scale and channel order saved in the bundle are the
ones the weights were trained with.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from cherry_classifier.core.architectures import build_model
from cherry_classifier.core.manifest import ModelManifest
from cherry_classifier.core.preprocess import preprocess
from cherry_classifier.training.config import ModelConfig, OptimConfig, TrainLoopConfig

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Precision:
    """Autocast settings for one device."""

    dtype: torch.dtype | None  # None: fp32
    scaler: bool  # fp16 needs gradient scaling

    def autocast(self, device: torch.device):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)


def choose_precision(setting: str, device: torch.device) -> Precision:
    """``auto``: bf16 autocast on CUDA GPUs that support it, else fp16 with scaling; fp32 on CPU."""
    if setting == "off" or (setting == "auto" and device.type != "cuda"):
        return Precision(None, False)
    if setting == "bf16" or (setting == "auto" and torch.cuda.is_bf16_supported()):
        return Precision(torch.bfloat16, False)
    return Precision(torch.float16, device.type == "cuda")


def create_model(config: ModelConfig, init_weights: Path | None = None) -> nn.Module:
    """The core factory's architecture (random, or a local backbone state_dict)."""
    model = build_model(
        config.architecture,
        len(config.class_names),
        in_channels=len(config.channel_names),
        init_weights=init_weights,
    )
    if config.bn_momentum is not None:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = config.bn_momentum
    return model


def create_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    """AdamW or SGD; no weight decay on norms and biases (1-D tensors)."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.name == "sgd":
        return torch.optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov
        )
    return torch.optim.AdamW(groups, lr=config.lr)


def class_weights(labels: np.ndarray, num_classes: int, mode: str) -> torch.Tensor | None:
    """Inverse-frequency weights (mean 1 over present classes) or None."""
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / num_classes, 0.0)
    return torch.tensor(weights, dtype=torch.float32)


@dataclass
class EpochResult:
    loss: float
    accuracy: float
    lr_start: float
    lr_end: float
    images: int
    seconds: float


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[tuple[np.ndarray, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loss_fn: nn.Module,
    manifest: ModelManifest,
    device: torch.device,
    precision: Precision,
    scaler: torch.amp.GradScaler | None,
    loop: TrainLoopConfig,
    grad_clip: float,
    description: str = "train",
    show_progress: bool = True,
) -> EpochResult:
    """One pass over ``batches`` of (uint8 crops, labels); returns mean loss and accuracy."""
    model.train()
    started = time.perf_counter()
    lr_start = optimizer.param_groups[0]["lr"]
    total_loss, correct, seen = 0.0, 0, 0
    memory_format = torch.channels_last if loop.channels_last else torch.contiguous_format
    bar = tqdm(batches, desc=description, leave=False, disable=not show_progress, unit="batch")
    for crops, labels in bar:
        inputs = preprocess(crops, manifest).to(device, memory_format=memory_format)
        labels = labels.to(device)
        with precision.autocast(device):
            logits = model(inputs)
            loss = loss_fn(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        scheduler.step()
        count = len(labels)
        total_loss += float(loss.detach()) * count
        correct += int((logits.detach().argmax(dim=1) == labels).sum())
        seen += count
        bar.set_postfix(
            loss=f"{total_loss / seen:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}"
        )
    return EpochResult(
        loss=total_loss / max(1, seen),
        accuracy=correct / max(1, seen),
        lr_start=lr_start,
        lr_end=optimizer.param_groups[0]["lr"],
        images=seen,
        seconds=time.perf_counter() - started,
    )


def predict_logits(
    model: nn.Module,
    crops: np.ndarray,
    manifest: ModelManifest,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    precision: Precision | None = None,
) -> np.ndarray:
    """(N, C) float32 logits of uint8 crops, through the core's ``preprocess``, in eval mode."""
    device = torch.device(device)
    model.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(crops), batch_size):
            batch = preprocess(crops[start : start + batch_size], manifest).to(device)
            context = precision.autocast(device) if precision else contextlib.nullcontext()
            with context:
                outputs.append(model(batch).float().cpu().numpy())
    if not outputs:
        return np.zeros((0, manifest.num_classes), np.float32)
    return np.concatenate(outputs)
