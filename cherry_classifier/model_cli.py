"""``cherry-model``: from the line's ``.pt`` file to a checked bundle the node can run.

    cherry-model import classification-2023-05.pt --architecture resnet50 \\
        --classes clean,maybe,pit --input-scale 1/255 --crops crops/labelled --out models/line3
    cherry-model variants models/line3 --calibration crops/calibration --heldout crops/heldout
    cherry-model info models/line3
    cherry-model verify models/line3
    cherry-model reference models/line3 --crops crops/validation

``import --crops`` and ``reference`` write the bundle's reference distribution
(``reference.json``: decided label shares and a P(pit) histogram, for the drift score of
:mod:`cherry_classifier.core.drift`).

``import`` never guesses the contract: architecture, class order and input scale are required.
Crop folders use the dataset layout (``DIR/<class>/*.png``, :mod:`evaluation.dataset`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import stat
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier import cli
from cherry_classifier.core.bundle import (
    GOLDEN_FILE,
    MANIFEST_FILE,
    VARIANTS_DIR,
    WEIGHTS_FILE,
    ModelBundle,
    load_bundle,
    save_bundle,
)
from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.cpu import supports_fast_bf16
from cherry_classifier.core.drift import (
    NO_REFERENCE,
    REFERENCE_FILE,
    ReferenceDistribution,
    read_reference,
    write_reference,
)
from cherry_classifier.core.golden import (
    MAX_GOLDEN_CROPS,
    GoldenSet,
    GoldenSetError,
    read_golden,
    select_golden,
)
from cherry_classifier.core.manifest import ModelManifest
from cherry_classifier.core.preprocess import stack_crops
from cherry_classifier.core.safe_io import (
    ModelLoadError,
    read_yaml_mapping,
    sha256_file,
    torch_load_safely,
)
from cherry_classifier.core.variants import VARIANT_FILES, VARIANTS, accepted_variant
from cherry_classifier.evaluation.dataset import read_class_samples
from cherry_classifier.evaluation.metrics import evaluate_probabilities
from cherry_classifier.evaluation.synthetic import CLASSES as RENDERABLE_CLASSES
from cherry_classifier.evaluation.synthetic import render_crop

PROG = "cherry-model"
SYNTHETIC_PER_CLASS = 8


# -- argument types ----------------------------------------------------------------------------
def input_scale(text: str) -> float:
    """``1/255`` or a number (``0.00392156862745098``, ``1``)."""
    try:
        if "/" in text:
            numerator, denominator = text.split("/", 1)
            value = float(numerator) / float(denominator)
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or a fraction") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"input scale must be a positive number, got {text!r}")
    return value


def names(text: str) -> tuple[str, ...]:
    """Comma-separated names, e.g. ``clean,maybe,pit``."""
    parts = tuple(part.strip() for part in text.split(","))
    if not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r}: empty name in the list")
    return parts


def numbers(text: str) -> tuple[float, ...]:
    """Comma-separated numbers, one per channel."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not comma-separated numbers") from None


