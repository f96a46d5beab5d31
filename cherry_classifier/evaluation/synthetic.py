"""SYNTHETIC cherries for tests, demos and CI. They imitate the sorting line; they are not it.

Every crop has the line's three layers, stacked as channels ``bot1, bot2, top2``:

- ``bot1``: backlit, long exposure (3000 us): the belt saturates at 255, the cherry is a light,
  translucent grey, a pit a darker core;
- ``bot2``: backlit, short exposure (1400 us): the same scene, darker; the cherry is mid-grey;
- ``top2``: top-lit: the cherry's surface (darker than the grey belt, textured, with highlights).

The scene is physical: backlit layers show the belt light times the cherry's transmission
``exp(-density)``, the top-lit layer shows reflectance. Per class:

- ``clean`` (pitted): a cavity where the pit was pushed out lets more light through; sometimes
  the hole goes right through (a white spot);
- ``pit``: a dense stone, a dark core in both backlit layers; sometimes beside a needle hole,
  sometimes showing as a light oval in ``top2`` through torn flesh;
- ``maybe`` (ambiguous): a pit fragment, a faint core, or a stone at the rim.

Plus irregular outlines 46-64 px across (mostly 50-60), any rotation, stems, blemishes,
neighbouring cherries at the crop edge, per-layer exposure, blur, motion blur along the belt
and sensor noise. Everything is seeded: the same seed gives the same pixels.

    cherry-synth --out OUT_DIR --per-class 300 --maybe-share 0.1 --split --seed 0

writes ``OUT_DIR/{train,val,test}/{clean,maybe,pit}/000001_{bot1,bot2,top2}.png`` (one mono
PNG per layer, as on the line; ``--stacked`` writes one 3-channel PNG per crop instead, whose
B, G, R planes as OpenCV reads them are bot1, bot2, top2) and ``SYNTHETIC.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cherry_classifier import cli
from cherry_classifier.core.contract import INPUT_SIZE_PX, LAYER_ORDER, LINE_CLASSES
from cherry_classifier.evaluation.dataset import SYNTHETIC_MARKER

LAYERS = LAYER_ORDER  # the layers rendered, in the models' channel order
CLASSES = LINE_CLASSES  # the classes that can be rendered
CROP_SIZE = INPUT_SIZE_PX  # side of a rendered crop
FRAME_SHAPE = (500, 2464)  # height, width of a line frame
SYNTHETIC_NOTE = (
    "SYNTHETIC cherries rendered by cherry_classifier.evaluation.synthetic: they imitate the "
    "sorting line's layered crops but are not real data; use them for tests, demos and CI only."
)


@dataclass(frozen=True)
class SynthStyle:
    """How varied the synthetic cherries are (defaults: close to the line's crops)."""

    diameter_px: tuple[float, float] = (50.0, 60.0)  # most cherries
    diameter_outlier_px: tuple[float, float] = (46.0, 64.0)  # the rest (outlier_share)
    outlier_share: float = 0.15
    centre_jitter_px: float = 4.0
    stem_probability: float = 0.35
    max_blemishes: int = 3
    neighbour_probability: float = 0.2  # part of another cherry at the crop's edge
    needle_hole_probability: float = 0.25  # pits with a needle track beside them: hard cases
    through_hole_probability: float = 0.35  # clean cherries with a hole right through
    blur_probability: float = 0.3
    motion_blur_probability: float = 0.2
    noise_sigma: tuple[float, float] = (1.0, 4.0)
    belt_reflectance: tuple[float, float] = (0.35, 0.72)  # top2 belt grey (90..185)


@dataclass
class SyntheticFrame:
    """A synthetic line frame and its ground truth (boxes are x, y, width, height in px)."""

    image: np.ndarray  # (500, 2464, 3) uint8, channels bot1, bot2, top2
    centres: list[tuple[int, int]]
    labels: list[str]
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)


@dataclass
class _Scene:
    """Physical maps before exposure: backlit transmission (1 = belt) and top-lit reflectance."""

    transmission: np.ndarray  # (H, W) float32
    reflectance: np.ndarray  # (H, W) float32
    illumination: np.ndarray | float = 1.0  # belt light (vignette), backlit and top-lit


