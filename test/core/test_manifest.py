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