# -- the parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """``cherry-model``'s command line (:mod:`cherry_classifier.cli` convention)."""
    parser = cli.tool_parser(
        PROG,
        "Import, gate, describe and verify model bundles (see docs/model_bundle.md).",
        epilog=__doc__.split("\n\n")[1],
    )
    commands = parser.add_subparsers(dest="command", required=True, help="what to do")

    def command(name: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=description, description=description, formatter_class=cli.HelpFormatter
        )

    imp = command("import", "Turn a .pt file (bare state_dict, checkpoint) into a bundle.")
    imp.add_argument("weights", type=Path, help="the .pt file: state_dict, checkpoint or bundle")
    imp.add_argument("--architecture", required=True, help="e.g. resnet50 (never guessed)")
    imp.add_argument(
        "--classes", type=names, required=True, help="output order, e.g. clean,maybe,pit"
    )
    imp.add_argument(
        "--input-scale",
        type=input_scale,
        required=True,
        help="uint8 pixel x scale = model input: 1/255 for [0, 1] (production), 1 for 0-255",
    )
    imp.add_argument("--mean", type=numbers, default=None, help="per-channel mean after scaling")
    imp.add_argument("--std", type=numbers, default=None, help="per-channel std after scaling")
    imp.add_argument(
        "--channels", type=names, default=None, help="channel order (None: bot1,bot2,top2)"
    )
    imp.add_argument("--input-size", type=int, default=None, help="square side (None: 128)")
    imp.add_argument(
        "--crops",
        type=Path,
        default=None,
        help="labelled crops DIR/<class>/*.png for the golden set and figures "
        "(None: synthetic crops labelled by the model's own decisions)",
    )
    imp.add_argument(
        "--golden-crops",
        type=int,
        default=24,
        help=f"golden set size (at most {MAX_GOLDEN_CROPS})",
    )
    cli.add_out(imp, "the new bundle folder (must not exist or be empty)", required=True)
    cli.add_seed(imp)
    cli.add_threads(imp)

    var = command("variants", "Build, measure and gate every variant on your labelled crops.")
    var.add_argument("bundle", type=Path, help="the bundle folder")
    var.add_argument(
        "--calibration", type=Path, required=True, help="crops DIR/<class>/* for int8 ranges"
    )
    var.add_argument(
        "--heldout", type=Path, required=True, help="crops DIR/<class>/* for the gate (with pits)"
    )
    var.add_argument(
        "--variants", type=names, default=VARIANTS, help="which variants, comma-separated"
    )
    cli.add_threads(var)

    info = command("info", "Show a bundle's contract, id, variants, provenance and golden set.")
    info.add_argument("bundle", type=Path, help="the bundle folder or file")
    info.add_argument(
        "--yardstick",
        type=Path,
        metavar="FRAMES_DIR",
        default=None,
        help="also measure the model and the localizer on the one real frame the old production "
        "detector annotated: FRAMES_DIR holds annotated/test2.png and its trigger folder "
        "(the line's production_frames)",
    )
    cli.add_threads(info)

    verify = command("verify", "Check id, golden set and every file; exit 1 with the reasons.")
    verify.add_argument("bundle", type=Path, help="the bundle folder or file")
    cli.add_threads(verify)

    ref = command(
        "reference",
        f"(Re)write a bundle folder's reference distribution ({REFERENCE_FILE}) for drift scores.",
    )
    ref.add_argument("bundle", type=Path, help="the bundle folder")
    crops = ref.add_mutually_exclusive_group(required=True)
    crops.add_argument(
        "--crops",
        type=Path,
        help="labelled validation crops DIR/<class>/* the model never trained on",
    )
    crops.add_argument(
        "--training-validation",
        action="store_true",
        help="regenerate the validation split of a model trained on SYNTHETIC crops from the "
        "training config in its provenance (same renderer, seed and split: the same pixels)",
    )
    cli.add_threads(ref)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = {
        "import": run_import,
        "variants": run_variants,
        "info": run_info,
        "verify": run_verify,
        "reference": run_reference,
    }
    try:
        return run[args.command](args)
    except (ModelLoadError, GoldenSetError, ValueError, OSError) as error:
        print(f"{PROG} {args.command}: {error}", file=sys.stderr)
        return 1


# -- import --------------------------------------------------------------------------------------
def run_import(args: argparse.Namespace) -> int:
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise ValueError(f"{args.out}: exists and is not an empty folder; give a new --out")
    if not 1 <= args.golden_crops <= MAX_GOLDEN_CROPS:
        raise ValueError(f"--golden-crops must be in 1..{MAX_GOLDEN_CROPS}")
    overrides: dict[str, Any] = {
        "architecture": args.architecture,
        "class_names": list(args.classes),
        "input_scale": args.input_scale,
    }
    optional = {
        "mean": args.mean,
        "std": args.std,
        "channel_names": args.channels,
        "input_size": args.input_size,
    }
    overrides.update({k: list(v) if isinstance(v, tuple) else v for k, v in optional.items() if v})
    source_kind = describe_source(args.weights)
    loaded = load_bundle(args.weights, manifest_overrides=overrides)
    manifest = dataclasses.replace(loaded.manifest, variants={})
    bundle = ModelBundle(manifest, loaded.state_dict, loaded.model_id)
    classifier = Classifier(bundle, "eager", args.threads)
    record: dict[str, Any] = {
        "from": args.weights.name,
        "sha256": sha256_file(args.weights),
        "format": source_kind,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "tool": f"{PROG} import",
    }
    reference = None
    if args.crops is not None:
        golden, figures, reference = golden_from_crops(classifier, args.crops, args.golden_crops)
        record["checked_on"] = {"crops": str(args.crops), **figures}
    else:
        golden = golden_from_synthetic(classifier, args.seed, args.golden_crops)
        record["checked_on"] = "synthetic crops, labelled by the model's own decisions"
    provenance = {**manifest.provenance, "imported": record}
    manifest = dataclasses.replace(manifest, provenance=provenance)
    saved = save_bundle(args.out, bundle.state_dict, manifest, golden=golden)
    print(f"source: {args.weights} ({source_kind})")
    print(f"bundle: {args.out}  model id {saved.model_id}")
    print_contract(saved.manifest)
    print_golden(golden)
    if reference is not None:
        write_reference(args.out, reference)
        print(f"reference distribution ({REFERENCE_FILE}): {reference.summary()}")
    else:
        print(
            f"{NO_REFERENCE}: without labelled --crops no {REFERENCE_FILE} is written; add one "
            f"with {PROG} reference {args.out} --crops DIR"
        )
    return 0


