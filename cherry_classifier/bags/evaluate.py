"""``cherry-eval``: evaluate one or more models on a bag, offline, and write the report.

    cherry-eval BAG --model models/default [--model other_bundle] \\
        [--params-file config/threading_ws.yaml] --out eval/

Settings come from the node's parameters file (``/**/classifier: ros__parameters:``): input_mode,
image_topics, image layers, crop_size, ``localizer.*``; thresholds are each model's own (its
bundle's tuned thresholds) unless ``--thresholds params`` takes the file's, and
``--pit-threshold``/``--maybe-threshold``/``--clean-threshold`` override either. Image topics
resolve against the bag (as given, with a leading "/", or as the one topic ending in it);
when none of them is in the bag, frames/crops mode evaluates every image topic of the bag.

Each model's records are saved (``records_<model>.jsonl``) so ``cherry-eval --records FILE ...
--out DIR`` can re-score them without the bag or the model.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from cherry_classifier import cli
from cherry_classifier.bags.io import image_topics as bag_image_topics
from cherry_classifier.bags.labels import LABELS_TOPIC
from cherry_classifier.bags.offline import evaluate_bag
from cherry_classifier.core.decision import Thresholds
from cherry_classifier.evaluation.record_metrics import record_metrics
from cherry_classifier.evaluation.record_report import slug, write_report
from cherry_classifier.evaluation.records import RecordSet
from cherry_classifier.evaluation.shift_report import labels_missing_message
from cherry_classifier.imaging.layers import LAYER_ORDER
from cherry_classifier.imaging.localizer import LocalizerParams
from cherry_classifier.imaging.pipeline import DEFAULT_LAYER_OFFSETS_PX, OFFLINE_INPUT_MODES

LOGGER = logging.getLogger(__name__)
NODE_NAME = "classifier"
THRESHOLD_NAMES = ("pit_threshold", "maybe_threshold", "clean_threshold")


def node_params(path: str | Path, node: str = NODE_NAME) -> dict[str, Any]:
    """The ``ros__parameters`` of ``node`` (or ``/**``) in a ROS 2 parameters file, flattened
    (``localizer: {channel: 1}`` becomes ``localizer.channel``)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    for key in (f"/**/{node}", node, f"/{node}", "/**"):
        section = data.get(key)
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            return _flatten(section["ros__parameters"])
    raise ValueError(f"{path}: no '/**/{node}: ros__parameters:' section")


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def localizer_params_from(params: Mapping[str, Any]) -> LocalizerParams:
    names = {f.name for f in fields(LocalizerParams)}
    prefix = "localizer."
    return LocalizerParams(
        **{
            k[len(prefix) :]: v
            for k, v in params.items()
            if k.startswith(prefix) and k[len(prefix) :] in names
        }
    )


def resolve_topics(wanted: Sequence[str], available: Sequence[str]) -> list[str] | None:
    """Bag topics for the node's (possibly relative) topic names; None if none is in the bag."""
    resolved, missing = [], []
    for topic in wanted:
        name = topic if topic.startswith("/") else "/" + topic
        matches = [name] if name in available else [t for t in available if t.endswith(name)]
        if len(matches) > 1:
            raise ValueError(f"topic {topic!r} is ambiguous in the bag: {matches}")
        (resolved if matches else missing).append(matches[0] if matches else topic)
    if not resolved:
        return None
    if missing:
        raise ValueError(f"topic(s) {missing} not in the bag; image topics: {sorted(available)}")
    return resolved


def model_labels(paths: Sequence[str]) -> list[str]:
    """Short distinct names for the models (folder or file names)."""
    labels: list[str] = []
    for path in paths:
        base = Path(path).name or str(path)
        label, n = base, 2
        while label in labels:
            label, n = f"{base}#{n}", n + 1
        labels.append(label)
    return labels


def build_parser() -> argparse.ArgumentParser:
    """``cherry-eval``'s command line (:mod:`cherry_classifier.cli` convention)."""
    parser = cli.tool_parser(
        "cherry-eval",
        "Evaluate models on a recorded bag (offline: the node's crop extraction and decisions,\n"
        "no DDS) and write report.md, report.json and plots.",
    )
    parser.add_argument("bag", nargs="?", type=Path, help="rosbag2 folder (sqlite3 or mcap)")
    cli.add_model(parser, "model bundle, file or run folder (repeatable)", repeatable=True)
    parser.add_argument("--records", nargs="+", type=Path, help="re-score saved records instead")
    cli.add_params_file(parser, "node parameters file (e.g. config/threading_ws.yaml)")
    cli.add_renamed(parser, "--params", "params_file", type=Path)
    cli.add_out(parser, "report folder", required=True)
    parser.add_argument(
        "--thresholds",
        choices=("model", "params"),
        default="model",
        help="each model's own thresholds, or the --params-file's",
    )
    for name in THRESHOLD_NAMES:
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            dest=name,
            help=f"override {name} (None: from --thresholds)",
        )
    parser.add_argument(
        "--input-mode",
        choices=OFFLINE_INPUT_MODES,
        help="the node's input mode (None: the --params-file's input_mode, else frames)",
    )
    cli.add_topics(parser, "image topics (layers: in layer order; None: the --params-file's)")
    cli.add_labels_topic(parser, LABELS_TOPIC)
    cli.add_backend(parser)
    cli.add_threads(parser)
    cli.add_renamed(parser, "--num-threads", "threads", type=int)
    parser.add_argument("--batch-size", type=int, default=32, help="crops per inference batch")
    parser.add_argument("--title", default="Replay evaluation", help="the report's title")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.records:
        labels = model_labels([str(p.with_suffix("")) for p in args.records])
        results = {label: RecordSet.load(p) for label, p in zip(labels, args.records, strict=True)}
    elif args.bag is not None and args.model:
        try:
            results = evaluate_models(args)
        except (OSError, ValueError) as error:  # bad bag, model or settings: say which, no trace
            raise SystemExit(f"cherry-eval: {error}") from error
    else:
        raise SystemExit("give a BAG and at least one --model, or --records FILE ...")
    md_path, json_path = write_report(results, args.out, title=args.title)
    for name, records in results.items():
        if not args.records:
            records.save(args.out / f"records_{slug(name)}.jsonl")
        metrics = record_metrics(records)
        if not metrics["labelled"]:
            print(f"{name}: {metrics['decisions']} decisions; {labels_missing_message(records)}")
            continue
        print(
            f"{name}: {metrics['decisions']} decisions ({metrics['labelled']} labelled): "
            f"pit recall {metrics['pit_recall']:.4f}, clean yield {metrics['clean_yield']:.4f}, "
            f"maybe rate {metrics['maybe_rate']:.4f}"
        )
    print(f"report: {md_path} and {json_path}")
    return 0


