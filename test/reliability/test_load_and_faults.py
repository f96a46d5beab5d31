"""Load and faults against live nodes over loopback DDS: overload with a publisher restart,
hot-swaps under load, inference failures injected mid-stream, a missing layer topic, corrupt
layers and clock jumps. Each run is bounded; figures are printed, never timed-asserted."""

from __future__ import annotations

import itertools
import os
import threading
import time

import numpy as np
import pytest

from test.reliability.conftest import model_id_of, start_live_node

pytestmark = [pytest.mark.ros, pytest.mark.slow]

# A longer overload by hand: python benchmarks/soak_node.py --minutes 30
SOAK_SECONDS = float(os.environ.get("CHERRY_SOAK_SECONDS", "20"))
WINDOW = 5  # frames the hot-swap stream leaves undecided at most: half the shipped qos_depth


def test_overload_soak_accounts_for_every_frame_with_bounded_memory_and_queue_wait(tmp_path):
    pytest.importorskip("rclpy")
    from benchmarks.soak_node import SoakConfig, run_soak

    config = SoakConfig(seconds=SOAK_SECONDS, publishers=3, rate_hz=50.0)
    figures = run_soak(config, tmp_path)
    print("\n" + figures.report())
    sent = sum(figures.sent.values())
    decided, dropped = sum(figures.decided.values()), sum(figures.dropped.values())
    assert figures.received == figures.sent, "DDS lost frames before the node saw them"
    assert decided + dropped == sent, "a frame was neither decided nor counted as dropped"
    assert dropped > 0 and sum(figures.drop_reasons.values()) == dropped
    assert figures.decisions_seen == decided and figures.duplicate_decisions == 0
    # The deadline itself (no frame decided after waiting longer than max_frame_age_ms) is
    # tested on an injected clock (test_engine_faults.py), not on this machine's timing.
    assert figures.input_errors == 0
    # What the node may hold beyond its warm-up: the reliable DDS backlog (qos_depth 1000 here,
    # at most publishers x 1000 x one 128 px bgr8 crop = 141 MiB) plus the engine's bounded queue.
    # Measured growth varies with how far behind the node falls, i.e. with the machine's load:
    # +1.0 MiB with two CPU burners, +50.7 MiB idle (2026-12-02), +108 MiB with a training run
    # beside it (2026-12-06). The bound is the backlog's design limit plus twice the 3.7 MiB
    # the node itself grew in the by-hand soak (README); a leak per frame shows in the flood test.
    backlog_mib = config.publishers * 1000 * 128 * 128 * 3 / 2**20
    limit = backlog_mib + 2 * 3.7
    assert figures.growth_mib < limit, f"node memory grew by {figures.growth_mib:.0f} MiB"


