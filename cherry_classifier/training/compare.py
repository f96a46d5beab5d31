"""Compare models side by side on the same crops, through the node's loader (core Classifier).

    cherry-compare runs/a runs/b models/default [--data DATA_ROOT] [--out table.md]

Each argument is a bundle folder or file, or a run folder (its bundle is used). All models are
evaluated on one crop set: the test split of ``--data`` (class folders, as cherry-train reads
them) or, without it, seeded synthetic crops (said so in the table's caption). Columns:
accuracy, pit recall and clean yield and maybe rate with each model's own thresholds, clean
yield at the target pit recall (threshold-free), calibration error (ECE), crops/s on this CPU,
parameters and weights size. ``--out`` writes .md, .csv or .json by its extension.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.core.classifier import Classifier
from cherry_classifier.training.data import Split, load_folder_splits
from cherry_classifier.training.metrics import (
    classification_metrics,
    decision_metrics,
    yield_at_recall,
)
from cherry_classifier.training.synth import render_dataset

LOGGER = logging.getLogger(__name__)

COLUMNS = (
    ("model", "model"),
    ("model_id", "model id"),
    ("architecture", "architecture"),
    ("classes", "classes"),
    ("accuracy", "accuracy"),
    ("pit_recall", "pit recall"),
    ("clean_yield", "clean yield"),
    ("clean_yield_at_recall", "clean yield @ target recall"),
    ("maybe_rate", "maybe rate"),
    ("ece", "ECE"),
    ("crops_per_second", "crops/s"),
    ("parameters", "parameters"),
    ("size_mb", "size MB"),
)


def resolve_bundle(path: str | Path) -> Path:
    """A bundle path from a bundle folder/file or a run folder (its report names the bundle)."""
    path = Path(path)
    if path.is_file() or (path / "manifest.yaml").is_file():
        return path
    report = path / "report.json"
    if report.is_file():
        recorded = Path(json.loads(report.read_text())["bundle"])
        for candidate in (recorded, path / recorded.name):
            if (candidate / "manifest.yaml").is_file():
                return candidate
    raise FileNotFoundError(f"{path}: neither a bundle nor a run folder with report.json")


def evaluation_crops(
    data_root: str | None, classes: Sequence[str], per_class: int, seed: int
) -> tuple[Split, list[str], str]:
    """(test split, its class names, a caption)."""
    if data_root:
        splits = load_folder_splits(data_root, classes, ("bot1", "bot2", "top2"), 0.15, 0.15, seed)
        return splits["test"], list(classes), f"test split of {data_root}"
    crops, labels = render_dataset(per_class, classes, seed)
    return Split(crops, labels), list(classes), f"{len(labels)} SYNTHETIC crops (seed {seed})"


def measure_throughput(classifier: Classifier, crops: np.ndarray, batch: int = 32) -> float:
    """Crops per second through ``predict_proba`` in batches of ``batch`` (best of 3)."""
    sample = crops[:batch] if len(crops) >= batch else np.resize(crops, (batch, *crops.shape[1:]))
    classifier.predict_proba(sample)  # warm
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        classifier.predict_proba(sample)
        best = min(best, time.perf_counter() - started)
    return batch / best


def evaluate_model(
    path: str | Path,
    split: Split,
    data_classes: Sequence[str],
    target: float,
    backend: str = "eager",
    num_threads: int | None = None,
) -> dict[str, Any]:
    """One table row; crops of classes the model lacks are left out of its figures."""
    bundle_path = resolve_bundle(path)
    classifier = Classifier.from_path(bundle_path, backend=backend, num_threads=num_threads)
    manifest = classifier.manifest
    names = list(manifest.class_names)
    keep = np.array([data_classes[label] in names for label in split.labels], bool)
    labels = np.array([names.index(data_classes[label]) for label in split.labels[keep]], np.int64)
    crops = split.crops[keep]
    probabilities = classifier.predict_proba(crops)
    scores = classification_metrics(probabilities, labels, names)
    decisions = decision_metrics(probabilities, labels, names, manifest.thresholds)
    weights = (bundle_path / "weights.pt" if bundle_path.is_dir() else bundle_path).stat().st_size
    model = classifier.bundle.build()
    return {
        "model": str(path),
        "model_id": classifier.model_id,
        "architecture": manifest.architecture,
        "classes": ",".join(names),
        "accuracy": scores["accuracy"],
        "pit_recall": decisions["pit_recall"],
        "clean_yield": decisions["clean_yield"],
        "clean_yield_at_recall": yield_at_recall(probabilities, labels, names, target),
        "maybe_rate": decisions["maybe_rate"],
        "ece": scores["ece"],
        "crops_per_second": measure_throughput(classifier, crops),
        "parameters": sum(p.numel() for p in model.parameters()),
        "size_mb": weights / 1e6,
        "crops": len(labels),
    }


def format_table(rows: list[dict[str, Any]], caption: str) -> str:
    header = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [f"Evaluated on {caption}.", "", header, "|" + " --- |" * len(COLUMNS)]
    for row in rows:
        cells = []
        for key, _ in COLUMNS:
            value = row[key]
            if key == "parameters":
                cells.append(f"{value / 1e6:.2f} M")
            elif key == "crops_per_second":
                cells.append(f"{value:.0f}")
            elif isinstance(value, float):
                cells.append(f"{value:.4f}" if key != "size_mb" else f"{value:.1f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(
    models: Sequence[str | Path],
    data_root: str | None = None,
    classes: Sequence[str] = ("clean", "maybe", "pit"),
    target: float = 0.99,
    per_class: int = 100,
    seed: int = 12345,
    backend: str = "eager",
    num_threads: int | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Rows (one per model) and the caption of the crop set they were measured on."""
    split, data_classes, caption = evaluation_crops(data_root, classes, per_class, seed)
    rows = [
        evaluate_model(model, split, data_classes, target, backend, num_threads) for model in models
    ]
    return rows, caption


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cherry-compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="bundle folders/files or run folders")
    parser.add_argument("--data", help="dataset root (class folders); default: synthetic crops")
    parser.add_argument("--classes", default="clean,maybe,pit", help="the data's classes")
    parser.add_argument("--target", type=float, default=0.99, help="pit recall target")
    parser.add_argument("--per-class", type=int, default=100, help="synthetic crops per class")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--backend", default="eager", help="core backend (eager, onnxruntime...)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    parser.add_argument("--out", type=Path, help="also write the table: .md, .csv or .json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rows, caption = compare(
        args.models,
        args.data,
        args.classes.split(","),
        args.target,
        args.per_class,
        args.seed,
        args.backend,
        args.threads,
    )
    table = format_table(rows, caption)
    print(table)
    if args.out:
        suffix = args.out.suffix.lower()
        if suffix == ".json":
            args.out.write_text(json.dumps({"caption": caption, "rows": rows}, indent=2))
        elif suffix == ".csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            args.out.write_text(buffer.getvalue())
        else:
            args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
