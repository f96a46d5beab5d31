"""``backend: auto``: the fastest accepted variant this CPU and install run, and why; the fall
back on a CPU without AMX/VNNI or without openvino, forced through injected CPU flags."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from cherry_classifier.core.backend_choice import PREFERENCE, choose_backend
from cherry_classifier.core.bundle import save_bundle
from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.cpu import BF16_FLAGS, CPUINFO_VAR, INT8_DOT_FLAGS, flags_from
from cherry_classifier.core.variants import export_variants
from test.conftest import require

from .conftest import make_manifest, random_crops
from .test_backends import HELDOUT, LABELS

AMX_CPU = frozenset({"avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16"})
PLAIN_CPU = frozenset({"sse4_2", "avx2", "avx512f"})  # no VNNI, no AMX, no AVX512-BF16
EVERYTHING = lambda package: True  # noqa: E731  every package importable


def bundle_with(*accepted: str, refused: tuple[str, ...] = ()) -> SimpleNamespace:
    """What choose_backend reads of a bundle: its id and its variants' records."""

    def record(name: str, ok: bool) -> dict:
        return {
            "accepted": ok,
            "source_model_id": "m1",
            "precision": "int8" if "int8" in name else "bf16" if "bf16" in name else "fp32",
            "decision_agreement": 1.0,
            "reason": "" if ok else "decisions disagree with fp32 on 9/1000 crops",
            "measured_on": {"processor": "Xeon", "int8_flags": ["amx_int8"], "bf16_flags": []},
        }

    variants = {name: record(name, True) for name in accepted}
    variants.update({name: record(name, False) for name in refused})
    return SimpleNamespace(model_id="m1", manifest=SimpleNamespace(variants=variants))


ALL_VARIANTS = bundle_with("onnxruntime", "int8", "bf16", "openvino_int8", "openvino_bf16")


def test_on_an_amx_cpu_with_openvino_the_openvino_int8_variant_wins():
    choice = choose_backend(ALL_VARIANTS, AMX_CPU, EVERYTHING)
    assert choice.backend == "openvino_int8" and not choice.passed_over
    assert "fastest accepted variant here (int8; agreement 100.00%" in choice.describe()


def test_without_amx_or_vnni_auto_falls_back_to_fp32_and_says_why():
    choice = choose_backend(ALL_VARIANTS, PLAIN_CPU, EVERYTHING)
    assert choice.backend == "onnxruntime"
    assert [line.split(":")[0] for line in choice.passed_over] == list(PREFERENCE[:4])
    assert all("this CPU has none of" in line for line in choice.passed_over)
    assert "backend auto -> onnxruntime" in choice.describe()


def test_without_openvino_auto_takes_onnx_runtime_int8():
    choice = choose_backend(ALL_VARIANTS, AMX_CPU, lambda package: package != "openvino")
    assert choice.backend == "int8"
    assert choice.passed_over == ["openvino_int8: the openvino package is not installed"]


def test_refused_and_missing_variants_are_passed_over_with_their_reason():
    bundle = bundle_with("openvino_bf16", refused=("openvino_int8",))
    choice = choose_backend(bundle, AMX_CPU, EVERYTHING)
    assert choice.backend == "openvino_bf16"
    assert choice.passed_over == [
        "openvino_int8: refused at export (decisions disagree with fp32 on 9/1000 crops)",
        "int8: no such variant in the bundle",
    ]


def test_a_bundle_without_variants_runs_eager_the_reference():
    choice = choose_backend(bundle_with(), AMX_CPU, EVERYTHING)
    assert choice.backend == "eager" and len(choice.passed_over) == len(PREFERENCE) - 1


def test_a_variant_of_another_model_is_passed_over():
    bundle = bundle_with("int8")
    bundle.model_id = "m2"
    assert choose_backend(bundle, AMX_CPU, EVERYTHING).backend == "eager"


def test_cpu_flags_come_from_an_injected_cpuinfo_file(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx2 avx512f\n")
    assert flags_from(cpuinfo) == frozenset({"fpu", "sse4_2", "avx2", "avx512f"})
    assert flags_from(tmp_path / "missing") == frozenset()
    monkeypatch.setenv(CPUINFO_VAR, str(cpuinfo))  # what a process started with it reads
    assert not flags_from(cpuinfo) & set(INT8_DOT_FLAGS + BF16_FLAGS)


@pytest.fixture(scope="module")
def gated_bundle(tmp_path_factory, resnet18_three):
    """A real bundle whose int8 and fp32 ONNX variants (ONNX Runtime, and OpenVINO's int8 where
    openvino is installed) passed the gate."""
    require("onnxruntime", "the int8 and fp32 ONNX variants")
    folder = tmp_path_factory.mktemp("auto") / "bundle"
    save_bundle(folder, resnet18_three, make_manifest())
    variants = ["onnxruntime", "int8"]
    try:
        import openvino  # noqa: F401

        variants.append("openvino_int8")
    except ImportError:
        pass
    records = export_variants(folder, random_crops(32, seed=1), HELDOUT, LABELS, variants=variants)
    assert all(record["accepted"] for record in records.values()), records
    return folder, variants


def test_the_classifier_on_auto_logs_its_choice_and_falls_back_without_amx(gated_bundle, caplog):
    folder, variants = gated_bundle
    with caplog.at_level(logging.INFO, logger="cherry_classifier.core.classifier"):
        fast = Classifier.from_path(folder, backend="auto", num_threads=2)
    best = "openvino_int8" if "openvino_int8" in variants else "int8"
    amx_here = fast.choice.backend != "onnxruntime"
    if amx_here:  # this machine has VNNI/AMX (the development CPU does)
        assert fast.backend_name == best
    assert f"backend auto -> {fast.backend_name}" in caplog.text

    plain = Classifier(fast.bundle, backend="auto", num_threads=2, cpu_flags=PLAIN_CPU)
    assert plain.backend_name == "onnxruntime" and plain.precision == "fp32"
    assert any("this CPU has none of" in line for line in plain.choice.passed_over)
    plain.check_golden()  # a bundle without golden crops: nothing to check, nothing raised
