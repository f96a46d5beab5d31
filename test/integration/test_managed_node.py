"""The managed (lifecycle) classifier in a real process, started as ``managed:=true`` starts it,
driven through its real lifecycle services (issue 12's acceptance): it decides frames only while
active, and a deactivation loses none of the frames it had already taken."""

from __future__ import annotations

from pathlib import Path

import pytest

from test.conftest import require

rclpy = require("rclpy", "ROS 2 tests (rclpy: the venv's ROS wheels, scripts/bootstrap.sh)")
lifecycle_srv = require("lifecycle_msgs.srv", "the lifecycle services (ROS 2 wheels)")
require("cherry_classifier_msgs.msg", "the package's own interfaces (colcon build)")

from lifecycle_msgs.msg import Transition  # noqa: E402

from cherry_classifier.core.architectures import build_model  # noqa: E402
from cherry_classifier.core.bundle import save_bundle  # noqa: E402
from cherry_classifier.core.engine import INFERENCE_DELAY_VAR  # noqa: E402
from cherry_classifier.core.manifest import ModelManifest  # noqa: E402
from cherry_dev.golden_sets import write_golden_set  # noqa: E402
from cherry_dev.launch_stub import LifecycleNode, launch_command  # noqa: E402
from cherry_dev.processes import process_output  # noqa: E402
from test.ros_client import Client, image_msg, start_classifier, synthetic_frame  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
# Every inference batch is made this much slower (CHERRY_INFERENCE_DELAY_MS, test only): while
# the first frame's batch runs, the next three wait, long enough for the test to see them queued
# (diagnostics come each second) and deactivate the node while none is decided yet.
HOLD_MS = 4000.0


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """Bundles "a" and "b" (different weights, so different ids) and a corrupt file."""
    import torch

    folder = tmp_path_factory.mktemp("managed_models")
    manifest = ModelManifest(
        architecture="mobilenet_v3_small", class_names=("clean", "maybe", "pit")
    )
    for seed, name in enumerate(("a", "b"), start=1):
        torch.manual_seed(seed)
        save_bundle(folder / name, build_model(manifest.architecture, 3), manifest)
        write_golden_set(folder / name)
    (folder / "corrupt.pt").write_bytes(b"\x80\x02not a model at all" * 10)
    return folder


