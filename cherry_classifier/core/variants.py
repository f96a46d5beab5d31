"""Export-time variants of a bundle (fp32 ONNX, int8 ONNX, bf16, and the same int8 ONNX and the
fp32 graph in bf16 through OpenVINO) and the gate they must pass.

A variant is measured against the bundle's own eager fp32 model on held-out crops, with the
manifest's default thresholds, through the very backend that will later run it. It is accepted
only if its decisions (CLEAN/MAYBE/PIT) disagree with fp32 on at most ``max_disagreement`` of
the crops (0.5%) and its pit recall (pits not decided CLEAN) is not below fp32's. Accepted
variants are written under ``variants/`` and recorded, with their figures, in the manifest's
``variants`` section; refused ones are recorded with the reason and never written, so they
cannot be loaded. Each record says on which CPU (model and int8/bf16 flags) and with which
library versions it was measured: ``backend: auto`` (``core.backend_choice``) reads them.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cherry_classifier.core.backends import (
    Backend,
    Bf16Backend,
    EagerBackend,
    OnnxRuntimeBackend,
    OpenVinoBackend,
    openvino_available,
)
from cherry_classifier.core.bundle import VARIANTS_DIR, ModelBundle, load_bundle, write_manifest
from cherry_classifier.core.cpu import cpu_summary, supports_fast_bf16
from cherry_classifier.core.decision import CLEAN, PIT, decide, softmax
from cherry_classifier.core.onnx_export import export_onnx, quantize_int8
from cherry_classifier.core.preprocess import Crops, preprocess
from cherry_classifier.core.safe_io import ModelLoadError, check_file, sha256_file

LOGGER = logging.getLogger(__name__)

# Named after the backend that runs them. openvino_bf16 has no file: its backend exports the
# fp32 graph from the bundle's weights at load (deterministic) and compiles it in bf16.
VARIANTS = ("onnxruntime", "int8", "bf16", "openvino_int8", "openvino_bf16")
VARIANT_FILES = {
    "onnxruntime": "fp32.onnx",
    "int8": "int8.onnx",
    "bf16": None,
    "openvino_int8": "openvino_int8.onnx",
    "openvino_bf16": None,
}
VARIANT_PRECISION = {
    "onnxruntime": "fp32",
    "int8": "int8",
    "bf16": "bf16",
    "openvino_int8": "int8",
    "openvino_bf16": "bf16",
}
MAX_DISAGREEMENT = 0.005
MIN_HELDOUT_CROPS = 200  # below this one flipped crop is already more than 0.5%
EVAL_BATCH = 32


def export_variants(
    bundle_path: str | Path,
    calibration_crops: Crops,
    heldout_crops: Crops,
    heldout_labels: Sequence[int] | Sequence[str] | np.ndarray,
    *,
    variants: Sequence[str] = VARIANTS,
    max_disagreement: float = MAX_DISAGREEMENT,
    num_threads: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Build, measure and gate each variant; write the accepted ones; record all in the manifest.

    ``calibration_crops``: uint8 crops that set int8 activation ranges (a few hundred, every
    class). ``heldout_crops`` / ``heldout_labels``: crops not used for training or calibration,
    labels as class names or indices in the manifest's class order; they must include pits.
    Returns the records written to ``manifest.yaml`` under ``variants``.
    """
    bundle = load_bundle(bundle_path)
    folder = bundle.folder
    if folder is None:
        raise ValueError(f"{bundle_path}: variants need a bundle folder, not a single file")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    manifest = bundle.manifest
    labels = _label_indices(heldout_labels, manifest.class_names)
    if len(labels) != len(heldout_crops):
        raise ValueError(f"{len(heldout_crops)} held-out crops but {len(labels)} labels")
    if not np.any(labels == manifest.class_names.index("pit")):
        raise ValueError("the held-out crops hold no pit: pit recall cannot be checked")
    if len(labels) < MIN_HELDOUT_CROPS:
        LOGGER.warning(
            "only %d held-out crops: one flipped decision is over the limit", len(labels)
        )
    if num_threads:
        torch.set_num_threads(num_threads)
    torch.set_flush_denormal(True)

    heldout = preprocess(heldout_crops, manifest)
    reference = _probabilities(EagerBackend(bundle.build()), heldout, manifest.temperature)
    onnx = _OnnxPayloads(bundle, calibration_crops)
    records: dict[str, dict[str, Any]] = {}
    for name in variants:
        LOGGER.info("variant %s: building", name)
        target = _variant_path(folder, name)
        unmeasured = _why_not_measured(name)
        if unmeasured:
            records[name] = _refused(name, bundle, unmeasured)
            continue
        payload: bytes | None = None
        if name == "bf16":
            backend: Backend = Bf16Backend(bundle.build())
        elif name == "openvino_bf16":
            backend = OpenVinoBackend(onnx.fp32(), num_threads, name, "bf16", "bf16")
        elif name == "openvino_int8":
            payload = onnx.int8()
            backend = OpenVinoBackend(payload, num_threads, name, "int8", "f32")
        else:
            payload = onnx.int8() if name == "int8" else onnx.fp32()
            precision = VARIANT_PRECISION[name]
            backend = OnnxRuntimeBackend(payload, num_threads, name=name, precision=precision)
        probabilities = _probabilities(backend, heldout, manifest.temperature)
        record = _measure(name, bundle, reference, probabilities, labels, max_disagreement)
        if name in ("int8", "openvino_int8"):
            record["calibration_crops"] = len(calibration_crops)
        if target is not None:
            target.unlink(missing_ok=True)
            if record["accepted"] and payload is not None:
                target.parent.mkdir(exist_ok=True)
                target.write_bytes(payload)
                record["sha256"] = sha256_file(target)
        records[name] = record
        LOGGER.info(
            "variant %s: %s (agreement %.4f, pit recall %.4f vs fp32 %.4f)",
            name,
            "accepted" if record["accepted"] else f"REFUSED: {record['reason']}",
            record["decision_agreement"],
            record["pit_recall"],
            record["pit_recall_fp32"],
        )
    updated = dataclasses.replace(manifest, variants={**manifest.variants, **records})
    write_manifest(folder, updated, bundle.model_id)
    return records


