"""Every backend agrees with eager fp32; low-precision variants pass the export gate or not."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil

import numpy as np
import pytest
import torch
import yaml

from cherry_classifier.core.backends import AUTO, BACKENDS
from cherry_classifier.core.bundle import ModelLoadError, load_bundle, save_bundle
from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.cpu import supports_fast_bf16
from cherry_classifier.core.decision import Thresholds
from cherry_classifier.core.variants import _measure, export_variants
from test.conftest import require, skip_by_design

from .conftest import make_manifest, random_crops

HAS_ORT = importlib.util.find_spec("onnxruntime") is not None
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
ORT_BACKENDS = ("onnxruntime", "int8")
OPENVINO_BACKENDS = ("openvino_int8", "openvino_bf16")
BF16_BACKENDS = ("bf16", "openvino_bf16")
VARIANT_NAMES = ("onnxruntime", "int8", "bf16", "openvino_int8", "openvino_bf16")
TOLERANCE = {"fp32": 1e-4, "bf16": 0.01, "int8": 0.03}
HELDOUT = random_crops(200, seed=2)
LABELS = np.arange(200) % 3  # clean, maybe, pit in turn


def available(backend: str) -> bool:
    """Whether this machine can run ``backend`` (see :func:`require_backend`)."""
    if backend in ORT_BACKENDS and not HAS_ORT:
        return False
    if backend in OPENVINO_BACKENDS and not HAS_OPENVINO:
        return False
    return backend not in BF16_BACKENDS or supports_fast_bf16()


def require_backend(backend: str) -> None:
    """onnxruntime and openvino are pinned dependencies (missing: skipped here, a failure under
    CI=true); bf16 needs CPU support, which is hardware: skipped by design, also in CI."""
    if backend in ORT_BACKENDS:
        require("onnxruntime", f"the {backend} backend")
    if backend in OPENVINO_BACKENDS:
        require("openvino", f"the {backend} backend")
    if backend in BF16_BACKENDS and not supports_fast_bf16():
        skip_by_design(f"this CPU has no AVX512-BF16/AMX: the {backend} variant is refused here")


@pytest.fixture(scope="module")
def bundle_with_variants(tmp_path_factory, resnet18_three):
    folder = tmp_path_factory.mktemp("variants") / "bundle"
    save_bundle(folder, resnet18_three, make_manifest())
    golden = {
        "crops": HELDOUT[:8],
        "probabilities": Classifier.from_path(folder).predict_proba(HELDOUT[:8]),
    }
    save_bundle(folder, resnet18_three, make_manifest(), golden=golden)
    variants = tuple(v for v in VARIANT_NAMES if available(v))
    records = export_variants(folder, random_crops(32, seed=1), HELDOUT, LABELS, variants=variants)
    return folder, records


@pytest.fixture(scope="module")
def eager_probabilities(bundle_with_variants):
    return Classifier.from_path(bundle_with_variants[0]).predict_proba(HELDOUT[:24])


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_agrees_with_eager_fp32(backend, bundle_with_variants, eager_probabilities):
    require_backend(backend)
    classifier = Classifier.from_path(bundle_with_variants[0], backend=backend, num_threads=2)
    if backend == AUTO:  # resolved to a concrete one, with the reason
        assert classifier.backend_name in BACKENDS and classifier.choice is not None
    else:
        assert classifier.backend_name == backend
    probabilities = classifier.predict_proba(HELDOUT[:24])
    worst = np.abs(probabilities - eager_probabilities).max()
    assert worst <= TOLERANCE[classifier.precision], f"{backend}: {worst}"
    decisions = classifier.classify(HELDOUT[:24])
    eager = Classifier.from_path(bundle_with_variants[0]).classify(HELDOUT[:24])
    np.testing.assert_array_equal(decisions.labels, eager.labels)
    classifier.check_golden()  # each backend reproduces the golden crops within its tolerance


def test_export_records_agreement_and_writes_only_accepted_variants(bundle_with_variants):
    folder, records = bundle_with_variants
    manifest = load_bundle(folder).manifest
    assert manifest.variants == records
    for record in records.values():
        assert record["accepted"], record
        assert record["decision_agreement"] >= 0.995 and record["heldout_crops"] == 200
        assert record["pit_recall"] >= record["pit_recall_fp32"]
        assert record["source_model_id"] == load_bundle(folder).model_id
        if record["file"]:
            assert (folder / record["file"]).is_file() and len(record["sha256"]) == 64
    if HAS_ORT:
        assert records["int8"]["calibration_crops"] == 32
        assert records["int8"]["precision"] == "int8"
    if HAS_OPENVINO:  # the same QDQ file as int8, run by OpenVINO
        assert records["openvino_int8"]["calibration_crops"] == 32
        assert (folder / "variants" / "openvino_int8.onnx").read_bytes() == (
            folder / "variants" / "int8.onnx"
        ).read_bytes()
        assert "openvino" in records["openvino_int8"]["measured_on"]


def test_low_precision_backends_need_an_accepted_variant(tmp_path, resnet18_three):
    save_bundle(tmp_path / "plain", resnet18_three, make_manifest())
    for backend in ("int8", "bf16", "openvino_int8", "openvino_bf16"):
        if not available(backend):
            continue
        with pytest.raises(ModelLoadError, match=f"needs an accepted {backend} variant"):
            Classifier.from_path(tmp_path / "plain", backend=backend)
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        Classifier.from_path(tmp_path / "plain", backend="tensorrt")


def test_tampered_or_foreign_variants_are_refused(tmp_path, bundle_with_variants):
    require_backend("int8")
    folder = tmp_path / "copy"
    shutil.copytree(bundle_with_variants[0], folder)
    int8 = folder / "variants" / "int8.onnx"
    int8.write_bytes(int8.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelLoadError, match=r"int8\.onnx: contents differ from the sha256"):
        Classifier.from_path(folder, backend="int8")
    document = yaml.safe_load((folder / "manifest.yaml").read_text())
    document["variants"]["onnxruntime"]["source_model_id"] = "0123456789abcdef"
    (folder / "manifest.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(ModelLoadError, match="made from model 0123456789abcdef, not from this"):
        Classifier.from_path(folder, backend="onnxruntime")


def test_a_variant_that_flips_decisions_is_refused_and_not_written(tmp_path, resnet18_three):
    """Thresholds put half the crops on either side of P(pit)'s median: int8 noise flips some."""
    require_backend("int8")
    manifest = make_manifest()
    save_bundle(tmp_path / "m", resnet18_three, manifest)
    p_pit = np.sort(Classifier.from_path(tmp_path / "m").predict_proba(HELDOUT)[:, 2])
    cut = float((p_pit[99] + p_pit[100]) / 2)
    edgy = dataclasses.replace(manifest, thresholds=Thresholds(cut, 0.0, 0.0))
    save_bundle(tmp_path / "m", resnet18_three, edgy)
    records = export_variants(
        tmp_path / "m", random_crops(32, seed=1), HELDOUT, LABELS, variants=("onnxruntime", "int8")
    )
    assert records["onnxruntime"]["accepted"]  # fp32 ONNX agrees to ~1e-7
    assert not records["int8"]["accepted"]
    assert "decisions disagree with fp32" in records["int8"]["reason"]
    assert not (tmp_path / "m" / "variants" / "int8.onnx").exists()
    with pytest.raises(ModelLoadError, match="int8 variant was refused at export: decisions"):
        Classifier.from_path(tmp_path / "m", backend="int8")
    Classifier.from_path(tmp_path / "m", backend="onnxruntime")


