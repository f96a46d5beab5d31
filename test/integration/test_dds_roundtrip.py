"""Two real processes round-trip the package's own message and service over DDS."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from test.conftest import require

rclpy = require("rclpy", "ROS 2 tests (rclpy: the venv's ROS wheels, scripts/bootstrap.sh)")
msgs = require("cherry_classifier_msgs.msg", "the package's own interfaces (colcon build)")
srvs = require("cherry_classifier_msgs.srv", "the package's own interfaces (colcon build)")

from rclpy.serialization import serialize_message  # noqa: E402

from cherry_classifier.processes import ros_process, wait_until  # noqa: E402

pytestmark = pytest.mark.ros
PEER = Path(__file__).resolve().parents[1] / "fixtures" / "echo_peer.py"


@pytest.fixture
def node():
    context = rclpy.Context()
    rclpy.init(context=context)
    test_node = rclpy.create_node("roundtrip_test", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(test_node)
    test_node.spin = lambda: executor.spin_once(timeout_sec=0.05)
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

    with ros_process([sys.executable, str(PEER)], tmp_path / "peer.log"):
        wait_until(
            lambda: client.service_is_ready(), 20, node.spin, "the peer's swap_model service"
        )
        wait_until(
            lambda: publisher.get_subscription_count() > 0, 20, node.spin, "the peer's subscription"
        )
        sent = sample_array()
        wait_until(lambda: (publisher.publish(sent), bool(received))[1], 20, node.spin, "the echo")

        future = client.call_async(
            srvs.SwapModel.Request(model_path="models/b", validate_only=False)
        )
        wait_until(future.done, 20, node.spin, "the SwapModel response")

    echoed = received[0]
    assert serialize_message(echoed) == serialize_message(sent)  # field for field, as float32
    assert echoed.decisions[0].label == msgs.CherryDecision.PIT
    response = future.result()
    assert response.success and response.message == "swapped"
    assert (response.previous_model_id, response.new_model_id) == ("model-a", "id-of:models/b")