def render_crop(
    label: str, rng: np.random.Generator, size: int = CROP_SIZE, style: SynthStyle | None = None
) -> np.ndarray:
    """One ``size`` x ``size`` x 3 uint8 crop (bot1, bot2, top2) of class ``label``."""
    style = style or SynthStyle()
    scene = _empty_scene((size, size), rng, style)
    centre = size / 2 + rng.uniform(-style.centre_jitter_px, style.centre_jitter_px, 2)
    if rng.random() < style.neighbour_probability:
        angle = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(0.55, 0.75) * size
        other = centre + distance * np.array([np.cos(angle), np.sin(angle)])
        _draw_cherry(scene, other, str(rng.choice(["clean", "pit"])), rng, style)
    _draw_cherry(scene, centre, label, rng, style)
    return _expose(scene, rng, style)


def class_counts(
    classes: Sequence[str], per_class: int | Mapping[str, int], maybe_share: float | None = None
) -> dict[str, int]:
    """Crops per class: ``per_class`` each, or a mapping; ``maybe_share`` of the total as maybe.

    With ``maybe_share`` the other classes keep ``per_class`` crops each and ``maybe`` gets
    ``share / (1 - share)`` times their sum, so it is ``maybe_share`` of the whole set.
    """
    if isinstance(per_class, Mapping):
        counts = {name: int(per_class.get(name, 0)) for name in classes}
    else:
        counts = {name: int(per_class) for name in classes}
    unknown = sorted(set(classes) - set(CLASSES))
    if unknown:
        raise ValueError(f"synthetic classes must be among {CLASSES}, got {unknown}")
    if maybe_share is not None and "maybe" in classes:
        if not 0 <= maybe_share < 1:
            raise ValueError(f"maybe_share must be in [0, 1), got {maybe_share}")
        others = sum(n for name, n in counts.items() if name != "maybe")
        counts["maybe"] = round(others * maybe_share / (1 - maybe_share))
    return counts


