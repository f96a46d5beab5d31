"""``cherry-eval``: evaluate one or more models on a bag, offline, and write the report.

    cherry-eval BAG --model models/default [--model other_bundle] \\
        [--params-file config/threading_ws.yaml] --out eval/

Settings come from the node's parameters file (``/**/classifier: ros__parameters:``): input_mode,
image_topics, image layers, crop_size, ``localizer.*``; every input mode of the node (crops,
frames, layers, image_set). Thresholds: the parameters file's when one is given, else each
model's own (:mod:`.thresholds`; ``--thresholds model|params|p,m,c`` and
``--pit-threshold``/``--maybe-threshold``/``--clean-threshold`` override), printed with where
they came from. Topics resolve against the bag (:func:`.inputs.choose_topics`).

A bag recorded with a shadow model (``<node>/shadow_decisions``) also gets the live-vs-shadow
agreement of the recording, from the two recorded decision topics (printed, and
``shadow_agreement.json``; :mod:`cherry_classifier.bags.shadow_agreement`).

Each model's records are saved (``records_<model>.jsonl``) so ``cherry-eval --records FILE ...
--out DIR`` can re-score them without the bag or the model.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cherry_classifier import cli
from cherry_classifier.bags.inputs import (
    InputSettings,
    choose_topics,
    frames_over_mono_warning,
    localizer_params_from,
    node_params,
    resolve_topics,
)
from cherry_classifier.bags.labels import LABELS_TOPIC
from cherry_classifier.bags.offline import evaluate_bag
from cherry_classifier.bags.thresholds import (
    THRESHOLD_NAMES,
    ChosenThresholds,
    choose_backend_name,
    choose_thresholds,
    parse_thresholds,
    with_overrides,
)
from cherry_classifier.evaluation.record_metrics import record_metrics
from cherry_classifier.evaluation.record_report import slug, write_report
from cherry_classifier.evaluation.records import RecordSet
from cherry_classifier.evaluation.shift_report import labels_missing_message
from cherry_classifier.imaging.pipeline import INPUT_MODES

LOGGER = logging.getLogger(__name__)
__all__ = ["build_parser", "main", "node_params", "resolve_topics"]  # the latter two: .inputs


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
    cli.add_thresholds(
        parser,
        parse_thresholds,
        "model: each model's own; params: the --params-file's; or pit,maybe,clean (None: "
        "params with a --params-file, else model)",
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
        choices=INPUT_MODES,
        help="the node's input mode (None: the --params-file's input_mode, else frames)",
    )
    cli.add_topics(parser, "image topics (layers: in layer order; None: the --params-file's)")
    cli.add_labels_topic(parser, LABELS_TOPIC)
    cli.add_backend(
        parser,
        default=None,
        help="inference backend (None: the --params-file's backend, else auto, as the shipped "
        "files set it: the variant a node runs on this machine; eager: the fp32 reference)",
    )
    cli.add_threads(parser)
    cli.add_renamed(parser, "--num-threads", "threads", type=int)
    parser.add_argument("--batch-size", type=int, default=32, help="crops per inference batch")
    parser.add_argument("--title", default="Replay evaluation", help="the report's title")
    parser.add_argument(
        "--yardstick",
        type=Path,
        help="production frames folder holding annotated/test2.png: also report each model on "
        "the old production detector's annotated frame (localizer recall, label agreement)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    overrides = [n for n in THRESHOLD_NAMES if getattr(args, n) is not None]
    if args.records and args.yardstick:
        raise SystemExit("cherry-eval: --yardstick needs the models (--model), not --records")
    if args.records and (args.thresholds is not None or overrides):
        raise SystemExit(
            "cherry-eval: --records keeps the decisions as recorded (at the thresholds each "
            "report names); the report's threshold sweep shows what other thresholds decide"
        )
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
        print(f"{name}: {describe_thresholds(records)}; backend {records.meta.get('backend', '?')}")
        if not metrics["labelled"]:
            print(f"{name}: {metrics['decisions']} decisions; {labels_missing_message(records)}")
            continue
        print(
            f"{name}: {metrics['decisions']} decisions ({metrics['labelled']} labelled): "
            f"pit recall {metrics['pit_recall']:.4f}, clean yield {metrics['clean_yield']:.4f}, "
            f"maybe rate {metrics['maybe_rate']:.4f}"
        )
    if args.bag is not None and not args.records:
        report_shadow_agreement(args.bag, args.out)
    print(f"report: {md_path} and {json_path}")
    return 0


def report_shadow_agreement(bag: Path, out: Path) -> Path | None:
    """A recorded shift with a shadow model: live-vs-shadow agreement from the two recorded
    decision topics (``bags.shadow_agreement``), printed and in shadow_agreement.json."""
    from cherry_classifier.bags.shadow_agreement import shadow_agreement, shadow_topics

    topics = shadow_topics(bag)
    if not topics:
        return None
    agreement = shadow_agreement(bag, topics)
    for line in agreement.lines():
        print(line)
    return agreement.write(out)


def evaluate_models(args: argparse.Namespace) -> dict[str, RecordSet]:
    from cherry_classifier.core.model_store import ModelStore  # torch: only when evaluating

    params = node_params(args.params_file) if args.params_file else {}
    input_mode = args.input_mode or params.get("input_mode", "frames")
    layer_names = params.get("layer_names") or InputSettings().layer_names
    topics = choose_topics(
        args.bag, input_mode, args.topics, params.get("image_topics", ()), layer_names
    )
    settings = InputSettings.from_params(params, input_mode, topics)
    warning = frames_over_mono_warning(args.bag, settings)
    if warning:
        LOGGER.warning("warning: %s", warning)
    # A model as given (bundle, file or training run folder), else by name in the package's
    # models folder; checked (golden crops) as the node checks it.
    backend, backend_source = choose_backend_name(args.backend, args.params_file, params)
    store = ModelStore.searching(backend=backend, num_threads=args.threads or None)
    results = {}
    for label, path in zip(model_labels(args.model), args.model, strict=True):
        classifier = store.load(path)
        chosen = choose_thresholds(
            args.thresholds,
            args.params_file,
            params,
            lambda classifier=classifier: classifier.manifest.thresholds,
            classifier.model_id,
        )
        chosen = with_overrides(chosen, {n: getattr(args, n) for n in THRESHOLD_NAMES})
        chosen_backend = describe_backend(classifier, backend_source)
        LOGGER.info(
            "%s (%s): %s mode on %s, %s; %s",
            label,
            classifier.model_id,
            input_mode,
            ", ".join(topics),
            chosen.describe(),
            chosen_backend,
        )
        records = evaluate_bag(
            args.bag,
            classifier,
            chosen.thresholds,
            input_mode,
            topics,
            crop_size=int(params.get("crop_size") or classifier.manifest.crop_size),
            localizer_params=localizer_params_from(params),
            batch_size=args.batch_size,
            labels_topic=args.labels_topic,
            layer_names=settings.layer_names,
            layer_offsets_px=settings.layer_offsets_px,
            layer_sync_tolerance_s=settings.layer_sync_tolerance_s,
            layer_timeout_s=settings.layer_timeout_s,
            encoder_px_per_count=settings.encoder_px_per_count,
        )
        records.meta["thresholds_source"] = chosen.source
        records.meta["backend_source"] = chosen_backend
        if args.yardstick:
            records.meta["yardstick"] = yardstick_summary(classifier, args.yardstick, chosen)
        if warning:
            records.meta["warnings"] = [warning]
        results[label] = records
    return results


def describe_backend(classifier: Any, source: str) -> str:
    """``backend int8 (auto from ...: why)``: the backend that ran, where it was asked for, why."""
    choice = getattr(classifier, "choice", None)
    if choice is not None:
        return f"backend {classifier.backend_name} (auto from {source}: {choice.reason})"
    return f"backend {classifier.backend_name} (from {source})"


def yardstick_summary(
    classifier: Any, frames_dir: Path, chosen: ChosenThresholds
) -> dict[str, Any]:
    """The model on the old production detector's annotated frame, at the evaluation's
    thresholds (``evaluation.yardstick``); the old model is not ground truth."""
    from cherry_classifier.evaluation.yardstick import yardstick_report

    try:
        result = yardstick_report(classifier, frames_dir, chosen.thresholds)
    except FileNotFoundError as error:
        raise SystemExit(f"cherry-eval: --yardstick {frames_dir}: {error}") from error
    LOGGER.info("%s", result.format())
    return result.summary()


def describe_thresholds(records: RecordSet) -> str:
    """The records' thresholds and where they came from, as every report starts."""
    thresholds = records.meta.get("thresholds")
    if not thresholds:
        return "thresholds changed during the run (each decision array says its own)"
    source = records.meta.get("thresholds_source", "not recorded")
    return (
        f"thresholds pit {thresholds['pit_threshold']:.4g} / maybe "
        f"{thresholds['maybe_threshold']:.4g} / clean {thresholds['clean_threshold']:.4g} "
        f"(from {source})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
