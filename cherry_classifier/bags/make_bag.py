"""Write replay bags from labelled crops, layered production frames or synthetic frames.

``cherry-bag-make --out OUT`` with one source:

- ``--crops ROOT``: a training layout (``ROOT/<class>/...`` or ``ROOT/{train,val,test}/<class>``,
  see :mod:`cherry_classifier.evaluation.dataset`): one image per crop (crops mode), each labelled
  with its folder's class over the whole image;
- ``--frames DIR [DIR ...]``: layered trigger folders (like ``production_frames/<trigger>``, or
  a folder of them): ``--mode frames`` stacks and aligns the layers by their encoder counts into
  one bot1, bot2, top2 frame; ``--mode layers`` writes each layer, as taken, on its own mono
  topic (``<topic>/bot1`` ...) for the node's layers mode; ``--mode image_set`` writes one
  ``cherry_interfaces/ImageSetHdr`` per trigger on ``<topic>_set`` (the layers as taken, mono8,
  with their encoder counts and mm), as the line's camera publishes them. No labels;
- ``--synthetic N``: N synthetic frames (``evaluation.synthetic.render_frame``) with every cherry's
  true class and box as labels; ``--class-shares`` draws the classes (default the line's
  0.8, 0.05, 0.15), e.g. to make a shifted class balance for the drift score.

Images are raw ``sensor_msgs/Image`` (``--compressed none``; bgr8, or mono8 for layers) or
``CompressedImage`` (png, jpeg) on ``<topic>/compressed``, as image_transport names them.
Trigger ``i`` is stamped ``--start-s + i / --rate`` (header stamp = bag time; all images of one
trigger share it), so the same inputs always give the same bag. ``frame_id`` names the sample.
Labels go on ``/cherry_labels`` (see :mod:`.labels`).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier import cli
from cherry_classifier.bags.io import BagSummary, BagWriter, bag_summary
from cherry_classifier.bags.labels import LABELS_TOPIC, SYNTHETIC_TRUTH, write_labels
from cherry_classifier.bags.line_types import IMAGE_LAYER, IMAGE_SET_HDR, TRIGGER
from cherry_classifier.bags.messages import (
    COMPRESSIONS,
    image_message,
    image_msgtype,
    msg_class,
)
from cherry_classifier.core.decision import LABEL_NAMES
from cherry_classifier.evaluation.dataset import SPLITS, SYNTHETIC_MARKER, read_samples
from cherry_classifier.evaluation.labels import Label
from cherry_classifier.evaluation.synthetic import render_frame
from cherry_classifier.imaging.layers import (
    LAYER_ORDER,
    load_layered_frame,
    load_layers,
    read_sidecar,
    shift_along_belt,
)
from cherry_classifier.imaging.pipeline import DEFAULT_LAYER_OFFSETS_PX

LOGGER = logging.getLogger(__name__)

START_S = 1_700_000_000  # 2023-11-14T22:13:20Z: a fixed epoch keeps bags reproducible
DEFAULT_RATE_HZ = 1.8  # frames per second on the line
DATASET_FOLDER = "dataset folder"
LINE_CLASS_SHARES = (0.8, 0.05, 0.15)  # clean, maybe, pit: render_frame's default, like a line


def class_shares(text: str) -> tuple[float, float, float]:
    """``clean,maybe,pit`` shares, e.g. ``0.45,0.1,0.45`` (normalised to sum 1)."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not three comma-separated numbers") from None
    if len(values) != 3 or min(values) < 0 or not sum(values) > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give three shares >= 0 (clean,maybe,pit)")
    total = sum(values)
    return tuple(v / total for v in values)  # type: ignore[return-value]


@dataclass
class BagImage:
    """One image to write: its topic, pixels, frame_id and labels (None: unlabelled)."""

    topic: str
    image: np.ndarray
    frame_id: str
    labels: list[Label] | None = None
    encoding: str | None = None  # raw Image encoding (default mono8 / bgr8 by shape)
    labels_topic: str | None = None  # where its labels go (default: the bag's labels topic)


@dataclass
class BagImageSet:
    """One trigger as the line's camera sends it: an ImageSetHdr of mono layers with their
    encoder counts and mm (always raw mono8, whatever the bag's compression)."""

    topic: str
    frame_id: str  # each layer image's header frame_id is ``<frame_id>/<layer>``
    trigger_id: int
    layers: list[tuple[str, np.ndarray, int, int]]  # (name, mono image, encoder count, mm)
    labels: list[Label] | None = None  # in the reference (first) layer's coordinates
    labels_topic: str | None = None