def test_losing_pit_recall_alone_refuses_a_variant(tmp_path, resnet18_three):
    bundle = save_bundle(tmp_path / "m", resnet18_three, make_manifest())
    labels = np.array([2] * 10 + [0] * 990)  # 10 pits among 1000 crops
    reference = np.tile([[0.1, 0.1, 0.8]], (1000, 1)).astype(np.float32)
    reference[10:] = [0.9, 0.05, 0.05]
    variant = reference.copy()
    variant[0] = [0.9, 0.05, 0.05]  # one pit now decided CLEAN: 0.1% disagreement only
    record = _measure("int8", bundle, reference, variant, labels, max_disagreement=0.005)
    assert not record["accepted"] and record["disagreeing_crops"] == 1
    assert record["reason"] == "pit recall 0.9000 is below fp32's 1.0000"


def test_export_needs_pits_in_the_heldout_crops(tmp_path, resnet18_three):
    save_bundle(tmp_path / "m", resnet18_three, make_manifest())
    with pytest.raises(ValueError, match="hold no pit"):
        export_variants(tmp_path / "m", HELDOUT[:4], HELDOUT[:4], ["clean"] * 4, variants=())
    with pytest.raises(ValueError, match=r"labels \['stone'\] are not among the classes"):
        export_variants(tmp_path / "m", HELDOUT[:2], HELDOUT[:2], ["pit", "stone"], variants=())


def test_threads_batches_and_thresholds(tmp_path, resnet18_three):
    save_bundle(tmp_path / "m", resnet18_three, make_manifest())
    threads = torch.get_num_threads()
    try:
        classifier = Classifier.from_path(tmp_path / "m", num_threads=1)
        assert torch.get_num_threads() == 1
        crops = random_crops(70)  # more than one internal chunk of 64
        whole = classifier.predict_proba(crops)
        np.testing.assert_allclose(whole[64:], classifier.predict_proba(crops[64:]), atol=1e-5)
        assert classifier.predict_proba([]).shape == (0, 3)
        with pytest.raises(ValueError, match="maybe_threshold"):
            classifier.classify(crops[:1], Thresholds(0.1, 0.5, 0.5))
    finally:
        torch.set_num_threads(threads)
