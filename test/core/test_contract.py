"""The crop contract in the manifest, the one resize, and whether a model fits a node's inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from cherry_classifier.core.bundle import compute_model_id
from cherry_classifier.core.contract import InputContract, contract_mismatch
from cherry_classifier.core.manifest import ManifestError, ModelManifest
from cherry_classifier.core.preprocess import resize_crop, stack_crops

from .conftest import THREE, make_manifest


def test_a_manifest_without_the_crop_fields_loads_with_the_line_defaults():
    old = {"architecture": "resnet18", "class_names": list(THREE), "input_size": 64}
    manifest = ModelManifest.from_dict(old)
    assert (manifest.crop_size, manifest.interpolation) == (128, "area")
    assert manifest.channel_names == ("bot1", "bot2", "top2")  # the layer order


def test_the_crop_contract_round_trips_through_yaml():
    manifest = make_manifest(crop_size=96, interpolation="linear", channel_names=("a", "b", "c"))
    document = yaml.safe_load(yaml.safe_dump(manifest.to_dict()))
    assert document["crop_size"] == 96 and document["interpolation"] == "linear"
    assert ModelManifest.from_dict(document) == manifest


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"crop_size": 4}, "crop_size must be an integer in 8..2048, got 4"),
        ({"crop_size": 128.0}, "crop_size must be an integer"),
        ({"crop_size": True}, "crop_size must be an integer"),
        ({"interpolation": "lanczos"}, "interpolation must be one of area, linear"),
        ({"channel_names": ("bot1", "bot1", "top2")}, "channel_names must be distinct"),
    ],
)
def test_a_bad_crop_contract_is_named(changes, message):
    with pytest.raises(ManifestError, match=message):
        make_manifest(**changes)


def test_default_crop_fields_keep_old_model_ids_and_others_change_them():
    state = {"w": torch.zeros(2)}
    assert "crop_size" not in make_manifest().contract()
    default_id = compute_model_id(state, make_manifest())
    assert compute_model_id(state, make_manifest(crop_size=128)) == default_id
    assert compute_model_id(state, make_manifest(crop_size=96)) != default_id
    assert compute_model_id(state, make_manifest(interpolation="cubic")) != default_id


def test_preprocessing_resizes_with_the_manifests_interpolation():
    crop = np.random.default_rng(0).integers(0, 256, (100, 100, 3), np.uint8)
    for name in ("area", "linear", "nearest", "cubic"):
        manifest = make_manifest(interpolation=name)
        np.testing.assert_array_equal(stack_crops([crop], manifest)[0], resize_crop(crop, 64, name))
    assert not np.array_equal(resize_crop(crop, 64, "area"), resize_crop(crop, 64, "nearest"))
    with pytest.raises(ValueError, match="interpolation must be one of"):
        resize_crop(crop, 64, "lanczos")


def test_a_model_fits_inputs_with_its_layer_order_and_crop_size():
    manifest = make_manifest(crop_size=96)
    assert contract_mismatch(manifest, InputContract.of(("bot1", "bot2", "top2"), 96)) is None
    assert contract_mismatch(manifest, InputContract.of(("bot1", "bot2", "top2"))) is None
    reordered = contract_mismatch(manifest, InputContract.of(("top2", "bot2", "bot1"), 96))
    assert reordered == (
        "the model takes channels (bot1, bot2, top2) but the inputs give (top2, bot2, bot1) "
        "(layer_names)"
    )
    fewer = contract_mismatch(manifest, InputContract.of(("bot1", "bot2")))
    assert fewer is not None and "give (bot1, bot2)" in fewer
    crop = contract_mismatch(manifest, InputContract.of(("bot1", "bot2", "top2"), 128))
    assert crop == (
        "the model takes 96 px crops cut from the frame but the inputs cut 128 px (crop_size)"
    )
