"""Decision policy at its boundaries (2- and 3-class, any class order) and threshold rules."""

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

T = Thresholds(pit_threshold=0.6, maybe_threshold=0.2, clean_threshold=0.5)
THREE = ("clean", "maybe", "pit")


@pytest.mark.parametrize(
    ("p_clean", "p_maybe", "p_pit", "label"),
    [
        (0.4, 0.0, 0.6, PIT),  # exactly pit_threshold: PIT
        (0.41, 0.0, 0.59, MAYBE),  # just below pit, above maybe_threshold
        (0.8, 0.0, 0.2, MAYBE),  # exactly maybe_threshold
        (0.81, 0.0, 0.19, CLEAN),
        (0.5, 0.4, 0.1, CLEAN),  # P(clean) exactly clean_threshold: CLEAN
        (0.49, 0.42, 0.09, MAYBE),  # P(clean) just below clean_threshold
        (0.05, 0.9, 0.05, MAYBE),  # the model's own "maybe" class
        (0.0, 0.0, 1.0, PIT),
        (1.0, 0.0, 0.0, CLEAN),
    ],
)
def test_three_class_policy_at_the_boundaries(p_clean, p_maybe, p_pit, label):
    decisions = decide(np.array([[p_clean, p_maybe, p_pit]]), THREE, T)
    assert decisions.labels.tolist() == [label]
    expected = {PIT: p_pit, CLEAN: p_clean, MAYBE: 1 - p_clean}[label]
    assert decisions.confidences[0] == pytest.approx(expected)
    assert decisions.labels.dtype == np.int64 and decisions.confidences.dtype == np.float32


@pytest.mark.parametrize(
    ("p_pit", "label"),
    [(0.6, PIT), (0.5999, MAYBE), (0.5, MAYBE), (0.2, MAYBE), (0.1999, CLEAN), (0.0, CLEAN)],
)
def test_two_class_policy_at_the_boundaries(p_pit, label):
    # two classes: P(clean) = 1 - P(pit), so clean_threshold 0.5 = MAYBE from P(pit) > 0.5 on
    decisions = decide(np.array([[1 - p_pit, p_pit]]), ("clean", "pit"), T)
    assert decisions.labels.tolist() == [label]
    expected = {PIT: p_pit, CLEAN: 1 - p_pit, MAYBE: p_pit}[label]
    assert decisions.confidences[0] == pytest.approx(expected, abs=1e-6)


def test_classes_are_found_by_name_in_any_order():
    probabilities = np.array([[0.7, 0.3], [0.1, 0.9], [0.35, 0.65]])  # (pit, clean) order
    decisions = decide(probabilities, ("pit", "clean"), T)
    assert decisions.labels.tolist() == [PIT, CLEAN, MAYBE]
    same = decide(probabilities[:, ::-1], ("clean", "pit"), T)
    assert same.labels.tolist() == decisions.labels.tolist()
    three = np.array([[0.1, 0.7, 0.2], [0.0, 0.1, 0.9]])  # (maybe, pit, clean) order
    assert decide(three, ("maybe", "pit", "clean"), T).labels.tolist() == [PIT, CLEAN]
    np.testing.assert_array_equal(decisions.probabilities, probabilities.astype(np.float32))


def test_probabilities_that_do_not_fit_the_classes_are_refused():
    with pytest.raises(ValueError, match=r"shape \(2, 2\) do not fit the 3 classes"):
        decide(np.full((2, 2), 0.5), THREE, T)
    with pytest.raises(ValueError, match="have no 'pit'"):
        decide(np.full((1, 2), 0.5), ("clean", "stone"), T)
    assert decide(np.zeros((0, 3)), THREE, T).labels.shape == (0,)


def test_threshold_validation_names_the_broken_rule():
    assert T.validated() is T
    assert Thresholds(0.5, 0.5, 0.0).validated()  # maybe == pit is allowed
    with pytest.raises(ThresholdError, match=r"maybe_threshold \(0\.5\) must be <= pit_threshold"):
        Thresholds(0.3, 0.5, 0.5).validated()
    with pytest.raises(ThresholdError, match=r"clean_threshold must be a number in \[0, 1\]"):
        Thresholds(0.5, 0.2, 1.5).validated()
    with pytest.raises(ThresholdError, match=r"pit_threshold must be a number in \[0, 1\]"):
        Thresholds(-0.1, 0.0, 0.5).validated()
    with pytest.raises(ThresholdError, match="maybe_threshold must be a number"):
        Thresholds(0.5, float("nan"), 0.5).validated()
    with pytest.raises(ThresholdError, match="pit_threshold must be a number"):
        Thresholds("0.5", 0.2, 0.5).validated()  # type: ignore[arg-type]
    assert isinstance(ThresholdError("x"), ValueError)


def test_softmax_with_temperature():
    logits = np.array([[2.0, 0.0], [1000.0, -1000.0]])
    assert softmax(logits, 2.0)[0, 0] < softmax(logits, 1.0)[0, 0]
    np.testing.assert_allclose(softmax(logits).sum(axis=1), 1.0, rtol=1e-6)
    assert np.isfinite(softmax(logits)).all()  # no overflow on large logits
    assert softmax(logits, 2.0)[0, 0] == pytest.approx(1 / (1 + np.exp(-1.0)))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        softmax(logits, 0.0)