def evaluate_models(args: argparse.Namespace) -> dict[str, RecordSet]:
    from cherry_classifier.core.model_store import ModelStore  # torch: only when evaluating

    params = node_params(args.params_file) if args.params_file else {}
    input_mode = args.input_mode or params.get("input_mode", "frames")
    topics = _topics(args, params, input_mode)
    # A model as given (bundle, file or training run folder), else by name in the package's
    # models folder; checked (golden crops) as the node checks it.
    store = ModelStore.searching(backend=args.backend, num_threads=args.threads or None)
    results = {}
    for label, path in zip(model_labels(args.model), args.model, strict=True):
        classifier = store.load(path)
        thresholds = _thresholds(args, params, classifier.manifest.thresholds)
        LOGGER.info(
            "%s (%s): %s mode on %s, %s",
            label,
            classifier.model_id,
            input_mode,
            topics or "every image topic",
            thresholds,
        )
        results[label] = evaluate_bag(
            args.bag,
            classifier,
            thresholds,
            input_mode,
            topics,
            crop_size=int(params.get("crop_size") or classifier.manifest.crop_size),
            localizer_params=localizer_params_from(params),
            batch_size=args.batch_size,
            labels_topic=args.labels_topic,
            layer_names=params.get("layer_names", LAYER_ORDER),
            layer_offsets_px=params.get("layer_offsets_px", DEFAULT_LAYER_OFFSETS_PX),
            layer_sync_tolerance_s=float(params.get("layer_sync_tolerance_ms", 50.0)) / 1000,
            layer_timeout_s=float(params.get("layer_timeout_ms", 1000.0)) / 1000,
        )
    return results


def _topics(args: argparse.Namespace, params: Mapping[str, Any], mode: str) -> list[str] | None:
    available = sorted(bag_image_topics(args.bag))
    if args.topics:
        return resolve_topics(args.topics, available) or list(args.topics)
    resolved = resolve_topics(params.get("image_topics", []), available)
    if resolved is None and mode == "layers":
        raise SystemExit(
            f"layers mode: none of {params.get('image_topics')} in the bag "
            f"({available}); pass --topics in layer order"
        )
    if resolved is None:
        LOGGER.info("none of the parameter file's image topics is in the bag: using %s", available)
    return resolved


def _thresholds(
    args: argparse.Namespace, params: Mapping[str, Any], model_thresholds: Thresholds
) -> Thresholds:
    values = model_thresholds.to_dict()
    if args.thresholds == "params":
        values.update({n: float(params[n]) for n in THRESHOLD_NAMES if n in params})
    values.update({n: getattr(args, n) for n in THRESHOLD_NAMES if getattr(args, n) is not None})
    return Thresholds(**values).validated()


if __name__ == "__main__":
    raise SystemExit(main())
