"""Read and write rosbag2 bags (sqlite3 or mcap storage) with ``rosbags``: no rclpy, no DDS.

Bags written here are ordinary rosbag2 folders: the storage file plus ``metadata.yaml``
(version 9, type hashes as rclpy computes them, a ``custom_data`` map so rosbag2's YAML parser
always finds one), readable by ``ros2 bag info`` and ``ros2 bag play``. Messages are stored as
CDR bytes: :meth:`BagWriter.write` serialises ``rosbags`` message objects,
:meth:`BagWriter.write_raw` stores bytes as rclpy serialised them (a recorder subscribing with
``raw=True``). :func:`iter_messages` reads either storage, found from ``metadata.yaml``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from cherry_classifier.bags.typestore import build_typestore

STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
BAG_VERSION = 9  # rosbag2 metadata version written by Jazzy and later
WRITER_TAG = {"written_by": "cherry_classifier.bags"}
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
_TIME_ZERO = QosTime(0, 0)


class BagError(ValueError):
    """A bag that cannot be read or written as asked; the message says why."""


@dataclass(frozen=True)
class BagMessage:
    """One stored message: its topic, type, bag timestamp (ns) and CDR bytes."""

    topic: str
    msgtype: str
    timestamp_ns: int
    raw: bytes


def topic_qos(reliability: str = "reliable", depth: int = 10, durability: str = "volatile") -> Qos:
    """A publisher QoS profile to store as a topic's offered profile (``ros2 bag play`` uses it)."""
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=depth,
        reliability=QosReliability[reliability.upper()],
        durability=QosDurability[durability.upper()],
        deadline=_TIME_ZERO,
        lifespan=_TIME_ZERO,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=_TIME_ZERO,
        avoid_ros_namespace_conventions=False,
    )


class BagWriter:
    """Context manager writing one new rosbag2 bag folder (it must not exist yet).

    >>> with BagWriter(path, storage="mcap") as bag:
    ...     bag.add_topic("/line1/image", "sensor_msgs/msg/Image")
    ...     bag.write("/line1/image", stamp_ns, image_message)
    """

    def __init__(
        self,
        path: str | Path,
        storage: str = "sqlite3",
        custom_data: dict[str, str] | None = None,
    ) -> None:
        if storage not in STORAGES:
            raise BagError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already; bags are never overwritten")
        self.storage = storage
        self.typestore = build_typestore()
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        for key, value in {**WRITER_TAG, **(custom_data or {})}.items():
            self._writer.set_custom_data(key, str(value))
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._writer.close()  # also on errors: what was written stays readable

    def add_topic(self, topic: str, msgtype: str, qos: Qos | Sequence[Qos] | None = None) -> None:
        """Declare ``topic`` with ``msgtype`` (e.g. "sensor_msgs/msg/Image"); once per topic."""
        if topic in self._connections:
            known = self._connections[topic].msgtype
            if known != msgtype:
                raise BagError(f"topic {topic} is already in the bag as {known}, not {msgtype}")
            return
        if msgtype not in self.typestore.types:
            raise BagError(f"unknown message type {msgtype!r} (not in the typestore)")
        profiles = [qos] if isinstance(qos, Qos) else list(qos or [topic_qos()])
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=self.typestore, offered_qos_profiles=profiles
        )

    def write(self, topic: str, timestamp_ns: int, message: Any) -> None:
        """Serialise a ``rosbags`` message object (see :mod:`.messages`) and store it."""
        connection = self._connection(topic)
        raw = self.typestore.serialize_cdr(message, connection.msgtype)
        self._writer.write(connection, int(timestamp_ns), raw)

    def write_raw(self, topic: str, msgtype: str, timestamp_ns: int, raw: bytes) -> None:
        """Store CDR bytes as they are (e.g. from an rclpy subscription with ``raw=True``)."""
        self.add_topic(topic, msgtype)
        self._writer.write(self._connections[topic], int(timestamp_ns), bytes(raw))

    def _connection(self, topic: str) -> Any:
        try:
            return self._connections[topic]
        except KeyError:
            raise BagError(f"topic {topic} was not added to the bag (add_topic first)") from None


def iter_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """The bag's messages (all, or those of ``topics``) by timestamp; ties by topic name.

    Works for sqlite3 and mcap bags alike (the storage is read from ``metadata.yaml``).
    """
    wanted = None if topics is None else set(topics)
    with _open_reader(path) as reader:
        connections = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if not connections:
            return
        stream = (
            BagMessage(c.topic, c.msgtype, int(t), bytes(raw))
            for c, t, raw in reader.messages(connections=connections)
        )
        # The storages return timestamp order; sort equal stamps by topic for determinism.
        for _, group in itertools.groupby(stream, key=lambda m: m.timestamp_ns):
            yield from sorted(group, key=lambda m: m.topic)


def merge_messages(*streams: Iterable[BagMessage]) -> Iterator[BagMessage]:
    """Several timestamp-ordered message streams as one (e.g. several bags)."""
    return heapq.merge(*streams, key=lambda m: (m.timestamp_ns, m.topic))


def decode(message: BagMessage) -> Any:
    """The ``rosbags`` message object of a stored message."""
    try:
        return build_typestore().deserialize_cdr(message.raw, message.msgtype)
    except KeyError:
        raise BagError(f"unknown message type {message.msgtype!r} on {message.topic}") from None


@dataclass(frozen=True)
class BagSummary:
    """What ``ros2 bag info`` shows: storage, time span, and per topic its type and count."""

    path: Path
    storage: str
    start_ns: int  # first message's bag timestamp
    end_ns: int  # last message's bag timestamp
    message_count: int
    topics: dict[str, tuple[str, int]]  # topic -> (msgtype, message count)

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "storage": self.storage,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "duration_s": self.duration_s,
            "message_count": self.message_count,
            "topics": {t: {"type": m, "count": n} for t, (m, n) in self.topics.items()},
        }


def bag_summary(path: str | Path) -> BagSummary:
    """Storage, time span, message count and topics of a bag."""
    with _open_reader(path) as reader:
        count = reader.message_count
        return BagSummary(
            path=Path(path),
            storage=storage_of(path),
            start_ns=reader.start_time if count else 0,
            end_ns=reader.end_time - 1 if count else 0,  # rosbags: one past the last
            message_count=count,
            topics={
                topic: (info.msgtype or "", info.msgcount)
                for topic, info in sorted(reader.topics.items())
            },
        )


def storage_of(path: str | Path) -> str:
    """The bag's storage ("sqlite3" or "mcap") as its ``metadata.yaml`` names it."""
    info = _metadata(path)
    return str(info.get("storage_identifier", ""))


def image_topics(path: str | Path) -> dict[str, str]:
    """Topics carrying Image or CompressedImage messages, with their types."""
    return {t: m for t, (m, _) in bag_summary(path).topics.items() if m in IMAGE_TYPES}


def _metadata(path: str | Path) -> dict[str, Any]:
    metadata = Path(path) / "metadata.yaml"
    if not metadata.is_file():
        raise BagError(f"{path} is not a rosbag2 bag folder (no metadata.yaml)")
    try:
        data = yaml.safe_load(metadata.read_text())
        return dict(data["rosbag2_bagfile_information"])
    except (yaml.YAMLError, KeyError, TypeError) as error:
        raise BagError(f"{metadata}: unreadable metadata ({error})") from None


def _open_reader(path: str | Path) -> Reader:
    _metadata(path)  # a clear error for folders that are not bags
    try:
        return Reader(Path(path))
    except Exception as error:  # rosbags raises its own ReaderError and OSErrors
        raise BagError(f"cannot read bag {path}: {error}") from None
