"""Join mono layer images (e.g. bot1, bot2, top2) taken for one trigger into one set (ROS-free).

Layers of one trigger carry header stamps within ``tolerance_s`` of each other. A set waits at
most ``timeout_s`` (by arrival time, so clock jumps in the stamps cannot stall it) for its missing
layers; then it is discarded and counted as unmatched, never kept forever.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LayerSet:
    """The layers gathered so far for one trigger."""

    stamp_s: float
    arrived: float
    header: Any = None
    layers: dict[str, np.ndarray] = field(default_factory=dict)


class LayerSynchronizer:
    """Groups layers by header stamp; returns each set once all its layers have arrived."""

    def __init__(
        self,
        layer_names: Sequence[str],
        tolerance_s: float = 0.05,
        timeout_s: float = 1.0,
        max_pending: int = 32,
    ) -> None:
        if len(set(layer_names)) != len(layer_names) or not layer_names:
            raise ValueError(f"layer names must be distinct and non-empty, got {list(layer_names)}")
        self.layer_names = tuple(layer_names)
        self.tolerance_s = tolerance_s
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self._pending: list[LayerSet] = []
        self.unmatched_sets = 0
        self.duplicate_layers = 0

    def add(
        self,
        layer: str,
        stamp_s: float,
        image: np.ndarray,
        header: Any = None,
        now: float | None = None,
    ) -> LayerSet | None:
        """Add one layer; return the completed set when this was its last missing layer."""
        if layer not in self.layer_names:
            raise ValueError(f"unknown layer {layer!r}; expected one of {self.layer_names}")
        now = time.monotonic() if now is None else now
        self.expire(now)
        target = self._find(layer, stamp_s)
        if target is None:
            target = LayerSet(stamp_s=stamp_s, arrived=now, header=header)
            self._pending.append(target)
            self._enforce_capacity()
        if header is not None and layer == self.layer_names[0]:
            target.header = header  # the first layer's header stands for the set
        elif target.header is None:
            target.header = header
        target.layers[layer] = image
        if len(target.layers) == len(self.layer_names):
            self._pending.remove(target)
            return target
        return None

    def expire(self, now: float | None = None) -> int:
        """Discard sets that waited longer than the timeout; return how many."""
        now = time.monotonic() if now is None else now
        keep = [s for s in self._pending if now - s.arrived <= self.timeout_s]
        expired = len(self._pending) - len(keep)
        self._pending = keep
        self.unmatched_sets += expired
        return expired

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _find(self, layer: str, stamp_s: float) -> LayerSet | None:
        candidates = [s for s in self._pending if abs(s.stamp_s - stamp_s) <= self.tolerance_s]
        if not candidates:
            return None
        best = min(candidates, key=lambda s: abs(s.stamp_s - stamp_s))
        if layer in best.layers:  # the same layer twice for one trigger: keep the newer image
            self.duplicate_layers += 1
        return best

    def _enforce_capacity(self) -> None:
        while len(self._pending) > self.max_pending:
            self._pending.pop(0)
            self.unmatched_sets += 1
