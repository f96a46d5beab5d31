"""Image conversion without cv_bridge: round trips for every encoding, refusals for garbage."""

from __future__ import annotations

import array
import contextlib

import cv2
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cherry_classifier.imaging.conversion import (
    ENCODINGS,
    MAX_PIXELS,
    ImageFormatError,
    array_to_compressed,
    array_to_image_fields,
    channel_order_for,
    compressed_format_for,
    compressed_to_array,
    encoding_of,
    image_to_array,
    mono16_to_mono8,
    to_model_channels,
)

ENCODING_NAMES = sorted(ENCODINGS)


def random_image(encoding: str, height: int, width: int, seed: int) -> np.ndarray:
    channels, dtype, _ = ENCODINGS[encoding]
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)


def wire_bytes(image: np.ndarray, padding: int, big_endian: bool, tail: int) -> bytes:
    """The message's data built independently: rows in wire byte order, padded, plus a tail."""
    wire = image.astype(image.dtype.newbyteorder(">" if big_endian else "<"))
    rows = wire.reshape(image.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((len(rows), padding), 0xAB, np.uint8)], axis=1)
    return padded.tobytes() + b"\xcd" * tail


@settings(max_examples=150, deadline=None)
@given(
    encoding=st.sampled_from(ENCODING_NAMES),
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    padding=st.integers(0, 9),
    big_endian=st.booleans(),
    tail=st.integers(0, 7),
    seed=st.integers(0, 2**16),
)
def test_every_encoding_round_trips_with_padding_byte_order_and_a_tail(
    encoding, height, width, padding, big_endian, tail, seed
):
    image = random_image(encoding, height, width, seed)
    itemsize = ENCODINGS[encoding][1].itemsize
    padding *= itemsize  # rows stay whole samples
    step = width * ENCODINGS[encoding][0] * itemsize + padding
    data = wire_bytes(image, padding, big_endian, tail)

    decoded = image_to_array(encoding, height, width, step, data, big_endian)
    assert decoded.dtype == ENCODINGS[encoding][1] and decoded.dtype.isnative
    np.testing.assert_array_equal(decoded, image)

    fields = array_to_image_fields(image, encoding, step=step, is_bigendian=big_endian)
    assert fields["step"] == step and fields["is_bigendian"] == int(big_endian)
    assert (fields["height"], fields["width"], fields["encoding"]) == (height, width, encoding)
    again = image_to_array(
        encoding, height, width, step, fields["data"], bool(fields["is_bigendian"])
    )
    np.testing.assert_array_equal(again, image)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    encoding=st.one_of(st.sampled_from(ENCODING_NAMES), st.text(max_size=8), st.none()),
    height=st.one_of(
        st.integers(-3, 70000),
        st.floats(allow_nan=True, allow_subnormal=False),
        st.none(),
        st.text(),
    ),
    width=st.one_of(
        st.integers(-3, 70000), st.booleans(), st.floats(allow_nan=True, allow_subnormal=False)
    ),
    step=st.one_of(st.integers(-5, 300000), st.floats(allow_nan=True, allow_subnormal=False)),
    data=st.one_of(
        st.binary(max_size=4096),
        st.lists(st.integers(-5, 300), max_size=64),
        st.text(max_size=16),
        st.none(),
        st.integers(),
    ),
    big_endian=st.booleans(),
)
def test_garbage_fields_only_ever_raise_image_format_error(
    encoding, height, width, step, data, big_endian
):
    with contextlib.suppress(ImageFormatError):  # anything else fails the test
        image = image_to_array(encoding, height, width, step, data, big_endian)
        assert image.shape[:2] == (height, width)


def _reference_decode(data: bytes) -> np.ndarray | None:
    """What OpenCV itself makes of a payload (None: not an image), independently of the code
    under test."""
    if not data:
        return None
    try:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    return decoded if decoded is not None and decoded.size else None