def describe_source(path: Path) -> str:
    """What kind of .pt file this is, in words, for the provenance record."""
    loaded = torch_load_safely(path)
    if not isinstance(loaded, dict):
        return type(loaded).__name__
    if "format" in loaded:
        return "bundle file"
    weights = loaded
    kind = "bare state_dict"
    for key in ("state_dict", "model"):
        if isinstance(loaded.get(key), dict):
            weights, kind = loaded[key], f"training checkpoint ('{key}')"
            break
    if weights and all(str(name).startswith("module.") for name in weights):
        kind += ", DataParallel 'module.' prefix stripped"
    return kind


def read_crops(folder: Path, manifest: ModelManifest) -> tuple[np.ndarray, np.ndarray]:
    """(N, S, S, C) uint8 crops at the model's input size and (N,) labels in its class order."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such crop folder")
    crops, labels, _ = read_class_samples(folder, manifest.class_names, manifest.channel_names)
    return stack_crops(crops, manifest), np.asarray(labels, np.int64)


def golden_from_crops(
    classifier: Classifier, folder: Path, limit: int
) -> tuple[GoldenSet, dict[str, Any], ReferenceDistribution]:
    """A golden set from labelled crops (true labels kept), the model's figures on them, and
    their reference distribution."""
    manifest = classifier.manifest
    crops, labels = read_crops(folder, manifest)
    probabilities = classifier.predict_proba(crops)
    metrics = evaluate_probabilities(
        probabilities, labels, manifest.class_names, thresholds=manifest.thresholds
    )
    figures = {
        "count": len(labels),
        "pit_recall": metrics.pit_recall,
        "clean_yield": metrics.clean_yield,
        "accuracy": metrics.accuracy,
        "maybe_rate": metrics.maybe_rate,
    }
    print(
        f"on {len(labels)} labelled crops from {folder}: pit recall {_share(metrics.pit_recall)}, "
        f"clean yield {_share(metrics.clean_yield)}, accuracy {_share(metrics.accuracy)}, "
        f"maybe rate {_share(metrics.maybe_rate)} (manifest thresholds)"
    )
    true_names = [manifest.class_names[label] for label in labels]
    reference = ReferenceDistribution.from_probabilities(
        probabilities,
        manifest.class_names,
        manifest.thresholds,
        classifier.model_id,
        f"{len(labels)} labelled crops from {folder.name} ({PROG} import)",
        true_names,
    )
    golden = select_golden(crops, probabilities, manifest, true_names, limit)
    return golden, figures, reference


def golden_from_synthetic(classifier: Classifier, seed: int, limit: int) -> GoldenSet:
    """A golden set from SYNTHETIC crops labelled by the model's own decisions (no truth)."""
    manifest = classifier.manifest
    if manifest.num_channels != 3:
        raise ValueError("synthetic crops have 3 layers; give --crops for this model")
    rng = np.random.default_rng(seed)
    classes = [name for name in manifest.class_names if name in RENDERABLE_CLASSES]
    rendered = [
        render_crop(name, rng, manifest.crop_size)
        for name in classes
        for _ in range(SYNTHETIC_PER_CLASS)
    ]
    crops = stack_crops(rendered, manifest)
    print(
        f"no --crops: golden set from {len(crops)} SYNTHETIC crops labelled by the model's own "
        "decisions; it pins this model's behaviour, it does not measure it"
    )
    return select_golden(crops, classifier.predict_proba(crops), manifest, None, limit)


