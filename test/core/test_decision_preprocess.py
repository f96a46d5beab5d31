"""Decision policy at its boundaries (2- and 3-class, any class order) and preprocessing."""

import numpy as np
import pytest

from cherry_classifier.core.decision import (
    CLEAN,
    MAYBE,
    PIT,
    ThresholdError,
    Thresholds,
    decide,
    softmax,
)
from cherry_classifier.core.manifest import ManifestError, ModelManifest
from cherry_classifier.core.preprocess import preprocess

T = Thresholds(pit_threshold=0.6, maybe_threshold=0.2, clean_threshold=0.5)


@pytest.mark.parametrize(
    ("p_clean", "p_maybe", "p_pit", "label"),
    [
        (0.4, 0.0, 0.6, PIT),  # exactly pit_threshold: PIT
        (0.41, 0.0, 0.59, MAYBE),  # just below pit, above maybe_threshold
        (0.8, 0.0, 0.2, MAYBE),  # exactly maybe_threshold
        (0.81, 0.0, 0.19, CLEAN),
        (0.5, 0.4, 0.1, CLEAN),  # P(clean) exactly clean_threshold: CLEAN
        (0.49, 0.42, 0.09, MAYBE),  # P(clean) below clean_threshold
    ],
)
def test_three_class_policy_at_the_boundaries(p_clean, p_maybe, p_pit, label):
    decisions = decide(np.array([[p_clean, p_maybe, p_pit]]), ("clean", "maybe", "pit"), T)
    assert decisions.labels.tolist() == [label]
    expected = {PIT: p_pit, CLEAN: p_clean, MAYBE: 1 - p_clean}[label]
    assert decisions.confidences[0] == pytest.approx(expected)


def test_two_class_model_in_any_order_decides_by_class_name():
    probabilities = np.array([[0.7, 0.3], [0.1, 0.9], [0.35, 0.65]])  # (pit, clean) order
    decisions = decide(probabilities, ("pit", "clean"), T)
    assert decisions.labels.tolist() == [PIT, CLEAN, MAYBE]
    same = decide(probabilities[:, ::-1], ("clean", "pit"), T)
    assert same.labels.tolist() == decisions.labels.tolist()


def test_threshold_validation_names_the_broken_rule():
    assert T.validated() is T
    with pytest.raises(ThresholdError, match=r"maybe_threshold .* <= pit_threshold"):
        Thresholds(0.3, 0.5, 0.5).validated()
    with pytest.raises(ThresholdError, match=r"clean_threshold must be a number in \[0, 1\]"):
        Thresholds(0.5, 0.2, 1.5).validated()


def test_softmax_temperature_flattens():
    logits = np.array([[2.0, 0.0]])
    assert softmax(logits, 2.0)[0, 0] < softmax(logits, 1.0)[0, 0]
    assert softmax(logits).sum() == pytest.approx(1.0)


def test_preprocess_resizes_any_size_and_scales_per_manifest():
    manifest = ModelManifest(architecture="resnet18", class_names=("clean", "pit"), input_size=64)
    crops = [np.full((64, 64, 3), 255, np.uint8), np.full((100, 30, 3), 51, np.uint8)]
    tensor = preprocess(crops, manifest)
    assert tuple(tensor.shape) == (2, 3, 64, 64)
    assert tensor.is_contiguous(memory_format=__import__("torch").channels_last)
    assert float(tensor[0].max()) == pytest.approx(1.0) and float(
        tensor[1].mean()
    ) == pytest.approx(0.2)
    old_docs = ModelManifest(architecture="resnet18", class_names=("clean", "pit"), input_scale=1.0)
    assert float(preprocess(crops[:1], old_docs).max()) == 255.0
    with pytest.raises(ValueError, match="expected uint8 HxWx3"):
        preprocess([np.zeros((10, 10, 4), np.uint8)], manifest)


def test_manifest_refuses_impossible_contracts():
    with pytest.raises(ManifestError, match="mean has 2 values for 3 channels"):
        ModelManifest(architecture="resnet18", class_names=("clean", "pit"), mean=(0.5, 0.5))
    with pytest.raises(ManifestError, match="unknown manifest field"):
        ModelManifest.from_dict(
            {"architecture": "resnet18", "class_names": ["clean", "pit"], "colour": 1}
        )
