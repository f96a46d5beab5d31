"""Live replay: a bag's images into a running classifier node, its decisions back as records.

The images (in layers mode one mono topic per layer, in image_set mode the line camera's
``ImageSetHdr``) are published as the bag holds them (the recorded CDR bytes, headers untouched)
at the recorded pace times ``speed``; every ``CherryDecisionArray`` the node publishes is joined
back to the image (or joined layer set, or image set) it came from by the key the node decides
it under (:func:`cherry_classifier.bags.inputs.decision_keys`), to the bag's labels by region
(the same rule as offline evaluation) and turned into
:class:`~cherry_classifier.evaluation.records.CherryRecord`\\ s with their end-to-end latency
(publish to receipt). Images that got no decisions by the end are reported as lost: the node
dropped them (see its ``/diagnostics``) or they never arrived.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cherry_classifier import cli
from cherry_classifier.bags.inputs import (
    InputSettings,
    choose_topics,
    decision_keys,
    frames_over_mono_warning,
    input_topics,
    node_params,
)
from cherry_classifier.bags.io import iter_messages
from cherry_classifier.bags.labels import LABELS_TOPIC, read_labels
from cherry_classifier.bags.messages import stamp_ns
from cherry_classifier.bags.thresholds import (
    PARAMS,
    ChosenThresholds,
    choose_thresholds,
    parse_thresholds,
)
from cherry_classifier.core.decision import LABEL_NAMES, Thresholds
from cherry_classifier.evaluation.records import RecordSet, frame_records
from cherry_classifier.imaging.pipeline import INPUT_MODES
from cherry_classifier.live.node_start import (
    NodeStartError,
    limit_discovery_to_localhost,
    node_start,
    package_params_file,
    parameter_arguments,
    running_node,
)
from cherry_classifier.live.waiting import wait_until

if TYPE_CHECKING:  # ROS is imported where it runs: the command line (build_parser) needs none
    from cherry_classifier_msgs.msg import CherryDecisionArray, ModelInfo
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node

Key = tuple[str, int]  # (source topic, header stamp ns)
ACK_TIMEOUT_S = 10.0  # longest wait for the node's reader to acknowledge one message


@dataclass
class ReplayOutcome:
    """What a live replay sent, what came back, and the records made of it."""

    records: RecordSet
    sent: int
    decided: int
    lost: list[Key] = field(default_factory=list)
    frame_latencies_s: list[float] = field(default_factory=list)
    model_ids: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    unjoinable: int = 0  # messages the node decides nothing for (an incomplete layer set ...)

    def summary(self) -> dict[str, Any]:
        latencies = np.asarray(self.frame_latencies_s, float)
        percentiles = (
            {f"p{q}": float(np.percentile(latencies, q)) for q in (50, 90, 99)}
            if latencies.size
            else {}
        )
        return {
            "images_sent": self.sent,
            "images_decided": self.decided,
            "images_lost": len(self.lost),
            "messages_never_decidable": self.unjoinable,
            "model_ids": self.model_ids,
            "latency_s": percentiles,
            "wall_s": self.wall_s,
        }


def rclpy_message_class(msgtype: str) -> type:
    """``sensor_msgs/msg/Image`` -> the rclpy message class."""
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def stamp_key(source_topic: str, header: Any) -> Key:
    return source_topic, stamp_ns(header)


class LiveReplay:
    """Publishes a bag's image topics to a running node and collects its decision arrays.

    ``node``: an rclpy node of the caller (spun here); ``settings``: the node's input mode,
    the bag topics to send (published under the same names) and its layer settings (default:
    frames mode on ``topics``, default every image topic); ``node_name``: the classifier node
    (its ``~/decisions`` and ``~/model_info`` are read). ``speed``: 1 replays at the recorded
    pace, 2 twice as fast, 0 as fast as possible.
    """

    def __init__(
        self,
        node: Node,
        bag_path: str | Path,
        topics: Sequence[str] | None = None,
        speed: float = 1.0,
        node_name: str = "/classifier",
        labels_topic: str = LABELS_TOPIC,
        depth: int = 100,
        settings: InputSettings | None = None,
    ) -> None:
        from cherry_classifier_msgs.msg import CherryDecisionArray, ModelInfo
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.node = node
        self.bag_path = Path(bag_path)
        if settings is None:
            images = input_topics(self.bag_path, "frames")
            settings = InputSettings("frames", tuple(topics or sorted(images)))
        self.speed = speed
        self.labels = read_labels(self.bag_path, labels_topic)
        self._executor = SingleThreadedExecutor(context=node.context)
        self._executor.add_node(node)
        self._qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        self._publishers: dict[str, Any] = {}
        self.use_settings(settings)
        qos = self._qos
        self._arrays: list[tuple[CherryDecisionArray, float]] = []
        self._on_array: Callable[[CherryDecisionArray], None] | None = None
        self._infos: list[ModelInfo] = []
        self.exit_check: Callable[[], bool] = lambda: False  # True: the node process is gone
        node.create_subscription(CherryDecisionArray, f"{node_name}/decisions", self._receive, qos)
        self.shadow_arrays: list[CherryDecisionArray] = []  # a shadow model's, if it runs one
        self._shadow_status: dict[str, str] = {}
        node.create_subscription(
            CherryDecisionArray, f"{node_name}/shadow_decisions", self.shadow_arrays.append, qos
        )
        latched = QoSProfile(
            depth=1,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
            reliability=ReliabilityPolicy.RELIABLE,
        )
        node.create_subscription(ModelInfo, f"{node_name}/model_info", self._infos.append, latched)
        self.node_name = node_name
        self._matched: dict[str, int] = {}  # the node's own count of our publishers, per topic
        node.create_subscription(DiagnosticArray, "/diagnostics", self._diagnostics, 10)

    def use_settings(self, settings: InputSettings) -> None:
        """Send the bag's ``settings.topics`` as the node reads them in its input mode."""
        available = input_topics(self.bag_path, settings.input_mode)
        missing = [topic for topic in settings.topics if topic not in available]
        if missing:
            raise ValueError(
                f"{self.bag_path} has no {settings.input_mode} mode topic(s) {missing}: "
                f"{sorted(available)}"
            )
        for topic in list(self._publishers):
            if topic not in settings.topics:
                self.node.destroy_publisher(self._publishers.pop(topic))
        for topic in settings.topics:
            if topic not in self._publishers:
                message_class = rclpy_message_class(available[topic])
                self._publishers[topic] = self.node.create_publisher(
                    message_class, topic, self._qos
                )
        self.settings, self.topics = settings, list(settings.topics)

    def _diagnostics(self, array: DiagnosticArray) -> None:
        prefix = f"{self.node_name}: input "
        for status in array.status:
            if status.name == f"{self.node_name}: shadow":
                self._shadow_status = {kv.key: kv.value for kv in status.values}
            if status.name.startswith(prefix):
                values = {kv.key: kv.value for kv in status.values}
                self._matched[status.name.removeprefix(prefix)] = int(
                    values.get("matched_publishers", 0)
                )

    def _receive(self, array: CherryDecisionArray) -> None:
        self._arrays.append((array, time.monotonic()))
        if self._on_array is not None:
            self._on_array(array)

    def wait_for_shadow(self, timeout_s: float = 30.0) -> bool:
        """After :meth:`run`: wait until the node's shadow holds no frame and every frame it
        compared has reached us (its ``<node>: shadow`` status, read afresh); False on timeout
        (the figures then cover what came)."""
        self._shadow_status = {}

        def done() -> bool:
            status = self._shadow_status
            return bool(status) and (
                "shadow_model_id" not in status  # no shadow
                or (
                    status.get("pending_frames") == "0"
                    and len(self.shadow_arrays) >= int(status.get("frames_compared", 0))
                )
            )

        try:
            wait_until(done, timeout_s, self.spin_once, "the shadow model's last frames")
        except TimeoutError:
            return False
        return True

    def live_arrays(self) -> list[CherryDecisionArray]:
        return [array for array, _ in self._arrays]

    def spin_once(self, timeout_s: float = 0.01) -> None:
        self._executor.spin_once(timeout_sec=timeout_s)

    def close(self) -> None:
        """Stop spinning the node (the caller destroys it)."""
        self._executor.remove_node(self.node)
        self._executor.shutdown()

    def model_info(self, timeout_s: float = 120.0) -> ModelInfo:
        """The node's latched ModelInfo (what it runs), once it is up."""
        wait_until(
            lambda: bool(self._infos) or self.exit_check(),
            timeout_s,
            self.spin_once,
            "the classifier's model_info",
        )
        if not self._infos:
            raise RuntimeError("the classifier node exited before it published its model_info")
        return self._infos[-1]

    def wait_for_node(self, timeout_s: float = 60.0) -> None:
        """Until the node receives from every image topic: its ``/diagnostics`` report a matched
        publisher on each (both ends of discovery done: a volatile reader skips what a writer
        sent before it matched), and each of our publishers sees a subscriber."""
        wait_until(
            lambda: (
                all(p.get_subscription_count() > 0 for p in self._publishers.values())
                and all(self._matched.get(topic, 0) > 0 for topic in self.topics)
            ),
            timeout_s,
            self.spin_once,
            f"{self.node_name} to match our publishers on {', '.join(self.topics)}",
        )

    def run(
        self,
        on_array: Callable[[CherryDecisionArray], None] | None = None,
        drain_timeout_s: float = 30.0,
        keys: Sequence[Key | None] | None = None,
    ) -> ReplayOutcome:
        """Publish every message, wait until each image (layer set, image set) has decisions (or
        ``drain_timeout_s`` of silence), and return the records; ``on_array`` sees each decision
        array on arrival; ``keys``: :func:`decision_keys` of the bag, if already computed."""
        from rclpy.duration import Duration

        if keys is None:
            keys = decision_keys(self.bag_path, self.settings)  # a first pass: headers only
        self._on_array = on_array
        self._arrays.clear()
        sent_at: dict[Key, float] = {}
        unjoinable = 0
        started = time.monotonic()
        first_ns: int | None = None
        messages = iter_messages(self.bag_path, self.topics)
        for message, key in zip(messages, keys, strict=True):
            first_ns = message.timestamp_ns if first_ns is None else first_ns
            if self.speed > 0:
                due = started + (message.timestamp_ns - first_ns) * 1e-9 / self.speed
                while time.monotonic() < due:
                    self.spin_once(min(0.01, max(0.0, due - time.monotonic())))
            if key is None:
                unjoinable += 1
            else:
                sent_at.setdefault(key, time.monotonic())  # layers: the first layer of the set
            publisher = self._publishers[message.topic]
            publisher.publish(message.raw)
            # One message at a time, as a camera sends: sent as a burst, a real trigger's three
            # 1.2 MB layers reached the node up to 1.4 s apart, past its layer_timeout_ms, and
            # the set was never joined (docs/bags.md).
            publisher.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))
            self.spin_once(0.0)
        self._drain(set(sent_at), drain_timeout_s)
        outcome = self._outcome(sent_at)
        outcome.unjoinable = unjoinable
        outcome.wall_s = time.monotonic() - started
        self._on_array = None
        return outcome

    def _drain(self, expected: set[Key], timeout_s: float) -> None:
        last_count, quiet_since = -1, time.monotonic()
        while True:
            decided = {stamp_key(a.source_topic, a.header) for a, _ in self._arrays}
            if expected <= decided:
                return
            if len(self._arrays) != last_count:
                last_count, quiet_since = len(self._arrays), time.monotonic()
            elif time.monotonic() - quiet_since > timeout_s:
                return
            self.spin_once(0.05)

    def _outcome(self, sent_at: dict[Key, float]) -> ReplayOutcome:
        class_names = next(
            (tuple(d.class_names) for a, _ in self._arrays for d in a.decisions),
            LABEL_NAMES,  # no cherry decided at all: the label codes' names
        )
        result = RecordSet(class_names)
        latencies, model_ids, decided = [], [], set()
        for array, received in self._arrays:
            key = stamp_key(array.source_topic, array.header)
            if key not in sent_at or key in decided:
                continue  # someone else's image, or a duplicate (counted nowhere)
            decided.add(key)
            latency = received - sent_at[key]
            latencies.append(latency)
            if array.model_id not in model_ids:
                model_ids.append(array.model_id)
            frame_records(
                result,
                source_topic=array.source_topic,
                stamp_ns=key[1],
                frame_id=array.header.frame_id,
                regions=[_box(d.region) for d in array.decisions],
                probabilities=np.asarray(
                    [d.probabilities for d in array.decisions], np.float32
                ).reshape(len(array.decisions), len(class_names)),
                decided=np.asarray([d.label for d in array.decisions], np.int64),
                frame_labels=self._labels_for(array.source_topic, key[1]),
                model_id=array.model_id,
                latency_s=latency,
                fail_safe=[d.fail_safe for d in array.decisions],
            )
        result.model_id = model_ids[0] if model_ids else ""
        result.meta = {
            "bag": str(self.bag_path),
            "input_mode": self.settings.input_mode,
            "image_topics": self.topics,
            "live": True,
        }
        used = {
            (a.pit_threshold, a.maybe_threshold, a.clean_threshold, a.thresholds_version)
            for a, _ in self._arrays
        }
        if len(used) == 1:  # else they changed during the run: each array says its own
            ((pit, maybe, clean, version),) = used
            exact = (round(float(value), 6) for value in (pit, maybe, clean))  # float32 fields
            result.meta["thresholds"] = Thresholds(*exact).to_dict()
            result.meta["thresholds_version"] = version
        lost = sorted(set(sent_at) - decided)
        return ReplayOutcome(result, len(sent_at), len(decided), lost, latencies, model_ids)

    def node_parameters(self, names: Sequence[str], timeout_s: float = 30.0) -> dict[str, Any]:
        """The running node's values of ``names`` (None for one it does not have)."""
        from rclpy.parameter import parameter_value_to_python
        from rclpy.parameter_client import AsyncParameterClient

        client = AsyncParameterClient(self.node, self.node_name)
        wait_until(
            lambda: client.services_are_ready() or self.exit_check(),
            timeout_s,
            self.spin_once,
            f"{self.node_name}'s parameter services",
        )
        future = client.get_parameters(list(names))
        wait_until(future.done, timeout_s, self.spin_once, f"{self.node_name}'s parameters")
        values = [parameter_value_to_python(v) for v in future.result().values]
        return dict(zip(names, values, strict=True))

    def _labels_for(self, source_topic: str, stamp: int) -> list | None:
        for key in (source_topic, *source_topic.split(",")):
            found = self.labels.get((key, stamp))
            if found is not None:
                return found
        return None


