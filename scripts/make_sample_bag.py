#!/usr/bin/env python3
"""Write the bundled sample bag ``data/sample_bag/`` (mcap storage, about 3 MB), deterministically.

Two cameras in frames mode, ``sensor_msgs/CompressedImage`` (JPEG quality 95), 1.8 frames/s:

- ``/line1/image/compressed``: 12 SYNTHETIC frames (``evaluation.synthetic.render_frame``, seed 0,
  20 to 30 cherries each) with every cherry's true class on ``/cherry_labels``
  (origin "synthetic truth");
- ``/line2/image/compressed``: the real production frames of ``../shared/data/production_frames``
  (one per trigger folder, layers aligned by their encoder counts, bot1, bot2, top2), no truth.
  The frame the old production model annotated (``annotated/test2.png``, trigger
  20240426T121926876364) has its 20 boxes on ``/cherry_labels/production_model`` (origin
  "production model": the old model's decisions, not ground truth). Its colours were swapped
  by a BGR/RGB mix-up: green boxes are clean, cyan (meant yellow) maybe, blue (meant red) pit.

    python scripts/make_sample_bag.py [--out data/sample_bag] [--shared ../shared]

The shared folder is needed only to write the bag, never to use it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cherry_classifier.bags.labels import Label  # noqa: E402
from cherry_classifier.bags.make_bag import (  # noqa: E402
    print_summary,
    production_triggers,
    synthetic_triggers,
    trigger_folders,
    write_image_bag,
)
from cherry_classifier.core.decision import LABEL_NAMES  # noqa: E402

SYNTHETIC_FRAMES = 12
CHERRIES = (24, 20, 27, 30, 22, 26, 21, 29, 25, 23, 28, 26)
PRODUCTION_LABELS_TOPIC = "/cherry_labels/production_model"
ANNOTATED = ("annotated/test2.png", "20240426T121926876364")
# Box colours in the annotated PNG (B, G, R as OpenCV reads it) -> label
ANNOTATION_COLOURS = {(50, 205, 50): "clean", (255, 255, 0): "maybe", (255, 0, 0): "pit"}


def outline_boxes(mask: np.ndarray, min_side: int = 20, max_side: int = 200, tol: int = 3):
    """(x, y, w, h) of the rectangle outlines in a bool mask, overlapping ones included.

    Each box has a top and a bottom edge: horizontal runs over the same columns. Runs are
    grouped by their column span (within ``tol`` px); the outermost rows of a group make a box.
    """
    spans: dict[tuple[int, int], list[int]] = {}
    for y in range(mask.shape[0]):
        edges = np.diff(np.concatenate([[0], mask[y].astype(np.int8), [0]]))
        for x0, x1 in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            if not min_side <= x1 - x0 <= max_side:
                continue
            key = next(
                (k for k in spans if abs(k[0] - x0) <= tol and abs(k[1] - x1) <= tol),
                (int(x0), int(x1)),
            )
            spans.setdefault(key, []).append(y)
    boxes = []
    for (x0, x1), rows in sorted(spans.items()):
        height = max(rows) - min(rows) + 1
        if min_side <= height <= max_side:
            boxes.append((x0, min(rows), x1 - x0, height))
    return boxes


def annotated_labels(path: Path) -> list[Label]:
    """The old production model's boxes in the annotated frame, by colour."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{path}: unreadable")
    labels = []
    for colour, name in ANNOTATION_COLOURS.items():
        mask = np.all(image == np.asarray(colour, np.uint8), axis=2)
        for box in outline_boxes(mask):
            labels.append(Label(box, LABEL_NAMES.index(name), "production model"))
    return sorted(labels, key=lambda label: (label.region[0], label.region[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "sample_bag")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--storage", choices=("sqlite3", "mcap"), default="mcap")
    parser.add_argument("--jpeg-quality", type=int, default=95)
    args = parser.parse_args()

    frames_dir = args.shared / "data" / "production_frames"
    folders = trigger_folders([frames_dir])
    if not folders:
        raise SystemExit(f"no production frames under {frames_dir}")
    annotated = {ANNOTATED[1]: annotated_labels(frames_dir / ANNOTATED[0])}
    line1 = list(synthetic_triggers(SYNTHETIC_FRAMES, "/line1/image", cherries=CHERRIES, seed=0))
    line2 = list(
        production_triggers(
            folders,
            "/line2/image",
            "frames",
            labels=annotated,
            labels_topic=PRODUCTION_LABELS_TOPIC,
        )
    )
    triggers = [
        line1[i] + (line2[i] if i < len(line2) else []) for i in range(max(len(line1), len(line2)))
    ]
    if args.out.exists():
        shutil.rmtree(args.out)
    summary = write_image_bag(
        args.out, triggers, args.storage, "jpeg", 1.8, jpeg_quality=args.jpeg_quality
    )
    print_summary(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
