"""The synthetic cherry generator: seeded, labelled, shaped like the line's layered crops."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from cherry_classifier.evaluation import synthetic as synth
from cherry_classifier.evaluation.synthetic import (
    class_counts,
    render_crop,
    render_dataset,
    render_frame,
)


def test_same_seed_same_pixels_and_other_seed_other_pixels():
    first, labels = render_dataset(5, seed=3)
    again, labels_again = render_dataset(5, seed=3)
    other, _ = render_dataset(5, seed=4)
    assert first.shape == (15, 128, 128, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert not np.array_equal(first, other)
    assert np.bincount(labels).tolist() == [5, 5, 5]


def test_maybe_share_sets_the_share_of_ambiguous_crops():
    assert class_counts(("clean", "maybe", "pit"), 90, maybe_share=0.1) == {
        "clean": 90,
        "maybe": 20,
        "pit": 90,
    }
    assert class_counts(("clean", "pit"), 10, maybe_share=0.5) == {"clean": 10, "pit": 10}
    with pytest.raises(ValueError, match="among"):
        class_counts(("clean", "stone"), 3)


def test_layers_look_like_the_line():
    """Backlit belt saturates, top-lit belt is grey; cherries are darker than the belt."""
    crops, _ = render_dataset(10, seed=0)
    corners = crops[:, :6, :6].reshape(-1, 3).astype(float)
    centres = crops[:, 56:72, 56:72].reshape(len(crops), -1, 3).mean(axis=1)
    assert np.median(corners[:, 0]) >= 250 and np.median(corners[:, 1]) >= 245  # bot1, bot2
    assert 60 < np.median(corners[:, 2]) < 200  # top2: grey belt
    assert np.all(centres[:, 1] < 215)  # every cherry is seen against the backlight in bot2
    assert np.median(centres[:, 0]) > np.median(centres[:, 1])  # bot1 is the long exposure


def test_pits_are_darker_cores_than_cavities_in_the_backlit_layers():
    crops, labels = render_dataset(40, ("clean", "pit"), seed=1)
    core = crops[:, 52:76, 52:76, 1].reshape(len(crops), -1)
    darkest = np.percentile(core, 10, axis=1)
    assert np.mean(darkest[labels == 1]) < np.mean(darkest[labels == 0]) - 25


def test_render_crop_refuses_unknown_classes():
    with pytest.raises(ValueError, match="unknown class"):
        render_crop("stone", np.random.default_rng(0))


def test_frame_has_every_cherry_labelled_and_boxed():
    frame = render_frame(np.random.default_rng(0), num_cherries=20)
    assert frame.image.shape == (500, 2464, 3) and frame.image.dtype == np.uint8
    assert len(frame.centres) == len(frame.labels) == len(frame.boxes) == 20
    assert set(frame.labels) <= {"clean", "maybe", "pit"}
    for (cx, cy), (x, y, w, h) in zip(frame.centres, frame.boxes, strict=True):
        assert x <= cx <= x + w and y <= cy <= y + h
        assert 40 <= w <= 72 and 40 <= h <= 72  # 50-60 px cherries, a few outliers
        assert frame.image[y : y + h, x : x + w, 1].mean() < 215  # dark in bot2 (backlit)


def test_cli_writes_layered_split_dataset_and_frames(tmp_path):
    crops = ["--out", str(tmp_path / "crops"), "--per-class", "10", "--split", "--seed", "2"]
    assert synth.main(crops) == 0
    files = sorted((tmp_path / "crops" / "train" / "pit").glob("*.png"))
    assert files and files[0].name == "000001_bot1.png"
    assert len(files) % 3 == 0
    info = json.loads((tmp_path / "crops" / "SYNTHETIC.json").read_text())
    assert "SYNTHETIC" in info["note"] and info["counts"]["train"]["pit"] == 7
    layer = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    assert layer.shape == (128, 128)

    assert synth.main(["--out", str(tmp_path / "frames"), "--frames", "1", "--cherries", "5"]) == 0
    truth = json.loads((tmp_path / "frames" / "frame_0000" / "labels.json").read_text())
    assert len(truth["cherries"]) == 5
    assert (tmp_path / "frames" / "frame_0000" / "top2.png").is_file()