def _box(region: Any) -> tuple[int, int, int, int]:
    return int(region.x_offset), int(region.y_offset), int(region.width), int(region.height)


# -- command line: cherry-replay -----------------------------------------------------------------
SETTING_PARAMETERS = (  # what the node makes of a bag, read from a running node with --attach
    "input_mode",
    "image_topics",
    "layer_names",
    "layer_offsets_px",
    "layer_sync_tolerance_ms",
    "layer_timeout_ms",
    "encoder_px_per_count",
)


def default_sample_bag() -> Path:
    """The bundled sample bag: installed with the package, or in the source tree."""
    from cherry_classifier.core.model_paths import package_share_dir

    return package_share_dir() / "data" / "sample_bag"


def build_parser() -> argparse.ArgumentParser:
    """``cherry-replay``'s command line (:mod:`cherry_classifier.cli` convention)."""
    parser = cli.tool_parser(
        "cherry-replay",
        "Replay a bag's images into the classifier node, live over DDS, and write the\n"
        "evaluation report (decisions joined to the bag's labels, latency, drops) and the\n"
        "per-decision records (cherry-eval --records rescores them).",
    )
    parser.add_argument(
        "bag", nargs="?", type=Path, help="rosbag2 folder (None: the bundled sample bag)"
    )
    cli.add_model(parser, "model for the node (None: the params file's model_path)")
    cli.add_renamed(parser, "--model-path", "model")
    cli.add_params_file(parser, "node parameters file (None: the package's)")
    parser.add_argument("--speed", type=float, default=1.0, help="x recorded pace (0: flat out)")
    parser.add_argument(
        "--input-mode",
        choices=INPUT_MODES,
        help="the node's input mode (None: the params file's input_mode; with --attach: the "
        "node's)",
    )
    cli.add_topics(
        parser,
        "bag topics to send (layers: in layer order; None: the params file's image_topics "
        "found in the bag, else every image topic, or the one image set topic)",
    )
    cli.add_thresholds(
        parser,
        parse_thresholds,
        "thresholds the node starts with: model: the model's own; params: the params file's; "
        "or pit,maybe,clean (None: params with a --params-file, else model; not with --attach)",
    )
    cli.add_out(parser, "report folder", default=Path("log/replay"))
    parser.add_argument(
        "--attach",
        action="store_true",
        help="send to an already running node (its image_topics must be the bag's topics)",
    )
    parser.add_argument("--node", default="/classifier", help="the node's name (with --attach)")
    parser.add_argument(
        "--localhost-only",
        action="store_true",
        help="keep DDS discovery on this host (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, for "
        "this tool and the node it starts); without it: the range the environment sets",
    )
    parser.add_argument(
        "--shadow-model",
        default="",
        help="also run this model as the node's shadow (not with --attach: an attached node's "
        "shadow is reported when it runs one) and report live-vs-shadow agreement",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="seconds without a decision after the last image before the rest count as lost",
    )
    return parser


