"""The manifest: a model's contract, validated with every problem named."""

import pytest
import yaml

from cherry_classifier.core.decision import Thresholds
from cherry_classifier.core.manifest import ManifestError, ModelManifest

from .conftest import TWO, make_manifest


def test_dict_and_yaml_round_trip():
    manifest = make_manifest(
        mean=(0.1, 0.2, 0.3),
        std=(0.5, 0.5, 0.5),
        temperature=1.3,
        thresholds=Thresholds(0.7, 0.1, 0.4),
        provenance={"data": "line 3, May", "metrics": {"pit_recall": 0.995}},
    )
    text = yaml.safe_dump(manifest.to_dict())
    assert ModelManifest.from_dict(yaml.safe_load(text)) == manifest
    assert yaml.safe_load(text)["input_scale"] == pytest.approx(1 / 255)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architecture": "resnet1000"}, "unknown architecture 'resnet1000'"),
        ({"class_names": ("clean", "stone")}, "must include 'clean' and 'pit'"),
        ({"class_names": ("clean", "pit", "pit")}, "distinct"),
        ({"mean": (0.5, 0.5)}, "mean has 2 values for 3 channels"),
        ({"std": (1.0, 0.0, 1.0)}, "std values must be > 0"),
        ({"input_scale": 0.0}, "input_scale must be > 0"),
        ({"input_scale": float("nan")}, "input_scale must be a finite number"),
        ({"input_size": 4}, "input_size must be an integer"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"thresholds": Thresholds(0.2, 0.5, 0.5)}, "maybe_threshold"),
        ({"channel_names": ()}, "at least one channel"),
    ],
)
def test_impossible_contracts_are_refused_by_name(changes, message):
    with pytest.raises(ManifestError, match=message):
        make_manifest(**changes)


def test_from_dict_names_unknown_and_missing_fields():
    with pytest.raises(ManifestError, match=r"unknown manifest field.*: colour"):
        ModelManifest.from_dict({"architecture": "resnet18", "class_names": TWO, "colour": 1})
    with pytest.raises(ManifestError, match="manifest lacks class_names"):
        ModelManifest.from_dict({"architecture": "resnet18"})
    with pytest.raises(ManifestError, match="format_version 9 is not supported"):
        ModelManifest.from_dict(
            {"architecture": "resnet18", "class_names": TWO, "format_version": 9}
        )
    with pytest.raises(ManifestError, match="thresholds"):
        ModelManifest.from_dict(
            {"architecture": "resnet18", "class_names": TWO, "thresholds": {"pit": 0.5}}
        )


def test_contract_is_what_the_model_id_covers():
    contract = make_manifest(temperature=3.0).contract()
    assert set(contract) == {
        "architecture",
        "class_names",
        "input_size",
        "channel_names",
        "input_scale",
        "mean",
        "std",
    }
    assert contract == make_manifest().contract()


@pytest.mark.parametrize(
    ("provenance", "kind", "demo"),
    [
        ({"training_data": {"kind": "synthetic", "crops": 2222}}, "synthetic", True),
        ({"training_data": {"kind": "real", "crops": 900}}, "real", False),
        ({"training_data": {"kind": "mixed", "crops": 900}}, "mixed", False),
        ({"data": "SYNTHETIC crops (cherry-synth, 1000/class)"}, "synthetic", True),  # older
        ({"note": "DEMO WEIGHTS trained on SYNTHETIC cherries"}, "synthetic", True),  # older
        ({"data": "class folders /data/line3"}, "unknown", False),
        ({}, "unknown", False),
    ],
)
def test_a_model_trained_on_synthetic_crops_only_is_a_demo_model(provenance, kind, demo):
    manifest = make_manifest(provenance=provenance)
    assert manifest.training_data_kind() == kind
    assert manifest.is_demo_model() is demo
    assert bool(manifest.demo_model_warning()) is demo


def test_training_data_must_name_a_known_kind():
    with pytest.raises(ManifestError, match=r"provenance\.training_data must be"):
        make_manifest(provenance={"training_data": {"kind": "imagined", "crops": 3}})
    with pytest.raises(ManifestError, match=r"provenance\.training_data must be"):
        make_manifest(provenance={"training_data": "synthetic"})


def test_the_bundled_model_is_a_demo_model_and_keeps_its_id():
    from cherry_classifier.core.classifier import Classifier
    from cherry_classifier.core.model_paths import default_models_dir

    classifier = Classifier.from_path(default_models_dir() / "default")
    assert classifier.model_id == "6b6790f7e0bad52c"  # provenance is not part of the id
    manifest = classifier.manifest
    assert manifest.provenance["training_data"] == {"kind": "synthetic", "crops": 2222}
    assert manifest.training_data_summary() == "synthetic, 2222 crops"
    assert manifest.is_demo_model()
    assert "trained on synthetic crops only" in manifest.demo_model_warning()