_VALID_PNG = cv2.imencode(".png", np.arange(48, dtype=np.uint8).reshape(4, 4, 3))[1].tobytes()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    fmt=st.one_of(
        st.text(max_size=30),
        st.none(),
        st.sampled_from(["png", "bgr8; png compressed bgr8", "16UC1; compressedDepth png"]),
    ),
    data=st.one_of(
        st.binary(max_size=2048),
        st.just(_VALID_PNG),
        st.integers(1, len(_VALID_PNG) - 1).map(lambda n: _VALID_PNG[:n]),  # cut short
    ),
)
@example(fmt="png", data=b"")
@example(fmt="png", data=_VALID_PNG)
@example(fmt="png", data=_VALID_PNG[:40])
@example(fmt="mono16; compressedDepth png", data=_VALID_PNG)
def test_garbage_compressed_payloads_are_refused_with_the_reason_or_decoded_as_opencv_does(
    fmt, data
):
    """The expected outcome comes from the payload itself: empty, compressedDepth, not an image
    for OpenCV (refused, saying so), or an image (decoded to OpenCV's pixels)."""
    reference = _reference_decode(data)
    if "compresseddepth" in (fmt or "").lower():
        with pytest.raises(ImageFormatError, match=r"compressedDepth images .* are not supported"):
            compressed_to_array(fmt, data)
    elif not data:
        with pytest.raises(ImageFormatError, match="empty CompressedImage payload"):
            compressed_to_array(fmt, data)
    elif reference is None:
        with pytest.raises(ImageFormatError, match=r"^CompressedImage \("):
            compressed_to_array(fmt, data)
    elif reference.dtype not in (np.uint8, np.uint16):
        with pytest.raises(ImageFormatError, match="only 8 and 16 bit are supported"):
            compressed_to_array(fmt, data)
    else:
        decoded = compressed_to_array(fmt, data)
        assert decoded.dtype == reference.dtype
        assert decoded.shape[:2] == reference.shape[:2]
        if decoded.ndim == 3:  # colour: b, g, r as OpenCV decoded them, alpha dropped
            np.testing.assert_array_equal(decoded, reference[..., :3])
        elif reference.ndim == 2:
            np.testing.assert_array_equal(decoded, reference)


def test_a_valid_png_payload_decodes_to_its_pixels():
    expected = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    np.testing.assert_array_equal(compressed_to_array("png", _VALID_PNG), expected)


@settings(max_examples=40, deadline=None)
@given(
    encoding=st.sampled_from(["mono8", "mono16", "bgr8"]),
    height=st.integers(1, 48),
    width=st.integers(1, 48),
    seed=st.integers(0, 2**16),
)
def test_png_compressed_round_trip_is_exact(encoding, height, width, seed):
    image = random_image(encoding, height, width, seed)
    fmt = compressed_format_for(image, "png")
    assert fmt == f"{encoding}; png compressed {encoding}"
    decoded = compressed_to_array(fmt, array_to_compressed(image, "png"))
    assert decoded.dtype == image.dtype and encoding_of(decoded) == encoding
    np.testing.assert_array_equal(decoded, image)


def test_jpeg_and_image_transport_format_strings():
    smooth = np.zeros((40, 60, 3), np.uint8)
    smooth[..., 0], smooth[..., 2] = 200, np.linspace(0, 250, 60, dtype=np.uint8)[None, :]
    payload = array_to_compressed(smooth, "jpeg", jpeg_quality=98)
    colour = compressed_to_array("bgr8; jpeg compressed bgr8", payload)
    assert colour.shape == (40, 60, 3)
    assert np.abs(colour.astype(int) - smooth).mean() < 3
    mono = compressed_to_array("mono8; jpeg compressed bgr8", payload)  # a mono source: grey
    assert mono.shape == (40, 60) and encoding_of(mono) == "mono8"
    assert compressed_to_array("jpeg", payload).shape == (40, 60, 3)  # old plain format
    bgra = np.dstack([smooth, np.full((40, 60), 128, np.uint8)])
    assert compressed_to_array("png", array_to_compressed(bgra, "png")).shape == (40, 60, 3)


def test_compressed_refusals_say_what_is_wrong():
    with pytest.raises(ImageFormatError, match="could not be decoded"):
        compressed_to_array("jpeg", b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageFormatError, match="empty"):
        compressed_to_array("png", b"")
    with pytest.raises(ImageFormatError, match="compressedDepth"):
        compressed_to_array("16UC1; compressedDepth png", b"\x00" * 20)
    with pytest.raises(ImageFormatError, match="unsupported compression"):
        array_to_compressed(np.zeros((4, 4), np.uint8), "gif")