def image_set_message(item: BagImageSet, stamp: int) -> tuple[Any, Any]:
    """(the ImageSetHdr of ``item`` stamped ``stamp``, its reference layer's image header)."""
    layers = [
        msg_class(IMAGE_LAYER)(
            name=name,
            frame_id=f"{item.frame_id}/{name}",
            image=image_message(plane, stamp, f"{item.frame_id}/{name}", "none", "mono8"),
            count=count,
            mm=mm,
        )
        for name, plane, count, mm in item.layers
    ]
    reference = layers[0]
    trigger = msg_class(TRIGGER)(
        frame_id=item.trigger_id,
        stamp=reference.image.header.stamp,
        encoder_count=reference.count,
        encoder_mm=reference.mm,
    )
    return msg_class(IMAGE_SET_HDR)(trigger=trigger, images=layers), reference.image.header


def image_topic(base: str, compression: str) -> str:
    """``base`` for raw images, ``base/compressed`` for compressed ones (image_transport)."""
    if compression == "none" or base.endswith("/compressed"):
        return base
    return base.rstrip("/") + "/compressed"


def write_image_bag(
    out: str | Path,
    triggers: Iterable[Sequence[BagImage | BagImageSet]],
    storage: str = "sqlite3",
    compression: str = "png",
    rate_hz: float = DEFAULT_RATE_HZ,
    start_s: float = START_S,
    jpeg_quality: int = 90,
    labels_topic: str = LABELS_TOPIC,
) -> BagSummary:
    """Write one trigger's images per step, stamped ``start_s + step / rate_hz``.

    Image topics get ``/compressed`` appended when compressed (see :func:`image_topic`); the
    labels of each labelled image are written on ``labels_topic`` with its header (an image
    set's: with its reference layer's header).
    """
    if rate_hz <= 0:
        raise ValueError(f"rate must be > 0, got {rate_hz}")
    msgtype = image_msgtype(compression)
    start_ns = round(start_s * 1e9)
    with BagWriter(out, storage, custom_data={"source": "cherry-bag-make"}) as bag:
        for step, images in enumerate(triggers):
            stamp = start_ns + round(step * 1e9 / rate_hz)
            for item in images:
                if isinstance(item, BagImageSet):
                    bag.add_topic(item.topic, IMAGE_SET_HDR)
                    message, reference_header = image_set_message(item, stamp)
                    bag.write(item.topic, stamp, message)
                    if item.labels is not None:
                        target = item.labels_topic or labels_topic
                        write_labels(bag, item.topic, reference_header, item.labels, stamp, target)
                    continue
                topic = image_topic(item.topic, compression)
                bag.add_topic(topic, msgtype)
                message = image_message(
                    item.image, stamp, item.frame_id, compression, item.encoding, jpeg_quality
                )
                bag.write(topic, stamp, message)
                if item.labels is not None:
                    target = item.labels_topic or labels_topic
                    write_labels(bag, topic, message.header, item.labels, stamp, target)
    return bag_summary(out)


# -- sources -------------------------------------------------------------------------------------
def crop_folder_triggers(
    root: str | Path,
    topic: str = "/camera/crops",
    split: str | None = None,
    channels: Sequence[str] = LAYER_ORDER,
    limit: int | None = None,
) -> Iterator[list[BagImage]]:
    """One crop per trigger from ``root/<class>/`` (or ``root/<split>/<class>/``).

    Labels: the folder's class over the whole crop, origin "synthetic truth" when the folder
    was written by cherry-synth (``SYNTHETIC.json``), else "dataset folder".
    """
    root = Path(root)
    origin = SYNTHETIC_TRUTH if (root / SYNTHETIC_MARKER).exists() else DATASET_FOLDER
    if split is not None:
        bases = [root / split]
    elif any((root / s).is_dir() for s in SPLITS):
        bases = [root / s for s in SPLITS if (root / s).is_dir()]
    else:
        bases = [root]
    count = 0
    for base in bases:
        for code, name in enumerate(LABEL_NAMES):
            folder = base / name
            if not folder.is_dir():
                continue
            for stem, crop in read_samples(folder, channels):
                if limit is not None and count >= limit:
                    return
                height, width = crop.shape[:2]
                label = Label((0, 0, width, height), code, origin)
                frame_id = f"{base.relative_to(root).as_posix()}/{name}/{stem}".lstrip("./")
                yield [BagImage(topic, crop, frame_id, [label])]
                count += 1


