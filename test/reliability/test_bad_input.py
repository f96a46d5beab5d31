"""Malformed images: property tests against the real conversion, guard and crop code, then a
sample of every kind through a live node, which must refuse or accept each one, count it by
kind in /diagnostics, log what was wrong, and keep deciding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cherry_classifier.imaging.conversion import (
    ENCODINGS,
    MAX_PIXELS,
    ImageFormatError,
    array_to_image_fields,
    compressed_to_array,
    image_to_array,
    to_model_channels,
)
from cherry_classifier.imaging.layers import stack_layers
from cherry_classifier.imaging.localizer import CherryLocalizer, cut_crops
from cherry_classifier.node.input_guard import (
    ERROR_KINDS,
    WARNING_KINDS,
    InputFault,
    InputGuard,
    compressed_fault,
    raw_image_fault,
)

JUNK_ENCODINGS = ["", "yuv422", "BGR8", "32FC1", "bgr16", "mono8 ", "\x00"]
HUGE = [65536, 100_000, 2**31 - 1, 2**32 - 1]
LOCALIZER = CherryLocalizer()


@st.composite
def raw_headers(draw) -> dict:
    """Image fields, consistent or not: every encoding, zero/tiny/huge sizes, `step` and data
    length off by a few bytes either way, either byte order."""
    encoding = draw(st.sampled_from([*ENCODINGS, *JUNK_ENCODINGS]))
    channels, dtype, _ = ENCODINGS.get(encoding, (3, np.dtype(np.uint8), ()))
    height = draw(st.one_of(st.integers(0, 24), st.sampled_from(HUGE)))
    width = draw(st.one_of(st.integers(0, 24), st.sampled_from(HUGE)))
    row_bytes = width * channels * dtype.itemsize
    step = max(0, min(row_bytes + draw(st.integers(-5, 9)), 2**32 - 1))
    needed = step * height
    if needed > 1 << 20:  # a huge header: its data is whatever came, never what it claims
        length = draw(st.integers(0, 64))
    else:
        length = max(0, needed + draw(st.integers(-12, 12)))
    seed = draw(st.integers(0, 2**16))
    data = np.random.default_rng(seed).integers(0, 256, length, np.uint8).tobytes()
    return {
        "encoding": encoding,
        "height": height,
        "width": width,
        "step": step,
        "data": data,
        "is_bigendian": draw(st.booleans()),
    }


def crops_of(image: np.ndarray) -> np.ndarray:
    crops, _ = cut_crops(image, LOCALIZER.locate(image), 128)
    return crops


@settings(max_examples=400, deadline=None, derandomize=True)
@given(fields=raw_headers())
def test_the_guard_refuses_exactly_what_the_conversion_cannot_convert(fields):
    """Checked from the header alone, before a pixel is copied; whatever passes converts,
    reaches the model's layout and goes through the localizer and crop cutter."""
    fault = raw_image_fault(
        fields["encoding"], fields["height"], fields["width"], fields["step"], len(fields["data"])
    )
    try:
        array = image_to_array(**fields)
    except ImageFormatError as error:
        assert fault is not None and fault.kind in ERROR_KINDS, error
        assert fault.reason  # says what was wrong
        return
    assert fault is None or fault.kind == "long_data", fault
    image = to_model_channels(array, fields["encoding"])
    assert image.shape == (fields["height"], fields["width"], 3) and image.dtype == np.uint8
    crops = crops_of(image)
    assert crops.shape[1:] == (128, 128, 3)


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        (("yuv422", 4, 4, 8, 32), "bad_encoding"),
        (("bgr8", 0, 4, 12, 0), "bad_size"),
        (("mono8", 4, 0, 0, 0), "bad_size"),
        (("bgr8", 100_000, 100_000, 300_000, 10), "bad_size"),
        (("bgr8", 4, 4, 11, 44), "bad_step"),
        (("mono16", 4, 4, 9, 36), "bad_step"),
        (("rgb8", 4, 4, 12, 47), "truncated_data"),
        (("rgb8", 4, 4, 12, 49), "long_data"),
    ],
)
def test_each_kind_of_header_fault_is_named(fields, kind):
    fault = raw_image_fault(*fields)
    assert fault is not None and fault.kind == kind


def test_huge_headers_are_refused_before_anything_is_allocated():
    width = height = int(np.sqrt(MAX_PIXELS)) + 1
    fault = raw_image_fault("bgr8", height, width, width * 3, 16)
    assert fault == InputFault(
        "bad_size", f"image too large: {width}x{height} is over {MAX_PIXELS} pixels"
    )