def node_overrides(bag: Path, topics: Sequence[str], input_mode: str = "frames") -> list[str]:
    """``-p`` arguments that point a freshly started node at the bag's topics."""
    return parameter_arguments(node_parameters(bag, topics, input_mode))


def node_parameters(
    bag: Path,
    topics: Sequence[str],
    input_mode: str = "frames",
    thresholds: Thresholds | None = None,
) -> dict[str, Any]:
    """The parameters that point a freshly started node at the bag's topics in ``input_mode``
    (and set ``thresholds`` when given)."""
    available = input_topics(bag, input_mode)
    missing = sorted(set(topics) - set(available))
    if missing:
        raise ValueError(f"{bag} has no {input_mode} mode topic(s) {missing}: {sorted(available)}")
    types = {available[topic] for topic in topics}
    if len(types) > 1:
        raise ValueError(f"one node takes one transport; the topics mix {sorted(types)}")
    # Only what the bag decides; QoS stays the params file's (reliable, as the line camera).
    parameters: dict[str, Any] = {"input_mode": input_mode, "image_topics": list(topics)}
    if input_mode != "image_set":
        compressed = types == {"sensor_msgs/msg/CompressedImage"}
        parameters["image_transport"] = "compressed" if compressed else "raw"
    if thresholds is not None:
        parameters.update(thresholds.to_dict())
    return parameters


