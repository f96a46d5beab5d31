"""Golden sets: crops a bundle must decide, by name, as it did when it was written.

``golden.npz`` holds (read with ``allow_pickle=False``; names are fixed-width unicode arrays):

- ``crops`` (N, H, W, C) uint8 and ``probabilities`` (N, K) float32, in output order;
- ``class_names`` (K,): the output order those probabilities were written in;
- ``decided`` (N,): the label the model decided for each crop ("clean", "maybe", "pit") with
  the manifest's thresholds at the time;
- ``true_labels`` (N,): each crop's true class name, "" where unknown.

Probabilities alone cannot see a manifest whose class order was swapped: the model still gives
the same numbers, only their meaning changed. With names, the check decides the crops with the
manifest's class names and thresholds and compares labels by name, and compares probabilities
after putting the recorded ones in the manifest's order. Files written before the names (only
``crops`` and ``probabilities``) are still read; their check compares probabilities in output
order and says that it cannot see the class order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cherry_classifier.core.decision import LABEL_NAMES, Thresholds, decide
from cherry_classifier.core.manifest import ModelManifest

LOGGER = logging.getLogger(__name__)

MAX_GOLDEN_CROPS = 32  # small enough to check before every hot swap
NAMED_FIELDS = ("class_names", "decided", "true_labels")


class GoldenSetError(ValueError):
    """A golden set the model does not reproduce, or one that cannot be read."""


@dataclass(frozen=True)
class GoldenSet:
    crops: np.ndarray  # (N, H, W, C) uint8
    probabilities: np.ndarray  # (N, K) float32, in ``class_names`` order
    class_names: tuple[str, ...] | None = None  # None: an old file without names
    decided: tuple[str, ...] | None = None  # label decided per crop when written
    true_labels: tuple[str, ...] | None = None  # true class per crop, "" where unknown

    @property
    def has_names(self) -> bool:
        return self.class_names is not None and self.decided is not None

    def __len__(self) -> int:
        return len(self.crops)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays ``golden.npz`` stores (no object arrays: readable without pickle)."""
        arrays = {
            "crops": np.ascontiguousarray(self.crops, dtype=np.uint8),
            "probabilities": np.asarray(self.probabilities, dtype=np.float32),
        }
        if self.has_names:
            arrays["class_names"] = np.array(self.class_names, dtype=np.str_)
            arrays["decided"] = np.array(self.decided, dtype=np.str_).reshape(len(self))
            true = self.true_labels or ("",) * len(self)
            arrays["true_labels"] = np.array(true, dtype=np.str_).reshape(len(self))
        return arrays

    def summary(self) -> dict[str, object]:
        """Plain figures for people: counts per decided and per true label."""
        return {
            "crops": len(self),
            "crop_shape": list(self.crops.shape[1:]),
            "class_names": list(self.class_names) if self.class_names else None,
            "decided": _counts(self.decided),
            "true_labels": _counts(tuple(t for t in self.true_labels or () if t)),
        }


def _counts(names: Sequence[str] | None) -> dict[str, int] | None:
    if names is None:
        return None
    return {name: int(sum(1 for n in names if n == name)) for name in sorted(set(names))}