def test_hot_swaps_under_load_decide_each_frame_once_by_the_model_they_name(crops_node, models_dir):
    from test.ros_client import image_msg

    client = crops_node.client
    client.settle()
    ids = {model_id_of(models_dir / name): name for name in ("clean", "pit")}
    topic_status = f"{crops_node.name}: input /rel/camera/image"
    before = client.fresh_status(topic_status)
    start = len(client.decisions)
    crop = np.random.default_rng(0).integers(0, 255, (96, 96, 3), np.uint8)
    sent, window_waits, stop = 0, 0, threading.Event()

    def stream() -> None:
        # Up to 20 frames/s while the main thread swaps, with at most WINDOW frames undecided.
        # The shipped qos_depth (10, the line camera's) is the node's whole DDS reader queue: a
        # node starved of CPU while it loads models takes frames late, and past 10 waiting DDS
        # replaces the oldest before the node sees it (CI, 2 cores: 22 of 330 at an open 20/s).
        # The window keeps DDS out of the count, so every frame sent must reach the engine.
        nonlocal sent, window_waits
        while not stop.is_set():
            give_up = time.monotonic() + 5.0  # beyond: the node's own deadline counts it dropped
            while sent - (len(client.decisions) - start) >= WINDOW and time.monotonic() < give_up:
                window_waits += 1
                time.sleep(0.005)  # polls the window, filled by the swap calls' spinning
            client.images.publish(image_msg(crop, "bgr8", 10_000 + sent, "swap"))
            sent += 1
            time.sleep(0.05)  # pacing: at most 20 frames/s

    thread = threading.Thread(target=stream)
    thread.start()
    swaps = 0
    try:
        for target in ["pit", "clean"] * 12:
            response = client.swap_to(target)
            assert response.success, response.message
            swaps += 1
    finally:
        stop.set()
        thread.join()

    seen: list[tuple] = []

    def accounted(values: dict) -> bool:
        decided = int(values["frames_decided"]) - int(before["frames_decided"])
        dropped = int(values["frames_dropped"]) - int(before["frames_dropped"])
        received = int(values["frames_received"]) - int(before["frames_received"])
        seen[:] = [(sent, received, decided, dropped, len(client.decisions) - start)]
        return decided + dropped == sent and len(client.decisions) - start == decided

    try:
        after = client.fresh_status(topic_status, accounted)
    except TimeoutError as error:
        raise AssertionError(f"(sent, received, decided, dropped, client saw): {seen}") from error
    arrays = client.decisions[start:]
    stamps = [a.header.stamp.sec for a in arrays]
    assert len(stamps) == len(set(stamps)), "a frame was decided twice"
    for array in arrays:
        (decision,) = array.decisions
        assert array.model_id in ids and not decision.fail_safe
        favoured = ids[array.model_id]
        assert decision.label == {"clean": 0, "pit": 2}[favoured]
        assert decision.probabilities[{"clean": 0, "pit": 2}[favoured]] > 0.99
    changes = sum(a.model_id != b.model_id for a, b in itertools.pairwise(arrays))
    assert changes <= swaps and {a.model_id for a in arrays} == set(ids)
    dropped = int(after["frames_dropped"]) - int(before["frames_dropped"])
    print(
        f"\n{swaps} swaps under load: {sent} frames sent, {len(arrays)} decided, {dropped} dropped"
        f" ({window_waits} polls waiting on the window of {WINDOW})"
    )


def test_injected_inference_failures_give_flagged_fail_safe_batches_and_the_next_recovers(
    tmp_path, models_dir, ros_domain
):
    from test.ros_client import image_msg

    with start_live_node(
        tmp_path,
        models_dir,
        "faulty",
        domain=ros_domain,
        model_path="clean",
        input_mode="crops",
        max_batch_delay_ms=0.0,
        env={"CHERRY_FAULT_INJECTION": "inference_failure:every=3"},
    ) as live:
        client = live.client
        client.settle()
        crop = np.zeros((64, 64, 3), np.uint8)
        arrays = [client.send_and_collect([image_msg(crop, "bgr8", i, "f")])[0] for i in range(7)]
        flagged = [a.decisions[0].fail_safe for a in arrays]
        assert flagged == [False, False, True, False, False, True, False]
        for array, failed in zip(arrays, flagged, strict=True):
            assert array.model_id == model_id_of(models_dir / "clean")
            assert array.decisions[0].label == (1 if failed else 0)  # maybe: the fail_safe_label
        status = client.fresh_status(f"{live.name}: inference")
        assert int(status["inference_failures"]) == 2 and "fault_injection" in status
        # One at a time, as above: two crops sent together may share one batch (the 8th, which
        # succeeds) instead of filling batches 8 and 9 (the 9th fails).
        for stamp in (7, 8):
            client.send_and_collect([image_msg(crop, "bgr8", stamp, "f")])
        status = client.fresh_status(
            f"{live.name}: inference", lambda v: int(v["inference_failures"]) == 3
        )
        assert status["_level"] == b"\x02" and "InjectedFaultError" in status["_message"]
        assert "TEST ONLY fault injection" in live.log_text()