@st.composite
def compressed_payloads(draw) -> tuple[str, bytes]:
    """Random bytes, valid PNG/JPEG payloads cut short or with flipped bytes, and empty ones."""
    fmt = draw(st.sampled_from(["png", "jpeg", "bgr8; png compressed bgr8", "mono8; jpeg", ""]))
    kind = draw(st.sampled_from(["random", "truncated", "flipped", "empty", "valid"]))
    if kind == "random":
        return fmt, draw(st.binary(max_size=512))
    if kind == "empty":
        return fmt, b""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    pixels = rng.integers(0, 256, (draw(st.integers(1, 20)), draw(st.integers(1, 20)), 3))
    import cv2

    _, encoded = cv2.imencode(".png" if "png" in fmt else ".jpg", pixels.astype(np.uint8))
    payload = bytearray(encoded.tobytes())
    if kind == "truncated":
        payload = payload[: draw(st.integers(0, len(payload) - 1))]
    elif kind == "flipped":
        for _ in range(draw(st.integers(1, 8))):
            payload[draw(st.integers(0, len(payload) - 1))] ^= 0xFF
    return fmt, bytes(payload)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(payload=compressed_payloads())
def test_corrupt_compressed_payloads_are_refused_or_decoded_never_anything_else(payload):
    fmt, data = payload
    if compressed_fault(data) is not None:
        assert not data
        return
    try:
        array = compressed_to_array(fmt, data)
    except ImageFormatError as error:
        assert str(error)
        return
    encoding = "bgr8" if array.ndim == 3 else "mono8"
    assert crops_of(to_model_channels(array, encoding)).shape[1:] == (128, 128, 3)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    shapes=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=3, max_size=3),
    offsets=st.lists(st.integers(-100, 100), min_size=3, max_size=3),
)
def test_odd_layer_sizes_and_offsets_are_refused_or_stacked(shapes, offsets):
    names = ("bot1", "bot2", "top2")
    layers = {
        name: np.full(shape, 200, np.uint8) for name, shape in zip(names, shapes, strict=True)
    }
    try:
        frame = stack_layers(layers, names, dict(zip(names, offsets, strict=True)))
    except ValueError as error:
        assert len(set(shapes)) > 1, error
        return
    assert frame.shape == (*shapes[0], 3)
    crops_of(frame)


def test_stamps_zero_or_backwards_are_accepted_and_counted_and_logs_are_rate_limited():
    guard = InputGuard(log_period_s=5.0)

    class Stamp:
        def __init__(self, sec: int, nanosec: int = 0) -> None:
            self.sec, self.nanosec = sec, nanosec

    assert guard.check_stamp("/a", Stamp(10)) is None
    assert guard.check_stamp("/a", Stamp(0)).kind == "zero_stamp"
    assert guard.check_stamp("/a", Stamp(5)) is None  # 0 -> 5 is forwards
    assert guard.check_stamp("/a", Stamp(4, 999)).kind == "backwards_stamp"
    assert guard.check_stamp("/b", Stamp(1)) is None  # per topic
    fault = InputFault("bad_step", "step 3 is shorter than a row")
    lines = [guard.record(fault, now=100.0 + 0.5 * i) for i in range(12)]
    assert lines[0] == "bad_step: step 3 is shorter than a row"
    assert lines[1:10] == [None] * 9  # one line per kind every 5 s ...
    assert lines[10] == "bad_step: step 3 is shorter than a row (+9 more of this kind not logged)"
    assert guard.record(InputFault("bad_size", "empty"), now=101.0) is not None  # ... per kind
    counts = guard.snapshot()
    assert counts["bad_step"] == 12 and counts["bad_size"] == 1 and guard.errors == 13
    assert set(counts) == set(ERROR_KINDS + WARNING_KINDS)


