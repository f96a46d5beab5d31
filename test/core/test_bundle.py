"""Model bundles: round trips, production state_dicts, model ids and every refusal by name."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cherry_classifier.core import safe_io
from cherry_classifier.core.architectures import build_model
from cherry_classifier.core.bundle import (
    BUNDLE_FORMAT,
    ModelLoadError,
    compute_model_id,
    flush_denormals,
    load_bundle,
    save_bundle,
)
from cherry_classifier.core.classifier import Classifier

from .conftest import THREE, TWO, make_manifest, random_crops


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_folder_round_trip_keeps_contract_weights_id_and_outputs(tmp_path, resnet18_three):
    manifest = make_manifest(temperature=1.7, provenance={"data": "synthetic", "epochs": 3})
    saved = save_bundle(tmp_path / "m", resnet18_three, manifest)
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"manifest.yaml", "weights.pt"}
    document = yaml.safe_load((tmp_path / "m" / "manifest.yaml").read_text())
    assert document["model_id"] == saved.model_id and document["class_names"] == list(THREE)
    loaded = load_bundle(tmp_path / "m")
    assert loaded.manifest == manifest and loaded.model_id == saved.model_id
    assert same_weights(loaded.state_dict, saved.state_dict)
    crops = random_crops(4)
    with torch.inference_mode():
        expected = torch.softmax(
            resnet18_three(torch.from_numpy(crops).permute(0, 3, 1, 2) / 255) / 1.7, 1
        )
    np.testing.assert_allclose(Classifier(loaded).predict_proba(crops), expected.numpy(), atol=1e-5)


def test_single_file_bundle_round_trip(tmp_path, resnet18_three):
    saved = save_bundle(tmp_path / "model.pt", resnet18_three, make_manifest())
    raw = torch.load(tmp_path / "model.pt", weights_only=True)
    assert raw["format"] == BUNDLE_FORMAT and raw["manifest"]["model_id"] == saved.model_id
    loaded = load_bundle(tmp_path / "model.pt")
    assert loaded.model_id == saved.model_id and loaded.manifest == make_manifest()


def test_training_checkpoint_with_manifest_loads(tmp_path, resnet18_three):
    checkpoint = {
        "model": resnet18_three.state_dict(),
        "manifest": make_manifest().to_dict(),
        "epoch": 7,
        "optimizer": {"lr": 0.001},
    }
    torch.save(checkpoint, tmp_path / "ckpt.pt")
    assert load_bundle(tmp_path / "ckpt.pt").manifest.class_names == THREE


def test_model_id_covers_weights_and_contract_but_not_thresholds(resnet18_three):
    state = resnet18_three.state_dict()
    base = compute_model_id(state, make_manifest())
    assert len(base) == 16 and int(base, 16) >= 0
    assert compute_model_id(state, make_manifest(class_names=("pit", "maybe", "clean"))) != base
    assert compute_model_id(state, make_manifest(input_scale=1.0)) != base
    assert compute_model_id(state, make_manifest(channel_names=("b", "g", "r"))) != base
    assert compute_model_id(state, make_manifest(mean=(0.5,) * 3, std=(0.2,) * 3)) != base
    assert compute_model_id(state, make_manifest(temperature=2.0, provenance={"x": 1})) == base
    nudged = dict(state, **{"fc.bias": state["fc.bias"] + 1e-6})
    assert compute_model_id(nudged, make_manifest()) != base


PRODUCTION = {"architecture": "resnet50", "class_names": list(THREE), "input_scale": 1 / 255}


@pytest.fixture(scope="module")
def production_state_dict_file(tmp_path_factory) -> Path:
    """A bare torchvision ResNet50 state_dict with a 3-output head, like classification-*.pt."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("production") / "classification-2023-05.pt"
    torch.save(build_model("resnet50", 3).state_dict(), path)
    return path


def test_bare_production_resnet50_loads_only_with_explicit_metadata(production_state_dict_file):
    path = production_state_dict_file
    with pytest.raises(ModelLoadError, match="give architecture, class_names, input_scale"):
        load_bundle(path)
    with pytest.raises(ModelLoadError, match="give input_scale explicitly"):
        load_bundle(path, manifest_overrides={"architecture": "resnet50", "class_names": THREE})
    bundle = load_bundle(path, manifest_overrides=PRODUCTION)
    manifest = bundle.manifest
    assert manifest.class_names == THREE and manifest.input_scale == pytest.approx(1 / 255)
    assert manifest.channel_names == ("bot1", "bot2", "top2") and manifest.mean is None
    classifier = Classifier(bundle)
    probabilities = classifier.predict_proba(random_crops(2, size=128))
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    with pytest.raises(
        ModelLoadError,
        match=r"fc\.weight has shape \(3, 2048\) but the manifest "
        r"lists 2 classes \(clean, pit\)",
    ):
        load_bundle(path, manifest_overrides=PRODUCTION | {"class_names": list(TWO)})