def named_golden(
    crops: np.ndarray,
    probabilities: np.ndarray,
    manifest: ModelManifest,
    true_labels: Sequence[str] | None = None,
) -> GoldenSet:
    """A golden set of these crops, their labels decided with the manifest's names/thresholds."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    decisions = decide(probabilities, manifest.class_names, manifest.thresholds.validated())
    decided = tuple(LABEL_NAMES[label] for label in decisions.labels)
    truth = tuple(true_labels) if true_labels is not None else ("",) * len(decided)
    if len(truth) != len(decided):
        raise ValueError(f"{len(decided)} golden crops but {len(truth)} true labels")
    return GoldenSet(crops, probabilities, tuple(manifest.class_names), decided, truth)


def with_names(golden: GoldenSet | dict[str, np.ndarray], manifest: ModelManifest) -> GoldenSet:
    """``golden`` as a named set: a ``{"crops", "probabilities"}`` mapping gets its names from
    the manifest it is saved with (the probabilities are in that manifest's output order)."""
    if isinstance(golden, GoldenSet):
        if golden.has_names:
            return golden
        return named_golden(golden.crops, golden.probabilities, manifest, golden.true_labels)
    true = golden.get("true_labels")
    return named_golden(
        np.asarray(golden["crops"]),
        np.asarray(golden["probabilities"]),
        manifest,
        None if true is None else [str(t) for t in np.asarray(true).tolist()],
    )


def decision_margin(probabilities: np.ndarray, manifest: ModelManifest) -> np.ndarray:
    """(N,) how far each crop's probabilities lie from the nearest threshold of the policy."""
    thresholds: Thresholds = manifest.thresholds
    p_pit = probabilities[:, manifest.class_names.index("pit")]
    p_clean = probabilities[:, manifest.class_names.index("clean")]
    return np.min(
        np.abs(
            np.stack(
                [
                    p_pit - thresholds.pit_threshold,
                    p_pit - thresholds.maybe_threshold,
                    p_clean - thresholds.clean_threshold,
                ]
            )
        ),
        axis=0,
    )


def select_golden(
    crops: np.ndarray,
    probabilities: np.ndarray,
    manifest: ModelManifest,
    true_labels: Sequence[str] | None = None,
    limit: int = MAX_GOLDEN_CROPS,
) -> GoldenSet:
    """At most ``limit`` crops covering every label the model decides, far from thresholds.

    Crops are taken round-robin over the decided labels (clean, maybe, pit), each label's most
    clear-cut crops first, so a low-precision backend's small differences cannot flip them and
    a swapped class order changes at least one of them. Warns when the model decides no crop
    clean or none pit (then a swapped clean/pit order may go unseen).
    """
    golden = named_golden(crops, probabilities, manifest, true_labels)
    margins = decision_margin(golden.probabilities, manifest)
    decided = np.array(golden.decided)
    queues = [
        sorted(np.flatnonzero(decided == name).tolist(), key=lambda i: -margins[i])
        for name in LABEL_NAMES
    ]
    chosen: list[int] = []
    while len(chosen) < min(limit, len(decided)):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    missing = [name for name in ("clean", "pit") if name not in set(golden.decided)]
    if missing:
        LOGGER.warning(
            "golden set: the model decides no crop %s; a swapped class order may go unseen",
            " or ".join(missing),
        )
    chosen.sort()
    return GoldenSet(
        golden.crops[chosen],
        golden.probabilities[chosen],
        golden.class_names,
        tuple(golden.decided[i] for i in chosen),
        tuple(golden.true_labels[i] for i in chosen) if golden.true_labels else None,
    )


def write_golden(path: Path, golden: GoldenSet) -> None:
    np.savez_compressed(path, **golden.to_arrays())


def read_golden(path: Path) -> GoldenSet:
    """The golden set in ``path`` (old files without names load with ``has_names`` False)."""
    with np.load(path, allow_pickle=False) as data:
        fields = set(data.files)
        if not {"crops", "probabilities"} <= fields:
            raise GoldenSetError(f"{path}: a golden set needs 'crops' and 'probabilities'")
        crops, probabilities = data["crops"], data["probabilities"]
        names = {name: data[name] for name in NAMED_FIELDS if name in fields}
    if crops.ndim != 4 or probabilities.ndim != 2 or len(crops) != len(probabilities):
        raise GoldenSetError(
            f"{path}: crops {crops.shape} and probabilities {probabilities.shape} do not match"
        )
    if not names:
        return GoldenSet(crops, probabilities)
    if {"class_names", "decided"} - set(names):
        raise GoldenSetError(f"{path}: a named golden set needs 'class_names' and 'decided'")
    class_names = tuple(str(n) for n in names["class_names"].tolist())
    decided = tuple(str(n) for n in names["decided"].tolist())
    true = names.get("true_labels")
    true_labels = None if true is None else tuple(str(n) for n in true.tolist())
    if len(class_names) != probabilities.shape[1] or len(decided) != len(crops):
        raise GoldenSetError(f"{path}: names do not fit {len(crops)} crops x {len(class_names)}")
    return GoldenSet(crops, probabilities, class_names, decided, true_labels)


def golden_problems(
    golden: GoldenSet, probabilities: np.ndarray, manifest: ModelManifest, tolerance: float
) -> list[str]:
    """Why ``probabilities`` (what the model gives for ``golden.crops`` now, in the manifest's
    output order) do not reproduce the golden set; empty when they do."""
    if probabilities.shape[0] != len(golden):
        return [f"{len(golden)} golden crops, {probabilities.shape[0]} results"]
    problems: list[str] = []
    expected = golden.probabilities
    if golden.has_names:
        assert golden.class_names is not None and golden.decided is not None
        if sorted(golden.class_names) != sorted(manifest.class_names):
            return [
                f"the golden set was written for classes {list(golden.class_names)}, the "
                f"manifest lists {list(manifest.class_names)}"
            ]
        decisions = decide(probabilities, manifest.class_names, manifest.thresholds.validated())
        for index, (want, label) in enumerate(zip(golden.decided, decisions.labels, strict=True)):
            got = LABEL_NAMES[label]
            if got != want:
                problems.append(
                    f"golden crop {index}: expected {want}, decided {got}: is the manifest's "
                    f"class order right? (golden set written for {list(golden.class_names)}, "
                    f"manifest lists {list(manifest.class_names)})"
                )
        order = [golden.class_names.index(name) for name in manifest.class_names]
        expected = expected[:, order]
    elif expected.shape != probabilities.shape:
        return [f"golden probabilities have shape {expected.shape}, got {probabilities.shape}"]
    worst = float(np.abs(probabilities - expected).max()) if len(golden) else 0.0
    if worst > tolerance:
        problems.append(f"golden crops differ by up to {worst:.4f} (> {tolerance})")
    return problems
