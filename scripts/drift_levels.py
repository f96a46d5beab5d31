"""Measure the drift score on both sides of its alarm level (docs/bags.md, core/drift.py).

    python scripts/drift_levels.py [--model models/default] [--seeds 20] [--window 500]

Renders a pool of SYNTHETIC crops per class (seed 1000, not the validation split's), runs the
model once, then draws windows of ``--window`` decisions from the pool with given class shares
(one draw per seed) and scores each against a reference:

- the bundle's own reference (its validation split): windows drawn like that split, and
  windows of other class balances;
- a reference drawn from the pool with pits at 10% (like a line), against windows with pits
  at 10% (unshifted) and 50% (the class-balance shift of issue 16).

Prints, per case, the median, 99th percentile and largest score over the seeds, and how many
seeds reached the alarm level.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.decision import LABEL_NAMES
from cherry_classifier.core.drift import (
    DEFAULT_WINDOW,
    DRIFT_ALARM_LEVEL,
    DriftWindow,
    ReferenceDistribution,
    read_reference,
)
from cherry_classifier.evaluation.synthetic import render_crop

POOL_SEED = 1000
LINE_LIKE = {"clean": 0.85, "maybe": 0.05, "pit": 0.10}
PITS_50 = {"clean": 0.45, "maybe": 0.05, "pit": 0.50}


def render_pool(classifier: Classifier, per_class: int) -> dict[str, np.ndarray]:
    """Each class's crops' probabilities (rendered with POOL_SEED)."""
    pool = {}
    for code, name in enumerate(LABEL_NAMES):
        crops = np.stack(
            [
                render_crop(name, np.random.default_rng([POOL_SEED, code, i]))
                for i in range(per_class)
            ]
        )
        pool[name] = classifier.predict_proba(crops)
    return pool


def draw(
    pool: dict[str, np.ndarray], shares: dict[str, float], count: int, seed: int
) -> np.ndarray:
    """``count`` probability rows, classes drawn with ``shares``, rows drawn from the pool."""
    rng = np.random.default_rng(seed)
    names = list(shares)
    classes = rng.choice(len(names), count, p=np.asarray([shares[n] for n in names]))
    rows = [pool[names[c]][rng.integers(len(pool[names[c]]))] for c in classes]
    return np.stack(rows)


def scores(reference, pool, shares, window, seeds, class_names) -> np.ndarray:
    values = []
    for seed in range(seeds):
        drift = DriftWindow(reference, size=None)
        drift.add(draw(pool, shares, window, seed), class_names)
        values.append(drift.score().score)
    return np.asarray(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/default"), help="bundle")
    parser.add_argument("--seeds", type=int, default=20, help="windows per case")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="decisions per window")
    parser.add_argument("--per-class", type=int, default=400, help="pool crops per class")
    args = parser.parse_args()
    classifier = Classifier.from_path(args.model, num_threads=1)
    names = classifier.manifest.class_names
    own = read_reference(args.model, classifier.model_id)
    if own is None:
        raise SystemExit(f"{args.model} has no reference.json")
    pool = render_pool(classifier, args.per_class)
    truth = own.true_label_counts or own.label_counts
    like_validation = {k: v / sum(truth.values()) for k, v in truth.items()}
    line_rows = draw(pool, LINE_LIKE, 1000, seed=999)
    line_reference = ReferenceDistribution.from_probabilities(
        line_rows, names, own.thresholds, classifier.model_id, "1000 pool crops, pits 10%"
    )
    cases = [
        (f"{args.model.name} reference", "drawn like its validation split", own, like_validation),
        (f"{args.model.name} reference", "line-like: pits 10%", own, LINE_LIKE),
        ("pits-10% reference", "pits 10% (unshifted)", line_reference, LINE_LIKE),
        ("pits-10% reference", "pits 50% (shifted)", line_reference, PITS_50),
    ]
    print(
        f"window {args.window} decisions, {args.seeds} seeds, alarm level {DRIFT_ALARM_LEVEL}; "
        f"pool {args.per_class} SYNTHETIC crops per class"
    )
    print(f"{'reference':<26} {'window':<34} {'median':>7} {'p99':>7} {'max':>7} {'alarms':>7}")
    for reference_name, window_name, reference, shares in cases:
        values = scores(reference, pool, shares, args.window, args.seeds, names)
        alarms = int(np.sum(values >= DRIFT_ALARM_LEVEL))
        print(
            f"{reference_name:<26} {window_name:<34} {np.median(values):7.3f} "
            f"{np.percentile(values, 99):7.3f} {values.max():7.3f} {alarms:>4}/{args.seeds}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
