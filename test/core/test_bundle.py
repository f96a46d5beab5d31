"""Model bundles: round trip, production state_dicts, and every refusal naming its problem."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cherry_classifier.core.architectures import build_model
from cherry_classifier.core.bundle import ModelLoadError, flush_denormals, load_bundle, save_bundle
from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.manifest import ModelManifest

THREE = ("clean", "maybe", "pit")


def small_manifest(**changes) -> ModelManifest:
    return ModelManifest(**{"architecture": "mobilenet_v3_small", "class_names": THREE, **changes})


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return build_model("mobilenet_v3_small", 3).eval()


def test_round_trip_keeps_contract_weights_and_id(tmp_path, small_model):
    manifest = small_manifest(temperature=1.7, provenance={"data": "synthetic"})
    saved = save_bundle(tmp_path / "m", small_model, manifest)
    loaded = load_bundle(tmp_path / "m")
    assert loaded.manifest == manifest and loaded.model_id == saved.model_id
    assert all(torch.equal(saved.state_dict[k], v) for k, v in loaded.state_dict.items())
    crops = np.random.default_rng(0).integers(0, 255, (4, 128, 128, 3), np.uint8)
    reference = Classifier(loaded).predict_proba(crops)
    np.testing.assert_allclose(Classifier.from_path(tmp_path / "m").predict_proba(crops), reference)


def test_class_order_is_part_of_the_id(tmp_path, small_model):
    a = save_bundle(tmp_path / "a", small_model, small_manifest())
    b = save_bundle(
        tmp_path / "b", small_model, small_manifest(class_names=("pit", "maybe", "clean"))
    )
    assert a.model_id != b.model_id


def test_bare_production_resnet50_state_dict_needs_and_takes_explicit_metadata(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "classification-2023.pt"
    torch.save(build_model("resnet50", 3).state_dict(), path)
    with pytest.raises(ModelLoadError, match="never assumed"):
        load_bundle(path)
    bundle = load_bundle(
        path,
        manifest_overrides={
            "architecture": "resnet50",
            "class_names": list(THREE),
            "input_scale": 1 / 255,
        },
    )
    assert bundle.manifest.class_names == THREE and bundle.manifest.input_scale == pytest.approx(
        1 / 255
    )
    with pytest.raises(ModelLoadError, match=r"fc.weight has shape \(3, 2048\).*2 classes"):
        load_bundle(
            path, manifest_overrides={"architecture": "resnet50", "class_names": ["clean", "pit"]}
        )


def test_refuses_wrong_architecture_nan_and_bad_manifests(tmp_path, small_model):
    state = small_model.state_dict()
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(ModelLoadError, match="do not fit resnet18"):
        load_bundle(
            tmp_path / "w.pt", manifest_overrides={"architecture": "resnet18", "class_names": THREE}
        )
    poisoned = {k: v.clone() for k, v in state.items()}
    poisoned["classifier.3.bias"][1] = float("nan")
    torch.save(poisoned, tmp_path / "nan.pt")
    with pytest.raises(ModelLoadError, match=r"classifier\.3\.bias holds NaN"):
        load_bundle(
            tmp_path / "nan.pt",
            manifest_overrides={"architecture": "mobilenet_v3_small", "class_names": THREE},
        )
    with pytest.raises(ModelLoadError, match="class_names must include 'clean' and 'pit'"):
        load_bundle(
            tmp_path / "w.pt",
            manifest_overrides={
                "architecture": "mobilenet_v3_small",
                "class_names": ["a", "b", "c"],
            },
        )


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": _Exploit(marker)}}, path, pickle_module=pickle)
    with pytest.raises(ModelLoadError, match="must never run code"):
        load_bundle(path)
    assert not marker.exists()


def test_empty_and_truncated_files_are_refused(tmp_path, small_model):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty file"):
        load_bundle(tmp_path / "empty.pt")
    save_bundle(tmp_path / "m", small_model, small_manifest())
    data = (tmp_path / "m" / "weights.pt").read_bytes()
    (tmp_path / "m" / "weights.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated"):
        load_bundle(tmp_path / "m")


def subnormal_float32(count: int) -> torch.Tensor:
    """Subnormal values made from bits (arithmetic would flush them in flush-to-zero mode)."""
    return torch.arange(1, count + 1, dtype=torch.int32).view(torch.float32)


def test_denormal_weights_are_flushed_on_load(tmp_path, small_model):
    assert flush_denormals({"w": torch.cat([subnormal_float32(2), torch.ones(2)])}) == 2
    state = {k: v.clone() for k, v in small_model.state_dict().items()}
    state["classifier.3.weight"][0, :5] = subnormal_float32(5)
    torch.save({"manifest": small_manifest().to_dict(), "state_dict": state}, tmp_path / "ckpt.pt")
    bundle = load_bundle(tmp_path / "ckpt.pt")
    assert bundle.denormals_flushed == 5
    assert torch.count_nonzero(bundle.state_dict["classifier.3.weight"][0, :5]) == 0


def test_golden_set_check(tmp_path, small_model):
    crops = np.random.default_rng(1).integers(0, 255, (3, 128, 128, 3), np.uint8)
    bundle = save_bundle(tmp_path / "m", small_model, small_manifest())
    probabilities = Classifier(bundle).predict_proba(crops)
    save_bundle(
        tmp_path / "good",
        small_model,
        small_manifest(),
        golden={"crops": crops, "probabilities": probabilities},
    )
    Classifier.from_path(tmp_path / "good").check_golden()
    save_bundle(
        tmp_path / "bad",
        small_model,
        small_manifest(),
        golden={"crops": crops, "probabilities": probabilities[:, ::-1]},
    )
    with pytest.raises(ValueError, match="golden"):
        Classifier.from_path(tmp_path / "bad").check_golden()
