"""Crop capture for labelling: what is kept, where it goes, and that training reads it back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cherry_classifier.core.decision import CLEAN, MAYBE, PIT
from cherry_classifier.evaluation.capture import INDEX_FILE, CapturePolicy, CropCapture
from cherry_classifier.training.data import read_class_folders

CLASSES = ("clean", "maybe", "pit")


def crop(value: int) -> np.ndarray:
    image = np.full((128, 128, 3), value, np.uint8)
    image[..., 2] = 255 - value  # distinct planes: channel order must survive the round trip
    return image


def keep_all(capture: CropCapture, labels: list[int]) -> list[str | None]:
    reasons = []
    for index, label in enumerate(labels):
        reason = capture.reason_to_keep(label)
        reasons.append(reason)
        if reason:
            probabilities = np.eye(3)[label]
            capture.save(
                crop(index),
                label,
                reason,
                "/line1/image",
                1_000 + index,
                index,
                probabilities,
                CLASSES,
                model_id="abc",
            )
    return reasons


def test_maybe_crops_are_always_kept_and_the_rest_sampled(tmp_path):
    capture = CropCapture(tmp_path, CapturePolicy(sample_share=0.0))
    reasons = keep_all(capture, [CLEAN, MAYBE, PIT, MAYBE, CLEAN])
    assert reasons == [None, "decided maybe", None, "decided maybe", None]
    everything = CropCapture(tmp_path / "all", CapturePolicy(sample_share=1.0))
    assert all(keep_all(everything, [CLEAN, PIT, MAYBE]))


def test_the_sample_share_is_seeded_and_roughly_kept(tmp_path):
    def kept(seed: int) -> list[bool]:
        capture = CropCapture(tmp_path / str(seed), CapturePolicy(sample_share=0.1, seed=seed))
        return [capture.reason_to_keep(CLEAN) is not None for _ in range(2000)]

    assert kept(1) == kept(1)
    assert 0.07 < np.mean(kept(1)) < 0.13


def test_files_land_in_the_training_layout_with_their_metadata(tmp_path):
    capture = CropCapture(tmp_path, CapturePolicy(sample_share=1.0))
    keep_all(capture, [CLEAN, MAYBE, PIT])
    entries = [json.loads(line) for line in (tmp_path / INDEX_FILE).read_text().splitlines()]
    assert [e["decided"] for e in entries] == list(CLASSES)
    assert entries[1]["probabilities"] == {"clean": 0.0, "maybe": 1.0, "pit": 0.0}
    assert entries[2]["model_id"] == "abc" and entries[2]["stamp_ns"] == 1002
    split = read_class_folders(tmp_path, CLASSES, ("bot1", "bot2", "top2"))
    assert split.labels.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(split.crops[2], crop(2))


def test_the_limit_holds_across_restarts(tmp_path):
    policy = CapturePolicy(sample_share=1.0, max_crops=3)
    keep_all(CropCapture(tmp_path, policy), [CLEAN, CLEAN])
    assert keep_all(CropCapture(tmp_path, policy), [CLEAN, CLEAN]) == ["sample", None]


@pytest.mark.parametrize(
    "policy", [{"sample_share": 1.5}, {"sample_share": -0.1}, {"max_crops": -1}]
)
def test_impossible_policies_are_refused(policy):
    with pytest.raises(ValueError):
        CapturePolicy(**policy)


def test_only_uint8_images_are_saved(tmp_path):
    capture = CropCapture(tmp_path)
    with pytest.raises(ValueError, match="uint8"):
        capture.save(np.zeros((4, 4, 3), np.float32), MAYBE, "x", "/t", 1, 0, [0, 1, 0], CLASSES)