def model_thresholds(model: str, params: dict[str, Any]) -> Thresholds:
    """The tuned thresholds of the model the node will load (its bundle's manifest)."""
    import yaml

    from cherry_classifier.core.model_paths import default_models_dir
    from cherry_classifier.core.model_store import ModelStore

    models_dir = params.get("models_dir") or default_models_dir()
    store = ModelStore.searching(search_path=(Path.cwd(), Path(models_dir)))
    path = store.resolve(model)
    manifest = path / "manifest.yaml"
    if manifest.is_file():
        data = yaml.safe_load(manifest.read_text()) or {}
        return Thresholds(**data["thresholds"]).validated()
    return store.load(model).manifest.thresholds  # a single weights file: load it


def replay_settings(args: argparse.Namespace) -> tuple[InputSettings, ChosenThresholds | None]:
    """The node's input settings on this bag and, for a node started here, the thresholds."""
    params_file = args.params_file or package_params_file()
    params = node_params(params_file)
    input_mode = args.input_mode or params.get("input_mode", "frames")
    layer_names = params.get("layer_names") or InputSettings().layer_names
    topics = choose_topics(
        args.bag, input_mode, args.topics, params.get("image_topics", ()), layer_names
    )
    settings = InputSettings.from_params(params, input_mode, topics)
    model = args.model or params.get("model_path") or "default"
    chosen = choose_thresholds(
        args.thresholds,
        args.params_file or (params_file if args.thresholds == PARAMS else None),
        params,
        lambda: model_thresholds(model, params),
        model,
    )
    return settings, chosen