def test_wrong_head_names_the_tensor_and_the_classes(tmp_path):
    torch.manual_seed(0)
    save_bundle(tmp_path / "two", build_model("resnet18", 2), make_manifest(class_names=TWO))
    document = yaml.safe_load((tmp_path / "two" / "manifest.yaml").read_text())
    document["class_names"] = list(THREE)
    (tmp_path / "two" / "manifest.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(
        ModelLoadError,
        match=r"weights\.pt: fc\.weight has shape \(2, 512\) but the manifest lists 3 classes "
        r"\(clean, maybe, pit\)",
    ):
        load_bundle(tmp_path / "two")


def test_wrong_architecture_and_wrong_shapes_are_refused(tmp_path, resnet18_three):
    torch.save(resnet18_three.state_dict(), tmp_path / "w.pt")
    bare = {"class_names": THREE, "input_scale": 1 / 255}
    with pytest.raises(ModelLoadError, match="weights do not fit mobilenet_v3_small: missing"):
        load_bundle(
            tmp_path / "w.pt", manifest_overrides=bare | {"architecture": "mobilenet_v3_small"}
        )
    state = dict(resnet18_three.state_dict())
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    torch.save(state, tmp_path / "shape.pt")
    with pytest.raises(
        ModelLoadError,
        match=r"layer1\.0\.conv1\.weight has shape \(64, 64, 1, 1\), "
        r"resnet18 expects \(64, 64, 3, 3\)",
    ):
        load_bundle(tmp_path / "shape.pt", manifest_overrides=bare | {"architecture": "resnet18"})


def test_class_order_of_a_bundle_cannot_be_overridden(tmp_path, resnet18_three):
    save_bundle(tmp_path / "m", resnet18_three, make_manifest())
    with pytest.raises(ModelLoadError, match=r"class_names .* contradicts the model's manifest"):
        load_bundle(tmp_path / "m", manifest_overrides={"class_names": ["pit", "maybe", "clean"]})
    with pytest.raises(ModelLoadError, match=r"input_scale 1.0 contradicts"):
        load_bundle(tmp_path / "m", manifest_overrides={"input_scale": 1.0})
    relaxed = load_bundle(
        tmp_path / "m", manifest_overrides={"class_names": list(THREE), "temperature": 2.0}
    )
    assert relaxed.manifest.temperature == 2.0


def test_an_edited_contract_no_longer_matches_the_recorded_id(tmp_path, resnet18_three):
    save_bundle(tmp_path / "m", resnet18_three, make_manifest())
    document = yaml.safe_load((tmp_path / "m" / "manifest.yaml").read_text())
    document["class_names"] = ["pit", "maybe", "clean"]  # someone "fixes" the order by hand
    (tmp_path / "m" / "manifest.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(ModelLoadError, match=r"records model_id .* weights or contract changed"):
        load_bundle(tmp_path / "m")


def test_nan_and_inf_weights_are_refused(tmp_path, resnet18_three):
    state = {k: v.clone() for k, v in resnet18_three.state_dict().items()}
    state["layer2.0.bn1.weight"][3] = float("nan")
    state["fc.bias"][0] = float("inf")
    torch.save({"manifest": make_manifest().to_dict(), "state_dict": state}, tmp_path / "nan.pt")
    with pytest.raises(ModelLoadError, match=r"nan\.pt: layer2\.0\.bn1\.weight holds 1 NaN or Inf"):
        load_bundle(tmp_path / "nan.pt")


def test_bad_manifests_are_refused_by_name(tmp_path, resnet18_three):
    save_bundle(tmp_path / "m", resnet18_three, make_manifest())
    manifest_file = tmp_path / "m" / "manifest.yaml"
    document = yaml.safe_load(manifest_file.read_text())
    manifest_file.write_text(yaml.safe_dump(document | {"colour": "red"}))
    with pytest.raises(ModelLoadError, match="unknown manifest field"):
        load_bundle(tmp_path / "m")
    manifest_file.write_text("- just\n- a list\n")
    with pytest.raises(ModelLoadError, match="not a mapping"):
        load_bundle(tmp_path / "m")
    manifest_file.write_text("a: [unclosed\n")
    with pytest.raises(ModelLoadError, match="unreadable manifest"):
        load_bundle(tmp_path / "m")
    manifest_file.unlink()
    with pytest.raises(ModelLoadError, match=r"manifest.yaml: no such manifest"):
        load_bundle(tmp_path / "m")


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


@pytest.mark.parametrize("container", ["zip", "legacy pickle"])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, container):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    payload = {"state_dict": {"fc.weight": _Exploit(marker)}}
    if container == "zip":
        torch.save(payload, path, pickle_module=pickle)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))  # torch's legacy format
    pickle.loads(pickle.dumps(_Exploit(tmp_path / "control")))  # proves the payload is live
    assert (tmp_path / "control").exists()
    with pytest.raises(ModelLoadError, match="must never run code"):
        load_bundle(path)
    assert not marker.exists()


