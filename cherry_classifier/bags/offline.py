"""Offline evaluation: replay a bag through the node's crop extraction and the core, no DDS.

Each image on the evaluated topics goes through :func:`decode_image` and :class:`FramePipeline`
(the node's own code path), its crops through ``classifier.predict_proba`` in batches of
``batch_size`` and the core's ``decide``. Labels recorded in the bag are joined to the images by
(source topic, header stamp) and to the decisions by region centre (see :mod:`.labels`).

Deterministic: messages are read in bag order (ties by topic), layer sets time out by bag time,
and the batches depend only on the bag, so the same bag, model and settings give the same
records, bit for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.bags.inputs import input_topics
from cherry_classifier.bags.io import BagError, decode, iter_messages
from cherry_classifier.bags.labels import LABELS_TOPIC, Label, read_labels
from cherry_classifier.bags.messages import COMPRESSED_IMAGE, stamp_ns
from cherry_classifier.core.contract import CROP_SIZE_PX
from cherry_classifier.core.decision import Thresholds, decide
from cherry_classifier.evaluation.records import RecordSet, frame_records
from cherry_classifier.imaging.image_set import join_layers, layers_of_image_set
from cherry_classifier.imaging.layers import LAYER_ORDER, PX_PER_ENCODER_COUNT
from cherry_classifier.imaging.localizer import LocalizerParams, Region
from cherry_classifier.imaging.pipeline import (
    DEFAULT_LAYER_OFFSETS_PX,
    FramePipeline,
    decode_image,
)

LOGGER = logging.getLogger(__name__)


@dataclass
class SourceFrame:
    """One image (or joined layer set) as the classifier node would receive it."""

    source: str  # the node's source_topic: the topic, or the layer topics joined by ","
    header: Any
    stamp_ns: int
    image: np.ndarray  # model channels
    label_keys: tuple[str, ...]  # topics its labels may name (layers: joined, then each layer)


@dataclass
class _FrameCrops:
    frame: SourceFrame
    crops: list[np.ndarray]
    regions: list[Region]


def iter_source_frames(
    bag_path: str | Path,
    pipeline: FramePipeline,
    topics: Sequence[str],
    refused: dict[str, int] | None = None,
    layer_names: Sequence[str] = LAYER_ORDER,
    encoder_px_per_count: float = PX_PER_ENCODER_COUNT,
) -> Iterator[SourceFrame]:
    """The images of ``topics`` (layers mode: one topic per layer, in layer order; image_set
    mode: ImageSetHdr topics, each set's ``layer_names`` aligned by their encoder counts as the
    node aligns them), decoded.

    Images that cannot be decoded are skipped, counted per topic in ``refused``, and logged.
    """
    available = input_topics(bag_path, pipeline.input_mode)
    missing = [t for t in topics if t not in available]
    if missing:
        raise BagError(
            f"{bag_path} has no {pipeline.input_mode} mode topic(s) {missing}; it has "
            f"{sorted(available)}"
        )
    layer_of = {}
    if pipeline.layer_sync is not None:
        names = pipeline.layer_sync.layer_names
        if len(topics) != len(names):
            raise ValueError(f"layers mode needs one topic per layer {names}, got {list(topics)}")
        layer_of = dict(zip(topics, names, strict=True))
    joined_source = ",".join(topics)
    image_sets = pipeline.input_mode == "image_set"
    for message in iter_messages(bag_path, topics):
        try:
            decoded = decode(message)
            if image_sets:  # the reference layer's header stands for the set, as in the node
                joined_set = join_layers(
                    *layers_of_image_set(decoded), layer_names, encoder_px_per_count
                )
                decoded, image = joined_set, joined_set.image
            else:
                image = decode_image(decoded, message.msgtype == COMPRESSED_IMAGE)
        except ValueError as error:  # ImageSetError and ImageFormatError are ValueErrors
            if refused is not None:
                refused[message.topic] = refused.get(message.topic, 0) + 1
            LOGGER.warning("refused an image on %s: %s", message.topic, error)
            continue
        if not layer_of:
            stamp = stamp_ns(decoded.header)
            yield SourceFrame(message.topic, decoded.header, stamp, image, (message.topic,))
            continue
        joined = pipeline.add_layer(
            layer_of[message.topic], decoded.header, image, now=message.timestamp_ns * 1e-9
        )
        if joined is not None:
            yield SourceFrame(
                joined_source,
                joined.header,
                stamp_ns(joined.header),
                joined.image,
                (joined_source, *topics),
            )


def evaluate_bag(
    bag_path: str | Path,
    classifier: Any,
    thresholds: Thresholds | None = None,
    input_mode: str = "frames",
    image_topics: Sequence[str] | None = None,
    crop_size: int = CROP_SIZE_PX,
    localizer_params: LocalizerParams | Mapping[str, Any] | None = None,
    batch_size: int = 32,
    labels_topic: str = LABELS_TOPIC,
    layer_names: Sequence[str] = LAYER_ORDER,
    layer_offsets_px: Sequence[int] = DEFAULT_LAYER_OFFSETS_PX,
    layer_sync_tolerance_s: float = 0.05,
    layer_timeout_s: float = 1.0,
    max_match_distance_px: float | None = None,
    encoder_px_per_count: float = PX_PER_ENCODER_COUNT,
) -> RecordSet:
    """Classify every cherry of a bag's images; one record per decision (see the module doc).

    ``classifier``: a core Classifier (``predict_proba``, ``manifest``, ``model_id``).
    ``thresholds``: default the model's own (its manifest). ``image_topics``: default every
    Image/CompressedImage topic (frames and crops mode; layers mode needs them, in layer order;
    image_set mode: the bag's ImageSetHdr topics).
    """
    thresholds = (thresholds or classifier.manifest.thresholds).validated()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if image_topics is None:
        if input_mode == "layers":
            raise ValueError("layers mode needs image_topics: one per layer, in layer order")
        image_topics = sorted(input_topics(bag_path, input_mode))
    topics = list(image_topics)
    pipeline = FramePipeline(
        input_mode,
        crop_size,
        localizer_params,
        layer_names=layer_names,
        layer_offsets_px=layer_offsets_px,
        layer_sync_tolerance_s=layer_sync_tolerance_s,
        layer_timeout_s=layer_timeout_s,
    )
    labels = read_labels(bag_path, labels_topic)
    class_names = tuple(classifier.manifest.class_names)
    result = RecordSet(class_names, model_id=classifier.model_id)
    refused: dict[str, int] = {}
    frames_seen: dict[str, int] = {}
    frame_stamps: dict[str, list[int]] = {}  # every frame, cherries or not (shift report)
    labelled_frames = 0
    pending: list[_FrameCrops] = []

    def flush() -> None:
        crops = [crop for item in pending for crop in item.crops]
        probabilities = _predict(classifier, crops, batch_size, len(class_names))
        decided = decide(probabilities, class_names, thresholds).labels
        offset = 0
        for item in pending:
            count, frame = len(item.crops), item.frame
            frame_records(
                result,
                source_topic=frame.source,
                stamp_ns=frame.stamp_ns,
                frame_id=str(frame.header.frame_id),
                regions=item.regions,
                probabilities=probabilities[offset : offset + count],
                decided=decided[offset : offset + count],
                frame_labels=_labels_for(labels, frame),
                model_id=result.model_id,
                max_distance_px=max_match_distance_px,
            )
            offset += count
        pending.clear()

    frames = iter_source_frames(
        bag_path, pipeline, topics, refused, layer_names, encoder_px_per_count
    )
    for frame in frames:
        frames_seen[frame.source] = frames_seen.get(frame.source, 0) + 1
        frame_stamps.setdefault(frame.source, []).append(frame.stamp_ns)
        labelled_frames += _labels_for(labels, frame) is not None
        crops, regions = pipeline.crops(frame.image)
        pending.append(_FrameCrops(frame, crops, regions))
        if sum(len(item.crops) for item in pending) >= batch_size:
            flush()
    flush()
    if pipeline.layer_sync is not None:
        pipeline.layer_sync.expire(float("inf"))
    result.meta = {
        "bag": str(bag_path),
        "input_mode": input_mode,
        "image_topics": topics,
        "thresholds": thresholds.to_dict(),
        "crop_size": crop_size,
        **({"encoder_px_per_count": encoder_px_per_count} if input_mode == "image_set" else {}),
        "batch_size": batch_size,
        "model_path": str(getattr(classifier, "path", "") or ""),
        "backend": str(getattr(classifier, "backend_name", "")),
        "frames": frames_seen,
        "frame_stamps_ns": frame_stamps,
        "labels_topic": labels_topic,
        "labelled_frames": labelled_frames,
        "refused_images": refused,
        "unmatched_layer_sets": (
            pipeline.layer_sync.unmatched_sets if pipeline.layer_sync is not None else 0
        ),
    }
    return result


def _predict(classifier: Any, crops: list[np.ndarray], batch_size: int, classes: int) -> np.ndarray:
    if not crops:
        return np.zeros((0, classes), np.float32)
    chunks = [crops[i : i + batch_size] for i in range(0, len(crops), batch_size)]
    return np.concatenate([classifier.predict_proba(np.stack(chunk)) for chunk in chunks])


def _labels_for(
    labels: Mapping[tuple[str, int], list[Label]], frame: SourceFrame
) -> list[Label] | None:
    for key in frame.label_keys:
        found = labels.get((key, frame.stamp_ns))
        if found is not None:
            return found
    return None