def test_refusals_say_what_is_wrong():
    cases = [
        (("yuv422", 2, 2, 4, bytes(8)), "unsupported encoding 'yuv422'"),
        (("bgr8", 2, 2, 5, bytes(12)), "step 5 is shorter than a row"),
        (("bgr8", 2, 2, 6, bytes(11)), "data has 11 bytes; .* needs 12"),
        (("mono8", 0, 5, 5, b""), "height must be positive"),
        (("mono8", 100000, 100000, 100000, b""), "too large"),
        (("mono16", 2, 2, 5, bytes(10)), "not a whole number of 2-byte samples"),
        (("mono8", 2.0, 2, 2, bytes(4)), "height must be an integer"),
        (("mono8", 2, 2, 2, "abcd"), "data must be bytes-like"),
    ]
    for args, message in cases:
        with pytest.raises(ImageFormatError, match=message):
            image_to_array(*args)
    assert issubclass(ImageFormatError, ValueError)
    assert MAX_PIXELS == 64 * 1024 * 1024
    with pytest.raises(ImageFormatError, match="needs 3 channel"):
        array_to_image_fields(np.zeros((2, 2), np.uint8), "bgr8")
    with pytest.raises(ImageFormatError, match="needs uint16"):
        array_to_image_fields(np.zeros((2, 2), np.uint8), "mono16")


def test_data_may_be_any_byte_buffer_or_a_list_of_bytes():
    pixels = list(range(12))
    expected = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    for data in (bytes(pixels), bytearray(pixels), memoryview(bytes(pixels)), pixels):
        np.testing.assert_array_equal(image_to_array("rgb8", 2, 2, 6, data), expected)
    np.testing.assert_array_equal(
        image_to_array("rgb8", 2, 2, 6, array.array("B", pixels)), expected
    )


def test_model_channels_and_their_names_for_every_encoding():
    red = {
        "rgb8": [200, 0, 0],
        "rgba8": [200, 0, 0, 9],
        "bgr8": [0, 0, 200],
        "bgra8": [0, 0, 200, 9],
    }
    for encoding, pixel in red.items():
        image = np.array([[pixel]], np.uint8)
        assert to_model_channels(image, encoding)[0, 0].tolist() == [0, 0, 200]  # b, g, r
        assert channel_order_for(encoding) == ("b", "g", "r")
    layered = np.array([[[1, 2, 3]]], np.uint8)  # e.g. bot1, bot2, top2: passed through
    assert to_model_channels(layered, "8UC3")[0, 0].tolist() == [1, 2, 3]
    assert channel_order_for("8UC3") == ("c0", "c1", "c2")
    for encoding, value, expected in (("mono8", 7, 7), ("8UC1", 7, 7), ("mono16", 0xFF00, 255)):
        dtype = ENCODINGS[encoding][1]
        model = to_model_channels(np.full((2, 3), value, dtype), encoding)
        assert model.shape == (2, 3, 3) and model.dtype == np.uint8
        assert model[0, 0].tolist() == [expected] * 3
        assert channel_order_for(encoding) == ("mono", "mono", "mono")
    assert to_model_channels(np.full((1, 1), 0x1234, np.uint16), "16UC1")[0, 0, 0] == 0x12
    with pytest.raises(ImageFormatError):
        channel_order_for("yuv422")


def test_mono16_scaling_keeps_the_significant_bits():
    samples = np.array([0, 255, 256, 4095, 65535], np.uint16)
    assert mono16_to_mono8(samples).tolist() == [0, 0, 1, 15, 255]
    assert mono16_to_mono8(samples, significant_bits=12).tolist() == [0, 15, 16, 255, 255]
    with pytest.raises(ValueError):
        mono16_to_mono8(samples, significant_bits=20)


def test_an_unpadded_8_bit_image_is_a_read_only_view_of_the_data():
    data = bytes(range(24))
    image = image_to_array("bgr8", 2, 4, 12, data)
    assert not image.flags.writeable and np.shares_memory(image, np.frombuffer(data, np.uint8))
