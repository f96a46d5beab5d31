"""Drift: how far a stream of decisions has moved from the model's reference distribution.

**Reference** (:class:`ReferenceDistribution`, ``reference.json`` in a bundle folder): on the
model's validation split, the decided label shares (at the bundle's thresholds) and a
histogram of P(pit) over the fixed :data:`P_PIT_EDGES`. Written at export by training, by
``cherry-model import --crops`` and by ``cherry-model reference``. A bundle without one loads
and runs as before; drift is then disabled (:data:`NO_REFERENCE`).

**Statistic**: the population stability index (PSI) of the window against the reference,
once on the three label shares (clean, maybe, pit) and once on the P(pit) histogram::

    PSI = sum_i (w_i - r_i) * ln(w_i / r_i)

with ``w_i``, ``r_i`` the window's and reference's shares of bin ``i`` after adding
:data:`SMOOTHING` (0.5, a Jeffreys pseudo-count) to every bin's count, so an empty bin costs
a finite amount. PSI is the symmetrised Kullback-Leibler divergence: 0 for equal shares,
always >= 0. The **drift score** is the larger of the two PSIs: labels catch a class-balance
shift (more pits), the histogram a shift in the model's confidence (new lighting, new variety)
before it changes the labels.

**Alarm level** :data:`DRIFT_ALARM_LEVEL` = 0.25, the level at which PSI is read as a
significant shift in its long practice (below 0.1 stable, 0.1-0.25 moderate). The window's own
sampling noise must stay well below it: with no shift, PSI is about ``(bins - 1) * (1/n + 1/m)``
for a window of ``n`` and a reference of ``m`` decisions (a chi-square over ``n``), 0.055 for
the 12 P(pit) bins at ``n`` = 500, ``m`` = 333. Hence the window of :data:`DEFAULT_WINDOW`
decisions and no score below :data:`MIN_DECISIONS`. ``python scripts/drift_levels.py``
measures both sides with the bundled model (docs/bags.md): drawn like its validation split,
the largest score of 20 windows of 500 is 0.081 (0.130 of 50 windows of 200); pits 10% -> 50%
scores at least 0.98 (windows of 500).

Label shares depend on the thresholds, so a window decides its probabilities again at the
*reference's* thresholds: the score compares like with like, whatever thresholds the line runs.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.core.decision import LABEL_NAMES, PIT, Thresholds, class_index, decide
from cherry_classifier.core.safe_io import MAX_REFERENCE_BYTES, ModelLoadError, check_file

REFERENCE_FILE = "reference.json"
REFERENCE_FORMAT = "cherry_classifier.reference/1"
# P(pit) bins: finer near 0 and 1, where a confident model puts most crops, so a loss of
# confidence shows before labels change; 12 bins keep the window's sampling noise low.
P_PIT_EDGES = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
SMOOTHING = 0.5  # pseudo-count added to every bin before shares are taken
DRIFT_ALARM_LEVEL = 0.25
DEFAULT_WINDOW = 500  # decisions: about 20 frames of 25 cherries, 11 s at 1.8 frames/s
MIN_DECISIONS = 200  # no score on fewer: sampling noise alone would approach the level
NO_REFERENCE = "no reference: drift disabled"

__all__ = [
    "DEFAULT_WINDOW",
    "DRIFT_ALARM_LEVEL",
    "MIN_DECISIONS",
    "NO_REFERENCE",
    "P_PIT_EDGES",
    "REFERENCE_FILE",
    "DriftScore",
    "DriftWindow",
    "ReferenceDistribution",
    "p_pit_histogram",
    "population_stability_index",
    "read_reference",
    "write_reference",
]


def population_stability_index(
    reference_counts: Sequence[float], window_counts: Sequence[float], smoothing: float = SMOOTHING
) -> float:
    """PSI of two histograms over the same bins (counts), each bin smoothed (module doc)."""
    reference = np.asarray(reference_counts, float) + smoothing
    window = np.asarray(window_counts, float) + smoothing
    if reference.shape != window.shape or reference.ndim != 1 or len(reference) < 2:
        raise ValueError(
            f"PSI needs two histograms of 2+ equal bins, got {reference.shape} and {window.shape}"
        )
    r, w = reference / reference.sum(), window / window.sum()
    return float(np.sum((w - r) * np.log(w / r)))


def p_pit_bins(p_pit: np.ndarray, edges: Sequence[float] = P_PIT_EDGES) -> np.ndarray:
    """The bin index of each P(pit): ``[edges[i], edges[i+1])``, the last bin closed."""
    inner = np.asarray(edges[1:-1], float)
    return np.searchsorted(inner, np.asarray(p_pit, float), side="right").astype(np.int64)


def p_pit_histogram(p_pit: np.ndarray, edges: Sequence[float] = P_PIT_EDGES) -> np.ndarray:
    """Counts of P(pit) per bin of ``edges``."""
    return np.bincount(p_pit_bins(p_pit, edges), minlength=len(edges) - 1)


def label_counts(labels: np.ndarray) -> dict[str, int]:
    """Decision codes (CLEAN, MAYBE, PIT) -> counts per label name."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=len(LABEL_NAMES))
    return {name: int(counts[code]) for code, name in enumerate(LABEL_NAMES)}