# -- through a live node ------------------------------------------------------------------------
@pytest.mark.ros
@pytest.mark.slow
def test_a_live_node_refuses_counts_and_logs_every_kind_and_keeps_deciding(crops_node):
    from sensor_msgs.msg import Image

    client = crops_node.client
    client.settle()
    rng = np.random.default_rng(7)
    good = array_to_image_fields(rng.integers(0, 255, (64, 64, 3), np.uint8), "bgr8")

    def image(stamp: int, **changes) -> Image:
        message = Image(**(good | changes))
        message.header.stamp.sec, message.header.frame_id = stamp, f"f{stamp}"
        return message

    data = good["data"]
    # Every message below is built with one known fault (or none), so the counts the node must
    # report come from how each was made, never from the guard under test.
    bad = [  # (message, the kind it was built to have)
        (image(1, encoding="yuv422"), "bad_encoding"),
        (image(2, width=0), "bad_size"),
        (image(3, height=100_000, width=100_000, step=300_000), "bad_size"),  # 10^10 px
        (image(4, step=100), "bad_step"),  # a row of 64 bgr8 pixels is 192 bytes
        (image(5, encoding="mono16", step=65, height=2), "bad_step"),  # row 128 bytes, odd step
        (image(6, data=data[:-1]), "truncated_data"),
    ]
    ok = []  # random but valid headers: each must be decided
    built = ["ok", "bad_encoding", "bad_size", "bad_step", "truncated_data"]
    for index in range(30):  # and random headers, six of each kind above
        kind = built[index % len(built)]
        stamp = 1_000_000 + index  # above any stamp other tests send this node: never backwards
        encoding = str(rng.choice(list(ENCODINGS)))
        channels, dtype, _ = ENCODINGS[encoding]
        height, width = (int(v) for v in rng.integers(1, 40, 2))
        if kind == "bad_size":
            height, width = (0, width) if index % 2 else (height, 0)
        row = width * channels * dtype.itemsize
        step = row + dtype.itemsize * int(rng.integers(0, 4))  # padding: whole samples
        length = step * height
        if kind == "bad_encoding":
            encoding = str(rng.choice(["bgr16", "yuv422", "32FC1", "BGR8", "mono8 "]))
        elif kind == "bad_step":
            step = int(rng.integers(0, row))  # shorter than a row
            length = row * height  # enough data for a correct step
        elif kind == "truncated_data":
            length -= int(rng.integers(1, length + 1))
        message = image(stamp, encoding=encoding, height=height, width=width, step=step)
        message.data = rng.integers(0, 256, length, np.uint8).tobytes()
        if kind == "ok":
            ok.append(message)
        else:
            bad.append((message, kind))
    # accepted with warnings, in this order after the ok ones (stamps 1_000_000 + i): 7 is
    # backwards and has a long tail; 0 is a zero stamp; 8 is forwards (from 0); 2 is backwards
    accepted = [image(7, data=data + b"tail"), image(0), image(8), image(2)]
    expected = dict.fromkeys(ERROR_KINDS, 0)
    for _, kind in bad:
        expected[kind] += 1
    expected |= {"long_data": 1, "zero_stamp": 1, "backwards_stamp": 2}
    assert len(ok) == 6 and sum(expected[k] for k in ERROR_KINDS) == len(bad) == 30

    status = f"{crops_node.name}: inference"
    topic_status = f"{crops_node.name}: input /rel/camera/image"
    before = client.fresh_status(status)
    decided_before = len(client.decisions)

    def handled() -> int:
        """Images the node has taken from DDS: refused ones plus admitted ones (one array)."""
        inference, topic = client.status(status), client.status(topic_status)
        if not inference or not topic:
            return -1
        return int(inference["input_errors"]) + int(topic["frames_received"])

    # Sent in bursts of CHUNK, each once the node has taken the last: the shipped qos_depth (10)
    # is the node's whole DDS reader queue, and a burst of 40 to a node descheduled on a loaded
    # machine lost the oldest (refused) images in DDS before the node saw them (CI, 2 cores).
    chunk = 5
    messages = [m for m, _ in bad] + ok + accepted
    client.wait(lambda: handled() >= 0, "the input counters")
    start = handled()
    for first in range(0, len(messages), chunk):
        for message in messages[first : first + chunk]:
            client.images.publish(message)
            client.spin()
        sent = min(first + chunk, len(messages))
        client.wait(lambda sent=sent: handled() >= start + sent, f"the node to take {sent} images")
    decided = len(ok) + len(accepted)
    client.wait(lambda: len(client.decisions) - decided_before >= decided, "the accepted images")

    def counted(values: dict) -> bool:
        return all(
            int(values.get(f"input_{k}", -1)) - int(before[f"input_{k}"]) >= n
            for k, n in expected.items()
        )

    values = client.fresh_status(status, counted)
    arrays = client.decisions[decided_before:]
    assert sorted(a.header.stamp.sec for a in arrays) == sorted(
        m.header.stamp.sec for m in ok + accepted
    ), "exactly the valid images are decided, each once"
    counts = {k: int(values[f"input_{k}"]) - int(before[f"input_{k}"]) for k in expected}
    assert counts == expected
    log = crops_node.log_text()
    for kind in ("bad_encoding", "bad_size", "bad_step", "truncated_data"):
        assert f": {kind}: " in log, kind
    assert "bad_size: empty image: 0x64" in log and "accepted an image" in log
    assert "Traceback" not in log
    (array,) = client.send_and_collect([image(9)])
    assert array.model_id and not any(d.fail_safe for d in array.decisions)
