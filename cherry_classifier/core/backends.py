"""CPU inference backends: preprocessed float32 batches in, logits out.

- ``eager``: torch eager fp32, channels_last, inference_mode.
- ``torchscript``: traced, frozen and ``optimize_for_inference`` fp32 (conv-bn folding).
- ``onnxruntime``: ONNX Runtime fp32 (exported in memory or the bundle's ``fp32.onnx``).
- ``int8``: ONNX Runtime on the bundle's statically quantised ``int8.onnx`` (QDQ, per-channel).
- ``bf16``: torch eager in bfloat16 (oneDNN; fast only with AVX512-BF16/AMX).
- ``openvino_int8``: OpenVINO on the bundle's int8 QDQ ONNX (the same calibration as ``int8``;
  VNNI/AMX int8 kernels), fp32 for the layers left unquantised.
- ``openvino_bf16``: OpenVINO on the fp32 ONNX with the bf16 inference precision hint (AMX-BF16).
- ``auto``: the best accepted variant this CPU and this install can run (``core.backend_choice``).

Which backend a bundle may use is decided in ``core.classifier``: the low-precision ones only
with an accepted variant (``core.variants``). OpenVINO is imported lazily: everything else works
without it.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from cherry_classifier.core.onnx_export import INPUT_NAME, OUTPUT_NAME

LOGGER = logging.getLogger(__name__)

AUTO = "auto"
BACKENDS = (
    AUTO,
    "eager",
    "torchscript",
    "onnxruntime",
    "int8",
    "bf16",
    "openvino_int8",
    "openvino_bf16",
)
LOW_PRECISION_BACKENDS = ("int8", "bf16", "openvino_int8", "openvino_bf16")
OPENVINO_BACKENDS = ("openvino_int8", "openvino_bf16")


class Backend(Protocol):
    name: str
    precision: str  # "fp32", "bf16" or "int8"

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        """(N, K) float32 logits for a preprocessed (N, C, S, S) float32 batch."""
        ...


class EagerBackend:
    name, precision = "eager", "fp32"

    def __init__(self, model: nn.Module) -> None:
        self._model = model.eval().to(memory_format=torch.channels_last)

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return self._model(batch).float().numpy()


class Bf16Backend:
    name, precision = "bf16", "bf16"

    def __init__(self, model: nn.Module) -> None:
        self._model = model.eval().to(torch.bfloat16).to(memory_format=torch.channels_last)

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return self._model(batch.to(torch.bfloat16)).float().numpy()


class TorchScriptBackend:
    name, precision = "torchscript", "fp32"

    def __init__(self, model: nn.Module, input_size: int, channels: int) -> None:
        model = model.eval().to(memory_format=torch.channels_last)
        example = torch.zeros(1, channels, input_size, input_size).to(
            memory_format=torch.channels_last
        )
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TorchScript is deprecated upstream; still fastest
            traced = torch.jit.trace(model, example)
            self._module = torch.jit.optimize_for_inference(torch.jit.freeze(traced))

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return self._module(batch).float().numpy()


class OnnxRuntimeBackend:
    """An ONNX Runtime CPU session; intra-op threads as given (passive: no spin-waiting),
    denormals as zero."""

    def __init__(
        self,
        model: bytes | Path,
        num_threads: int | None = None,
        name: str = "onnxruntime",
        precision: str = "fp32",
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or 0  # 0: one per physical core
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        # Passive threads, as OMP_WAIT_POLICY=PASSIVE for torch (core/__init__.py): spinning
        # workers take the cores the camera's DDS traffic and the other processes need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        source = str(model) if isinstance(model, Path) else model
        self._session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.name, self.precision = name, precision

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        array = np.ascontiguousarray(batch.contiguous().numpy(), dtype=np.float32)
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: array})[0].astype(np.float32)


class OpenVinoBackend:
    """An OpenVINO CPU model compiled for latency: ``inference_precision`` "f32" or "bf16"
    (int8 comes from the model's own QDQ nodes), ``num_threads`` threads (None: all cores)."""

    def __init__(
        self,
        model: bytes | Path,
        num_threads: int | None,
        name: str,
        precision: str,
        inference_precision: str,
    ) -> None:
        import openvino as ov

        core = ov.Core()
        source = model.read_bytes() if isinstance(model, Path) else model
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": inference_precision,
            "INFERENCE_NUM_THREADS": int(num_threads or 0),  # 0: OpenVINO's choice (all cores)
        }
        self._compiled = core.compile_model(core.read_model(source), "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._output = self._compiled.output(0)
        self._lock = threading.Lock()  # one request: calls from two threads take turns
        self.name, self.precision = name, precision

    def logits(self, batch: torch.Tensor) -> np.ndarray:
        array = np.ascontiguousarray(batch.contiguous().numpy(), dtype=np.float32)
        with self._lock:
            result = self._request.infer({0: array})[self._output]
            return np.array(result, dtype=np.float32)  # a copy: the request reuses its buffer


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
