"""Cherry localizer speed and counts per frame: the real production frames, or synthetic ones.

    python benchmarks/bench_localizer.py [--repeats 200] [--frames-dir DIR] [--synthetic]

Real frames are read from ``$CHERRY_SHARED_DIR/data/production_frames`` (default
``<repo>/../shared``) when present, stacked bot1, bot2, top2 and aligned like production.

The last line is the figure the localizer is held to (it was once a test's wall-clock assertion;
speed is this benchmark's job): the median locate time over every timed run of every frame,
against the target of 10 ms a frame (the localizer must never dominate inference).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from cherry_classifier.imaging.layers import load_layered_frame  # noqa: E402
from cherry_classifier.imaging.localizer import CherryLocalizer, cut_crops  # noqa: E402

TARGET_MS = 10.0  # a 2464x500 frame must be located in well under one batch's inference


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    shared = Path(os.environ.get("CHERRY_SHARED_DIR", REPO_ROOT.parent / "shared"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed runs per frame")
    parser.add_argument("--frames-dir", type=Path, default=shared / "data" / "production_frames")
    parser.add_argument("--synthetic", action="store_true", help="synthetic frames only")
    parser.add_argument("--threads", type=int, default=None, help="cv2.setNumThreads")
    return parser.parse_args(argv)


def real_frames(folder: Path) -> Iterator[tuple[str, np.ndarray]]:
    for trigger in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            yield trigger.name, load_layered_frame(trigger).image
        except (OSError, ValueError) as error:
            print(f"skipping {trigger.name}: {error}", file=sys.stderr)


def synthetic_frames(count: int = 3) -> Iterator[tuple[str, np.ndarray]]:
    """Bright belt, 20, 25, 30 dark non-touching cherries 50-60 px across, noise."""
    rng = np.random.default_rng(0)
    for index in range(count):
        image = np.full((500, 2464, 3), (250, 245, 160), np.uint8)
        centres: list[tuple[int, int]] = []
        while len(centres) < 20 + 5 * index:
            x, y = int(rng.integers(100, 2364)), int(rng.integers(70, 430))
            if all(np.hypot(x - u, y - v) > 80 for u, v in centres):
                centres.append((x, y))
                axes = (int(rng.integers(25, 31)), int(rng.integers(25, 31)))
                angle = float(rng.uniform(0, 180))
                cv2.ellipse(image, (x, y), axes, angle, 0, 360, (205, 95, 90), -1)
        noise = rng.normal(0, 4, image.shape)
        yield f"synthetic-{len(centres)}", np.clip(image + noise, 0, 255).astype(np.uint8)


def timings_ms(function: Callable[[], object], repeats: int) -> np.ndarray:
    function()  # warm up
    times = np.empty(repeats)
    for index in range(repeats):
        started = time.perf_counter()
        function()
        times[index] = time.perf_counter() - started
    return times * 1000.0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    use_real = not args.synthetic and args.frames_dir.is_dir()
    frames = list(real_frames(args.frames_dir) if use_real else synthetic_frames())
    localizer = CherryLocalizer()
    print(
        f"{len(frames)} {'real' if use_real else 'synthetic'} frames, {args.repeats} runs each, "
        f"cv2 threads {cv2.getNumThreads()}, load average (1 min) {os.getloadavg()[0]:.2f}"
    )
    print(f"{'frame':<26}{'found':>6}{'cut':>5}{'locate p50':>12}{'p99':>8}{'crops p50':>11}")
    every_locate: list[np.ndarray] = []
    for name, image in frames:
        located = localizer.locate(image)
        flagged = CherryLocalizer(_flagging(localizer)).locate(image)
        locate = timings_ms(lambda image=image: localizer.locate(image), args.repeats)
        crops = timings_ms(lambda image=image, r=located: cut_crops(image, r), args.repeats)
        every_locate.append(locate)
        print(
            f"{name:<26}{len(located):>6}{len(flagged) - len(located):>5}"
            f"{np.percentile(locate, 50):>10.2f}ms{np.percentile(locate, 99):>6.2f}ms"
            f"{np.percentile(crops, 50):>9.2f}ms"
        )
    median = float(np.median(np.concatenate(every_locate))) if every_locate else float("nan")
    verdict = "within" if median < TARGET_MS else "OVER"
    print(
        f"locate median over all {len(frames)} frames: {median:.2f} ms "
        f"({verdict} the {TARGET_MS:.0f} ms target)"
    )
    return 0


def _flagging(localizer: CherryLocalizer):
    from dataclasses import replace

    return replace(localizer.params, border_policy="flag")


if __name__ == "__main__":
    sys.exit(main())
