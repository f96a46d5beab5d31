"""Layered frames: loading both folder styles, belt offsets, shifting and stacking."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from cherry_classifier.imaging.layers import (
    LAYER_ORDER,
    belt_offsets_from_encoders,
    load_layered_frame,
    load_layers,
    measure_belt_shift,
    read_sidecar,
    shift_along_belt,
    stack_layers,
)
from cherry_classifier.imaging.localizer import CherryLocalizer, LocalizerParams
from test.imaging.frames import synthetic_frame

REAL_FRAMES = ("20240426T121926876364", "10439811", "10487561")
WITH_CHERRIES = REAL_FRAMES[:2]


def plane_with_row(value_row: int, height: int = 10, width: int = 4) -> np.ndarray:
    plane = np.full((height, width), 50, np.uint8)
    plane[value_row] = 9
    return plane


# -- shifting and stacking ------------------------------------------------------------------------
def test_positive_offsets_move_content_down_and_fill_with_zeros():
    bot1 = plane_with_row(5)
    stacked = stack_layers({"bot1": bot1, "bot2": bot1, "top2": bot1}, offsets_px={"bot2": 2})
    assert stacked.shape == (10, 4, 3) and stacked.dtype == np.uint8
    assert stacked[5, 0].tolist() == [9, 50, 9] and stacked[7, 0].tolist() == [50, 9, 50]
    assert stacked[:2, :, 1].max() == 0  # rows shifted in: 0, as the production line does


def test_shift_fill_modes_and_directions():
    plane = plane_with_row(0)
    assert shift_along_belt(plane, 0) is plane
    down = shift_along_belt(plane, 3, fill="edge")
    assert down[:4, 0].tolist() == [9, 9, 9, 9] and down[4, 0] == 50
    up = shift_along_belt(plane_with_row(9), -2)
    assert up[7, 0] == 9 and up[8:].max() == 0
    assert shift_along_belt(plane, 50).max() == 0  # shifted out entirely
    with pytest.raises(ValueError, match="fill"):
        shift_along_belt(plane, 1, fill="wrap")


def test_stack_refuses_missing_or_mismatched_layers():
    bot1 = plane_with_row(1)
    with pytest.raises(ValueError, match="missing layer"):
        stack_layers({"bot1": bot1})
    with pytest.raises(ValueError, match="one size"):
        stack_layers({"bot1": bot1, "bot2": bot1[:5], "top2": bot1})


def test_encoder_offsets_truncate_like_production_or_round():
    counts = {"bot1": 299362, "bot2": 299418, "top2": 299467}  # the 20240426 trigger
    assert belt_offsets_from_encoders(counts) == {"bot1": 0, "bot2": 13, "top2": 25}
    rounded = belt_offsets_from_encoders(counts, rounding="round")
    assert rounded == {"bot1": 0, "bot2": 14, "top2": 26}
    from_top = belt_offsets_from_encoders(counts, reference="top2")
    assert from_top == {"bot1": -25, "bot2": -12, "top2": 0}
    with pytest.raises(ValueError, match="reference"):
        belt_offsets_from_encoders({"bot2": 1})


# -- folders --------------------------------------------------------------------------------------
def write_trigger(folder, style: str) -> dict[str, np.ndarray]:
    """A trigger folder in one of the two production styles; returns its layers."""
    folder.mkdir()
    frame = synthetic_frame(0, count=6)
    layers = {name: frame.image[..., i] for i, name in enumerate(LAYER_ORDER)}
    counts = {"bot1": 1000, "bot2": 1056, "top2": 1105}
    if style == "json":
        for name, image in layers.items():
            cv2.imwrite(str(folder / f"20240101T000000_7_{name}.png"), image)
        images = [{"name": n, "encoder_count": c, "image_name": "x"} for n, c in counts.items()]
        sidecar = {"frame_id": 7, "images": images}
        (folder / "20240101T000000_7.json").write_text(json.dumps(sidecar))
    else:
        layers["top1"] = layers["top2"] // 2
        counts["top1"] = 1080
        for name, image in layers.items():
            cv2.imwrite(str(folder / f"555_{name[:3]}_{name[3]}.bmp"), image)
        (folder / "555.txt").write_text(json.dumps({"frame_id": 555, "encoder_counts": counts}))
    return layers


@pytest.mark.parametrize("style", ["json", "txt"])
def test_loads_both_folder_styles_aligned_like_production(tmp_path, style):
    layers = write_trigger(tmp_path / "trigger", style)
    frame = load_layered_frame(tmp_path / "trigger")
    assert frame.image.shape == (500, 2464, 3) and frame.order == LAYER_ORDER
    assert frame.frame_id == ("7" if style == "json" else "555")
    assert frame.offsets_px == {"bot1": 0, "bot2": 13, "top2": 25}
    assert frame.encoder_counts["bot2"] == 1056
    np.testing.assert_array_equal(frame.image[13:, :, 1], layers["bot2"][:-13])
    raw = load_layered_frame(tmp_path / "trigger", align=False)
    np.testing.assert_array_equal(raw.image[..., 2], layers["top2"])
    assert set(load_layers(tmp_path / "trigger", ("top2", "bot1"))) == {"top2", "bot1"}


def test_missing_files_or_counts_are_reported(tmp_path):
    write_trigger(tmp_path / "trigger", "json")
    (tmp_path / "trigger" / "20240101T000000_7.json").unlink()
    assert read_sidecar(tmp_path / "trigger") == (None, {})
    with pytest.raises(ValueError, match="no encoder counts"):
        load_layered_frame(tmp_path / "trigger")
    assert load_layered_frame(tmp_path / "trigger", align=False).frame_id == "trigger"
    with pytest.raises(ValueError, match="layer top1"):
        load_layers(tmp_path / "trigger", ("top1",))


def test_measured_shift_recovers_a_known_offset():
    frame = synthetic_frame(1, count=25)
    bot2 = frame.image[..., 1]
    moved = shift_along_belt(bot2, -11, fill="edge")  # a later exposure: cherries further up
    rows, cols, score = measure_belt_shift(bot2, moved)
    assert (rows, cols) == (11, 0) and score > 0.9


# -- real production frames -----------------------------------------------------------------------
@pytest.mark.parametrize("name", REAL_FRAMES)
def test_real_folders_load_in_both_naming_styles(production_frames_dir, name):
    frame = load_layered_frame(production_frames_dir / name)
    assert frame.image.shape == (500, 2464, 3) and frame.image.dtype == np.uint8
    assert set(LAYER_ORDER) <= set(frame.encoder_counts)
    assert 10 <= frame.offsets_px["bot2"] <= 16 and 22 <= frame.offsets_px["top2"] <= 40


def test_aligned_stack_reproduces_the_production_frame(production_frames_dir):
    """annotated/test2.png is the 20240426 trigger as production stacked it, plus boxes."""
    frame = load_layered_frame(production_frames_dir / "20240426T121926876364")
    annotated = cv2.imread(str(production_frames_dir / "annotated" / "test2.png"))
    assert frame.offsets_px == {"bot1": 0, "bot2": 13, "top2": 25}
    assert (annotated == frame.image).all(axis=2).mean() > 0.99  # the rest: box outlines
    unaligned = load_layered_frame(production_frames_dir / "20240426T121926876364", align=False)
    assert (annotated == unaligned.image).all(axis=2).mean() < 0.7


def dark_blob_mask(plane: np.ndarray) -> np.ndarray:
    localizer = CherryLocalizer(LocalizerParams(downscale=1, open_kernel_px=0))
    return localizer.dark_mask(plane)[0] > 0


@pytest.mark.parametrize("name", WITH_CHERRIES)
def test_encoder_offsets_make_the_layers_agree(production_frames_dir, name):
    """Blob masks of bot2 and top2 (both show the cherries) disagree less once aligned.

    Measured: 2.7% -> 1.3% of pixels (20240426) and 2.1% -> 0.7% (10439811); bot1 is mostly
    saturated (its cherries are faint), bot1/bot2 improves less (4.0% -> 3.5%, 1.3% -> 1.1%).
    """
    folder = production_frames_dir / name
    layers = load_layers(folder)
    offsets = belt_offsets_from_encoders(read_sidecar(folder)[1])
    masks = {name: dark_blob_mask(plane) for name, plane in layers.items()}
    for first, second in (("bot2", "top2"), ("bot1", "bot2")):
        relative = offsets[second] - offsets[first]
        shifted = shift_along_belt(masks[second].view(np.uint8), relative).view(bool)
        raw = np.mean(masks[first] != masks[second])
        aligned = np.mean(masks[first] != shifted)
        assert aligned < raw * (0.6 if first == "bot2" else 0.95), (first, second, raw, aligned)


@pytest.mark.parametrize("name", WITH_CHERRIES)
def test_the_belt_runs_along_rows_as_the_encoders_say(production_frames_dir, name):
    """Cross-correlation finds the layers shifted along rows only, by the encoder offsets."""
    folder = production_frames_dir / name
    layers = load_layers(folder)
    counts = read_sidecar(folder)[1]
    for reference, moving in (("bot1", "bot2"), ("bot2", "top2")):
        rows, cols, score = measure_belt_shift(layers[reference], layers[moving])
        expected = (counts[moving] - counts[reference]) * 0.2456
        assert abs(rows - expected) <= 2.0 and abs(cols) <= 1 and score > 0.5
