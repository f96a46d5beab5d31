"""Issue 16 in a real node process, started as the launch file does with the shipped params:
a shadow model scored against the live one (its figures equal an independent count from the two
decision topics), promoted between frames, refused like any swap; and the drift alarm.

Models: ``live`` is the bundled model (with its reference.json); ``pitty`` the same weights with
+10.5 on the PIT logit (a new model id and its own golden set, no reference), so the two agree on
about half the crops of synthetic frames and call some crops PIT against CLEAN.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from test.conftest import require

rclpy = require("rclpy", "ROS 2 tests (rclpy: the venv's ROS wheels, scripts/bootstrap.sh)")
msgs = require("cherry_classifier_msgs.msg", "the package's own interfaces (colcon build)")
srvs = require("cherry_classifier_msgs.srv", "the package's own interfaces (colcon build)")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from cherry_classifier.bags.evaluate import main as cherry_eval  # noqa: E402
from cherry_classifier.bags.io import bag_summary, decode, iter_messages  # noqa: E402
from cherry_classifier.core.bundle import load_bundle, save_bundle  # noqa: E402
from cherry_classifier.core.decision import LABEL_NAMES  # noqa: E402
from cherry_classifier.core.drift import NO_REFERENCE  # noqa: E402
from cherry_classifier.core.model_paths import default_models_dir  # noqa: E402
from cherry_classifier.evaluation.synthetic import render_frame  # noqa: E402
from cherry_dev.golden_sets import write_golden_set  # noqa: E402
from cherry_dev.launch_stub import launch_commands  # noqa: E402
from cherry_dev.processes import process_output, ros_process  # noqa: E402
from test.ros_client import (  # noqa: E402
    MAX_IN_FLIGHT,
    RELIABLE,
    Client,
    image_msg,
    start_classifier,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
LIVE_ID = "6b6790f7e0bad52c"
PIT_LOGIT_SHIFT = 10.5  # the bundled model is confident: smaller shifts change few decisions
VALIDATION_LIKE = (0.45, 0.10, 0.45)  # the bundled reference's shares: clean 45%, pit 45%
FEW_PITS = (0.85, 0.05, 0.10)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shadow_models")
    shutil.copytree(default_models_dir() / "default", folder / "live")
    bundle = load_bundle(folder / "live")
    state = {name: tensor.clone() for name, tensor in bundle.state_dict.items()}
    state["classifier.3.bias"][LABEL_NAMES.index("pit")] += PIT_LOGIT_SHIFT
    save_bundle(folder / "pitty", state, bundle.manifest)
    write_golden_set(folder / "pitty")
    (folder / "corrupt.pt").write_bytes(b"\x80\x02not a model at all" * 10)
    (folder.parent / "outside").mkdir(exist_ok=True)
    return folder


def model_id(folder: Path) -> str:
    return load_bundle(folder).model_id


def frames(count: int, weights, seed: int, first_stamp: int) -> list:
    rng = np.random.default_rng(seed)
    return [
        image_msg(render_frame(rng, weights=weights).image, "bgr8", first_stamp + i, "belt")
        for i in range(count)
    ]


class ShadowClient(Client):
    """The test's client plus the shadow's topic and services."""

    def __init__(self, namespace: str, domain: int) -> None:
        super().__init__(namespace, domain)
        node = f"/{namespace}/classifier"
        self.shadow_decisions: list = []
        self.node.create_subscription(
            msgs.CherryDecisionArray,
            f"{node}/shadow_decisions",
            self.shadow_decisions.append,
            RELIABLE,
        )
        self.swap_shadow = self.node.create_client(srvs.SwapModel, f"{node}/swap_shadow")
        self.promote = self.node.create_client(Trigger, f"{node}/promote_shadow")

    def shadow_to(self, path: str, validate_only: bool = False):
        request = srvs.SwapModel.Request(model_path=path, validate_only=validate_only)
        return self.call(self.swap_shadow.call_async(request), f"swap_shadow to {path!r}")

    def shadow_status(self, condition=lambda values: True) -> dict:
        return self.fresh_status(f"{self.node_name}: shadow", condition)

    def drift_status(self, condition=lambda values: True) -> dict:
        return self.fresh_status(f"{self.node_name}: drift", condition)


def start(tmp_path, models_dir, namespace, domain, **parameters):
    """The node as launched (shipped params) running ``live`` from the test's models; only
    ``parameters`` re-set."""
    return start_classifier(
        tmp_path, models_dir, namespace, model_path="live", domain=domain, **parameters
    )


def stamp_key(array) -> tuple[int, int]:
    return array.header.stamp.sec, array.header.stamp.nanosec


def labels(array) -> np.ndarray:
    return np.array([d.label for d in array.decisions], np.int64)


def probabilities(array) -> np.ndarray:
    return np.array([d.probabilities for d in array.decisions], np.float32)


def test_shadow_figures_equal_a_count_from_both_topics_and_promotion_switches_between_frames(
    tmp_path, models_dir, ros_domain
):
    pitty_id = model_id(models_dir / "pitty")
    log = tmp_path / "classifier_shadow.log"
    with start(tmp_path, models_dir, "shadow", ros_domain, shadow_model_path="pitty") as process:
        client = ShadowClient("shadow", ros_domain)
        try:
            client.wait(
                lambda: client.promote.service_is_ready() and client.model_infos, "the node"
            )
            client.settle()
            client.shadow_status(lambda v: v.get("shadow_model_id") == pitty_id)

            sent = frames(6, VALIDATION_LIKE, seed=3, first_stamp=100)
            live_arrays = client.send_and_collect(sent)
            client.wait(lambda: len(client.shadow_decisions) >= len(sent), "shadow decisions")
            status = client.shadow_status(lambda v: v.get("frames_compared") == str(len(sent)))

            # The independent count: pair the two topics' arrays by their (shared) header.
            shadow_by_stamp = {stamp_key(a): a for a in client.shadow_decisions}
            assert len(shadow_by_stamp) == len(sent) == len(client.shadow_decisions)
            confusion = np.zeros((3, 3), np.int64)
            for live in live_arrays:
                shadow = shadow_by_stamp[stamp_key(live)]
                assert live.model_id == LIVE_ID and shadow.model_id == pitty_id
                assert shadow.header.frame_id == live.header.frame_id == "belt"
                assert shadow.source_topic == live.source_topic
                assert [d.region for d in shadow.decisions] == [d.region for d in live.decisions]
                np.add.at(confusion, (labels(live), labels(shadow)), 1)
            crops = int(confusion.sum())
            agreed = int(np.trace(confusion))
            pit_against_clean = int(confusion[2, 0] + confusion[0, 2])
            assert 0 < agreed < crops and pit_against_clean > 0, confusion  # distinguishable
            assert int(status["total_crops"]) == crops
            assert int(status["total_agreed"]) == agreed
            assert float(status["total_agreement"]) == pytest.approx(agreed / crops, abs=1e-3)
            assert int(status["total_pit_disagreements"]) == pit_against_clean
            for row, live_label in enumerate(LABEL_NAMES):
                for column, shadow_label in enumerate(LABEL_NAMES):
                    key = f"total_confusion_{live_label}_{shadow_label}"
                    assert int(status[key]) == confusion[row, column], key
                if confusion[row].sum():
                    share = confusion[row, row] / confusion[row].sum()
                    assert float(status[f"total_agreement_{live_label}"]) == pytest.approx(
                        share, abs=1e-3
                    )
            assert status["skipped_crops"] == "0" and status["failures"] == "0"
            assert status["_level"] == DiagnosticStatus.OK
            expected = {stamp_key(a): probabilities(a) for a in live_arrays}
            expected_shadow = {k: probabilities(a) for k, a in shadow_by_stamp.items()}

            # Promotion in the middle of a burst: the first frames again (new stamps, so each
            # array's probabilities can be checked against what its named model gave them); 5
            # at once at most, as send_and_collect (MAX_IN_FLIGHT: the reader's depth is 10).
            burst = frames(MAX_IN_FLIGHT, VALIDATION_LIKE, seed=3, first_stamp=200)
            first = len(client.decisions)
            for message in burst[:2]:
                client.images.publish(message)
            promoted = client.promote.call_async(Trigger.Request())
            for message in burst[2:]:
                client.images.publish(message)
            response = client.call(promoted, "promote_shadow")
            assert response.success, response.message
            client.wait(lambda: len(client.decisions) >= first + len(burst), "the burst")
            arrays = client.decisions[first:]
            ids = [a.model_id for a in arrays]
            switch = ids.index(pitty_id) if pitty_id in ids else len(ids)
            assert ids == [LIVE_ID] * switch + [pitty_id] * (len(ids) - switch), ids
            for array in arrays:
                before = (array.header.stamp.sec - 100, array.header.stamp.nanosec)
                named = expected if array.model_id == LIVE_ID else expected_shadow
                other = expected_shadow if array.model_id == LIVE_ID else expected
                assert np.allclose(probabilities(array), named[before], atol=0.02)
                assert not np.allclose(probabilities(array), other[before], atol=0.02)
            client.wait(lambda: client.model_infos[-1].model_id == pitty_id, "model_info")
            (after,) = client.send_and_collect(frames(1, VALIDATION_LIKE, 4, first_stamp=300))
            assert after.model_id == pitty_id
            # The old live model is the shadow now; pitty has no reference: drift says so.
            client.shadow_status(lambda v: v.get("shadow_model_id") == LIVE_ID)
            drift = client.drift_status(lambda v: v.get("model_id") == pitty_id)
            assert drift["state"] == "disabled" and drift["_message"] == NO_REFERENCE
            disabled = f"drift alarm disabled for model {pitty_id}"
            client.wait(lambda: disabled in log.read_text(), "the log line")
        finally:
            client.close()
        assert process.poll() is None, process_output(log)


def test_swap_shadow_checks_like_swap_model_and_the_drift_alarm_warns_on_a_shift(
    tmp_path, models_dir, ros_domain
):
    pitty_id = model_id(models_dir / "pitty")
    log = tmp_path / "classifier_drift.log"
    bad_shadow = {"shadow_model_path": "corrupt.pt"}
    with start(tmp_path, models_dir, "drift", ros_domain, **bad_shadow) as process:
        client = ShadowClient("drift", ros_domain)
        try:
            client.wait(
                lambda: client.swap_shadow.service_is_ready() and client.model_infos, "the node"
            )
            refused = client.shadow_status()
            assert refused["_level"] == DiagnosticStatus.WARN
            assert "start-up shadow refused" in refused["_message"]
            assert "corrupt.pt" in refused["_message"]
            for bad in ("corrupt.pt", "../outside", "missing_model", "/etc/passwd"):
                response = client.shadow_to(bad)
                assert not response.success and response.message.startswith("refused"), bad
            checked = client.shadow_to("pitty", validate_only=True)
            assert checked.success and checked.new_model_id == pitty_id
            assert client.shadow_status()["_message"].startswith("no shadow model")
            swapped = client.shadow_to("pitty")
            assert swapped.success and swapped.previous_model_id == ""
            client.shadow_status(lambda v: v.get("shadow_model_id") == pitty_id)
            removed = client.shadow_to("")
            assert removed.success and removed.previous_model_id == pitty_id
            assert client.shadow_status()["_message"] == "no shadow"

            # Drift: frames drawn like the bundled model's validation split stay below the
            # level; after a swap (which empties the window) frames with 10% pits go past it.
            client.settle()
            steady = client.send_and_collect(frames(10, VALIDATION_LIKE, 1, first_stamp=10))
            count = sum(len(a.decisions) for a in steady)
            assert count >= 200, count  # enough for a score (MIN_DECISIONS)
            calm = client.drift_status(lambda v: v.get("decisions") == str(count))
            assert calm["state"] == "ok" and calm["_level"] == DiagnosticStatus.OK, calm
            assert float(calm["score"]) < float(calm["warn_level"]) == pytest.approx(0.25)
            assert client.swap_to("live").success
            client.drift_status(lambda v: v.get("decisions") == "0")
            shifted = client.send_and_collect(frames(10, FEW_PITS, 2, first_stamp=50))
            count = sum(len(a.decisions) for a in shifted)
            alarm = client.drift_status(lambda v: v.get("decisions") == str(count))
            assert alarm["state"] == "alarm" and alarm["_level"] == DiagnosticStatus.WARN, alarm
            assert float(alarm["score"]) > 0.25
            assert float(alarm["window_share_pit"]) < float(alarm["reference_share_pit"])
            assert "ALARM" in alarm["_message"] and "(ref " in alarm["_message"]
        finally:
            client.close()
        assert process.poll() is None, process_output(log)


def test_the_recorder_records_shadow_decisions_beside_the_live_ones(
    tmp_path, models_dir, ros_domain
):
    pitty_id = model_id(models_dir / "pitty")
    namespace = "rec"
    node = f"/{namespace}/classifier"
    output = tmp_path / "recorded"
    launched = launch_commands(namespace=namespace, record="true", record_output=str(output))
    (command,) = [command for entry, command in launched if entry.executable == "recorder_node"]
    topics = {name: f"{node}/{name}" for name in ("decisions", "shadow_decisions")}
    log = tmp_path / f"classifier_{namespace}.log"
    with start(tmp_path, models_dir, namespace, ros_domain, shadow_model_path="pitty") as process:
        client = ShadowClient(namespace, ros_domain)
        recording: dict[str, str] = {}
        client.node.create_subscription(
            DiagnosticArray,
            "/diagnostics",
            lambda array: [
                recording.update({kv.key: kv.value for kv in status.values})
                for status in array.status
                if status.name == f"/{namespace}/cherry_recorder: recording"
            ],
            10,
        )
        image_topic = client.images.topic_name

        def recorder_ready() -> bool:
            """The recorder subscribed to both decision topics (seen in the graph) and holds a
            reliable reader matched to our image publisher."""
            return (
                all(f"{t} written" in recording for t in topics.values())
                and all(client.node.get_subscriptions_info_by_topic(t) for t in topics.values())
                and recording.get(f"{image_topic} reliability") == "reliable"
                and int(recording.get(f"{image_topic} matched publishers", 0)) >= 1
            )

        try:
            client.wait(lambda: client.promote.service_is_ready() and client.model_infos, "node")
            client.settle()
            client.shadow_status(lambda v: v.get("shadow_model_id") == pitty_id)
            with ros_process(command, tmp_path / "recorder.log", ROS_DOMAIN_ID=str(ros_domain)):
                client.wait(recorder_ready, "the recorder's subscriptions")
                sent = frames(3, VALIDATION_LIKE, seed=5, first_stamp=500)
                client.send_and_collect(sent)
                client.wait(lambda: len(client.shadow_decisions) >= len(sent), "shadow arrays")
                client.wait(
                    lambda: all(
                        recording.get(f"{t} written") == str(len(sent)) for t in topics.values()
                    ),
                    "the recorder to write both decision topics",
                )
        finally:
            client.close()
        assert process.poll() is None, process_output(log)
    summary = bag_summary(output)
    assert summary.topics[topics["shadow_decisions"]][1] == len(sent)
    assert summary.topics[topics["decisions"]][1] == len(sent)
    recorded = [decode(m) for m in iter_messages(output, [topics["shadow_decisions"]])]
    assert {a.model_id for a in recorded} == {pitty_id}
    assert sorted(a.header.stamp.sec for a in recorded) == [500, 501, 502]

    # cherry-eval on the recorded shift: agreement from the two recorded topics, equal to the
    # count from the arrays this client received.
    confusion = np.zeros((3, 3), np.int64)
    shadow_by_stamp = {stamp_key(a): a for a in client.shadow_decisions}
    for live in client.decisions:
        np.add.at(confusion, (labels(live), labels(shadow_by_stamp[stamp_key(live)])), 1)
    out = tmp_path / "eval"
    assert cherry_eval([str(output), "--model", "default", "--out", str(out)]) == 0
    report = json.loads((out / "shadow_agreement.json").read_text())
    (comparison,) = report["comparisons"]
    assert comparison["live_model_id"] == LIVE_ID and comparison["shadow_model_id"] == pitty_id
    assert comparison["frames"] == len(sent) and report["live_frames_without_shadow"] == 0
    assert comparison["confusion"] == confusion.tolist()
    assert comparison["pit_disagreements"] == int(confusion[2, 0] + confusion[0, 2])


def test_under_a_flood_the_shadow_is_shed_first_and_every_live_frame_is_accounted_for(
    tmp_path, models_dir, ros_domain
):
    """Crops mode, a 4-frame queue, 300 crops sent at once: every live frame is decided or
    counted as dropped, and every decided crop is compared by the shadow or counted as skipped."""
    namespace = "flood"
    log = tmp_path / f"classifier_{namespace}.log"
    with start(
        tmp_path,
        models_dir,
        namespace,
        ros_domain,
        shadow_model_path="pitty",
        input_mode="crops",
        max_queue_frames=4,
        max_batch_size=8,
        qos_depth=1000,  # the reader's history holds the whole burst (see test_classifier_node)
    ) as process:
        client = ShadowClient(namespace, ros_domain)
        try:
            client.wait(lambda: client.promote.service_is_ready() and client.model_infos, "node")
            client.settle()
            client.shadow_status(
                lambda v: v.get("shadow_model_id") == model_id(models_dir / "pitty")
            )
            crop = render_frame(np.random.default_rng(7), num_cherries=1).image[:128, :128]
            message = image_msg(np.ascontiguousarray(crop), "bgr8", 9, "crop")
            topic = f"{client.node_name}: input {client.images.topic_name}"
            before = int(client.fresh_status(topic)["frames_received"])
            sent = 300
            for _ in range(sent):
                client.images.publish(message)
            client.images.wait_for_all_acked()  # reliable: every crop reached the node's reader
            counts: dict = {}

            def live_settled() -> bool:
                values = client.status(topic)
                if not values:
                    return False
                counts.update(
                    received=int(values["frames_received"]) - before,
                    decided=len(client.decisions),
                    dropped=int(values["frames_dropped"]),
                )
                return counts["decided"] + counts["dropped"] == counts["received"] == sent

            client.wait(live_settled, f"decided + dropped = received = {sent}", timeout=120)
            shadow = client.shadow_status(
                lambda v: (
                    v.get("pending_frames") == "0"
                    and int(v["total_crops"]) + int(v["skipped_crops"]) == counts["decided"]
                )
            )
            assert int(shadow["skipped_backlog"]) > 0, shadow  # shed under load
            compared = int(shadow["total_crops"])  # one crop a frame: one shadow array each
            client.wait(lambda: len(client.shadow_decisions) == compared, "the shadow arrays")
            assert counts["dropped"] > 0, counts  # the flood overran the live queue too
        finally:
            client.close()
        assert process.poll() is None, process_output(log)


def test_cherry_replay_reports_live_versus_shadow_agreement(tmp_path, ros_domain):
    """``cherry-replay --shadow-model`` on the bundled sample bag (15 images): the node it
    starts runs the shadow, and the report pairs every shadow answer with a live array."""
    import subprocess
    import sys

    from cherry_dev import dds_env

    out = tmp_path / "replay"
    command = [sys.executable, "-m", "cherry_classifier.live.replay", "--shadow-model", "default"]
    command += ["--speed", "3", "--out", str(out)]
    completed = subprocess.run(
        command,
        env=dds_env.localhost_env(ros_domain),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads((out / "shadow_agreement.json").read_text())
    (comparison,) = report["comparisons"]
    assert comparison["live_model_id"] == comparison["shadow_model_id"] == LIVE_ID
    assert comparison["frames"] + report["live_frames_without_shadow"] == 15
    assert comparison["frames"] > 0 and report["shadow_frames_without_live"] == 0
    assert f"shadow {LIVE_ID} vs live {LIVE_ID}" in completed.stdout
