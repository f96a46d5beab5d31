"""Compare models side by side on the same crops, through the node's loader (core Classifier).

    cherry-compare runs/a runs/b models/default [--data DATA_ROOT] [--out table.md]

Each argument is a bundle folder or file, or a run folder (its bundle is used), found and checked
(golden crops) by the core's model store: here, else in the package's models folder. All models are
evaluated on one crop set: the test split of ``--data`` (class folders, as cherry-train reads
them) or, without it, seeded synthetic crops (said so in the table's caption). Columns:
accuracy, pit recall and clean yield and maybe rate with each model's own thresholds, clean
yield at the target pit recall (threshold-free), calibration error (ECE), crops/s on this CPU,
parameters and weights size. ``--out`` writes .md, .csv or .json by its extension. The scoring
and the table are :mod:`cherry_classifier.evaluation.comparison`'s.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from cherry_classifier import cli
from cherry_classifier.core.contract import LAYER_ORDER, LINE_CLASSES
from cherry_classifier.core.model_store import ModelStore
from cherry_classifier.evaluation.comparison import ComparisonRow, format_table, score_model
from cherry_classifier.evaluation.dataset import Split
from cherry_classifier.evaluation.synthetic import render_dataset
from cherry_classifier.training.data import load_folder_splits

LOGGER = logging.getLogger(__name__)


def evaluation_crops(
    data_root: str | None, classes: Sequence[str], per_class: int, seed: int
) -> tuple[Split, list[str], str]:
    """(test split, its class names, a caption)."""
    if data_root:
        splits = load_folder_splits(data_root, classes, LAYER_ORDER, 0.15, 0.15, seed)
        return splits["test"], list(classes), f"test split of {data_root}"
    crops, labels = render_dataset(per_class, classes, seed)
    return Split(crops, labels), list(classes), f"{len(labels)} SYNTHETIC crops (seed {seed})"


def evaluate_model(
    path: str | Path,
    split: Split,
    data_classes: Sequence[str],
    target: float,
    backend: str = "eager",
    num_threads: int | None = None,
) -> ComparisonRow:
    """One table row (:func:`~cherry_classifier.evaluation.comparison.score_model`)."""
    store = ModelStore.searching(backend=backend, num_threads=num_threads)
    return score_model(str(path), store.load(path), split, data_classes, target)


def compare(
    models: Sequence[str | Path],
    data_root: str | None = None,
    classes: Sequence[str] = LINE_CLASSES,
    target: float = 0.99,
    per_class: int = 100,
    seed: int = 12345,
    backend: str = "eager",
    num_threads: int | None = None,
) -> tuple[list[ComparisonRow], str]:
    """Rows (one per model) and the caption of the crop set they were measured on."""
    split, data_classes, caption = evaluation_crops(data_root, classes, per_class, seed)
    rows = [
        evaluate_model(model, split, data_classes, target, backend, num_threads) for model in models
    ]
    return rows, caption


def build_parser() -> argparse.ArgumentParser:
    """``cherry-compare``'s command line (:mod:`cherry_classifier.cli` convention)."""
    parser = cli.tool_parser("cherry-compare", __doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="bundle folders/files or run folders")
    parser.add_argument("--data", help="dataset root (class folders; None: seeded synthetic crops)")
    parser.add_argument(
        "--classes", default=",".join(LINE_CLASSES), help="the data's classes, comma-separated"
    )
    parser.add_argument("--target", type=float, default=0.99, help="pit recall target")
    parser.add_argument("--per-class", type=int, default=100, help="synthetic crops per class")
    cli.add_seed(parser, default=12345)
    cli.add_backend(parser)
    cli.add_threads(parser)
    cli.add_out(parser, "also write the table: .md, .csv or .json (by its extension)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
            flat = [row.to_dict() for row in rows]
            args.out.write_text(json.dumps({"caption": caption, "rows": flat}, indent=2))
        elif suffix == ".csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0].to_dict()))
            writer.writeheader()
            writer.writerows(row.to_dict() for row in rows)
            args.out.write_text(buffer.getvalue())
        else:
            args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