class _OnnxPayloads:
    """The fp32 ONNX export and its int8 quantisation, each made once, when first needed."""

    def __init__(self, bundle: ModelBundle, calibration_crops: Crops) -> None:
        self._bundle, self._calibration_crops = bundle, calibration_crops
        self._fp32: bytes | None = None
        self._int8: bytes | None = None

    def fp32(self) -> bytes:
        if self._fp32 is None:
            manifest = self._bundle.manifest
            self._fp32 = export_onnx(
                self._bundle.build(), manifest.input_size, manifest.num_channels
            )
        return self._fp32

    def int8(self) -> bytes:
        if self._int8 is None:
            manifest = self._bundle.manifest
            calibration = preprocess(self._calibration_crops, manifest).contiguous().numpy()
            self._int8 = quantize_int8(self.fp32(), calibration)
        return self._int8


def _why_not_measured(name: str) -> str:
    """Why this machine cannot measure variant ``name`` ("" if it can)."""
    if name in ("bf16", "openvino_bf16") and not supports_fast_bf16():
        return "this CPU has no AVX512-BF16/AMX: not measured"
    if name.startswith("openvino") and not openvino_available():
        return "the openvino package is not installed: not measured"
    return ""


def accepted_variant(bundle: ModelBundle, name: str) -> tuple[dict[str, Any], Path | None]:
    """The accepted record (and checked file) of variant ``name``, or ModelLoadError saying why."""
    where = bundle.path or "this bundle"
    record = bundle.manifest.variants.get(name)
    if record is None:
        raise ModelLoadError(
            f"{where}: backend {name!r} needs an accepted {name} variant and this bundle has "
            "none; make one with core.variants.export_variants (or use eager/onnxruntime)"
        )
    if not record.get("accepted"):
        raise ModelLoadError(
            f"{where}: the {name} variant was refused at export: {record.get('reason', '?')}"
        )
    if record.get("source_model_id") != bundle.model_id:
        raise ModelLoadError(
            f"{where}: the {name} variant was made from model {record.get('source_model_id')}, "
            f"not from this model {bundle.model_id}"
        )
    file_name = VARIANT_FILES.get(name)
    if file_name is None:
        return record, None
    if bundle.folder is None:
        raise ModelLoadError(f"{where}: variant files need a bundle folder")
    path = bundle.folder / VARIANTS_DIR / file_name
    check_file(path, f"{name} variant")
    if sha256_file(path) != record.get("sha256"):
        raise ModelLoadError(f"{path}: contents differ from the sha256 the manifest records")
    return record, path