def render_dataset(
    per_class: int | Mapping[str, int],
    classes: Sequence[str] = CLASSES,
    seed: int = 0,
    size: int = CROP_SIZE,
    style: SynthStyle | None = None,
    maybe_share: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, size, size, 3) uint8 crops and (N,) int64 labels indexing ``classes``, shuffled.

    Crop ``i`` depends only on (seed, i): adding classes or changing counts reshuffles, but the
    same arguments always give the same pixels.
    """
    labels = dataset_labels(per_class, classes, seed, maybe_share)
    return render_crops(labels, np.arange(len(labels)), classes, seed, size, style), labels


def dataset_labels(
    per_class: int | Mapping[str, int],
    classes: Sequence[str] = CLASSES,
    seed: int = 0,
    maybe_share: float | None = None,
) -> np.ndarray:
    """The (N,) labels :func:`render_dataset` draws, without rendering a crop."""
    counts = class_counts(classes, per_class, maybe_share)
    labels = np.concatenate(
        [np.full(counts[name], index, np.int64) for index, name in enumerate(classes)]
    )
    np.random.default_rng(seed).shuffle(labels)
    return labels


def render_crops(
    labels: np.ndarray,
    indices: Sequence[int] | np.ndarray,
    classes: Sequence[str] = CLASSES,
    seed: int = 0,
    size: int = CROP_SIZE,
    style: SynthStyle | None = None,
) -> np.ndarray:
    """Crops ``indices`` of the dataset whose labels are ``labels`` (:func:`render_dataset`'s
    pixels: crop ``i`` depends only on (seed, i)), so one split renders without the rest."""
    crops = np.empty((len(indices), size, size, 3), np.uint8)
    for row, index in enumerate(indices):
        rng = np.random.default_rng([seed, int(index)])
        crops[row] = render_crop(classes[labels[index]], rng, size, style)
    return crops


def render_frame(
    rng: np.random.Generator,
    num_cherries: int = 25,
    classes: Sequence[str] = CLASSES,
    weights: Sequence[float] = (0.8, 0.05, 0.15),
    height: int = FRAME_SHAPE[0],
    width: int = FRAME_SHAPE[1],
    style: SynthStyle | None = None,
) -> SyntheticFrame:
    """A whole line frame with up to ``num_cherries`` non-touching cherries and their truth.

    The belt light falls off a little towards the frame's ends (vignette) but stays lit
    everywhere, so every cherry is findable; boxes are the cherries' outlines (stems excluded).
    """
    style = style or SynthStyle()
    scene = _empty_scene((height, width), rng, style)
    columns = np.linspace(-1.0, 1.0, width, dtype=np.float32)
    scene.illumination = (1.0 - rng.uniform(0.0, 0.12) * columns**4)[None, :]
    centres: list[tuple[int, int]] = []
    attempts = 0
    while len(centres) < num_cherries and attempts < 50 * num_cherries:
        attempts += 1
        x, y = int(rng.uniform(80, width - 80)), int(rng.uniform(70, height - 70))
        if all((x - u) ** 2 + (y - v) ** 2 > 75**2 for u, v in centres):
            centres.append((x, y))
    probabilities = np.asarray(weights, float) / np.sum(weights)
    labels = [str(classes[i]) for i in rng.choice(len(classes), len(centres), p=probabilities)]
    boxes = [
        _draw_cherry(scene, np.array(centre, float), label, rng, style)
        for centre, label in zip(centres, labels, strict=True)
    ]
    return SyntheticFrame(_expose(scene, rng, style), centres, labels, boxes)


# --- drawing -------------------------------------------------------------------------------


def _empty_scene(shape: tuple[int, int], rng: np.random.Generator, style: SynthStyle) -> _Scene:
    belt = rng.uniform(*style.belt_reflectance)
    texture = _smooth_noise(shape, rng, cells=max(4, shape[1] // 32), amplitude=0.03)
    return _Scene(
        transmission=np.ones(shape, np.float32),
        reflectance=(belt * (1.0 + texture)).astype(np.float32),
    )


def _draw_cherry(
    scene: _Scene, centre: np.ndarray, label: str, rng: np.random.Generator, style: SynthStyle
) -> tuple[int, int, int, int]:
    """Draw one cherry into the scene (clipped to it); return its outline's box (x, y, w, h)."""
    if label not in CLASSES:
        raise ValueError(f"unknown class {label!r}; synthetic classes are {CLASSES}")
    low, high = (
        style.diameter_outlier_px if rng.random() < style.outlier_share else (style.diameter_px)
    )
    radius = rng.uniform(low, high) / 2
    half = math.ceil(radius * 2.3)
    height, width = scene.transmission.shape
    x0, y0 = int(centre[0]) - half, int(centre[1]) - half
    xs, ys = (
        slice(max(0, x0), min(width, x0 + 2 * half)),
        slice(max(0, y0), min(height, y0 + 2 * half)),
    )
    if xs.start >= xs.stop or ys.start >= ys.stop:
        return (0, 0, 0, 0)
    grid_y, grid_x = np.mgrid[ys, xs].astype(np.float32)
    dx, dy = grid_x - np.float32(centre[0]), grid_y - np.float32(centre[1])

    # Outline: a lumpy ellipse, r(theta) = radius * (1 + sum of low harmonics).
    theta = np.arctan2(dy, dx)
    outline = np.ones_like(theta)
    outline += rng.uniform(0.0, 0.12) * np.cos(2 * (theta - rng.uniform(0, np.pi)))
    for harmonic in range(3, 10):  # lumps, then a ragged, torn rim
        amplitude = 0.035 if harmonic < 6 else 0.012
        outline += rng.uniform(0.0, amplitude) * np.cos(harmonic * theta + rng.uniform(0, 7))
    rho = np.hypot(dx, dy) / (radius * outline)  # 1 on the outline
    alpha = np.clip((1.0 - rho) * radius / 1.2 + 0.5, 0.0, 1.0)  # ~1 px soft edge
    thickness = np.sqrt(np.clip(1.0 - rho**2, 0.0, 1.0))

    shape = alpha.shape
    flesh = rng.uniform(0.5, 1.0)  # density at the centre: bot2 ~95..170 as on the line
    texture = _smooth_noise(shape, rng, cells=5, amplitude=0.15)
    texture += _smooth_noise(shape, rng, cells=14, amplitude=rng.uniform(0.05, 0.2))  # mottled
    density = flesh * (0.75 + 0.25 * thickness) * (1.0 + texture)
    cherry_red = rng.uniform(0.2, 0.5)
    wrinkles = _smooth_noise(shape, rng, cells=18, amplitude=rng.uniform(0.1, 0.3))
    surface = cherry_red * (1.0 + _smooth_noise(shape, rng, cells=6, amplitude=0.2) + wrinkles)
    surface *= 0.85 + 0.3 * thickness  # rounder where thicker: a little top-light shading

    offset = rng.uniform(0.0, 0.25) * radius
    direction = rng.uniform(0, 2 * np.pi)
    core = (offset * np.cos(direction), offset * np.sin(direction))
    density, surface = _draw_core(label, dx, dy, core, radius, density, surface, rng, style)
    density *= alpha > 0

    stem_alpha = np.zeros(shape, np.float32)
    if rng.random() < style.stem_probability:
        stem_alpha = _stem(dx, dy, radius, rng)
        density = np.maximum(density, stem_alpha * rng.uniform(1.2, 2.0))
        surface = surface * (1 - stem_alpha) + stem_alpha * rng.uniform(0.35, 0.6)
    for _ in range(int(rng.integers(0, style.max_blemishes + 1))):
        spot = _soft_ellipse(
            dx, dy, rng.uniform(-0.6, 0.6, 2) * radius, rng.uniform(2.0, 6.0), 0.8, 0.0, 3.0
        )
        surface *= 1.0 - spot * rng.uniform(0.15, 0.4)
        density += spot * rng.uniform(0.0, 0.15) * (alpha > 0)
    for _ in range(int(rng.integers(0, 3))):  # specular highlights of the top light
        spot = _soft_ellipse(
            dx, dy, rng.uniform(-0.5, 0.5, 2) * radius, rng.uniform(1.0, 3.0), 0.7, 0.0, 2.0
        )
        surface = np.maximum(surface, spot * rng.uniform(0.45, 0.8))

    cover = np.maximum(alpha, stem_alpha)
    window_t = scene.transmission[ys, xs]
    window_t *= np.exp(-density * cover).astype(np.float32)
    window_r = scene.reflectance[ys, xs]
    window_r[:] = window_r * (1 - cover) + np.clip(surface, 0, 1) * cover

    inside = np.argwhere(alpha > 0.5)
    if len(inside) == 0:
        return (0, 0, 0, 0)
    (top, left), (bottom, right) = inside.min(axis=0), inside.max(axis=0)
    return (int(xs.start + left), int(ys.start + top), int(right - left + 1), int(bottom - top + 1))


