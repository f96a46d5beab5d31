"""Conversions between the ROS-free core's results and the package's ROS messages."""

from __future__ import annotations

from typing import Any

import numpy as np
import yaml
from builtin_interfaces.msg import Time
from cherry_classifier_msgs.msg import CherryDecision, CherryDecisionArray, ModelInfo
from sensor_msgs.msg import RegionOfInterest

from cherry_classifier.core.engine import FrameResult
from cherry_classifier.imaging.localizer import region_box


def region_msg(region: Any) -> RegionOfInterest:
    """A cherry's box as a RegionOfInterest (boxes lie inside the image; clipped at 0 anyway,
    the message's fields being unsigned)."""
    x, y, width, height = region_box(region)
    return RegionOfInterest(x_offset=max(0, x), y_offset=max(0, y), width=width, height=height)


def decision_array_msg(result: FrameResult) -> CherryDecisionArray:
    """One frame's decisions, with its source header unchanged."""
    job, decisions = result.job, result.decisions
    message = CherryDecisionArray(
        source_topic=job.source,
        model_id=result.model_id,
        thresholds_version=result.thresholds_version,
        pit_threshold=result.thresholds.pit_threshold,
        maybe_threshold=result.thresholds.maybe_threshold,
        clean_threshold=result.thresholds.clean_threshold,
    )
    if job.header is not None:
        message.header = job.header
    trigger = job.trigger  # image_set mode: where on the belt the frame was taken
    message.trigger_frame_id = trigger.frame_id if trigger is not None else -1
    message.encoder_count = trigger.encoder_count if trigger is not None else -1
    message.encoder_mm = trigger.encoder_mm if trigger is not None else -1
    class_names = list(result.class_names)
    message.decisions = [
        CherryDecision(
            label=int(decisions.labels[i]),
            confidence=float(decisions.confidences[i]),
            class_names=class_names,
            probabilities=decisions.probabilities[i].astype(np.float32).tolist(),
            region=region_msg(job.regions[i]) if i < len(job.regions) else RegionOfInterest(),
            index=i,
            fail_safe=bool(result.fail_safe[i]),
        )
        for i in range(len(decisions.labels))
    ]
    return message


def model_info_msg(
    classifier: Any, path: str, load_time: Time, thresholds: Any, thresholds_version: int
) -> ModelInfo:
    """Describe the running model (or, with ``classifier=None``, the fail-safe state)."""
    info = ModelInfo(
        load_time=load_time,
        path=path,
        thresholds_version=thresholds_version,
        pit_threshold=thresholds.pit_threshold,
        maybe_threshold=thresholds.maybe_threshold,
        clean_threshold=thresholds.clean_threshold,
        fail_safe=classifier is None,
    )
    if classifier is None:
        return info
    manifest = classifier.manifest
    info.model_id = classifier.model_id
    info.architecture = manifest.architecture
    info.backend = getattr(classifier, "backend_name", "")
    info.class_names = list(manifest.class_names)
    info.input_size = int(manifest.input_size)
    info.channel_names = list(manifest.channel_names)
    info.input_scale = float(manifest.input_scale)
    info.mean = [float(v) for v in (manifest.mean or ())]
    info.std = [float(v) for v in (manifest.std or ())]
    info.temperature = float(manifest.temperature)
    info.provenance = yaml.safe_dump(manifest.provenance or {}, sort_keys=False)
    info.demo_model = manifest.is_demo_model()
    info.training_data = manifest.training_data_summary()
    return info