def shares(counts: Mapping[str, int] | Sequence[int]) -> dict[str, float] | list[float]:
    """Counts as shares of their total (zeros when empty), keeping the container's kind."""
    if isinstance(counts, Mapping):
        total = sum(counts.values())
        return {k: (v / total if total else 0.0) for k, v in counts.items()}
    total = sum(counts)
    return [v / total if total else 0.0 for v in counts]


@dataclass(frozen=True)
class ReferenceDistribution:
    """What a model decided on its validation split (see the module doc)."""

    model_id: str
    label_counts: dict[str, int]  # decided at ``thresholds``, per label name
    p_pit_counts: tuple[int, ...]  # per bin of ``p_pit_edges``
    thresholds: Thresholds
    source: str  # which crops, e.g. "validation split (333 crops) of the training run"
    p_pit_edges: tuple[float, ...] = P_PIT_EDGES
    true_label_counts: dict[str, int] | None = None  # the crops' true classes, if known
    created: str = ""

    def __post_init__(self) -> None:
        edges = tuple(float(e) for e in self.p_pit_edges)
        if (
            len(edges) < 3
            or edges[0] != 0.0
            or edges[-1] != 1.0
            or any(b <= a for a, b in itertools.pairwise(edges))
        ):
            raise ValueError(f"p_pit_edges must rise strictly from 0 to 1, got {list(edges)}")
        counts = tuple(self.p_pit_counts)
        if len(counts) != len(edges) - 1:
            raise ValueError(f"{len(counts)} P(pit) counts for {len(edges) - 1} bins")
        for name, values in (
            ("label_counts", self.label_counts),
            ("true_label_counts", self.true_label_counts or {}),
        ):
            if set(values) - set(LABEL_NAMES):
                raise ValueError(f"{name} names labels outside {list(LABEL_NAMES)}: {values}")
            _check_counts(name, list(values.values()))
        _check_counts("p_pit_counts", list(counts))
        if sum(counts) != self.crops or self.crops == 0:
            raise ValueError(
                f"label counts ({self.crops} crops) and P(pit) counts ({sum(counts)}) disagree "
                "or are empty"
            )
        if not isinstance(self.thresholds, Thresholds):
            raise ValueError(f"thresholds must be Thresholds, got {self.thresholds!r}")
        self.thresholds.validated()
        full = {name: int(self.label_counts.get(name, 0)) for name in LABEL_NAMES}
        object.__setattr__(self, "label_counts", full)
        object.__setattr__(self, "p_pit_edges", edges)
        object.__setattr__(self, "p_pit_counts", tuple(int(c) for c in counts))

    @property
    def crops(self) -> int:
        return sum(self.label_counts.values())

    @property
    def label_shares(self) -> dict[str, float]:
        return shares(self.label_counts)  # type: ignore[return-value]

    @property
    def p_pit_shares(self) -> list[float]:
        return shares(list(self.p_pit_counts))  # type: ignore[return-value]

    @classmethod
    def from_probabilities(
        cls,
        probabilities: np.ndarray,
        class_names: Sequence[str],
        thresholds: Thresholds,
        model_id: str,
        source: str,
        true_labels: Sequence[str] | None = None,
    ) -> ReferenceDistribution:
        """The reference of (N, C) calibrated probabilities in ``class_names`` order, decided
        at ``thresholds``; ``true_labels``: the crops' true class names, if known."""
        probabilities = np.asarray(probabilities, np.float32)
        if not len(probabilities):
            raise ValueError("a reference needs at least one crop")
        decided = decide(probabilities, class_names, thresholds).labels
        p_pit = probabilities[:, class_index(class_names, "pit")]
        truth = None
        if true_labels is not None:
            truth = {name: 0 for name in LABEL_NAMES}
            for name in true_labels:
                truth[name] = truth.get(name, 0) + 1
        return cls(
            model_id=model_id,
            label_counts=label_counts(decided),
            p_pit_counts=tuple(int(c) for c in p_pit_histogram(p_pit)),
            thresholds=thresholds,
            source=source,
            true_label_counts=truth,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REFERENCE_FORMAT,
            "model_id": self.model_id,
            "source": self.source,
            "created": self.created,
            "crops": self.crops,
            "thresholds": self.thresholds.to_dict(),
            "label_counts": dict(self.label_counts),
            "label_shares": {k: round(v, 6) for k, v in self.label_shares.items()},
            "true_label_counts": self.true_label_counts,
            "p_pit_edges": list(self.p_pit_edges),
            "p_pit_counts": list(self.p_pit_counts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceDistribution:
        """Build and validate; raises ValueError naming what is wrong."""
        if not isinstance(data, Mapping) or data.get("format") != REFERENCE_FORMAT:
            raise ValueError(f"not a {REFERENCE_FORMAT} document")
        try:
            thresholds = Thresholds(**data["thresholds"])
            return cls(
                model_id=str(data["model_id"]),
                label_counts=dict(data["label_counts"]),
                p_pit_counts=tuple(data["p_pit_counts"]),
                thresholds=thresholds,
                source=str(data.get("source", "")),
                p_pit_edges=tuple(data["p_pit_edges"]),
                true_label_counts=(
                    None
                    if data.get("true_label_counts") is None
                    else dict(data["true_label_counts"])
                ),
                created=str(data.get("created", "")),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"missing or malformed field: {error}") from error

    def summary(self) -> str:
        """One line for people: shares, crops, where from."""
        parts = ", ".join(f"{k} {v:.1%}" for k, v in self.label_shares.items())
        return f"{parts} decided on {self.crops} crops ({self.source})"


def _check_counts(name: str, values: list[Any]) -> None:
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ValueError(f"{name} must be non-negative integers, got {values}")


def write_reference(folder: str | Path, reference: ReferenceDistribution) -> Path:
    """(Re)write ``folder/reference.json`` atomically."""
    path = Path(folder) / REFERENCE_FILE
    temporary = path.with_name(f".{REFERENCE_FILE}.tmp")
    temporary.write_text(json.dumps(reference.to_dict(), indent=1) + "\n")
    temporary.replace(path)
    return path


def read_reference(
    folder: str | Path | None, model_id: str | None = None
) -> ReferenceDistribution | None:
    """The reference of a bundle folder; None when it has none (or is no folder).

    Raises ModelLoadError for a file that is not a regular file, too large (over
    MAX_REFERENCE_BYTES, checked before reading), not valid, or made for another model id.
    """
    if folder is None or not Path(folder).is_dir():
        return None
    path = Path(folder) / REFERENCE_FILE
    if not os.path.lexists(path):
        return None
    check_file(path, "reference distribution", limit=MAX_REFERENCE_BYTES)
    try:
        reference = ReferenceDistribution.from_dict(json.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ModelLoadError(f"{path}: bad reference distribution: {str(error)[:200]}") from error
    if model_id is not None and reference.model_id != model_id:
        raise ModelLoadError(
            f"{path}: made for model {reference.model_id}, not this bundle's {model_id}; "
            "recompute it with cherry-model reference"
        )
    return reference


def reference_status(
    folder: str | Path | None, model_id: str
) -> tuple[ReferenceDistribution | None, str]:
    """(reference or None, one line saying so): never raises for a bad file, says why instead."""
    try:
        reference = read_reference(folder, model_id)
    except ModelLoadError as error:
        return None, f"{NO_REFERENCE} ({error})"
    if reference is None:
        return None, NO_REFERENCE
    return reference, f"reference: {reference.summary()}"


@dataclass(frozen=True)
class DriftScore:
    """A window compared with the reference (module doc)."""

    label_psi: float
    p_pit_psi: float
    decisions: int
    window_label_counts: dict[str, int]
    reference_label_shares: dict[str, float]
    window_p_pit_counts: tuple[int, ...]
    level: float = DRIFT_ALARM_LEVEL

    @property
    def score(self) -> float:
        return max(self.label_psi, self.p_pit_psi)

    @property
    def alarm(self) -> bool:
        return self.score >= self.level

    @property
    def window_label_shares(self) -> dict[str, float]:
        return shares(self.window_label_counts)  # type: ignore[return-value]

    def describe(self) -> str:
        """One line, e.g. for /diagnostics: score, level, both PSIs, shares beside the
        reference's."""
        window = self.window_label_shares
        pairs = ", ".join(
            f"{k} {window[k]:.1%} (ref {self.reference_label_shares[k]:.1%})" for k in window
        )
        verdict = "ALARM" if self.alarm else "ok"
        return (
            f"drift {self.score:.3f} {verdict} (alarm at {self.level:g}; label PSI "
            f"{self.label_psi:.3f}, P(pit) PSI {self.p_pit_psi:.3f}) over {self.decisions} "
            f"decisions: {pairs}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "alarm": self.alarm,
            "level": self.level,
            "label_psi": self.label_psi,
            "p_pit_psi": self.p_pit_psi,
            "decisions": self.decisions,
            "window_label_shares": self.window_label_shares,
            "reference_label_shares": self.reference_label_shares,
            "window_p_pit_counts": list(self.window_p_pit_counts),
        }


def score_counts(
    reference: ReferenceDistribution,
    window_labels: Mapping[str, int],
    window_p_pit: Sequence[int],
    level: float = DRIFT_ALARM_LEVEL,
) -> DriftScore:
    """The drift score of a window given as counts (labels per name, P(pit) per bin)."""
    names = list(LABEL_NAMES)
    labels = {name: int(window_labels.get(name, 0)) for name in names}
    return DriftScore(
        label_psi=population_stability_index(
            [reference.label_counts[n] for n in names], [labels[n] for n in names]
        ),
        p_pit_psi=population_stability_index(reference.p_pit_counts, window_p_pit),
        decisions=sum(labels.values()),
        window_label_counts=labels,
        reference_label_shares=reference.label_shares,
        window_p_pit_counts=tuple(int(c) for c in window_p_pit),
        level=level,
    )


@dataclass
class DriftWindow:
    """The last ``size`` decisions (None: all), re-decided at the reference's thresholds.

    ``add`` costs O(crops); ``score`` O(bins): running counts, no rescan. For the node's
    sliding-window alarm and the reports alike.
    """

    reference: ReferenceDistribution
    size: int | None = DEFAULT_WINDOW
    min_decisions: int = MIN_DECISIONS
    level: float = DRIFT_ALARM_LEVEL
    _entries: deque = field(default_factory=deque, init=False, repr=False)
    _labels: np.ndarray = field(init=False, repr=False)
    _bins: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 1:
            raise ValueError(f"window size must be >= 1 or None, got {self.size}")
        if not math.isfinite(self.level) or self.level <= 0:
            raise ValueError(f"alarm level must be a positive number, got {self.level}")
        self._labels = np.zeros(len(LABEL_NAMES), np.int64)
        self._bins = np.zeros(len(self.reference.p_pit_counts), np.int64)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, probabilities: np.ndarray, class_names: Sequence[str]) -> None:
        """Add (N, C) calibrated probabilities in ``class_names`` order (one row a crop)."""
        probabilities = np.atleast_2d(np.asarray(probabilities, np.float32))
        if not probabilities.size:
            return
        labels = decide(probabilities, class_names, self.reference.thresholds).labels
        p_pit = probabilities[:, class_index(class_names, "pit")]
        for label, bin_index in zip(
            labels.tolist(), p_pit_bins(p_pit, self.reference.p_pit_edges).tolist(), strict=True
        ):
            self._entries.append((label, bin_index))
            self._labels[label] += 1
            self._bins[bin_index] += 1
        while self.size is not None and len(self._entries) > self.size:
            old_label, old_bin = self._entries.popleft()
            self._labels[old_label] -= 1
            self._bins[old_bin] -= 1

    def clear(self) -> None:
        self._entries.clear()
        self._labels[:] = 0
        self._bins[:] = 0

    def label_counts(self) -> dict[str, int]:
        return {name: int(self._labels[code]) for code, name in enumerate(LABEL_NAMES)}

    def shares(self) -> dict[str, float]:
        """The window's label shares (decided at the reference's thresholds)."""
        return shares(self.label_counts())  # type: ignore[return-value]

    def p_pit_counts(self) -> tuple[int, ...]:
        return tuple(int(c) for c in self._bins)

    def pit_share(self) -> float:
        return self._labels[PIT] / len(self) if len(self) else 0.0

    def score(self) -> DriftScore | None:
        """The window's drift score; None until it holds ``min_decisions``."""
        if len(self) < self.min_decisions:
            return None
        return score_counts(self.reference, self.label_counts(), self.p_pit_counts(), self.level)