def attached_settings(replay: LiveReplay, args: argparse.Namespace) -> InputSettings:
    """The running node's input settings on this bag (its own parameters)."""
    values = replay.node_parameters(SETTING_PARAMETERS)
    params = {name: value for name, value in values.items() if value is not None}
    input_mode = args.input_mode or params.get("input_mode", "frames")
    layer_names = params.get("layer_names") or InputSettings().layer_names
    topics = choose_topics(
        args.bag, input_mode, args.topics, params.get("image_topics", ()), layer_names
    )
    return InputSettings.from_params(params, input_mode, topics)


def main(argv: Sequence[str] | None = None) -> int:
    """``cherry-replay``: see :func:`build_parser`; exits 1 when images were lost."""
    import contextlib
    import sys

    args = build_parser().parse_args(argv)
    if args.localhost_only:  # else the environment's discovery range and domain id, untouched
        limit_discovery_to_localhost()
    args.bag = args.bag or default_sample_bag()
    if args.attach and args.shadow_model:
        raise SystemExit(
            "cherry-replay: --shadow-model sets the shadow of a node it starts; give an attached "
            f"node one with ros2 service call {args.node}/swap_shadow"
        )
    if args.attach and args.thresholds is not None:
        raise SystemExit(
            "cherry-replay: --thresholds sets the thresholds of a node it starts; an attached "
            f"node runs its own (ros2 param set {args.node} pit_threshold ...)"
        )
    import rclpy
    from tqdm import tqdm

    from cherry_classifier.evaluation.record_report import slug, write_report

    start, settings, chosen = None, None, None
    try:
        if not args.attach:
            settings, chosen = replay_settings(args)
            thresholds = None if chosen.source.startswith("params file") else chosen.thresholds
            parameters = node_parameters(args.bag, settings.topics, settings.input_mode, thresholds)
            if args.shadow_model:
                parameters["shadow_model_path"] = args.shadow_model
            start = node_start(
                parameters,
                args.out,
                args.model or "",
                str(args.params_file or ""),
            )
    except (OSError, ValueError, NodeStartError) as error:  # say so, no trace
        raise SystemExit(f"cherry-replay: {error}") from error
    rclpy.init()
    node = rclpy.create_node("cherry_replay")
    log_path = args.out / "classifier.log"
    args.out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        # attached: nothing to send until the node's own settings are read
        replay = LiveReplay(
            node, args.bag, node_name=args.node, settings=settings or InputSettings()
        )
        if start is not None:
            print(f"starting the classifier node with {start.how} (log: {log_path})")
            process = stack.enter_context(running_node(start.command, log_path))
            replay.exit_check = lambda: process.poll() is not None
        info = replay.model_info()
        if settings is None:
            try:
                settings = attached_settings(replay, args)
                replay.use_settings(settings)
            except ValueError as error:
                raise SystemExit(f"cherry-replay: {error}") from error
        print(describe_model(info))
        source = chosen.source if chosen is not None else f"the running node {args.node}"
        print(
            f"{settings.input_mode} mode on {', '.join(settings.topics)}; thresholds from {source}"
        )
        warning = frames_over_mono_warning(args.bag, settings)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        replay.wait_for_node()
        keys = decision_keys(args.bag, settings)
        total = len(set(filter(None, keys)))
        with tqdm(total=total, unit="image", desc="decisions") as progress:

            def show(array: CherryDecisionArray) -> None:
                progress.set_postfix_str(verdict_line(array), refresh=False)
                progress.update()

            outcome = replay.run(show, args.drain_timeout, keys)
        shadow = None
        if args.shadow_model or replay.shadow_arrays:
            from cherry_classifier.bags.shadow_agreement import compare_arrays

            if not replay.wait_for_shadow(args.drain_timeout):
                print(
                    "warning: the shadow model had not finished; partial figures", file=sys.stderr
                )
            shadow = compare_arrays(args.node, replay.live_arrays(), replay.shadow_arrays)
    records = outcome.records
    records.meta["thresholds_source"] = source
    records.meta["backend"] = info.backend  # what the node ran (auto: the variant it chose)
    if warning:
        records.meta["warnings"] = [warning]
    label = f"{records.model_id or 'no model'} (live)"
    md_path, json_path = write_report(
        {label: records},
        args.out,
        drops={label: len(outcome.lost)},
        title=f"Live replay of {args.bag.name}",
    )
    records_path = args.out / f"records_{slug(label)}.jsonl"
    records.save(records_path)
    print_verdict(outcome, info)
    if shadow is not None:
        print()
        for line in shadow.lines():
            print(line)
        print(f"shadow agreement: {shadow.write(args.out)}")
    print(f"\nreport: {md_path} (machine-readable: {json_path}; records: {records_path})")
    replay.close()
    node.destroy_node()
    rclpy.try_shutdown()
    if outcome.unjoinable:
        print(
            f"{outcome.unjoinable} messages could not be decided (a layer set never completed, "
            "an image set without its reference layer)",
            file=sys.stderr,
        )
    if outcome.lost:
        print(f"{len(outcome.lost)} of {outcome.sent} images got no decisions", file=sys.stderr)
    return 1 if outcome.lost or not outcome.decided else 0