# -- reference -----------------------------------------------------------------------------------
def run_reference(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    if bundle.folder is None:
        raise ValueError(f"{args.bundle}: a reference is written into a bundle folder, not a file")
    classifier = Classifier(bundle, "eager", args.threads)
    manifest = bundle.manifest
    if args.crops is not None:
        crops, labels = read_crops(args.crops, manifest)
        source = f"{len(labels)} labelled crops from {args.crops.name} ({PROG} reference)"
    else:
        crops, labels, source = training_validation_split(manifest)
    probabilities = classifier.predict_proba(crops)
    true_names = [manifest.class_names[label] for label in labels]
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    recorded = manifest.provenance.get("val_metrics", {}).get("accuracy")
    if args.training_validation and recorded is not None:
        agrees = "equal to" if abs(accuracy - recorded) < 1e-6 else "DIFFERENT from"
        print(
            f"regenerated validation accuracy {accuracy:.6f}: {agrees} the manifest's "
            f"{recorded:.6f} (the same crops{'' if agrees == 'equal to' else '?'})"
        )
    reference = ReferenceDistribution.from_probabilities(
        probabilities,
        manifest.class_names,
        manifest.thresholds,
        bundle.model_id,
        source,
        true_names,
    )
    path = write_reference(args.bundle, reference)
    print(f"{path}: {reference.summary()}")
    print(f"P(pit) histogram over {list(reference.p_pit_edges)}: {list(reference.p_pit_counts)}")
    return 0


def training_validation_split(manifest: ModelManifest) -> tuple[np.ndarray, np.ndarray, str]:
    """(crops, labels, description) of the validation split a SYNTHETIC training run used,
    regenerated from the training config in the manifest's provenance."""
    from cherry_classifier.training.data import synthetic_split

    config = manifest.provenance.get("config")
    data = config.get("data") if isinstance(config, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("root")
        or not isinstance(data.get("synthetic"), dict)
    ):
        raise ValueError(
            "--training-validation needs a model trained on synthetic crops with its training "
            "config in the provenance; give --crops with labelled validation crops instead"
        )
    synthetic = data["synthetic"]
    seed = synthetic.get("seed")
    seed = config.get("run", {}).get("seed", 0) if seed is None else seed
    split = synthetic_split(
        int(synthetic["per_class"]),
        manifest.class_names,
        int(seed),
        float(data["val_share"]),
        float(data["test_share"]),
        "val",
        manifest.input_size,
        synthetic.get("maybe_share"),
    )
    source = (
        f"validation split ({len(split)} SYNTHETIC crops, {synthetic['per_class']}/class, "
        f"maybe share {synthetic.get('maybe_share')}, seed {seed}) regenerated by {PROG} "
        "reference --training-validation"
    )
    return split.crops, split.labels, source


# -- variants ------------------------------------------------------------------------------------
def run_variants(args: argparse.Namespace) -> int:
    from cherry_classifier.core.variants import export_variants

    bundle = load_bundle(args.bundle)
    manifest = bundle.manifest
    calibration, _ = read_crops(args.calibration, manifest)
    heldout, labels = read_crops(args.heldout, manifest)
    print(
        f"{args.bundle}: model {bundle.model_id}; {len(calibration)} calibration crops, "
        f"{len(heldout)} held-out crops ({_label_counts(labels, manifest.class_names)})"
    )
    records = export_variants(
        args.bundle, calibration, heldout, labels, variants=args.variants, num_threads=args.threads
    )
    fp32 = Classifier(load_bundle(args.bundle), "eager", args.threads)
    print(f"{'variant':<12} {'result':<9} {'differ':>7} {'pit recall':>11} {'crops/s':>8}")
    print(f"{'fp32 eager':<12} {'-':<9} {'-':>7} {'-':>11} {crops_per_second(fp32, heldout):>8.1f}")
    for name, record in records.items():
        speed, golden = "-", ""
        if record["accepted"]:
            variant = Classifier(load_bundle(args.bundle), name, args.threads)
            speed = f"{crops_per_second(variant, heldout):.1f}"
            golden = golden_result(variant)
        differs = 1.0 - float(record.get("decision_agreement", 0.0))
        shown_differs = _share(differs) if "disagreeing_crops" in record else "-"
        recall = f"{_share(record['pit_recall'])}/{_share(record['pit_recall_fp32'])}"
        if "disagreeing_crops" not in record:
            recall = "-"
        result = "accepted" if record["accepted"] else "REFUSED"
        print(f"{name:<12} {result:<9} {shown_differs:>7} {recall:>11} {speed:>8}  {golden}")
        if not record["accepted"]:
            print(f"{'':<12} why: {record.get('reason', '?')}")
    print("differ: share of held-out decisions unlike fp32's; pit recall: variant/fp32")
    return 0


def crops_per_second(classifier: Classifier, crops: np.ndarray) -> float:
    """Throughput of one pass over ``crops`` (the classifier is already warmed up)."""
    start = time.perf_counter()
    classifier.predict_proba(crops)
    return len(crops) / max(time.perf_counter() - start, 1e-9)


def golden_result(classifier: Classifier) -> str:
    try:
        classifier.check_golden()
    except GoldenSetError as error:
        return f"golden set FAILED: {error}"
    return "golden set ok" if classifier.bundle.golden_path else "no golden set"


# -- info ----------------------------------------------------------------------------------------
def run_info(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    manifest = bundle.manifest
    print(f"bundle: {args.bundle}")
    print(f"model id: {bundle.model_id} (recomputed from weights + contract, matches the record)")
    print_contract(manifest)
    print(f"temperature: {manifest.temperature:g}")
    thresholds = ", ".join(f"{k} {v:g}" for k, v in manifest.thresholds.to_dict().items())
    print(f"thresholds: {thresholds}")
    print("variants:" + ("" if manifest.variants else " none"))
    for name, record in manifest.variants.items():
        print(f"  {name}: {variant_summary(record)}")
    print("provenance:" + ("" if manifest.provenance else " none"))
    for key, value in manifest.provenance.items():
        print(f"  {key}: {provenance_summary(value)}")
    if bundle.golden_path is None:
        print("golden set: none")
    else:
        print_golden(read_golden(bundle.golden_path))
    reference = read_reference(bundle.folder, bundle.model_id)
    print(f"reference: {reference.summary()}" if reference else NO_REFERENCE)
    if manifest.is_demo_model():
        print(manifest.demo_model_warning().upper())
    if args.yardstick is not None:
        from cherry_classifier.core.classifier import Classifier
        from cherry_classifier.evaluation.yardstick import yardstick_report

        classifier = Classifier.from_path(args.bundle, num_threads=args.threads)
        print(yardstick_report(classifier, args.yardstick).format())
    return 0


def print_contract(manifest: ModelManifest) -> None:
    scale = manifest.input_scale
    scale_text = f"{scale:.9g}" + (" (1/255)" if abs(scale - 1 / 255) < 1e-12 else "")
    print(f"architecture: {manifest.architecture}")
    print(f"classes (output order): {', '.join(manifest.class_names)}")
    print(
        f"input: {manifest.input_size} px, scale {scale_text}, mean {manifest.mean}, "
        f"std {manifest.std}"
    )
    print(f"channels: {', '.join(manifest.channel_names)}")
    print(f"crop: {manifest.crop_size} px, interpolation {manifest.interpolation}")


def variant_summary(record: dict[str, Any]) -> str:
    if not record.get("accepted"):
        return f"REFUSED: {record.get('reason', '?')}"
    parts = [
        "accepted",
        f"agreement {_share(record.get('decision_agreement'))}",
        f"on {record.get('heldout_crops', '?')} crops",
        f"pit recall {_share(record.get('pit_recall'))}",
        f"fp32's {_share(record.get('pit_recall_fp32'))}",
        f"max |dp| {record.get('max_abs_probability_diff', float('nan')):.3f}",
        f"file {record.get('file') or '-'}",
        f"from model {record.get('source_model_id')}",
    ]
    return ", ".join(parts)


def provenance_summary(value: Any) -> str:
    if isinstance(value, dict):
        scalars = {k: v for k, v in value.items() if not isinstance(v, dict | list)}
        nested = len(value) - len(scalars)
        text = ", ".join(f"{k}={v}" for k, v in list(scalars.items())[:6])
        return text + (f" (+{nested} nested)" if nested else "")
    return str(value)


def print_golden(golden: GoldenSet) -> None:
    summary = golden.summary()
    if not golden.has_names:
        print(
            f"golden set: {summary['crops']} crops WITHOUT class names (old format: its check "
            "cannot see a swapped class order; re-import to rewrite it)"
        )
        return
    print(
        f"golden set: {summary['crops']} crops {summary['crop_shape']}, written for classes "
        f"{summary['class_names']}, decided {summary['decided']}, "
        f"true labels {summary['true_labels'] or 'unknown'}"
    )


# -- verify --------------------------------------------------------------------------------------
def run_verify(args: argparse.Namespace) -> int:
    problems, notes = verify_bundle(args.bundle, args.threads)
    for note in notes:
        print(f"note: {note}")
    if problems:
        print(f"{args.bundle}: FAILED", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"{args.bundle}: OK")
    return 0


def verify_bundle(path: Path, threads: int | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes) of the bundle at ``path``: files, model id, golden set, variants."""
    problems: list[str] = []
    notes: list[str] = []
    if path.is_dir():
        for name in (MANIFEST_FILE, WEIGHTS_FILE):
            problems += file_problems(path / name)
        if (path / GOLDEN_FILE).exists() or (path / GOLDEN_FILE).is_symlink():
            problems += file_problems(path / GOLDEN_FILE)
        if problems:
            return problems, notes
        recorded = read_yaml_mapping(path / MANIFEST_FILE).get("model_id")
    else:
        problems += file_problems(path)
        if problems:
            return problems, notes
        recorded = "(single file)"
    try:
        bundle = load_bundle(path)  # refuses a recorded id the weights and contract do not hash to
    except ModelLoadError as error:
        return [*problems, str(error)], notes
    if recorded is None:
        problems.append(
            f"the manifest records no model_id (weights and contract hash to {bundle.model_id})"
        )
    problems += golden_problems_of(bundle, threads)
    try:
        if read_reference(bundle.folder, bundle.model_id) is None:
            notes.append(f"{NO_REFERENCE} (add one with {PROG} reference)")
    except ModelLoadError as error:
        problems.append(str(error))
    variant_problems, variant_notes = variants_problems(bundle, threads)
    return problems + variant_problems, notes + variant_notes


def file_problems(path: Path) -> list[str]:
    """Why ``path`` is not a regular, readable, non-empty file of the bundle ([] if it is)."""
    if path.is_symlink():
        return [f"{path}: a symbolic link, not a regular file"]
    if not path.exists():
        return [f"{path}: missing"]
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        return [f"{path}: not a regular file"]
    if path.stat().st_size == 0:
        return [f"{path}: empty"]
    if not os.access(path, os.R_OK):
        return [f"{path}: not readable"]
    try:
        with path.open("rb") as stream:
            stream.read(1)
    except OSError as error:
        return [f"{path}: not readable: {error}"]
    return []


def golden_problems_of(bundle: ModelBundle, threads: int | None) -> list[str]:
    if bundle.golden_path is None:
        return ["no golden set: nothing would catch a swapped class order or scale"]
    golden = read_golden(bundle.golden_path)
    problems = []
    if not golden.has_names:
        problems.append(f"{bundle.golden_path}: no class names (old format); re-import the model")
    try:
        Classifier(bundle, "eager", threads).check_golden()
    except GoldenSetError as error:
        problems.append(f"golden set: {error}")
    return problems


def variants_problems(bundle: ModelBundle, threads: int | None) -> tuple[list[str], list[str]]:
    """Accepted variants: file present with its sha256, loads, decides the golden set."""
    problems: list[str] = []
    notes: list[str] = []
    for name, record in bundle.manifest.variants.items():
        if not record.get("accepted"):
            notes.append(f"variant {name} was refused at export: {record.get('reason', '?')}")
            continue
        try:
            accepted_variant(bundle, name)
        except ModelLoadError as error:
            problems.append(f"variant {name}: {error}")
            continue
        if name == "bf16" and not supports_fast_bf16():
            notes.append("variant bf16 not run: this CPU has no AVX512-BF16/AMX")
            continue
        try:
            Classifier(bundle, name, threads).check_golden()
        except (ModelLoadError, GoldenSetError) as error:
            problems.append(f"variant {name}: {error}")
        except Exception as error:  # a variant file that does not load is a finding, not a crash
            problems.append(f"variant {name}: does not load: {error}")
    folder = bundle.folder
    if folder is not None and (folder / VARIANTS_DIR).is_dir():
        expected = {
            VARIANT_FILES[name]
            for name, record in bundle.manifest.variants.items()
            if record.get("accepted") and VARIANT_FILES.get(name)
        }
        for stray in sorted(p.name for p in (folder / VARIANTS_DIR).iterdir()):
            if stray not in expected:
                notes.append(f"{VARIANTS_DIR}/{stray} belongs to no accepted variant (unused)")
    return problems, notes


# -- small helpers -------------------------------------------------------------------------------
def _share(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{100 * float(value):.1f}%"


def _label_counts(labels: np.ndarray, class_names: Sequence[str]) -> str:
    counts = np.bincount(labels, minlength=len(class_names))
    return ", ".join(f"{name} {count}" for name, count in zip(class_names, counts, strict=True))


if __name__ == "__main__":
    raise SystemExit(main())
