"""A compressed payload's claimed size is read from its own header, before any decoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cherry_classifier.imaging.conversion import MAX_PIXELS, compressed_dimensions
from cherry_classifier.node.input_guard import compressed_fault


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_png_and_jpeg_headers_give_the_encoded_size(extension):
    ok, encoded = cv2.imencode(extension, np.zeros((37, 53, 3), np.uint8))
    assert ok and compressed_dimensions(encoded.tobytes()) == (53, 37)


def test_a_header_claiming_over_64_mpx_is_bad_size_and_a_normal_one_passes():
    _, bomb = cv2.imencode(".png", np.zeros((9000, 9000), np.uint8))  # 81 Mpx in 94 kB
    assert MAX_PIXELS < 9000 * 9000
    fault = compressed_fault(bomb.tobytes())
    assert fault is not None and fault.kind == "bad_size" and "9000x9000" in fault.reason
    _, frame = cv2.imencode(".jpg", np.zeros((500, 2464), np.uint8))
    assert compressed_fault(frame.tobytes()) is None


def test_unknown_formats_and_short_headers_are_left_to_the_decoder():
    assert compressed_dimensions(b"GIF89a....") is None
    assert compressed_dimensions(b"\x89PNG\r\n\x1a\n\x00\x00") is None
    assert compressed_fault(b"\xff\xd8 not a jpeg") is None  # the decoder refuses it, counted
    assert compressed_fault(b"").kind == "corrupt_compressed"