def _draw_core(
    label: str,
    dx: np.ndarray,
    dy: np.ndarray,
    core: tuple[float, float],
    radius: float,
    density: np.ndarray,
    surface: np.ndarray,
    rng: np.random.Generator,
    style: SynthStyle,
) -> tuple[np.ndarray, np.ndarray]:
    """The part that tells the classes apart: cavity, stone, fragment (density, surface)."""
    size = rng.uniform(0.3, 0.42) * radius
    angle = rng.uniform(0, np.pi)
    aspect = rng.uniform(0.65, 0.85)
    if label == "pit":
        stone = _soft_ellipse(dx, dy, core, size, aspect, angle, rng.uniform(1.5, 4.0))
        density = density + stone * rng.uniform(0.6, 1.4)
        if rng.random() < style.needle_hole_probability:  # the needle missed: a track beside
            track = np.array(core) + rng.choice([-1, 1]) * rng.uniform(0.4, 0.6) * radius
            hole = _soft_ellipse(dx, dy, track, rng.uniform(2.0, 4.0), 0.8, angle, 1.0)
            density = density * (1.0 - hole * rng.uniform(0.4, 0.8))
        if rng.random() < 0.35:  # torn flesh: the stone's light surface shows on top
            seen = _soft_ellipse(dx, dy, core, size * 0.8, aspect, angle, 1.0)
            surface = surface * (1 - seen) + seen * rng.uniform(0.55, 0.8)
    elif label == "clean":
        cavity = _soft_ellipse(dx, dy, core, size, aspect, angle, rng.uniform(1.5, 3.0))
        cavity *= 1.0 + _smooth_noise(dx.shape, rng, cells=5, amplitude=0.3)
        density = density * (1.0 - np.clip(cavity, 0, 1) * rng.uniform(0.3, 0.7))
        if rng.random() < style.through_hole_probability:
            hole = _soft_ellipse(dx, dy, core, size * rng.uniform(0.15, 0.4), 0.8, angle, 1.5)
            hole *= 1.0 + _smooth_noise(dx.shape, rng, cells=8, amplitude=0.5)
            density = density * (1.0 - np.clip(hole, 0, 1))
        if rng.random() < 0.6:  # the opening: a shadowed hole in the top-lit surface
            surface = surface * (1.0 - 0.4 * _soft_ellipse(dx, dy, core, size * 0.5, 0.8, 0, 1))
    else:  # maybe: ambiguous on purpose
        kind = rng.integers(0, 3)
        if kind == 0:  # a fragment of stone in the cavity
            cavity = _soft_ellipse(dx, dy, core, size, aspect, angle, 2.0)
            density = density * (1.0 - cavity * rng.uniform(0.2, 0.5))
            piece = _soft_ellipse(dx, dy, core, rng.uniform(0.1, 0.2) * radius, 0.7, angle, 1.0)
            density = density + piece * rng.uniform(0.6, 1.4)
        elif kind == 1:  # a faint core: a thin or partly removed stone
            stone = _soft_ellipse(dx, dy, core, size, aspect, angle, 1.0)
            density = density + stone * rng.uniform(0.25, 0.5)
        else:  # a stone pushed to the rim
            direction = rng.uniform(0, 2 * np.pi)
            rim = (
                rng.uniform(0.55, 0.75) * radius * np.array([np.cos(direction), np.sin(direction)])
            )
            stone = _soft_ellipse(dx, dy, rim, size * 0.8, aspect, angle, 1.0)
            density = density + stone * rng.uniform(0.5, 1.0)
    return density, surface