def test_layers_survive_a_missing_topic_corrupt_layers_and_clock_jumps(
    tmp_path, models_dir, ros_domain
):
    import cv2
    from sensor_msgs.msg import CompressedImage

    from cherry_classifier.imaging.conversion import array_to_compressed
    from test.ros_client import RELIABLE, synthetic_frame

    topics = ["layers/bot1", "layers/bot2", "layers/top2"]
    with start_live_node(
        tmp_path,
        models_dir,
        "layered",
        domain=ros_domain,
        model_path="clean",
        input_mode="layers",
        image_transport="compressed",
        image_topics="[" + ",".join(topics) + "]",
        layer_timeout_ms=2500.0,  # generous: rclpy's executor sometimes hands a layer late
    ) as live:
        client = live.client
        publishers = [
            client.node.create_publisher(CompressedImage, f"/layered/{t}", RELIABLE) for t in topics
        ]
        client.settle(publishers)
        # A 800 x 200 part of a frame: each layer is a ~50 kB message. Fragmented messages of a
        # few hundred kB now and then reach a subscriber seconds late over localhost Fast DDS
        # (README, "Under fault and overload"), which this test is not about.
        frame = synthetic_frame([(300, 250), (900, 200), (1700, 300)])[150:350, 200:1000]
        payloads = [array_to_compressed(frame[..., i], "jpg") for i in range(3)]
        _, bomb = cv2.imencode(".png", np.zeros((9000, 9000), np.uint8))  # 81 Mpx in 94 kB

        def send(stamp: tuple[int, int], layers=range(3), payload=None) -> None:
            for index in layers:
                message = CompressedImage(format="jpeg")
                message.data = payloads[index] if payload is None else payload
                message.header.stamp.sec, message.header.stamp.nanosec = stamp
                publishers[index].publish(message)

        def decided_stamp(stamp: tuple[int, int]) -> bool:
            return any(
                (a.header.stamp.sec, a.header.stamp.nanosec) == stamp for a in client.decisions
            )

        def status() -> dict:
            return client.fresh_status(f"{live.name}: inference")

        def send_and_see_decided(stamp: tuple[int, int]) -> None:
            """Send a full set once; it must be decided (a resend would hide a lost set)."""
            send(stamp)
            client.wait(lambda: decided_stamp(stamp), f"the set stamped {stamp} to be decided")

        send_and_see_decided((100, 0))
        unmatched = int(status()["unmatched_layer_sets"])

        for trigger in range(5):  # the top2 camera is gone: sets time out and are counted
            send((200 + trigger, 0), layers=range(2))
            time.sleep(0.1)  # pacing: five triggers, not one burst
        client.wait(lambda: int(status()["unmatched_layer_sets"]) >= unmatched + 5, "timeouts")
        assert int(status()["unmatched_layer_sets"]) == unmatched + 5
        send_and_see_decided((300, 0))  # it is back

        send((310, 0), layers=[0, 1])  # a corrupt and a decompression-bomb layer
        send((310, 0), layers=[2], payload=b"\xff\xd8 not a jpeg at all")
        send((311, 0), layers=[0, 1])
        send((311, 0), layers=[2], payload=bomb.tobytes())
        client.wait(
            lambda: (
                (v := status())["input_corrupt_compressed"] == "1" and v["input_bad_size"] == "1"
            ),
            "the corrupt layer and the bomb (its PNG header claims 81 Mpx) counted",
        )

        jumps = [(5000, 0), (50, 0), (0, 0), (50, 500_000_000), (2_000_000_000, 0), (400, 0)]
        for stamp in jumps:  # backwards, zero, forwards: each set still decided
            send_and_see_decided(stamp)
        client.wait(lambda: int(status()["unmatched_layer_sets"]) >= unmatched + 7, "timeouts")
        values = status()
        assert int(values["unmatched_layer_sets"]) == unmatched + 7  # and the two corrupt sets
        # Stamps are checked per layer topic: 50 after 5000 and 400 after 2e9 go backwards, 0 is
        # a zero stamp, on each of the 3 topics.
        assert (values["input_backwards_stamp"], values["input_zero_stamp"]) == ("6", "3")
        assert not decided_stamp((310, 0)) and not decided_stamp((311, 0))
        assert "corrupt_compressed" in live.log_text()