def test_empty_truncated_oversized_and_missing_files_are_refused(
    tmp_path, resnet18_three, monkeypatch
):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"empty.pt: empty file"):
        load_bundle(tmp_path / "empty.pt")
    save_bundle(tmp_path / "m", resnet18_three, make_manifest())
    weights = tmp_path / "m" / "weights.pt"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="unreadable or truncated"):
        load_bundle(tmp_path / "m")
    (tmp_path / "garbage.pt").write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError, match=r"garbage.pt: not a plain weights file"):
        load_bundle(tmp_path / "garbage.pt")
    weights.write_bytes(data)
    monkeypatch.setattr(safe_io, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ModelLoadError, match=r"bytes is over the 1000-byte limit"):
        load_bundle(tmp_path / "m")
    with pytest.raises(ModelLoadError, match="no such file or folder"):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(ModelLoadError, match="ONNX file is a variant"):
        (tmp_path / "x.onnx").write_bytes(b"x")
        load_bundle(tmp_path / "x.onnx")


def test_data_parallel_prefixes_are_stripped(tmp_path, resnet18_three):
    state = {f"module.{k}": v for k, v in resnet18_three.state_dict().items()}
    torch.save(state, tmp_path / "dp.pt")
    bare = {"architecture": "resnet18", "class_names": THREE, "input_scale": 1 / 255}
    assert "fc.weight" in load_bundle(tmp_path / "dp.pt", manifest_overrides=bare).state_dict


def subnormal_float32(count: int) -> torch.Tensor:
    """Subnormal values made from bits (arithmetic would flush them in flush-to-zero mode)."""
    return torch.arange(1, count + 1, dtype=torch.int32).view(torch.float32)


def test_denormal_weights_are_flushed_and_flush_to_zero_is_on(tmp_path, resnet18_three):
    assert flush_denormals({"w": torch.cat([subnormal_float32(2), torch.ones(2)])}) == 2
    half = torch.tensor([1e-6, 1.0], dtype=torch.float16)  # 1e-6 is subnormal in fp16
    assert flush_denormals({"h": half}) == 1 and half[0] == 0 and half[1] == 1
    state = {k: v.clone() for k, v in resnet18_three.state_dict().items()}
    state["fc.weight"][0, :5] = subnormal_float32(5)
    torch.save({"manifest": make_manifest().to_dict(), "state_dict": state}, tmp_path / "ckpt.pt")
    bundle = load_bundle(tmp_path / "ckpt.pt")
    assert bundle.denormals_flushed == 5
    assert torch.count_nonzero(bundle.state_dict["fc.weight"][0, :5]) == 0
    try:
        Classifier(bundle)
        tiny = subnormal_float32(1)
        assert (tiny * 1.0).item() == 0.0  # the CPU now treats subnormals as zero
    finally:
        torch.set_flush_denormal(False)


def test_golden_set_check(tmp_path, resnet18_three):
    crops = random_crops(3)
    probabilities = Classifier(
        save_bundle(tmp_path / "m", resnet18_three, make_manifest())
    ).predict_proba(crops)
    golden = {"crops": crops, "probabilities": probabilities}
    save_bundle(tmp_path / "good", resnet18_three, make_manifest(), golden=golden)
    Classifier.from_path(tmp_path / "good").check_golden()
    golden["probabilities"] = probabilities[:, ::-1]  # what a swapped class order would give
    save_bundle(tmp_path / "bad", resnet18_three, make_manifest(), golden=golden)
    with pytest.raises(ValueError, match="golden crops differ"):
        Classifier.from_path(tmp_path / "bad").check_golden()