def _stem(dx: np.ndarray, dy: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """A thin, slightly curved stem from the cherry's rim outwards (soft mask in [0, 1])."""
    theta = rng.uniform(0, 2 * np.pi)
    length = rng.uniform(10, 28)
    bend = rng.uniform(-0.4, 0.4)
    steps = np.linspace(0, 1, 24)[:, None]
    heading = theta + bend * steps
    start = 0.85 * radius * np.array([np.cos(theta), np.sin(theta)])
    points = start + length * steps * np.hstack([np.cos(heading), np.sin(heading)])
    distance = np.full(dx.shape, np.inf, np.float32)
    for px, py in points:
        np.minimum(distance, np.hypot(dx - px, dy - py), out=distance)
    width = rng.uniform(0.9, 1.6)
    return np.clip(width + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def _soft_ellipse(
    dx: np.ndarray,
    dy: np.ndarray,
    centre: Sequence[float] | np.ndarray,
    radius: float,
    aspect: float,
    angle: float,
    softness: float,
) -> np.ndarray:
    """1 inside an ellipse (semi-axes radius, radius * aspect), falling to 0 over ~softness px."""
    cos, sin = np.cos(angle), np.sin(angle)
    u = (dx - centre[0]) * cos + (dy - centre[1]) * sin
    v = (-(dx - centre[0]) * sin + (dy - centre[1]) * cos) / max(aspect, 1e-3)
    distance = np.hypot(u, v) - radius
    return np.clip(0.5 - distance / max(softness, 1e-3), 0.0, 1.0).astype(np.float32)


def _smooth_noise(
    shape: tuple[int, int], rng: np.random.Generator, cells: int, amplitude: float
) -> np.ndarray:
    """Low-frequency noise in about [-amplitude, amplitude]: a coarse grid, cubic upsampling."""
    coarse = rng.uniform(-1, 1, (max(2, cells * shape[0] // max(shape)) + 1, cells + 1))
    smooth = cv2.resize(coarse.astype(np.float32), (shape[1], shape[0]), cv2.INTER_CUBIC)
    return (amplitude * smooth).astype(np.float32)


def _expose(scene: _Scene, rng: np.random.Generator, style: SynthStyle) -> np.ndarray:
    """The camera: per-layer exposure, saturation, blur, motion blur along the belt, noise."""
    light = scene.transmission * scene.illumination
    gain_bot2 = rng.uniform(1.0, 1.12)
    gain_bot1 = gain_bot2 * rng.uniform(1.3, 1.5)  # longer exposure, compressed by the sensor
    image = np.empty((*light.shape, 3), np.float32)
    image[..., 0] = 255.0 * gain_bot1 * np.power(light, 0.6)
    image[..., 1] = 255.0 * gain_bot2 * light
    image[..., 2] = 255.0 * rng.uniform(0.85, 1.15) * scene.reflectance * scene.illumination
    if rng.random() < style.blur_probability:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.0))
    if rng.random() < style.motion_blur_probability:  # the belt runs along the frame's rows
        length = int(rng.integers(2, 6))
        kernel = np.full((length, 1), 1.0 / length, np.float32)
        image = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)
    sigma = rng.uniform(*style.noise_sigma, 3).astype(np.float32)
    image += rng.standard_normal(image.shape, np.float32) * sigma
    return np.clip(image, 0, 255).astype(np.uint8)


# --- writing datasets ----------------------------------------------------------------------

SPLIT_SHARES = {"train": 0.7, "val": 0.15, "test": 0.15}


def write_dataset(
    out: str | Path,
    per_class: int,
    classes: Sequence[str] = CLASSES,
    seed: int = 0,
    split: bool = False,
    *,
    layered: bool = True,
    maybe_share: float | None = None,
    size: int = CROP_SIZE,
) -> dict[str, dict[str, int]]:
    """Write class folders of synthetic crops; return {split: {class: count}}.

    ``split``: ``train/val/test`` folders (70/15/15 of ``per_class``, each rendered from its own
    seed); otherwise one folder to be split at training time. ``layered``: one mono PNG per
    layer (``000001_bot1.png`` ...), else one 3-channel PNG (B, G, R = bot1, bot2, top2).
    """
    out = Path(out)
    shares = SPLIT_SHARES if split else {"": 1.0}
    written: dict[str, dict[str, int]] = {}
    for offset, (name, share) in enumerate(shares.items()):
        count = max(1, round(per_class * share))
        crops, labels = render_dataset(
            count, classes, seed + 1000 * offset, size, None, maybe_share
        )
        written[name or "all"] = {c: int(np.sum(labels == i)) for i, c in enumerate(classes)}
        for index, (crop, label) in enumerate(zip(crops, labels, strict=True)):
            folder = out / name / classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            stem = f"{index + 1:06d}"
            if layered:
                for channel, layer in enumerate(LAYERS):
                    cv2.imwrite(str(folder / f"{stem}_{layer}.png"), crop[..., channel])
            else:
                cv2.imwrite(str(folder / f"{stem}.png"), crop)
    info = {
        "note": SYNTHETIC_NOTE,
        "seed": seed,
        "classes": list(classes),
        "layers": list(LAYERS),
        "layered": layered,
        "crop_size": size,
        "maybe_share": maybe_share,
        "counts": written,
        "style": asdict(SynthStyle()),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / SYNTHETIC_MARKER).write_text(json.dumps(info, indent=2))
    return written


def write_frame(out: str | Path, frame: SyntheticFrame) -> None:
    """Write a frame as one mono PNG per layer plus ``labels.json`` (centres, labels, boxes)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for channel, layer in enumerate(LAYERS):
        cv2.imwrite(str(out / f"{layer}.png"), frame.image[..., channel])
    truth = {
        "note": SYNTHETIC_NOTE,
        "cherries": [
            {"centre": list(c), "label": label, "box": list(box)}
            for c, label, box in zip(frame.centres, frame.labels, frame.boxes, strict=True)
        ],
    }
    (out / "labels.json").write_text(json.dumps(truth, indent=2))


def build_parser() -> argparse.ArgumentParser:
    """``cherry-synth``'s command line (:mod:`cherry_classifier.cli` convention)."""
    parser = cli.tool_parser(
        "cherry-synth",
        "Write a labelled SYNTHETIC cherry dataset (layered 128 px crops) or frames.",
    )
    cli.add_out(parser, "output folder")
    cli.add_legacy_out(parser)
    parser.add_argument("--per-class", type=int, default=200, help="crops per class")
    parser.add_argument(
        "--classes", default="clean,maybe,pit", help="comma-separated classes, e.g. clean,pit"
    )
    parser.add_argument(
        "--maybe-share",
        type=float,
        default=None,
        help="share of all crops labelled maybe (None: --per-class, as the others)",
    )
    cli.add_seed(parser)
    parser.add_argument("--split", action="store_true", help="write train/val/test folders")
    parser.add_argument("--stacked", action="store_true", help="one 3-channel PNG per crop")
    parser.add_argument("--size", type=int, default=CROP_SIZE, help="crop side in px")
    parser.add_argument(
        "--frames", type=int, default=0, help="write N whole 2464x500 frames instead of crops"
    )
    parser.add_argument("--cherries", type=int, default=25, help="cherries per frame")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = cli.require_out(parser, parser.parse_args(argv))
    if args.frames:
        rng = np.random.default_rng(args.seed)
        for index in range(args.frames):
            write_frame(args.out / f"frame_{index:04d}", render_frame(rng, args.cherries))
        print(f"wrote {args.frames} synthetic frames to {args.out}")
        return 0
    written = write_dataset(
        args.out,
        args.per_class,
        args.classes.split(","),
        args.seed,
        args.split,
        layered=not args.stacked,
        maybe_share=args.maybe_share,
        size=args.size,
    )
    print(f"wrote synthetic crops to {args.out}: {json.dumps(written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
