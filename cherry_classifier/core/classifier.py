"""A ready-to-run model: bundle + backend + calibrated probabilities + decisions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cherry_classifier.core.bundle import ModelBundle, load_bundle
from cherry_classifier.core.decision import Decisions, Thresholds, decide, softmax
from cherry_classifier.core.manifest import ModelManifest
from cherry_classifier.core.preprocess import preprocess

BACKENDS = ("eager",)
GOLDEN_TOLERANCE = 1e-3


class Classifier:
    """Runs one bundle on the CPU. Thread count is process-wide (torch.set_num_threads)."""

    def __init__(self, bundle: ModelBundle, backend: str = "eager", num_threads: int | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
        torch.set_flush_denormal(True)
        if num_threads:
            torch.set_num_threads(num_threads)
        self.bundle = bundle
        self.backend_name = backend
        self.path: Path | None = bundle.path
        self._model = bundle.build().to(memory_format=torch.channels_last)
        self.predict_proba(np.zeros((1, 8, 8, self.manifest.num_channels), np.uint8))  # warm-up

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        backend: str = "eager",
        num_threads: int | None = None,
        **overrides: Any,
    ) -> Classifier:
        return cls(load_bundle(path, manifest_overrides=overrides or None), backend, num_threads)

    @property
    def manifest(self) -> ModelManifest:
        return self.bundle.manifest

    @property
    def model_id(self) -> str:
        return self.bundle.model_id

    def logits(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self._model(preprocess(crops, self.manifest)).float().numpy()

    def predict_proba(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """(N, C) calibrated probabilities in the manifest's class order."""
        if len(crops) == 0:
            return np.zeros((0, self.manifest.num_classes), np.float32)
        return softmax(self.logits(crops), self.manifest.temperature)

    def classify(
        self, crops: Sequence[np.ndarray] | np.ndarray, thresholds: Thresholds | None = None
    ) -> Decisions:
        probabilities = self.predict_proba(crops)
        return decide(
            probabilities, self.manifest.class_names, thresholds or self.manifest.thresholds
        )

    def check_golden(self) -> None:
        """If the bundle ships golden crops, this model must reproduce their probabilities."""
        golden = self.bundle.golden_path
        if golden is None:
            return
        with np.load(golden) as data:
            crops, expected = data["crops"], data["probabilities"]
        got = self.predict_proba(crops)
        worst = float(np.abs(got - expected).max()) if len(crops) else 0.0
        if worst > GOLDEN_TOLERANCE:
            raise ValueError(f"golden crops differ by up to {worst:.4f} (> {GOLDEN_TOLERANCE})")
