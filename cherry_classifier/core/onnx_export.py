"""fp32 ONNX export and int8 static quantisation (ONNX Runtime QDQ, per-channel weights).

ONNX Runtime is imported lazily: the torch backends work without it.
"""

from __future__ import annotations

import copy
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

LOGGER = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
OPSET = 17
CALIBRATION_BATCH = 16


def export_onnx(model: nn.Module, input_size: int, channels: int = 3) -> bytes:
    """The model as fp32 ONNX bytes: input ``input`` (N, C, S, S), output ``logits`` (N, K)."""
    model = copy.deepcopy(model).eval().float().to(memory_format=torch.contiguous_format)
    example = torch.zeros(1, channels, input_size, input_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter warns it is legacy
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    return buffer.getvalue()


def quantize_int8(fp32_onnx: bytes, calibration: np.ndarray) -> bytes:
    """Static int8 quantisation: QDQ format, per-channel int8 weights, uint8 activations.

    Activation ranges are min/max averaged over calibration batches of 16 crops.

    ``calibration``: preprocessed float32 (N, C, S, S) crops whose activation ranges (min/max)
    set the quantisation scales; use a few hundred crops of every class from the line.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = iter(
                np.ascontiguousarray(calibration[i : i + CALIBRATION_BATCH], dtype=np.float32)
                for i in range(0, len(calibration), CALIBRATION_BATCH)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    if len(calibration) == 0:
        raise ValueError("int8 quantisation needs calibration crops")
    with tempfile.TemporaryDirectory(prefix="cherry-int8-") as scratch:
        folder = Path(scratch)
        (folder / "fp32.onnx").write_bytes(fp32_onnx)
        quant_pre_process(str(folder / "fp32.onnx"), str(folder / "prepared.onnx"))
        quantize_static(
            str(folder / "prepared.onnx"),
            str(folder / "int8.onnx"),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            # min/max averaged over calibration batches: tighter ranges, about half the mean
            # probability error of plain min/max on ResNet18/50 here
            extra_options={"CalibMovingAverage": True},
        )
        return (folder / "int8.onnx").read_bytes()
