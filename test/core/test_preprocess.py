"""Preprocessing: any crop size, scale and normalisation per manifest, channels_last."""

import cv2
import numpy as np
import pytest
import torch

from cherry_classifier.core.preprocess import preprocess, resize_crop, stack_crops

from .conftest import TWO, make_manifest, random_crops


def test_mixed_sizes_are_resized_and_scaled_per_manifest():
    manifest = make_manifest(class_names=TWO, input_size=64)
    crops = [
        np.full((64, 64, 3), 255, np.uint8),  # exact size
        np.full((100, 30, 3), 51, np.uint8),  # non-square, larger side shrinks
        np.full((20, 30, 3), 102, np.uint8),  # grows
        np.full((256, 256, 3), 0, np.uint8),
    ]
    tensor = preprocess(crops, manifest)
    assert tuple(tensor.shape) == (4, 3, 64, 64) and tensor.dtype == torch.float32
    assert tensor.is_contiguous(memory_format=torch.channels_last)
    means = tensor.mean(dim=(1, 2, 3)).tolist()
    assert means == pytest.approx([1.0, 0.2, 0.4, 0.0], abs=1e-6)


def test_scale_one_keeps_0_255_as_old_docs_said():
    crop = np.full((64, 64, 3), 200, np.uint8)
    assert float(preprocess([crop], make_manifest(input_scale=1.0)).max()) == 200.0
    assert float(preprocess([crop], make_manifest()).max()) == pytest.approx(200 / 255)


def test_mean_std_normalise_per_channel_in_channel_order():
    manifest = make_manifest(mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.1))
    crop = np.zeros((64, 64, 3), np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 255, 51, 0  # bot1, bot2, top2
    tensor = preprocess([crop], manifest)
    expected = [(1.0 - 0.1) / 0.5, (0.2 - 0.2) / 0.25, (0.0 - 0.3) / 0.1]
    assert tensor[0, :, 5, 5].tolist() == pytest.approx(expected, abs=1e-5)


def test_resizing_matches_cv2_area_when_shrinking_and_linear_when_growing():
    rng = np.random.default_rng(0)
    big, small = (
        rng.integers(0, 256, (150, 140, 3), np.uint8),
        rng.integers(0, 256, (40, 50, 3), np.uint8),
    )
    area = cv2.resize(big, (64, 64), interpolation=cv2.INTER_AREA)
    linear = cv2.resize(small, (64, 64), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(resize_crop(big, 64), area)
    np.testing.assert_array_equal(resize_crop(small, 64), linear)
    np.testing.assert_array_equal(
        stack_crops([big, small], make_manifest()), np.stack([area, linear])
    )


def test_a_batch_array_at_model_size_passes_without_copy_and_others_are_resized():
    crops = random_crops(5)
    assert stack_crops(crops, make_manifest()) is crops
    resized = stack_crops(random_crops(3, size=80), make_manifest())
    assert resized.shape == (3, 64, 64, 3)
    readonly = random_crops(2)
    readonly.flags.writeable = False
    assert preprocess(readonly, make_manifest()).shape == (2, 3, 64, 64)
    assert preprocess([], make_manifest()).shape == (0, 3, 64, 64)


def test_single_channel_models_take_2d_crops():
    manifest = make_manifest(channel_names=("bot1",))
    tensor = preprocess([np.full((70, 70), 255, np.uint8)], manifest)
    assert tuple(tensor.shape) == (1, 1, 64, 64)


def test_wrong_channel_counts_dtypes_and_empty_crops_are_refused():
    manifest = make_manifest()
    with pytest.raises(ValueError, match=r"crop 1: expected uint8 HxWx3 \(bot1, bot2, top2\)"):
        preprocess([np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 4), np.uint8)], manifest)
    with pytest.raises(ValueError, match="got float32"):
        preprocess([np.zeros((10, 10, 3), np.float32)], manifest)
    with pytest.raises(ValueError, match=r"crops: expected uint8 HxWx3"):
        preprocess(np.zeros((2, 64, 64, 1), np.uint8), manifest)
    with pytest.raises(ValueError, match="is empty"):
        preprocess([np.zeros((0, 10, 3), np.uint8)], manifest)