def describe_model(info: ModelInfo) -> str:
    if info.fail_safe or not info.model_id:
        return "model: NONE: the node publishes fail-safe decisions (see its log)"
    return (
        f"model {info.model_id}: {info.architecture} ({info.backend}), classes "
        f"{', '.join(info.class_names)}, from {info.path}; thresholds v{info.thresholds_version} "
        f"pit {info.pit_threshold:.4g} / maybe {info.maybe_threshold:.4g} / "
        f"clean {info.clean_threshold:.4g}"
    )


def verdict_line(array: CherryDecisionArray) -> str:
    counts = np.bincount([d.label for d in array.decisions], minlength=3)
    return (
        f"{array.header.frame_id or array.source_topic}: {counts[0]} clean, {counts[1]} maybe, "
        f"{counts[2]} pit"
    )


def print_verdict(outcome: ReplayOutcome, info: ModelInfo) -> None:
    """Per camera: images and decisions; against the bag's labels: the line's metrics."""
    from cherry_classifier.evaluation.record_metrics import record_metrics

    records = outcome.records
    print(
        f"\n{'camera (source topic)':<34}{'cherries':>9}{'clean':>7}{'maybe':>7}{'pit':>5}"
        f"{'labelled':>10}"
    )
    for topic in [*records.source_topics, None]:
        subset = records if topic is None else records.subset(topic)
        metrics = record_metrics(subset)
        decided = metrics["decided"]
        print(
            f"{topic or 'all':<34}{metrics['decisions']:>9}{decided['clean']:>7}"
            f"{decided['maybe']:>7}{decided['pit']:>5}{metrics['labelled']:>10}"
        )
    overall = record_metrics(records)
    if overall["labelled"]:
        print(
            f"\nagainst the labels: pit recall (PIT or MAYBE) {overall['pit_recall']:.3f}, "
            f"strict (PIT) {overall['pit_recall_strict']:.3f}, clean yield "
            f"{overall['clean_yield']:.3f}, maybe rate {overall['maybe_rate']:.3f}, "
            f"labelled cherries not found {sum(overall['missed_labels'].values())}"
        )
    else:
        from cherry_classifier.evaluation.shift_report import labels_missing_message

        print(f"\n{labels_missing_message(records)}")
    summary = outcome.summary()
    latency = summary["latency_s"]
    timing = (
        f"latency p50 {latency['p50'] * 1e3:.0f} ms, p99 {latency['p99'] * 1e3:.0f} ms"
        if latency
        else "no latency"
    )
    print(
        f"{outcome.decided}/{outcome.sent} images decided by model "
        f"{', '.join(outcome.model_ids) or 'none'} ({timing}; {len(outcome.lost)} lost)"
    )


if __name__ == "__main__":
    import sys

    sys.exit(main())
