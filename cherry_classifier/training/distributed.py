"""Multi-process training with ``torchrun`` (DDP): NCCL on GPUs, gloo on CPUs.

    torchrun --nproc_per_node 4 -m cherry_classifier.training.train --config ...

``train.batch_size`` is per process (the global batch is ``world_size`` times larger; scale
``optim.lr`` yourself if you want the same per-sample step). Only rank 0 evaluates, selects,
checkpoints and exports; the others follow its early-stopping decision.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto``: this process's GPU when CUDA is present, else the CPU."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    return torch.device(preference)


def init_distributed(device_preference: str = "auto") -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_preference, local_rank)
    if world_size <= 1:
        return DistContext(device=device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    LOGGER.info("DDP rank %d/%d on %s", rank, world_size, device)
    return DistContext(rank, world_size, local_rank, device)


def broadcast_flag(context: DistContext, value: bool) -> bool:
    """Rank 0's ``value`` on every rank."""
    if not context.distributed:
        return value
    flag = torch.tensor([int(value)], device=context.device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def barrier(context: DistContext) -> None:
    if context.distributed:
        dist.barrier()


def shutdown(context: DistContext) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