class Lifecycle:
    """The node's lifecycle services, called as a lifecycle manager would."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.change = client.node.create_client(
            lifecycle_srv.ChangeState, f"{client.node_name}/change_state"
        )
        self.get = client.node.create_client(
            lifecycle_srv.GetState, f"{client.node_name}/get_state"
        )
        client.wait(
            lambda: self.change.service_is_ready() and self.get.service_is_ready(),
            "the lifecycle services",
        )

    def state(self) -> str:
        response = self.client.call(self.get.call_async(lifecycle_srv.GetState.Request()), "state")
        return response.current_state.label

    def transition(self, label: str) -> bool:
        request = lifecycle_srv.ChangeState.Request(transition=Transition(label=label))
        return self.client.call(self.change.call_async(request), label).success


def frames(*stamps: int) -> list:
    return [
        image_msg(synthetic_frame([(400, 250), (900, 250), (1500, 250)]), "bgr8", s, "c")
        for s in stamps
    ]


def publish(client: Client, images: list) -> None:
    for image in images:
        client.images.publish(image)
    client.images.wait_for_all_acked()  # reliable: each reached every matched reader, if any


def test_launch_argument_managed_starts_the_managed_node():
    node, command = launch_command(managed="true")
    assert isinstance(node, LifecycleNode)
    assert (node.executable, node.name) == ("managed_classifier_node", "classifier")
    assert command[command.index("--params-file") + 1].endswith("config/threading_ws.yaml")
    assert Path(command[1]).exists(), "managed_classifier_node is not installed: colcon build"
    plain, _ = launch_command()
    assert not isinstance(plain, LifecycleNode) and plain.executable == "classifier_node"


def test_configure_activate_deactivate_activate_shutdown(tmp_path, models_dir, ros_domain):
    namespace = "managed1"
    log = tmp_path / f"classifier_{namespace}.log"
    inference = f"/{namespace}/classifier: inference"
    with start_classifier(
        tmp_path,
        models_dir,
        namespace,
        domain=ros_domain,
        managed=True,
        env={INFERENCE_DELAY_VAR: str(HOLD_MS)},
        max_frame_age_ms=0.0,  # no deadline: held frames are decided, not dropped
    ) as process:
        client = Client(namespace, ros_domain)
        try:
            lifecycle = Lifecycle(client)
            assert lifecycle.state() == "unconfigured"
            assert lifecycle.transition("configure")
            assert lifecycle.state() == "inactive"
            client.wait(lambda: bool(client.model_infos), "model_info")
            assert client.model_infos[-1].model_id and not client.model_infos[-1].fail_safe
            status = client.fresh_status(inference)
            assert (status["lifecycle_state"], status["_message"]) == (
                "inactive",
                "inactive: takes no frames",
            )
            assert client.images.get_subscription_count() == 0
            publish(client, frames(100, 101))  # inactive, never subscribed: not taken

            assert lifecycle.transition("activate")
            assert lifecycle.state() == "active"
            client.settle()
            publish(client, frames(1, 2, 3, 4))
            # the first frame in its (slow) batch, the other three waiting
            client.fresh_status(inference, lambda v: v.get("queue_frames") == "3")
            assert lifecycle.transition("deactivate")  # returns once the four are published
            assert "deactivating: deciding 4 frame(s) already taken" in process_output(log)
            client.wait(lambda: len(client.decisions) == 4, "the queued frames' decisions")
            assert lifecycle.state() == "inactive"

            client.wait(lambda: client.images.get_subscription_count() == 0, "unsubscribed")
            publish(client, frames(200, 201, 202))  # inactive again: not taken
            (result,) = client.set(pit_threshold=0.6)  # parameters and swaps work while inactive
            assert result.successful, result.reason
            swapped = client.swap_to("b")
            assert swapped.success, swapped.message

            assert lifecycle.transition("activate")
            client.settle()
            publish(client, frames(5, 6))
            client.wait(lambda: len(client.decisions) == 6, "the second activation's decisions")
            assert [a.header.stamp.sec for a in client.decisions] == [1, 2, 3, 4, 5, 6]
            assert [a.model_id for a in client.decisions[4:]] == [swapped.new_model_id] * 2
            assert [a.pit_threshold for a in client.decisions[4:]] == pytest.approx([0.6] * 2)
            topic = client.fresh_status(f"/{namespace}/classifier: input /{namespace}/camera/image")
            assert (topic["frames_received"], topic["frames_decided"]) == ("6", "6")
            assert topic["lifecycle_state"] == "active"

            assert lifecycle.transition("shutdown")
            assert lifecycle.state() == "finalized"
            assert len(client.decisions) == 6
        finally:
            client.close()
            assert process.poll() is None, process_output(log)


def test_a_refused_model_fails_configure_and_the_node_stays_unconfigured(
    tmp_path, models_dir, ros_domain
):
    namespace = "managed2"
    log = tmp_path / f"classifier_{namespace}.log"
    with start_classifier(
        tmp_path, models_dir, namespace, model_path="corrupt.pt", domain=ros_domain, managed=True
    ) as process:
        client = Client(namespace, ros_domain)
        try:
            lifecycle = Lifecycle(client)
            for _ in range(2):  # the second try finds nothing left over from the first
                assert not lifecycle.transition("configure")
                assert lifecycle.state() == "unconfigured"
            assert (
                process_output(log).count("configure failed, still unconfigured: corrupt.pt") == 2
            )
            assert lifecycle.transition("shutdown")
            assert lifecycle.state() == "finalized"
        finally:
            client.close()
            assert process.poll() is None, process_output(log)
