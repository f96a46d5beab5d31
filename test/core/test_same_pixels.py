"""A mixed-size crop folder gives the model the same input pixels through training's data loader
as through the node's path (crops mode: image message -> imaging pipeline -> core preprocess)."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from cherry_classifier.core.preprocess import preprocess
from cherry_classifier.imaging.conversion import array_to_image_fields
from cherry_classifier.imaging.pipeline import FramePipeline, decode_image
from cherry_classifier.training.data import load_folder_splits, read_class_folders

from .conftest import THREE, make_manifest, random_crops

SIZES = {"clean": (40, 64, 100), "maybe": (64, 150), "pit": (90, 33, 128)}


@pytest.fixture
def mixed_folder(tmp_path):
    """<class>/<n>.png crops of several sizes (B, G, R planes = bot1, bot2, top2)."""
    for index, (name, sides) in enumerate(SIZES.items()):
        (tmp_path / name).mkdir()
        for n, side in enumerate(sides):
            crop = random_crops(1, side, seed=10 * index + n)[0]
            assert cv2.imwrite(str(tmp_path / name / f"{n}.png"), crop)
    return tmp_path


def node_input(path, manifest) -> torch.Tensor:
    """What the node hands its model for this crop: a bgr8 Image message in crops mode."""
    crop = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    message = SimpleNamespace(**array_to_image_fields(crop, "bgr8"))
    crops, _ = FramePipeline("crops").crops(decode_image(message, compressed=False))
    return preprocess(crops, manifest)


@pytest.mark.parametrize("interpolation", ["area", "linear", "cubic"])
def test_training_and_the_node_give_the_model_identical_pixels(mixed_folder, interpolation):
    manifest = make_manifest(interpolation=interpolation)  # input_size 64: shrink and enlarge
    split = read_class_folders(
        mixed_folder,
        THREE,
        manifest.channel_names,
        input_size=manifest.input_size,
        interpolation=manifest.interpolation,
    )
    assert split.crops.shape == (8, 64, 64, 3)
    trained_on = preprocess(split.crops, manifest)
    for index, name in enumerate(split.names):
        served = node_input(mixed_folder / f"{name}.png", manifest)
        assert torch.equal(trained_on[index : index + 1], served), name


def test_the_split_loader_passes_the_models_size_on(mixed_folder):
    manifest = make_manifest()
    splits = load_folder_splits(
        mixed_folder, THREE, manifest.channel_names, 0.25, 0.25, seed=0, input_size=64
    )
    assert {split.crops.shape[1:] for split in splits.values()} == {(64, 64, 3)}
    assert sum(len(split) for split in splits.values()) == 8
    np.testing.assert_array_equal(  # without a size: one side for all, as before
        read_class_folders(mixed_folder, THREE, manifest.channel_names).crops.shape[1:3], (150, 150)
    )
