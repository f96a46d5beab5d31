"""The shared image-to-crops path: decoding every encoding, crops per input mode, layer joining."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cherry_classifier.bags.messages import header, image_message
from cherry_classifier.evaluation.synthetic import render_frame
from cherry_classifier.imaging.conversion import (
    ImageFormatError,
    array_to_compressed,
    array_to_image_fields,
)
from cherry_classifier.imaging.layers import stack_layers
from cherry_classifier.imaging.localizer import CherryLocalizer, Region, cut_crops
from cherry_classifier.imaging.pipeline import FramePipeline, decode_image

RNG = np.random.default_rng(0)
BGR = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
MONO = RNG.integers(0, 256, (6, 5), dtype=np.uint8)


def _raw(array, encoding, **kwargs):
    fields = array_to_image_fields(array, encoding, **kwargs)
    return SimpleNamespace(header=header(0), **fields)  # an rclpy-like duck


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (_raw(BGR, "bgr8"), BGR),
        (_raw(BGR[..., ::-1].copy(), "rgb8"), BGR),
        (_raw(BGR, "8UC3", step=20), BGR),
        (_raw(np.dstack([BGR, MONO]), "bgra8"), BGR),
        (_raw(MONO, "mono8"), np.dstack([MONO] * 3)),
        (_raw(MONO.astype(np.uint16) << 8, "mono16", is_bigendian=True), np.dstack([MONO] * 3)),
        (image_message(BGR, 5, encoding="8UC3"), BGR),  # a rosbags message object
    ],
)
def test_decode_raw_images_in_model_channel_order(message, expected):
    np.testing.assert_array_equal(decode_image(message, compressed=False), expected)


def test_decode_compressed_images():
    png = image_message(BGR, 5, compression="png")
    np.testing.assert_array_equal(decode_image(png, compressed=True), BGR)
    mono = SimpleNamespace(format="mono8; png compressed mono8", data=array_to_compressed(MONO))
    np.testing.assert_array_equal(decode_image(mono, compressed=True), np.dstack([MONO] * 3))
    smooth = np.full((32, 32, 3), (40, 120, 200), np.uint8)
    jpeg = image_message(smooth, 5, compression="jpeg", jpeg_quality=95)
    assert jpeg.format == "bgr8; jpeg compressed bgr8"
    assert np.abs(decode_image(jpeg, compressed=True).astype(int) - smooth).max() <= 3


def test_decode_refuses_bad_images_with_a_reason():
    broken = _raw(BGR, "bgr8")
    broken.step = 3
    with pytest.raises(ImageFormatError, match="step"):
        decode_image(broken, compressed=False)
    with pytest.raises(ImageFormatError):
        decode_image(SimpleNamespace(format="png", data=b"not a png"), compressed=True)


def test_crops_mode_keeps_the_whole_image():
    crops, regions = FramePipeline("crops").crops(BGR)
    assert len(crops) == 1 and crops[0] is BGR
    assert regions == [Region(0, 0, 5, 6)]


def test_frames_mode_is_the_localizer_and_cut_crops():
    frame = render_frame(np.random.default_rng(1), 8).image
    crops, regions = FramePipeline("frames", crop_size=96).crops(frame)
    found = CherryLocalizer().locate(frame)
    expected_crops, _ = cut_crops(frame, found, 96)
    assert len(crops) == 8 and regions == found  # the cherries' boxes, inside the frame
    assert all(r.x >= 0 and r.y >= 0 and r.x + r.width <= frame.shape[1] for r in regions)
    np.testing.assert_array_equal(np.stack(crops), expected_crops)


def test_layers_mode_joins_by_stamp_and_stacks_with_offsets():
    pipeline = FramePipeline("layers", layer_offsets_px=(0, 2, 4))
    planes = {n: RNG.integers(0, 256, (10, 8), dtype=np.uint8) for n in ("bot1", "bot2", "top2")}
    first = header(1_000_000_000, "t")
    assert (
        pipeline.add_layer("bot2", header(1_001_000_000), np.dstack([planes["bot2"]] * 3)) is None
    )
    assert pipeline.add_layer("bot1", first, planes["bot1"]) is None
    joined = pipeline.add_layer("top2", header(999_000_000), planes["top2"])
    assert joined is not None and joined.header is first
    expected = stack_layers(planes, ("bot1", "bot2", "top2"), {"bot1": 0, "bot2": 2, "top2": 4})
    np.testing.assert_array_equal(joined.image, expected)
    with pytest.raises(ValueError, match="layers"):
        FramePipeline("frames").add_layer("bot1", first, planes["bot1"])
    with pytest.raises(ValueError, match="one offset per layer"):
        FramePipeline("layers", layer_offsets_px=(0, 1))
