"""Learning-rate schedules per optimiser step: linear warm-up, then cosine, step or constant."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from cherry_classifier.training.config import ScheduleConfig


def lr_factor(step: int, total_steps: int, steps_per_epoch: int, config: ScheduleConfig) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based)."""
    warmup = round(config.warmup_epochs * steps_per_epoch)
    if step < warmup:
        start = config.warmup_start_factor
        return start + (1.0 - start) * step / warmup
    if config.name == "constant":
        return 1.0
    if config.name == "step":
        period = max(1, round(config.step_epochs * steps_per_epoch))
        return config.gamma ** ((step - warmup) // period)
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    floor = config.min_lr_ratio
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: ScheduleConfig, steps_per_epoch: int, epochs: int
) -> LambdaLR:
    """A per-step scheduler (call ``step()`` after every optimiser step)."""
    total = steps_per_epoch * epochs
    return LambdaLR(optimizer, lambda step: lr_factor(step, total, steps_per_epoch, config))