def trigger_folders(paths: Iterable[str | Path]) -> list[Path]:
    """Trigger folders among ``paths``: each path, or its sub-folders, that hold layer images."""
    found = []
    for path in map(Path, paths):
        candidates = [path, *sorted(p for p in path.iterdir() if p.is_dir())]
        for folder in candidates:
            try:
                load_layers(folder)
            except (ValueError, OSError):
                continue
            found.append(folder)
    return found


def production_triggers(
    folders: Iterable[str | Path],
    topic: str = "/camera/image",
    mode: str = "frames",
    layer_names: Sequence[str] = LAYER_ORDER,
    labels: dict[str, list[Label]] | None = None,
    labels_topic: str | None = None,
) -> Iterator[list[BagImage | BagImageSet]]:
    """Layered trigger folders as stacked, aligned frames (``frames``), mono layers (``layers``,
    on ``<topic>/<layer>``) or image sets (``image_set``, on ``<topic>_set``).

    ``labels``: optional labels per trigger folder name (e.g. an annotated frame's boxes),
    written on ``labels_topic`` (default: the bag's labels topic).
    """
    for folder in map(Path, folders):
        frame_labels = (labels or {}).get(folder.name)
        if mode == "frames":
            frame = load_layered_frame(folder, layer_names)
            yield [BagImage(topic, frame.image, frame.frame_id, frame_labels, None, labels_topic)]
        elif mode == "layers":
            layers = load_layers(folder, layer_names)
            frame_id = load_layered_frame(folder, layer_names, align=False).frame_id
            yield [  # labels (bot1 coordinates: the reference layer) go with the first layer
                BagImage(
                    f"{topic}/{name}",
                    layers[name],
                    f"{frame_id}/{name}",
                    frame_labels if index == 0 else None,
                    None,
                    labels_topic,
                )
                for index, name in enumerate(layer_names)
            ]
        elif mode == "image_set":
            item = image_set_of_folder(folder, f"{topic}_set", layer_names, frame_labels)
            item.labels_topic = labels_topic
            yield [item]
        else:
            raise ValueError(f"mode must be frames, layers or image_set, got {mode!r}")


def image_set_of_folder(
    folder: Path,
    topic: str,
    layer_names: Sequence[str] = LAYER_ORDER,
    labels: list[Label] | None = None,
) -> BagImageSet:
    """One trigger folder as the line's camera sends it (layers as taken, counts and mm from
    the sidecar); the trigger id is the sidecar's numeric frame id (else 0)."""
    layers = load_layers(folder, layer_names)
    frame_id, counts = read_sidecar(folder)
    missing = [name for name in layer_names if name not in counts]
    if missing:
        raise ValueError(f"{folder}: no encoder counts for {missing}: an image set needs them")
    mms = sidecar_mm(folder)
    planes = [(name, layers[name], counts[name], mms.get(name, 0)) for name in layer_names]
    trigger_id = int(frame_id) if frame_id is not None and frame_id.isdigit() else 0
    return BagImageSet(topic, frame_id or folder.name, trigger_id, planes, labels)


def sidecar_mm(folder: Path) -> dict[str, int]:
    """Belt position (mm) per layer from a trigger folder's sidecar ({} when it has none)."""
    for sidecar in sorted(folder.glob("*.json")) + sorted(folder.glob("*.txt")):
        try:
            data = json.loads(sidecar.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("encoder_mm"), dict):
            return {str(k): int(v) for k, v in data["encoder_mm"].items()}
        if isinstance(data, dict) and isinstance(data.get("images"), list):
            return {
                str(i["name"]): int(i["encoder_mm"])
                for i in data["images"]
                if isinstance(i, dict) and "name" in i and "encoder_mm" in i
            }
    return {}


def synthetic_triggers(
    count: int,
    topic: str = "/camera/image",
    cherries: int | Sequence[int] = 25,
    seed: int = 0,
    mode: str = "frames",
    layer_names: Sequence[str] = LAYER_ORDER,
    layer_offsets_px: Sequence[int] = DEFAULT_LAYER_OFFSETS_PX,
    class_shares: Sequence[float] = LINE_CLASS_SHARES,
) -> Iterator[list[BagImage]]:
    """Synthetic frames with their truth; frame ``i`` depends only on (seed, i).

    ``cherries``: per frame, or a sequence cycled over the frames. ``class_shares``: how likely
    each cherry is clean, maybe, pit.

    ``layers`` mode writes the three channels on ``<topic>/<layer>`` as mono images, each moved
    up the belt by its offset, as a camera takes them: the node's layer offsets realign them.
    """
    for index in range(count):
        number = cherries if isinstance(cherries, int) else cherries[index % len(cherries)]
        frame = render_frame(np.random.default_rng([seed, index]), number, weights=class_shares)
        labels = [
            Label(tuple(box), LABEL_NAMES.index(name), SYNTHETIC_TRUTH)
            for box, name in zip(frame.boxes, frame.labels, strict=True)
        ]
        frame_id = f"synthetic_{seed}_{index:04d}"
        if mode == "frames":
            yield [BagImage(topic, frame.image, frame_id, labels)]
            continue
        if mode != "layers":
            raise ValueError(f"mode must be frames or layers, got {mode!r}")
        images = []
        for channel, (name, offset) in enumerate(zip(layer_names, layer_offsets_px, strict=True)):
            plane = shift_along_belt(np.ascontiguousarray(frame.image[..., channel]), -offset)
            images.append(
                BagImage(
                    f"{topic}/{name}",
                    plane,
                    f"{frame_id}/{name}",
                    labels if channel == 0 else None,
                )
            )
        yield images


