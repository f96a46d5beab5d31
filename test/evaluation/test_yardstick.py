"""The yardstick: the old production detector's boxes on the one real annotated frame.

The PNG holds 20 rectangles (12 clean, 5 maybe, 3 pit, no side): the issue counted 19, but each
of the 20 is a drawn rectangle around a cherry (five cyan ones, one straddling the middle of the
frame), and the localizer's box overlaps each of them (IoU 0.58 to 0.91).
"""

from __future__ import annotations

import math
from collections import Counter

import cv2
import numpy as np
import pytest

from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.model_paths import default_models_dir
from cherry_classifier.evaluation.yardstick import (
    ANNOTATED_FRAME,
    ANNOTATED_PNG,
    BOX_COLOURS_BGR,
    OldBox,
    find_boxes,
    match_boxes,
    to_frame_boxes,
    yardstick_report,
)
from cherry_classifier.imaging.layers import load_layered_frame

OLD_BOXES = 20
OLD_COUNTS = {"clean": 12, "maybe": 5, "pit": 3, "side": 0}


def test_rectangles_are_found_by_colour_even_where_they_overlap():
    image = np.full((120, 200, 3), 200, np.uint8)
    cv2.rectangle(image, (10, 10), (59, 49), BOX_COLOURS_BGR["clean"], 2)
    cv2.rectangle(image, (50, 40), (99, 89), BOX_COLOURS_BGR["clean"], 2)  # overlaps the first
    cv2.rectangle(image, (120, 20), (169, 79), BOX_COLOURS_BGR["pit"], 1)
    image[100:115, 0:200] = BOX_COLOURS_BGR["pit"]  # a filled band is not a box
    assert find_boxes(image) == [  # 2 px outlines reach a pixel past the corners given
        OldBox("clean", (9, 9, 52, 42)),
        OldBox("pit", (120, 20, 50, 60)),
        OldBox("clean", (49, 39, 52, 52)),
    ]


def test_boxes_match_nearest_centres_once_and_scale_to_the_frame():
    old = [OldBox("clean", (0, 0, 40, 40)), OldBox("pit", (100, 0, 40, 40))]
    found = [(102, 2, 36, 36), (300, 0, 40, 40), (1, 1, 40, 40)]
    assert match_boxes(old, found) == [(0, 2), (1, 0)]
    halved = to_frame_boxes(old, (100, 200, 3), (50, 100, 3))
    assert halved == [OldBox("clean", (0, 0, 20, 20)), OldBox("pit", (50, 0, 20, 20))]


def test_the_annotated_png_is_the_aligned_frame_unturned_and_unscaled(production_frames_dir):
    annotated = cv2.imread(str(production_frames_dir / ANNOTATED_PNG), cv2.IMREAD_COLOR)
    frame = load_layered_frame(production_frames_dir / ANNOTATED_FRAME).image
    assert annotated.shape == frame.shape  # B, G, R = bot1, bot2, top2, aligned
    assert np.mean(annotated == frame) > 0.99  # all but the drawn rectangles


def test_the_old_detectors_boxes_are_parsed_by_colour(production_frames_dir):
    annotated = cv2.imread(str(production_frames_dir / ANNOTATED_PNG), cv2.IMREAD_COLOR)
    boxes = find_boxes(annotated)
    assert len(boxes) == OLD_BOXES
    counts = Counter(box.label for box in boxes)
    assert {label: counts[label] for label in OLD_COUNTS} == OLD_COUNTS


def test_yardstick_of_the_bundled_demo_model(production_frames_dir):
    classifier = Classifier.from_path(default_models_dir() / "default", num_threads=1)
    result = yardstick_report(classifier, production_frames_dir)
    print(result.format())
    assert len(result.old_boxes) == OLD_BOXES
    assert result.found >= OLD_BOXES - 2  # measured: all 20
    assert len(result.compared) == result.found  # no side cherries on this frame
    assert set(result.new_labels) == set(result.compared)
    assert 0.0 <= result.agreement <= 1.0 and not math.isnan(result.agreement)
    assert result.old_pits == OLD_COUNTS["pit"]
    assert 0 <= result.old_pits_decided_clean <= result.old_pits
    assert "not ground truth" in result.format()


def test_a_frames_dir_without_the_annotated_frame_is_named(tmp_path):
    classifier = Classifier.from_path(default_models_dir() / "default", num_threads=1)
    with pytest.raises(FileNotFoundError, match=r"test2\.png: no such image"):
        yardstick_report(classifier, tmp_path)
