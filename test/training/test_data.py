"""Reading datasets: layered or stacked crops, class order from the config, seeded splits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cherry_classifier.evaluation.dataset import CAPTURE_INDEX, Split, dataset_kind
from cherry_classifier.evaluation.synthetic import render_dataset, write_dataset
from cherry_classifier.training.augment import AugmentConfig, augment
from cherry_classifier.training.data import (
    AugmentedCrops,
    EpochSampler,
    load_folder_splits,
    read_class_folders,
    stratified_split,
)

CHANNELS = ("bot1", "bot2", "top2")


def test_layered_files_join_in_the_manifest_channel_order(tmp_path):
    write_dataset(tmp_path, 4, ("clean", "pit"), seed=5, layered=True)
    expected, labels = render_dataset(4, ("clean", "pit"), seed=5)
    split = read_class_folders(tmp_path, ("clean", "pit"), CHANNELS)
    # Files are numbered in render order within each class folder.
    for index in range(2):
        np.testing.assert_array_equal(split.crops[split.labels == index], expected[labels == index])
    reordered = read_class_folders(tmp_path, ("clean", "pit"), ("top2", "bot2", "bot1"))
    np.testing.assert_array_equal(reordered.crops, split.crops[..., ::-1])


def test_stacked_pngs_and_production_style_layer_names(tmp_path):
    crop, _ = render_dataset(1, ("pit",), seed=0)
    (tmp_path / "pit").mkdir()
    cv2.imwrite(str(tmp_path / "pit" / "a.png"), crop[0])
    for channel, name in enumerate(("bot_1", "bot_2", "top_2")):
        cv2.imwrite(str(tmp_path / "pit" / f"b_{name}.png"), crop[0][..., channel])
    split = read_class_folders(tmp_path, ("clean", "pit"), CHANNELS)
    assert len(split) == 2 and split.labels.tolist() == [1, 1]
    np.testing.assert_array_equal(split.crops[0], split.crops[1])


def test_class_order_comes_from_the_config_not_the_folders(tmp_path):
    write_dataset(tmp_path, 3, ("clean", "pit"), seed=0, layered=False)
    split = read_class_folders(tmp_path, ("pit", "clean"), CHANNELS)
    names = [name.split("/")[0] for name in split.names]
    assert all(
        (label == 0) == (name == "pit") for label, name in zip(split.labels, names, strict=True)
    )
    with pytest.raises(ValueError, match="not among the classes"):
        read_class_folders(tmp_path, ("clean",), CHANNELS)


def test_missing_layer_and_wrong_channel_count_are_named(tmp_path):
    (tmp_path / "clean").mkdir()
    mono = np.zeros((8, 8), np.uint8)
    cv2.imwrite(str(tmp_path / "clean" / "x_bot1.png"), mono)
    cv2.imwrite(str(tmp_path / "clean" / "x_bot2.png"), mono)
    with pytest.raises(ValueError, match=r"x: layered crop lacks layer\(s\) \['top2'\]"):
        read_class_folders(tmp_path, ("clean", "pit"), CHANNELS)
    (tmp_path / "clean" / "x_bot1.png").unlink()
    (tmp_path / "clean" / "x_bot2.png").unlink()
    cv2.imwrite(str(tmp_path / "clean" / "grey.png"), mono)
    with pytest.raises(ValueError, match="1 channel"):
        read_class_folders(tmp_path, ("clean", "pit"), CHANNELS)


def test_split_folders_are_used_as_given(tmp_path):
    write_dataset(tmp_path, 20, ("clean", "pit"), seed=0, split=True)
    splits = load_folder_splits(tmp_path, ("clean", "pit"), CHANNELS, 0.15, 0.15, seed=0)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [28, 6, 6]
    (tmp_path / "test").rename(tmp_path / "held_out")
    with pytest.raises(ValueError, match="lacks"):
        load_folder_splits(tmp_path, ("clean", "pit"), CHANNELS, 0.15, 0.15, seed=0)


def test_stratified_split_is_seeded_disjoint_and_keeps_shares():
    labels = np.repeat([0, 1, 2], [100, 20, 60])
    crops = np.arange(len(labels), dtype=np.uint8).reshape(-1, 1, 1, 1) * np.ones(
        (1, 2, 2, 3), np.uint8
    )
    pool = Split(crops, labels, [str(i) for i in range(len(labels))])
    splits = stratified_split(pool, 0.2, 0.1, seed=1)
    again = stratified_split(pool, 0.2, 0.1, seed=1)
    names = [set(splits[s].names) for s in ("train", "val", "test")]
    assert sum(len(n) for n in names) == len(labels) and not (
        names[0] & names[1] | names[1] & names[2]
    )
    assert splits["val"].counts(3) == [20, 4, 12] and splits["test"].counts(3) == [10, 2, 6]
    assert splits["val"].names == again["val"].names


def test_epoch_sampler_is_seeded_sharded_and_can_balance():
    labels = np.repeat([0, 1], [90, 10])
    sampler = EpochSampler(labels, seed=0)
    sampler.set_epoch(1)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) == first and sorted(first) == list(range(100))
    sampler.set_epoch(2)
    assert list(sampler) != first
    ranks = [EpochSampler(labels, 0, rank=r, world_size=3) for r in range(3)]
    shards = [list(r) for r in ranks]
    assert all(len(s) == 34 for s in shards) and {
        index for shard in shards for index in shard
    } == set(range(100))
    balanced = list(EpochSampler(labels, 0, balanced=True))
    assert 0.35 < np.mean(labels[balanced]) < 0.65


def test_augmentation_is_reproducible_and_keeps_shape():
    crops, labels = render_dataset(2, ("clean", "pit"), seed=0)
    config = AugmentConfig(motion_blur_probability=1.0, blur_probability=1.0)
    one = augment(crops[0], np.random.default_rng(1), config)
    two = augment(crops[0], np.random.default_rng(1), config)
    assert one.shape == crops[0].shape and one.dtype == np.uint8
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, crops[0])
    off = augment(crops[0], np.random.default_rng(1), AugmentConfig(enabled=False))
    np.testing.assert_array_equal(off, crops[0])
    dataset = AugmentedCrops(Split(crops, labels), AugmentConfig(), seed=0)
    dataset.set_epoch(3)
    np.testing.assert_array_equal(dataset[1][0], dataset[1][0])


def test_dataset_kind_comes_from_the_synthetic_and_capture_markers(tmp_path):
    synthetic, real = tmp_path / "synthetic", tmp_path / "real"
    write_dataset(synthetic, 2, seed=0)
    (real / "clean").mkdir(parents=True)
    assert dataset_kind(synthetic) == "synthetic"
    assert dataset_kind(real) == "real"
    (synthetic / CAPTURE_INDEX).write_text("")  # crops captured from the line added
    assert dataset_kind(synthetic) == "mixed"


def test_one_synthetic_split_renders_the_same_crops_as_the_whole_pool():
    from cherry_classifier.training.data import synthetic_split, synthetic_splits

    whole = synthetic_splits(6, ("clean", "maybe", "pit"), 2, 0.3, 0.3, 32, maybe_share=0.2)
    val = synthetic_split(6, ("clean", "maybe", "pit"), 2, 0.3, 0.3, "val", 32, maybe_share=0.2)
    assert np.array_equal(val.crops, whole["val"].crops)
    assert np.array_equal(val.labels, whole["val"].labels)
