"""The drift score (core.drift): its statistic, its window, the bundle's reference file, and the
alarm level on both sides: unshifted windows stay below it, a class-balance shift goes past it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cherry_classifier.core.bundle import load_bundle
from cherry_classifier.core.decision import Thresholds
from cherry_classifier.core.drift import (
    DRIFT_ALARM_LEVEL,
    MAX_REFERENCE_BYTES,
    MIN_DECISIONS,
    NO_REFERENCE,
    P_PIT_EDGES,
    REFERENCE_FILE,
    DriftWindow,
    ReferenceDistribution,
    p_pit_bins,
    population_stability_index,
    read_reference,
    reference_status,
    write_reference,
)
from cherry_classifier.core.model_store import ModelStore
from cherry_classifier.core.safe_io import ModelLoadError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO_ROOT / "models" / "default"
DEFAULT_MODEL_ID = "6b6790f7e0bad52c"
CLASSES = ("clean", "maybe", "pit")
THRESHOLDS = Thresholds(0.5, 0.2, 0.5)
SEEDS = range(20)


def stream(count: int, pit_share: float, seed: int, maybe_share: float = 0.05) -> np.ndarray:
    """(count, 3) probabilities of a confident model: each cherry's class drawn with the given
    shares, its probabilities leaning to that class (Beta draws, a few uncertain ones)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(3, count, p=[1 - pit_share - maybe_share, maybe_share, pit_share])
    lean = {0: (1, 30), 1: (3, 4), 2: (30, 1)}  # Beta(a, b) of P(pit) per true class
    p_pit = np.array([rng.beta(*lean[int(t)]) for t in truth])
    p_maybe = (1 - p_pit) * np.where(truth == 1, 0.6, rng.uniform(0, 0.05, count))
    return np.stack([1 - p_pit - p_maybe, p_maybe, p_pit], axis=1).astype(np.float32)


def reference_of(probabilities: np.ndarray, model_id: str = "m") -> ReferenceDistribution:
    return ReferenceDistribution.from_probabilities(
        probabilities, CLASSES, THRESHOLDS, model_id, "test stream"
    )


def window_score(reference: ReferenceDistribution, probabilities: np.ndarray) -> float:
    window = DriftWindow(reference, size=None)
    window.add(probabilities, CLASSES)
    return window.score().score


def test_psi_is_zero_for_equal_shares_and_finite_with_empty_bins():
    assert population_stability_index([10, 20, 70], [20, 40, 140], smoothing=0) == 0.0
    assert population_stability_index([10, 20, 70], [20, 40, 140]) < 1e-4  # smoothing only
    assert population_stability_index([10, 20, 70], [70, 20, 10]) > 1.0
    empty = population_stability_index([0, 50, 50], [50, 50, 0])
    assert np.isfinite(empty) and empty > 1.0
    with pytest.raises(ValueError, match="2\\+ equal bins"):
        population_stability_index([1, 2], [1, 2, 3])


def test_p_pit_bins_follow_the_documented_edges():
    assert p_pit_bins(np.array([0.0, 0.0099, 0.01, 0.5, 0.99, 1.0])).tolist() == [
        0,
        0,
        1,
        6,
        11,
        11,
    ]
    assert len(P_PIT_EDGES) == 13 and P_PIT_EDGES[0] == 0.0 and P_PIT_EDGES[-1] == 1.0


def test_unshifted_windows_stay_below_the_alarm_and_pits_10_to_50_go_past_it():
    reference = reference_of(stream(1000, 0.10, seed=999))
    unshifted = [window_score(reference, stream(500, 0.10, seed)) for seed in SEEDS]
    shifted = [window_score(reference, stream(500, 0.50, seed)) for seed in SEEDS]
    assert max(unshifted) < DRIFT_ALARM_LEVEL / 2, unshifted
    assert min(shifted) > 2 * DRIFT_ALARM_LEVEL, shifted


def test_a_confidence_shift_alarms_through_the_p_pit_histogram_alone():
    reference = reference_of(stream(1000, 0.10, seed=999))
    probabilities = stream(500, 0.10, seed=1)
    softened = probabilities.copy()  # less sure, on the same side of every threshold
    p_pit = softened[:, 2]
    low, high = p_pit < THRESHOLDS.maybe_threshold, p_pit >= THRESHOLDS.pit_threshold
    softened[:, 2] = np.where(low, 0.02 + 0.5 * p_pit, np.where(high, 0.3 + 0.5 * p_pit, p_pit))
    softened[:, 0] = 1 - softened[:, 1] - softened[:, 2]
    window = DriftWindow(reference, size=None)
    window.add(softened, CLASSES)
    score = window.score()
    assert score.label_psi < DRIFT_ALARM_LEVEL < score.p_pit_psi and score.alarm


