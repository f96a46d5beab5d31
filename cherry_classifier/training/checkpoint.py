"""Training checkpoints: everything needed to resume a run exactly, in plain tensors and data.

A checkpoint is also a model file the core can load (``core.bundle.load_bundle`` accepts
``{"manifest": ..., "state_dict": ...}``): its weights are the last epoch's, not the best.
It is read with ``weights_only=True``, like every model file here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cherry_classifier.core.bundle import plain_data
from cherry_classifier.core.manifest import ModelManifest
from cherry_classifier.core.safe_io import torch_load_safely

LOGGER = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "cherry_classifier.training_checkpoint/1"
LAST = "last.pt"


@dataclass
class BestSoFar:
    """The selected epoch so far and its weights (on the CPU)."""

    key: tuple[float, ...] = ()
    epoch: int = 0
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    epochs_without_improvement: int = 0

    def offer(self, key: tuple[float, ...], epoch: int, model: torch.nn.Module) -> bool:
        """Keep ``model``'s weights if ``key`` beats the best so far; return whether it did."""
        if not self.key or key > self.key:
            self.key, self.epoch = key, epoch
            self.state_dict = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            self.epochs_without_improvement = 0
            return True
        self.epochs_without_improvement += 1
        return False


@dataclass
class TrainingState:
    epoch: int  # epochs completed
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    best: BestSoFar
    history: list[dict[str, Any]]
    config: dict[str, Any]


def save_checkpoint(path: Path, state: TrainingState, manifest: ModelManifest) -> None:
    """Write atomically (a crash mid-write leaves the previous checkpoint intact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "checkpoint_format": CHECKPOINT_FORMAT,
        "manifest": plain_data(manifest.to_dict()),
        "state_dict": {k: v.detach().cpu() for k, v in state.model.items()},
        "optimizer": state.optimizer,
        "scheduler": state.scheduler,
        "scaler": state.scaler,
        "epoch": state.epoch,
        "best": {
            "key": list(state.best.key),
            "epoch": state.best.epoch,
            "state_dict": state.best.state_dict,
            "epochs_without_improvement": state.best.epochs_without_improvement,
        },
        "history": plain_data(state.history, "history"),
        "config": plain_data(state.config, "config"),
    }
    temporary = path.with_suffix(".tmp")
    torch.save(document, temporary)
    temporary.replace(path)


def load_checkpoint(path: Path) -> tuple[TrainingState, dict[str, Any]]:
    """The training state and the manifest it was saved with (as a dict)."""
    document = torch_load_safely(Path(path))
    if not isinstance(document, dict) or document.get("checkpoint_format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a training checkpoint ({CHECKPOINT_FORMAT})")
    best = document["best"]
    state = TrainingState(
        epoch=int(document["epoch"]),
        model=document["state_dict"],
        optimizer=document["optimizer"],
        scheduler=document["scheduler"],
        scaler=document["scaler"],
        best=BestSoFar(
            tuple(best["key"]),
            int(best["epoch"]),
            best["state_dict"],
            int(best["epochs_without_improvement"]),
        ),
        history=list(document["history"]),
        config=document["config"],
    )
    return state, document["manifest"]