def _measure(
    name: str,
    bundle: ModelBundle,
    reference: np.ndarray,
    probabilities: np.ndarray,
    labels: np.ndarray,
    max_disagreement: float,
) -> dict[str, Any]:
    manifest = bundle.manifest
    thresholds = manifest.thresholds
    fp32 = decide(reference, manifest.class_names, thresholds).labels
    variant = decide(probabilities, manifest.class_names, thresholds).labels
    is_pit = labels == manifest.class_names.index("pit")
    disagreeing = int(np.sum(fp32 != variant))
    disagreement = disagreeing / len(labels)
    recall, recall_fp32 = _pit_recall(variant, is_pit), _pit_recall(fp32, is_pit)
    reasons = []
    if disagreement > max_disagreement:
        reasons.append(
            f"decisions disagree with fp32 on {disagreeing}/{len(labels)} crops "
            f"({disagreement:.2%} > {max_disagreement:.2%})"
        )
    if recall < recall_fp32:
        reasons.append(f"pit recall {recall:.4f} is below fp32's {recall_fp32:.4f}")
    record = _base_record(name, bundle)
    record.update(
        accepted=not reasons,
        decision_agreement=1.0 - disagreement,
        disagreeing_crops=disagreeing,
        heldout_crops=len(labels),
        max_disagreement=max_disagreement,
        pit_recall=recall,
        pit_recall_fp32=recall_fp32,
        pit_recall_strict=float(np.mean(variant[is_pit] == PIT)),
        pit_recall_strict_fp32=float(np.mean(fp32[is_pit] == PIT)),
        max_abs_probability_diff=float(np.abs(probabilities - reference).max()),
        thresholds=thresholds.to_dict(),
    )
    if reasons:
        record["reason"] = "; ".join(reasons)
    return record


def _pit_recall(decided: np.ndarray, is_pit: np.ndarray) -> float:
    """Pits not decided CLEAN (PIT, or MAYBE for manual review), as training measures it."""
    return float(np.mean(decided[is_pit] != CLEAN))


def _base_record(name: str, bundle: ModelBundle) -> dict[str, Any]:
    file_name = VARIANT_FILES[name]
    return {
        "accepted": False,
        "precision": VARIANT_PRECISION[name],
        "file": f"{VARIANTS_DIR}/{file_name}" if file_name else None,
        "source_model_id": bundle.model_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "measured_on": {**cpu_summary(), "python": platform.python_version(), **_versions()},
    }


def _refused(name: str, bundle: ModelBundle, reason: str) -> dict[str, Any]:
    record = _base_record(name, bundle)
    record.update(
        reason=reason, decision_agreement=0.0, pit_recall=0.0, pit_recall_fp32=0.0, file=None
    )
    LOGGER.info("variant %s: REFUSED: %s", name, reason)
    return record


def _versions() -> dict[str, str]:
    versions = {"torch": torch.__version__}
    try:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    try:
        import openvino

        versions["openvino"] = openvino.get_version()
    except ImportError:
        pass
    return versions


def _variant_path(folder: Path, name: str) -> Path | None:
    file_name = VARIANT_FILES[name]
    return None if file_name is None else folder / VARIANTS_DIR / file_name


def _label_indices(labels: Any, class_names: tuple[str, ...]) -> np.ndarray:
    array = np.asarray(labels)
    if array.dtype.kind in "US":
        unknown = sorted(set(array.tolist()) - set(class_names))
        if unknown:
            raise ValueError(f"labels {unknown} are not among the classes {list(class_names)}")
        return np.array([class_names.index(label) for label in array.tolist()], np.int64)
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= len(class_names)):
        raise ValueError(f"label indices must be in 0..{len(class_names) - 1}")
    return array


def _probabilities(backend: Backend, batch: torch.Tensor, temperature: float) -> np.ndarray:
    return softmax(_in_chunks(backend.logits, batch), temperature)


def _in_chunks(run: Callable[[torch.Tensor], np.ndarray], batch: torch.Tensor) -> np.ndarray:
    return np.concatenate(
        [run(batch[i : i + EVAL_BATCH]) for i in range(0, len(batch), EVAL_BATCH)]
    )
