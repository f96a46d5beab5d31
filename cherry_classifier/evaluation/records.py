"""Per-cherry records: what offline evaluation and live recording both produce, and re-score.

A :class:`CherryRecord` is one decision (one cherry in one source image) with its calibrated
probabilities, so metrics and threshold sweeps can be recomputed without the model. A
:class:`RecordSet` holds one model's records on one bag (or one live run), plus the labels no
decision took (:class:`MissedLabel`: cherries the localizer did not find).

Saved as JSON lines (``.jsonl``: a header line, then one line per record or missed label) or
NumPy ``.npz`` (columns), chosen by the file suffix; both load back equal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.core.decision import LABEL_NAMES
from cherry_classifier.evaluation.labels import Label, match_decisions_to_labels
from cherry_classifier.imaging.localizer import region_box

FORMAT = "cherry_classifier.records/1"
Box = tuple[int, int, int, int]


@dataclass
class CherryRecord:
    """One decision on one cherry.

    ``region``: the cherry's box (x, y, width, height) in the source image, as the node
    publishes it (crops mode: the whole image).
    ``label``: the decision (CLEAN, MAYBE, PIT); ``truth``: the labelled class or None.
    """

    source_topic: str
    stamp_ns: int
    frame_id: str
    region: Box
    probabilities: np.ndarray  # (C,) float32 in the RecordSet's class_names order
    label: int
    truth: int | None = None
    model_id: str = ""
    latency_s: float | None = None
    index: int = 0  # the cherry's index within its source image
    fail_safe: bool = False

    def __post_init__(self) -> None:
        self.region = tuple(int(v) for v in self.region)  # type: ignore[assignment]
        self.probabilities = np.asarray(self.probabilities, np.float32)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CherryRecord):
            return NotImplemented
        mine, theirs = _plain(self), _plain(other)
        return mine == theirs

    def to_json(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class MissedLabel:
    """A labelled cherry that no decision took (not found, or too far from every crop)."""

    source_topic: str
    stamp_ns: int
    frame_id: str
    region: Box
    truth: int

    def to_json(self) -> dict[str, Any]:
        return {
            "source_topic": self.source_topic,
            "stamp_ns": int(self.stamp_ns),
            "frame_id": self.frame_id,
            "region": [int(v) for v in self.region],
            "truth": int(self.truth),
        }


@dataclass
class RecordSet:
    """One model's records on one bag or run; ``meta`` says how they were made."""

    class_names: tuple[str, ...]
    records: list[CherryRecord] = field(default_factory=list)
    missed: list[MissedLabel] = field(default_factory=list)
    model_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.class_names = tuple(self.class_names)

    def __len__(self) -> int:
        return len(self.records)

    # -- columns ------------------------------------------------------------------------------
    @property
    def probabilities(self) -> np.ndarray:
        """(N, C) float32."""
        if not self.records:
            return np.zeros((0, len(self.class_names)), np.float32)
        return np.stack([r.probabilities for r in self.records]).astype(np.float32)

    @property
    def labels(self) -> np.ndarray:
        """(N,) int64 decisions."""
        return np.asarray([r.label for r in self.records], np.int64)

    @property
    def truth(self) -> np.ndarray:
        """(N,) int64 true labels, -1 where unlabelled."""
        return np.asarray([-1 if r.truth is None else r.truth for r in self.records], np.int64)

    @property
    def source_topics(self) -> list[str]:
        return sorted(
            {r.source_topic for r in self.records} | {m.source_topic for m in self.missed}
        )

    def subset(self, source_topic: str) -> RecordSet:
        """The records and missed labels of one source topic (one camera)."""
        return RecordSet(
            self.class_names,
            [r for r in self.records if r.source_topic == source_topic],
            [m for m in self.missed if m.source_topic == source_topic],
            self.model_id,
            dict(self.meta),
        )

    @property
    def latencies(self) -> np.ndarray:
        """Latencies (s) of the records that have one."""
        return np.asarray([r.latency_s for r in self.records if r.latency_s is not None], float)

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``.jsonl`` or ``.npz`` (by suffix)."""
        path = Path(path)
        if path.suffix == ".npz":
            _save_npz(self, path)
        elif path.suffix == ".jsonl":
            lines = [json.dumps(self._header())]
            lines += [json.dumps({"record": r.to_json()}) for r in self.records]
            lines += [json.dumps({"missed": m.to_json()}) for m in self.missed]
            path.write_text("\n".join(lines) + "\n")
        else:
            raise ValueError(f"{path}: records are saved as .jsonl or .npz")
        return path

    @classmethod
    def load(cls, path: str | Path) -> RecordSet:
        path = Path(path)
        if path.suffix == ".npz":
            return _load_npz(path)
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not lines or lines[0].get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} file")
        result = cls._from_header(lines[0])
        for line in lines[1:]:
            if "record" in line:
                result.records.append(_record_from_json(line["record"]))
            elif "missed" in line:
                result.missed.append(_missed_from_json(line["missed"]))
        return result

    def _header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "class_names": list(self.class_names),
            "model_id": self.model_id,
            "meta": self.meta,
        }

    @classmethod
    def _from_header(cls, header: dict[str, Any]) -> RecordSet:
        return cls(
            tuple(header["class_names"]),
            model_id=header.get("model_id", ""),
            meta=header.get("meta") or {},
        )


def _plain(record: CherryRecord) -> dict[str, Any]:
    return {
        "source_topic": record.source_topic,
        "stamp_ns": int(record.stamp_ns),
        "frame_id": record.frame_id,
        "region": [int(v) for v in record.region],
        "probabilities": [float(p) for p in record.probabilities],
        "label": int(record.label),
        "truth": None if record.truth is None else int(record.truth),
        "model_id": record.model_id,
        "latency_s": None if record.latency_s is None else float(record.latency_s),
        "index": int(record.index),
        "fail_safe": bool(record.fail_safe),
    }


def _record_from_json(data: dict[str, Any]) -> CherryRecord:
    return CherryRecord(
        source_topic=data["source_topic"],
        stamp_ns=int(data["stamp_ns"]),
        frame_id=data.get("frame_id", ""),
        region=tuple(data["region"]),
        probabilities=np.asarray(data["probabilities"], np.float32),
        label=int(data["label"]),
        truth=data.get("truth"),
        model_id=data.get("model_id", ""),
        latency_s=data.get("latency_s"),
        index=int(data.get("index", 0)),
        fail_safe=bool(data.get("fail_safe", False)),
    )


def _missed_from_json(data: dict[str, Any]) -> MissedLabel:
    return MissedLabel(
        data["source_topic"],
        int(data["stamp_ns"]),
        data.get("frame_id", ""),
        tuple(int(v) for v in data["region"]),
        int(data["truth"]),
    )


def _save_npz(records: RecordSet, path: Path) -> None:
    rows = records.records
    np.savez_compressed(
        path,
        header=np.asarray(json.dumps(records._header())),
        source_topic=np.asarray([r.source_topic for r in rows], str),
        stamp_ns=np.asarray([r.stamp_ns for r in rows], np.int64),
        frame_id=np.asarray([r.frame_id for r in rows], str),
        region=np.asarray([r.region for r in rows], np.int64).reshape(-1, 4),
        probabilities=records.probabilities,
        label=records.labels,
        truth=records.truth,
        model_id=np.asarray([r.model_id for r in rows], str),
        latency_s=np.asarray([np.nan if r.latency_s is None else r.latency_s for r in rows]),
        index=np.asarray([r.index for r in rows], np.int64),
        fail_safe=np.asarray([r.fail_safe for r in rows], bool),
        missed=np.asarray(json.dumps([m.to_json() for m in records.missed])),
    )


def _load_npz(path: Path) -> RecordSet:
    with np.load(path, allow_pickle=False) as data:
        result = RecordSet._from_header(json.loads(str(data["header"])))
        columns = {name: data[name] for name in data.files}
    for i in range(len(columns["label"])):
        truth, latency = int(columns["truth"][i]), float(columns["latency_s"][i])
        result.records.append(
            CherryRecord(
                source_topic=str(columns["source_topic"][i]),
                stamp_ns=int(columns["stamp_ns"][i]),
                frame_id=str(columns["frame_id"][i]),
                region=tuple(int(v) for v in columns["region"][i]),
                probabilities=columns["probabilities"][i],
                label=int(columns["label"][i]),
                truth=None if truth < 0 else truth,
                model_id=str(columns["model_id"][i]),
                latency_s=None if np.isnan(latency) else latency,
                index=int(columns["index"][i]),
                fail_safe=bool(columns["fail_safe"][i]),
            )
        )
    result.missed = [_missed_from_json(m) for m in json.loads(str(columns["missed"]))]
    return result


def frame_records(
    records: RecordSet,
    *,
    source_topic: str,
    stamp_ns: int,
    frame_id: str,
    regions: Sequence[Any],
    probabilities: np.ndarray,
    decided: np.ndarray,
    frame_labels: Sequence[Label] | None = None,
    model_id: str = "",
    latency_s: float | None = None,
    fail_safe: Sequence[bool] | None = None,
    max_distance_px: float | None = None,
) -> None:
    """Append one image's decisions to ``records`` (offline and live alike).

    ``regions``: cherry boxes as (x, y, w, h) or Regions, one per decision; ``frame_labels``:
    the image's labels (None: unlabelled), matched by :func:`match_decisions_to_labels`; the
    labels no decision took are added to ``records.missed``.
    """
    boxes = [region_box(region) for region in regions]
    truth: list[int | None] = [None] * len(boxes)
    if frame_labels is not None:
        match = match_decisions_to_labels(boxes, frame_labels, max_distance_px)
        truth = match.truth
        records.missed.extend(
            MissedLabel(
                source_topic,
                stamp_ns,
                frame_id,
                frame_labels[i].region,
                frame_labels[i].label,
            )
            for i in match.missed
        )
    flags = list(fail_safe) if fail_safe is not None else [False] * len(boxes)
    for index, box in enumerate(boxes):
        records.records.append(
            CherryRecord(
                source_topic=source_topic,
                stamp_ns=int(stamp_ns),
                frame_id=str(frame_id),
                region=box,
                probabilities=probabilities[index],
                label=int(decided[index]),
                truth=truth[index],
                model_id=model_id,
                latency_s=latency_s,
                index=index,
                fail_safe=bool(flags[index]),
            )
        )


def merge(sets: Iterable[RecordSet]) -> RecordSet:
    """One RecordSet of several (same class names), e.g. the runs of one model on several bags."""
    sets = list(sets)
    if not sets:
        raise ValueError("nothing to merge")
    names = {s.class_names for s in sets}
    if len(names) != 1:
        raise ValueError(f"record sets have different class names: {sorted(names)}")
    return RecordSet(
        sets[0].class_names,
        [r for s in sets for r in s.records],
        [m for s in sets for m in s.missed],
        sets[0].model_id,
        dict(sets[0].meta),
    )


def class_codes(class_names: Sequence[str]) -> dict[int, int]:
    """Label code (CLEAN, MAYBE, PIT) -> the model's class index, for the classes it has."""
    return {
        code: list(class_names).index(n) for code, n in enumerate(LABEL_NAMES) if n in class_names
    }