# -- command line --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """``cherry-bag-make``'s command line (:mod:`cherry_classifier.cli` convention)."""
    parser = cli.tool_parser(
        "cherry-bag-make",
        "Write a rosbag2 replay bag (images + /cherry_labels) from crops, layered frames or\n"
        "synthetic frames.",
    )
    cli.add_out(parser, "bag folder to create (must not exist)")
    cli.add_legacy_out(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--crops", type=Path, help="labelled crop folders ROOT/<class>/...")
    source.add_argument("--frames", type=Path, nargs="+", help="layered trigger folder(s)")
    source.add_argument("--synthetic", type=int, metavar="N", help="N synthetic frames")
    parser.add_argument(
        "--mode",
        choices=("frames", "layers", "image_set"),
        default="frames",
        help="frames: one stacked bot1, bot2, top2 image per trigger; layers: one mono topic "
        "per layer; image_set (--frames only): one ImageSetHdr per trigger on <topic>_set",
    )
    parser.add_argument(
        "--topic", help="image topic (None: /camera/crops with --crops, else /camera/image)"
    )
    parser.add_argument(
        "--storage", choices=("sqlite3", "mcap"), default="sqlite3", help="rosbag2 storage"
    )
    parser.add_argument(
        "--compressed",
        choices=COMPRESSIONS,
        default="png",
        help="CompressedImage format on <topic>/compressed (none: raw Image on <topic>)",
    )
    parser.add_argument("--jpeg-quality", type=int, default=90, help="--compressed jpeg: quality")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE_HZ, help="triggers per second")
    parser.add_argument("--start-s", type=float, default=START_S, help="first stamp (epoch s)")
    parser.add_argument("--split", help="--crops: only this split folder (train, val, test)")
    parser.add_argument("--limit", type=int, help="--crops: at most this many crops")
    parser.add_argument("--cherries", type=int, default=25, help="--synthetic: per frame")
    parser.add_argument(
        "--class-shares",
        type=class_shares,
        default=",".join(f"{share:g}" for share in LINE_CLASS_SHARES),
        help="--synthetic: clean,maybe,pit shares of the cherries (the default: a line's)",
    )
    cli.add_seed(parser)
    cli.add_labels_topic(parser, LABELS_TOPIC)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = cli.require_out(parser, parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.crops is not None:
        triggers = crop_folder_triggers(
            args.crops, args.topic or "/camera/crops", args.split, limit=args.limit
        )
    elif args.frames is not None:
        folders = trigger_folders(args.frames)
        if not folders:
            raise SystemExit(f"no layered trigger folders in {[str(p) for p in args.frames]}")
        triggers = production_triggers(folders, args.topic or "/camera/image", args.mode)
    else:
        triggers = synthetic_triggers(
            args.synthetic,
            args.topic or "/camera/image",
            args.cherries,
            args.seed,
            args.mode,
            class_shares=args.class_shares,
        )
    summary = write_image_bag(
        args.out,
        triggers,
        args.storage,
        args.compressed,
        args.rate,
        args.start_s,
        args.jpeg_quality,
        args.labels_topic,
    )
    print_summary(summary)
    return 0


def print_summary(summary: BagSummary) -> None:
    """What a bag holds: storage, size, duration, messages per topic."""
    size = sum(p.stat().st_size for p in Path(summary.path).iterdir())
    print(
        f"wrote {summary.path} ({summary.storage}, {size / 1e6:.2f} MB, {summary.duration_s:.2f} s)"
    )
    for topic, (msgtype, count) in summary.topics.items():
        print(f"  {topic}: {count} x {msgtype}")


if __name__ == "__main__":
    raise SystemExit(main())
