"""Two real processes round-trip the package's own message and service over DDS."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from test.conftest import require

rclpy = require("rclpy", "ROS 2 tests (rclpy: the venv's ROS wheels, scripts/bootstrap.sh)")
msgs = require("cherry_classifier_msgs.msg", "the package's own interfaces (colcon build)")
srvs = require("cherry_classifier_msgs.srv", "the package's own interfaces (colcon build)")

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402

from cherry_dev.processes import process_output, ros_process, wait_until  # noqa: E402

pytestmark = pytest.mark.ros
PEER = Path(__file__).resolve().parents[1] / "fixtures" / "echo_peer.py"


@pytest.fixture
def node(ros_domain):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    test_node = rclpy.create_node("roundtrip_test", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(test_node)
    test_node.spin = lambda: executor.spin_once(timeout_sec=0.05)
    test_node.domain = ros_domain
    yield test_node
    executor.shutdown()
    test_node.destroy_node()
    rclpy.shutdown(context=context)


def sample_array() -> msgs.CherryDecisionArray:
    decision = msgs.CherryDecision(
        label=msgs.CherryDecision.PIT,
        confidence=0.93,
        class_names=["clean", "maybe", "pit"],
        probabilities=[0.02, 0.05, 0.93],
        index=7,
    )
    decision.region.x_offset, decision.region.y_offset = 1200, 310
    decision.region.width = decision.region.height = 128
    array = msgs.CherryDecisionArray(source_topic="/line1/crops", decisions=[decision])
    array.header.frame_id = "line1_camera"
    array.header.stamp.sec, array.header.stamp.nanosec = 1714159166, 761726468
    array.model_id, array.thresholds_version, array.pit_threshold = "0123456789abcdef", 3, 0.7
    return array


def test_decision_array_and_swap_model_round_trip(node, tmp_path):
    received: list = []
    node.create_subscription(msgs.CherryDecisionArray, "roundtrip/out", received.append, 10)
    publisher = node.create_publisher(msgs.CherryDecisionArray, "roundtrip/in", 10)
    client = node.create_client(srvs.SwapModel, "swap_model")

    peer = [sys.executable, str(PEER)]
    with ros_process(peer, tmp_path / "peer.log", ROS_DOMAIN_ID=str(node.domain)):
        wait_until(
            lambda: client.service_is_ready(), 20, node.spin, "the peer's swap_model service"
        )
        wait_until(
            lambda: "matched" in process_output(tmp_path / "peer.log"),
            20,
            node.spin,
            "the peer's subscription and publisher to match ours",
        )
        sent = sample_array()
        publisher.publish(sent)  # once: a resend would hide a lost message
        wait_until(lambda: bool(received), 20, node.spin, "the echo")

        future = client.call_async(
            srvs.SwapModel.Request(model_path="models/b", validate_only=False)
        )
        wait_until(future.done, 20, node.spin, "the SwapModel response")

    echoed = received[0]
    as_sent = deserialize_message(serialize_message(sent), msgs.CherryDecisionArray)
    assert echoed == as_sent  # field for field, as float32 (not bytes: padding is not zeroed)
    assert echoed.decisions[0].label == msgs.CherryDecision.PIT
    response = future.result()
    assert response.success and response.message == "swapped"
    assert (response.previous_model_id, response.new_model_id) == ("model-a", "id-of:models/b")
