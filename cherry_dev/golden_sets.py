"""Golden sets for the bundles tests and benchmarks make: the node refuses a bundle without one
(``require_golden``), so every bundle this project writes carries one."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_golden_set(folder: Path, count: int = 4, seed: int = 0) -> Path:
    """Give the bundle folder ``folder`` a golden set, as training's export does: ``count``
    crops (random, at the manifest's crop size), the probabilities its own fp32 eager model
    gives them and the labels it decides, by name. Returns the file written."""
    from cherry_classifier.core.bundle import GOLDEN_FILE
    from cherry_classifier.core.classifier import Classifier
    from cherry_classifier.core.golden import named_golden, write_golden

    classifier = Classifier.from_path(folder, num_threads=1)
    manifest = classifier.manifest
    shape = (count, manifest.crop_size, manifest.crop_size, manifest.num_channels)
    crops = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    path = Path(folder) / GOLDEN_FILE
    write_golden(path, named_golden(crops, classifier.predict_proba(crops), manifest))
    return path