def test_the_window_slides_counts_and_scores_only_when_full_enough():
    reference = reference_of(stream(400, 0.10, seed=5))
    window = DriftWindow(reference, size=300)
    window.add(stream(MIN_DECISIONS - 1, 0.10, seed=6), CLASSES)
    assert window.score() is None and len(window) == MIN_DECISIONS - 1
    window.add(stream(500, 0.90, seed=7, maybe_share=0.0), CLASSES)
    assert len(window) == 300 and sum(window.label_counts().values()) == 300
    assert sum(window.p_pit_counts()) == 300 and window.pit_share() > 0.8
    score = window.score()
    assert score.alarm and score.decisions == 300
    assert "ALARM" in score.describe() and "pit" in score.describe()
    window.clear()
    assert len(window) == 0 and window.score() is None


def test_the_window_decides_at_the_references_thresholds():
    probabilities = np.array([[0.6, 0.1, 0.3]] * MIN_DECISIONS, np.float32)
    strict = ReferenceDistribution.from_probabilities(
        probabilities, CLASSES, Thresholds(0.5, 0.2, 0.5), "m", "t"
    )
    assert strict.label_counts["maybe"] == MIN_DECISIONS  # P(pit) 0.3 >= maybe 0.2
    window = DriftWindow(strict)
    window.add(probabilities, CLASSES)
    assert window.shares()["maybe"] == 1.0 and window.score().score == pytest.approx(0.0)


def test_reference_round_trips_and_its_file_is_checked(tmp_path):
    reference = reference_of(stream(300, 0.1, seed=3), model_id="abc")
    path = write_reference(tmp_path, reference)
    assert path.name == REFERENCE_FILE and path.stat().st_size < 2048
    loaded = read_reference(tmp_path, "abc")
    assert loaded == reference
    assert read_reference(tmp_path / "missing") is None
    assert reference_status(tmp_path / "missing", "abc") == (None, NO_REFERENCE)
    with pytest.raises(ModelLoadError, match="made for model abc, not this bundle's xyz"):
        read_reference(tmp_path, "xyz")
    document = json.loads(path.read_text())
    document["p_pit_counts"][0] += 1
    path.write_text(json.dumps(document))
    with pytest.raises(ModelLoadError, match="disagree"):
        read_reference(tmp_path)
    path.write_text("{" + " " * MAX_REFERENCE_BYTES + "}")
    with pytest.raises(ModelLoadError, match="limit for a reference distribution"):
        read_reference(tmp_path)
    refused, line = reference_status(tmp_path, "abc")
    assert refused is None and line.startswith(NO_REFERENCE + " (")


def test_the_bundled_model_keeps_its_id_and_carries_its_validation_reference():
    bundle = load_bundle(DEFAULT_MODEL)
    assert bundle.model_id == DEFAULT_MODEL_ID
    reference = read_reference(DEFAULT_MODEL, bundle.model_id)
    assert reference.crops == 333 == bundle.manifest.provenance["split_sizes"]["val"]
    assert reference.true_label_counts == {"clean": 150, "maybe": 33, "pit": 150}
    assert reference.thresholds == bundle.manifest.thresholds
    decided_maybe = reference.label_counts["maybe"] / reference.crops
    assert decided_maybe == pytest.approx(bundle.manifest.provenance["val_metrics"]["maybe_rate"])


def test_a_bundle_without_reference_loads_and_the_node_store_confines_the_file(tmp_path):
    models = tmp_path / "models"
    copy = shutil.copytree(DEFAULT_MODEL, models / "plain")
    (copy / REFERENCE_FILE).unlink()
    store = ModelStore.confined(models, num_threads=1)
    assert store.load("plain").model_id == DEFAULT_MODEL_ID
    assert reference_status(copy, DEFAULT_MODEL_ID)[1] == NO_REFERENCE
    outside = tmp_path / "elsewhere.json"
    shutil.copy(DEFAULT_MODEL / REFERENCE_FILE, outside)
    (copy / REFERENCE_FILE).symlink_to(outside)
    with pytest.raises(ValueError, match="outside"):
        store.load("plain")


def test_the_bundled_reference_is_what_cherry_model_reference_computes(tmp_path, capsys):
    from cherry_classifier.model_cli import main

    copy = shutil.copytree(DEFAULT_MODEL, tmp_path / "default")
    (copy / REFERENCE_FILE).unlink()
    assert main(["reference", str(copy), "--training-validation", "--threads", "1"]) == 0
    assert "validation accuracy 0.996997: equal to the manifest's" in capsys.readouterr().out
    computed, shipped = read_reference(copy), read_reference(DEFAULT_MODEL)
    assert computed.label_counts == shipped.label_counts
    assert computed.p_pit_counts == shipped.p_pit_counts
    assert computed.true_label_counts == shipped.true_label_counts
