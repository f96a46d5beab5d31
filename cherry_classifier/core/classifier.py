"""A ready-to-run model: bundle + backend + calibrated probabilities + decisions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cherry_classifier.core.backend_choice import BackendChoice, choose_backend
from cherry_classifier.core.backends import (
    AUTO,
    BACKENDS,
    OPENVINO_BACKENDS,
    Backend,
    Bf16Backend,
    EagerBackend,
    OnnxRuntimeBackend,
    OpenVinoBackend,
    TorchScriptBackend,
    onnxruntime_available,
    openvino_available,
)
from cherry_classifier.core.bundle import ModelBundle, ModelLoadError, load_bundle
from cherry_classifier.core.cpu import supports_fast_bf16, supports_fast_int8
from cherry_classifier.core.decision import Decisions, Thresholds, decide, softmax
from cherry_classifier.core.golden import GoldenSetError, golden_problems, read_golden
from cherry_classifier.core.manifest import ModelManifest
from cherry_classifier.core.onnx_export import export_onnx
from cherry_classifier.core.preprocess import preprocess
from cherry_classifier.core.variants import accepted_variant

__all__ = ["BACKENDS", "GOLDEN_TOLERANCE", "Classifier", "create_backend"]

LOGGER = logging.getLogger(__name__)

# Largest |probability difference| the golden crops may show, per backend precision.
GOLDEN_TOLERANCE = {"fp32": 1e-3, "bf16": 0.1, "int8": 0.1}
MAX_GOLDEN_PROBLEMS_SHOWN = 3  # the rest are counted
MAX_BATCH = 64  # larger inputs run in chunks: bounded activation memory


class Classifier:
    """Runs one bundle on the CPU with the named backend.

    Thread count is process-wide for the torch backends (``torch.set_num_threads``) and per
    session for ONNX Runtime and OpenVINO. Flush-to-zero is switched on; the backend is warmed
    up here. ``backend="auto"``: the fastest accepted variant this CPU (``cpu_flags``, default
    this machine's) and install run (``core.backend_choice``); ``backend_name`` is the one
    chosen and ``choice`` says why (logged at INFO). Should the chosen one fail to load, the
    next one is tried, and the choice says so.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        backend: str = "eager",
        num_threads: int | None = None,
        cpu_flags: frozenset[str] | None = None,
    ):
        torch.set_flush_denormal(True)
        if num_threads:
            torch.set_num_threads(num_threads)
        self.bundle = bundle
        self.path: Path | None = bundle.path
        self.choice: BackendChoice | None = None
        if backend == AUTO:
            self.backend, self.choice = _auto_backend(bundle, num_threads, cpu_flags)
            backend = self.choice.backend
        else:
            self.backend = create_backend(backend, bundle, num_threads)
        self.backend_name = backend
        self.warm_up()

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        backend: str = "eager",
        num_threads: int | None = None,
        **overrides: Any,
    ) -> Classifier:
        """Load with :func:`load_bundle` (``overrides``: manifest fields for bare weights)."""
        return cls(load_bundle(path, manifest_overrides=overrides or None), backend, num_threads)

    @property
    def manifest(self) -> ModelManifest:
        return self.bundle.manifest

    @property
    def model_id(self) -> str:
        return self.bundle.model_id

    @property
    def precision(self) -> str:
        return self.backend.precision

    def warm_up(self, batch_sizes: Sequence[int] = (1, 8)) -> None:
        """Run the backend once per batch size so the first real frame is not the slow one."""
        size, channels = self.manifest.input_size, self.manifest.num_channels
        for count in batch_sizes:
            self.logits(np.zeros((count, size, size, channels), np.uint8))

    def logits(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        batch = preprocess(crops, self.manifest)
        if len(batch) <= MAX_BATCH:
            return self.backend.logits(batch)
        chunks = [batch[i : i + MAX_BATCH] for i in range(0, len(batch), MAX_BATCH)]
        return np.concatenate([self.backend.logits(chunk) for chunk in chunks])

    def predict_proba(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """(N, C) calibrated probabilities (softmax of logits / temperature), manifest order."""
        if len(crops) == 0:
            return np.zeros((0, self.manifest.num_classes), np.float32)
        return softmax(self.logits(crops), self.manifest.temperature)

    def classify(
        self, crops: Sequence[np.ndarray] | np.ndarray, thresholds: Thresholds | None = None
    ) -> Decisions:
        """Decisions with ``thresholds`` (validated), or the manifest's defaults."""
        thresholds = (thresholds or self.manifest.thresholds).validated()
        return decide(self.predict_proba(crops), self.manifest.class_names, thresholds)

    def check_golden(self) -> None:
        """If the bundle ships golden crops, this backend must decide them as recorded.

        Named golden sets (``core.golden``): every crop's label, decided with the manifest's
        class names and thresholds, must equal the recorded one by name, and the probabilities
        (recorded ones put in the manifest's class order) must agree within the backend's
        tolerance. Old sets without names: probabilities only, with a warning that a swapped
        class order cannot be seen. Raises :class:`GoldenSetError` saying what differs.
        """
        path = self.bundle.golden_path
        if path is None:
            return
        golden = read_golden(path)
        if not golden.has_names:
            LOGGER.warning(
                "%s carries no class names: its check cannot see a swapped class order; "
                "rewrite it (cherry-model import, or core.golden.select_golden)",
                path,
            )
        tolerance = GOLDEN_TOLERANCE[self.precision]
        got = self.predict_proba(golden.crops)
        problems = golden_problems(golden, got, self.manifest, tolerance)
        if problems:
            shown = problems[:MAX_GOLDEN_PROBLEMS_SHOWN]
            more = len(problems) - len(shown)
            raise GoldenSetError(
                "; ".join(shown)
                + (f"; and {more} more" if more else "")
                + f" ({self.precision} backend {self.backend_name})"
            )


def create_backend(name: str, bundle: ModelBundle, num_threads: int | None = None) -> Backend:
    """The named backend for this bundle; low-precision ones only from an accepted variant."""
    manifest = bundle.manifest
    if name == "eager":
        return EagerBackend(bundle.build())
    if name == "torchscript":
        return TorchScriptBackend(bundle.build(), manifest.input_size, manifest.num_channels)
    if name in ("onnxruntime", "int8") and not onnxruntime_available():
        raise ModelLoadError(f"backend {name!r} needs the onnxruntime package")
    if name == "onnxruntime":
        if "onnxruntime" in manifest.variants:
            _, path = accepted_variant(bundle, "onnxruntime")
            return OnnxRuntimeBackend(path, num_threads)
        onnx = export_onnx(bundle.build(), manifest.input_size, manifest.num_channels)
        return OnnxRuntimeBackend(onnx, num_threads)
    if name == "int8":
        _, path = accepted_variant(bundle, "int8")
        if not supports_fast_int8():
            LOGGER.warning("this CPU has no VNNI/AMX int8 instructions: int8 may be slow or off")
        return OnnxRuntimeBackend(path, num_threads, name="int8", precision="int8")
    if name in OPENVINO_BACKENDS:
        return _openvino_backend(name, bundle, num_threads)
    if name == "bf16":
        accepted_variant(bundle, "bf16")
        if not supports_fast_bf16():
            raise ModelLoadError(
                "backend 'bf16' needs a CPU with AVX512-BF16 or AMX (emulated bf16 is slower "
                "than fp32); use int8 or onnxruntime"
            )
        return Bf16Backend(bundle.build())
    raise ValueError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")


def _openvino_backend(name: str, bundle: ModelBundle, num_threads: int | None) -> Backend:
    if not openvino_available():
        raise ModelLoadError(f"backend {name!r} needs the openvino package")
    _, path = accepted_variant(bundle, name)
    if name == "openvino_int8":
        if not supports_fast_int8():
            LOGGER.warning("this CPU has no VNNI/AMX int8 instructions: int8 may be slow")
        return OpenVinoBackend(path, num_threads, name, "int8", "f32")
    if not supports_fast_bf16():
        raise ModelLoadError(
            f"backend {name!r} needs a CPU with AVX512-BF16 or AMX (emulated bf16 is slower "
            "than fp32); use openvino_int8, int8 or onnxruntime"
        )
    manifest = bundle.manifest
    onnx = export_onnx(bundle.build(), manifest.input_size, manifest.num_channels)
    return OpenVinoBackend(onnx, num_threads, name, "bf16", "bf16")


def _auto_backend(
    bundle: ModelBundle, num_threads: int | None, cpu_flags: frozenset[str] | None
) -> tuple[Backend, BackendChoice]:
    """The chosen backend, created; one that fails to load is logged and the next one tried."""
    failed: list[str] = []
    while True:
        choice = choose_backend(bundle, cpu_flags, exclude=failed)
        try:
            backend = create_backend(choice.backend, bundle, num_threads)
        except Exception as error:  # eager, the last candidate, raises as any backend would
            if choice.backend == "eager":
                raise
            LOGGER.warning(
                "backend auto: %s failed to load (%s); trying the next", choice.backend, error
            )
            failed.append(choice.backend)
            continue
        LOGGER.info("%s", choice.describe())
        return backend, choice
