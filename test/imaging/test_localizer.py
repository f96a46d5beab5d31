"""The cherry localizer on synthetic frames (exact) and on the real production frames."""

import time

import numpy as np
import pytest

from cherry_classifier.imaging.layers import load_layered_frame, stack_layers
from cherry_classifier.imaging.localizer import CherryLocalizer, LocalizerParams, Region, cut_crops
from cherry_classifier.training.synth import render_frame

# Cherries fully inside each real frame, counted by eye on the bot2 layer (cut-off ones excluded).
REAL_FRAMES = {"20240426T121926876364": (18, 26), "10439811": (9, 14), "10487561": (0, 0)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_every_synthetic_cherry_near_its_centre(seed):
    frame = render_frame(np.random.default_rng(seed), num_cherries=25)
    regions = CherryLocalizer().locate(frame.image)
    assert len(regions) == len(frame.centres)
    for cx, cy in frame.centres:
        nearest = min(np.hypot(r.centre[0] - cx, r.centre[1] - cy) for r in regions)
        assert nearest < 6


@pytest.mark.parametrize("name", sorted(REAL_FRAMES))
def test_real_production_frames(production_frames_dir, name):
    frame = load_layered_frame(production_frames_dir / name)
    assert frame.image.shape == (500, 2464, 3)
    localizer = CherryLocalizer()
    started = time.perf_counter()
    regions = localizer.locate(frame.image)
    elapsed = time.perf_counter() - started
    low, high = REAL_FRAMES[name]
    assert low <= len(regions) <= high, len(regions)
    assert elapsed < 1.0  # generous: the benchmark reports the real figure (~1.5 ms)


def test_crops_are_fixed_size_centred_and_padded_at_the_edges():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[40:60, 90:110] = 255
    crops, windows = cut_crops(frame, [Region(90, 40, 20, 20), Region(0, 0, 10, 10)], crop_size=32)
    assert crops.shape == (2, 32, 32, 3)
    assert windows[0] == Region(84, 34, 32, 32) and windows[1] == Region(-11, -11, 32, 32)
    assert crops[0, 16, 16].tolist() == [255, 255, 255]


def test_layers_shift_along_the_belt_and_bad_params_are_refused():
    bot1 = np.zeros((10, 4), np.uint8)
    bot1[5] = 9
    stacked = stack_layers({"bot1": bot1, "bot2": bot1, "top2": bot1}, offsets_px={"bot2": 2})
    assert stacked[5, 0].tolist() == [9, 0, 9] and stacked[7, 0].tolist() == [0, 9, 0]
    with pytest.raises(ValueError, match="missing layer"):
        stack_layers({"bot1": bot1})
    with pytest.raises(ValueError, match="inconsistent localizer"):
        LocalizerParams(min_area_px=10, max_area_px=5)
