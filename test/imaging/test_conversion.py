"""Image conversion without cv_bridge: round trips for every encoding, refusals for garbage."""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cherry_classifier.imaging.conversion import (
    ENCODINGS,
    ImageFormatError,
    array_to_compressed,
    array_to_image_fields,
    compressed_to_array,
    image_to_array,
    to_model_channels,
)


def random_image(encoding: str, height: int, width: int, seed: int) -> np.ndarray:
    channels, dtype, _ = ENCODINGS[encoding]
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)


@settings(max_examples=60, deadline=None)
@given(
    encoding=st.sampled_from(sorted(ENCODINGS)),
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    padding=st.integers(0, 9),
    big_endian=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_round_trip_with_step_padding_and_byte_order(
    encoding, height, width, padding, big_endian, seed
):
    image = random_image(encoding, height, width, seed)
    fields = array_to_image_fields(image, encoding)
    itemsize = ENCODINGS[encoding][1].itemsize
    padding *= itemsize  # rows stay aligned to the element size
    rows = np.frombuffer(fields["data"], np.uint8).reshape(height, fields["step"])
    if big_endian and itemsize > 1:
        rows = rows.reshape(height, -1, itemsize)[..., ::-1].reshape(height, fields["step"])
    padded = np.concatenate([rows, np.full((height, padding), 0xAB, np.uint8)], axis=1)
    decoded = image_to_array(
        encoding, height, width, fields["step"] + padding, padded.tobytes(), big_endian
    )
    np.testing.assert_array_equal(decoded, image)


@settings(max_examples=200, deadline=None)
@given(
    encoding=st.one_of(st.sampled_from(sorted(ENCODINGS)), st.text(max_size=8)),
    height=st.integers(-2, 3000),
    width=st.integers(-2, 3000),
    step=st.integers(-4, 20000),
    data=st.binary(max_size=2048),
)
def test_garbage_only_ever_raises_image_format_error(encoding, height, width, step, data):
    with contextlib.suppress(ImageFormatError):  # anything else fails the test
        image_to_array(encoding, height, width, step, data)


def test_refusals_say_what_is_wrong():
    with pytest.raises(ImageFormatError, match="unsupported encoding 'yuv422'"):
        image_to_array("yuv422", 2, 2, 4, bytes(8))
    with pytest.raises(ImageFormatError, match="step 5 is shorter than a row"):
        image_to_array("bgr8", 2, 2, 5, bytes(12))
    with pytest.raises(ImageFormatError, match="data has 11 bytes"):
        image_to_array("bgr8", 2, 2, 6, bytes(11))
    with pytest.raises(ImageFormatError, match="empty image"):
        image_to_array("mono8", 0, 5, 5, b"")
    with pytest.raises(ImageFormatError, match="too large"):
        image_to_array("mono8", 100000, 100000, 100000, b"")


def test_compressed_round_trip_and_corrupt_payloads():
    image = random_image("bgr8", 30, 40, 1)
    np.testing.assert_array_equal(
        compressed_to_array("png", array_to_compressed(image, "png")), image
    )
    with pytest.raises(ImageFormatError, match="could not be decoded"):
        compressed_to_array("jpeg", b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageFormatError, match="empty"):
        compressed_to_array("png", b"")


def test_model_channels_from_every_encoding():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 200  # red
    assert to_model_channels(rgb, "rgb8")[0, 0].tolist() == [0, 0, 200]  # b, g, r
    mono16 = np.full((2, 2), 0xFF00, np.uint16)
    assert to_model_channels(mono16, "mono16")[0, 0].tolist() == [255, 255, 255]
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 2] = 7  # blue
    assert to_model_channels(rgba, "rgba8")[0, 0].tolist() == [7, 0, 0]
