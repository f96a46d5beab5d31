"""Train a cherry classifier and export a calibrated, deployable bundle.

    cherry-train --config training/configs/demo_synthetic.yaml [--set optim.lr=1e-3 ...]
    cherry-train --config ... --resume runs/demo/checkpoints/last.pt
    cherry-train --config ... --seeds 0,1,2          # mean and 95% interval over seeds
    torchrun --nproc_per_node 2 -m cherry_classifier.training.train --config ...   # DDP

Everything the model sees goes through the core's ``preprocess`` with the manifest it is saved
with (unnormalised [0, 1] input, channels bot1, bot2, top2 by default), so training and the node
cannot disagree. The epoch kept is the one with the best safety score on validation (clean yield
at pit recall >= target), not the best accuracy; temperature and thresholds are fitted on
validation; the test split is touched once, at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from cherry_classifier import cli
from cherry_classifier.core.bundle import ModelBundle
from cherry_classifier.core.decision import softmax
from cherry_classifier.core.manifest import SYNTHETIC_DATA, ModelManifest
from cherry_classifier.evaluation.dataset import Split, dataset_kind
from cherry_classifier.evaluation.metrics import HEADLINE, SUMMARY, ModelMetrics, evaluate_logits
from cherry_classifier.evaluation.training_report import PLOTS, write_markdown, write_plots
from cherry_classifier.training.calibration import TemperatureFit, fit_temperature
from cherry_classifier.training.checkpoint import (
    LAST,
    BestSoFar,
    TrainingState,
    load_checkpoint,
    save_checkpoint,
)
from cherry_classifier.training.config import TrainConfig, load_config, save_config
from cherry_classifier.training.data import (
    AugmentedCrops,
    EpochSampler,
    collate_uint8,
    load_folder_splits,
    synthetic_splits,
)
from cherry_classifier.training.distributed import (
    DistContext,
    barrier,
    broadcast_flag,
    init_distributed,
    shutdown,
)
from cherry_classifier.training.engine import (
    choose_precision,
    class_weights,
    create_model,
    create_optimizer,
    predict_logits,
    train_one_epoch,
)
from cherry_classifier.training.export import (
    write_bundle,
    write_onnx,
    write_params,
    write_production_state_dict,
    write_validation_reference,
    write_variants,
)
from cherry_classifier.training.multiseed import run_seeds
from cherry_classifier.training.schedule import build_scheduler
from cherry_classifier.training.thresholds import ThresholdChoice, choose_thresholds

LOGGER = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PARAMS_FILE = "params.yaml"
CONFIG_FILE = "config.yaml"
ONNX_FILE = "model.onnx"
PRODUCTION_FILE = "production_state_dict.pt"
COPIED_INTO_BUNDLE = (
    REPORT_MD,
    REPORT_JSON,
    PARAMS_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    *PLOTS,
)


def train(config: TrainConfig, resume: str | Path | None = None) -> dict[str, Any]:
    """Run the whole pipeline; returns the final report (also written to ``run.out_dir``).

    Under ``torchrun`` every process calls this; rank 0 returns the report, the others ``{}``.
    With ``train.stop_after_epochs`` the run stops early and returns ``{"interrupted": ...}``.
    """
    context = init_distributed(config.run.device)
    try:
        return _train(config, context, Path(resume) if resume else None)
    finally:
        shutdown(context)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def load_splits(config: TrainConfig) -> tuple[dict[str, Split], str]:
    """The data's three splits and a one-line description for the provenance."""
    model, data = config.model, config.data
    if data.root:
        splits = load_folder_splits(
            data.root,
            model.class_names,
            model.channel_names,
            data.val_share,
            data.test_share,
            config.run.seed,
            input_size=model.input_size,  # resized as the model's preprocessing resizes
        )
        return splits, f"class folders {data.root}"
    synthetic = data.synthetic
    seed = config.run.seed if synthetic.seed is None else synthetic.seed
    splits = synthetic_splits(
        synthetic.per_class,
        model.class_names,
        seed,
        data.val_share,
        data.test_share,
        model.input_size,
        synthetic.maybe_share,
    )
    share = "" if synthetic.maybe_share is None else f", maybe share {synthetic.maybe_share}"
    return (
        splits,
        f"SYNTHETIC crops (cherry-synth, {synthetic.per_class}/class{share}, seed {seed})",
    )


def resolve_init_weights(spec: str, architecture: str) -> Path | None:
    """``""``: random; a file: that state_dict; else a torchvision weights name (downloads).

    Names (``DEFAULT``, ``IMAGENET1K_V1`` or ``ResNet50_Weights.IMAGENET1K_V2``) need internet
    the first time (torch hub cache afterwards); never used in tests.
    """
    if not spec:
        return None
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.suffix in (".pt", ".pth", ".bin") or "/" in spec:
        raise FileNotFoundError(f"init weights {spec}: no such file")
    from torchvision import models

    enum = models.get_model_weights(architecture)
    weights = enum[spec.split(".")[-1]] if spec.split(".")[-1] != "DEFAULT" else enum.DEFAULT
    LOGGER.warning("downloading %s (needs internet once; cached by torch hub)", weights)
    weights.get_state_dict(progress=True)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return cached


def _train(config: TrainConfig, context: DistContext, resume: Path | None) -> dict[str, Any]:
    run = config.run
    if run.num_threads:
        torch.set_num_threads(run.num_threads)
    torch.use_deterministic_algorithms(run.deterministic, warn_only=True)
    if context.device.type == "cuda":
        torch.backends.cudnn.benchmark = not run.deterministic
    out = Path(run.out_dir)
    if context.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(config, out / CONFIG_FILE)
    started = time.perf_counter()
    splits, data_description = load_splits(config)
    manifest = config.manifest()
    names = config.model.class_names
    LOGGER.info(
        "data: %s; train %s, val %s, test %s (per class %s)",
        data_description,
        len(splits["train"]),
        len(splits["val"]),
        len(splits["test"]),
        list(names),
    )

    torch.manual_seed(run.seed)
    init = resolve_init_weights(config.model.weights, config.model.architecture)
    model = create_model(config.model, init).to(context.device)
    if config.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    network: nn.Module = model
    if context.distributed:
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        network = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    dataset = AugmentedCrops(splits["train"], config.augment, run.seed)
    sampler = EpochSampler(
        splits["train"].labels,
        run.seed,
        balanced=config.data.sampling == "balanced",
        rank=context.rank,
        world_size=context.world_size,
    )
    loader = DataLoader(
        dataset,
        batch_size=config.train.batch_size,
        sampler=sampler,
        num_workers=config.data.num_workers,
        collate_fn=collate_uint8,
        drop_last=len(sampler) > config.train.batch_size,
        pin_memory=context.device.type == "cuda",
    )
    optimizer = create_optimizer(model, config.optim)
    scheduler = build_scheduler(optimizer, config.schedule, len(loader), config.train.epochs)
    precision = choose_precision(config.train.amp, context.device)
    scaler = torch.amp.GradScaler(context.device.type) if precision.scaler else None
    weights = class_weights(splits["train"].labels, len(names), config.optim.class_weights)
    if weights is not None and config.data.sampling == "balanced":
        LOGGER.warning("balanced sampling and balanced class weights both correct for imbalance")
    loss_fn = nn.CrossEntropyLoss(
        weight=None if weights is None else weights.to(context.device),
        label_smoothing=config.optim.label_smoothing,
    )

    best, history, start_epoch = BestSoFar(), [], 0
    if resume is not None:
        state, saved_manifest = load_checkpoint(resume)
        contract = manifest.contract()
        different = [k for k in contract if saved_manifest.get(k) != contract[k]]
        if different:
            raise ValueError(
                f"{resume}: the checkpoint's {', '.join(different)} differ from this config's"
            )
        model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        if scaler is not None and state.scaler:
            scaler.load_state_dict(state.scaler)
        best, history, start_epoch = state.best, state.history, state.epoch
        LOGGER.info("resumed from %s after epoch %d", resume, start_epoch)

    val = splits["val"]
    target = config.selection.pit_recall_target
    stop_reason = ""
    epoch = start_epoch
    for epoch in range(start_epoch, config.train.epochs):
        torch.manual_seed(epoch_seed(run.seed, epoch, context.rank))  # dropout, per epoch
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        result = train_one_epoch(
            network,
            loader,
            optimizer,
            scheduler,
            loss_fn,
            manifest,
            context.device,
            precision,
            scaler,
            config.train,
            config.optim.grad_clip,
            description=f"epoch {epoch + 1}/{config.train.epochs}",
            show_progress=config.train.progress and context.is_main,
        )
        stop = False
        if context.is_main:
            logits = predict_logits(
                model, val.crops, manifest, context.device, config.train.eval_batch_size
            )
            metrics = evaluate_logits(logits, val.labels, names, pit_recall_target=target)
            key = selection_key(config.selection.metric, metrics)
            improved = best.offer(key, epoch + 1, model)
            record = {
                "epoch": epoch + 1,
                "lr": result.lr_end,
                "lr_start": result.lr_start,
                "train_loss": result.loss,
                "train_accuracy": result.accuracy,
                **{f"val_{k}": v for k, v in metrics.to_dict().items()},
                "selected": improved,
                "target": target,
                "seconds": result.seconds,
                "train_images": result.images * context.world_size,
                "images_per_second": result.images * context.world_size / result.seconds,
            }
            history.append(record)
            write_history(out / METRICS_FILE, history)
            LOGGER.info(
                "epoch %d: loss %.4f, val acc %.4f, val NLL %.4f, clean yield %.4f at pit "
                "recall >= %s%s",
                epoch + 1,
                result.loss,
                metrics.accuracy,
                metrics.nll,
                metrics.clean_yield_at_recall,
                target,
                " (best so far)" if improved else "",
            )
            save_checkpoint(
                out / "checkpoints" / LAST,
                TrainingState(
                    epoch + 1,
                    model.state_dict(),
                    optimizer.state_dict(),
                    scheduler.state_dict(),
                    scaler.state_dict() if scaler is not None else {},
                    best,
                    history,
                    config.to_dict(),
                ),
                manifest,
            )
            patience = config.train.early_stopping_patience
            if patience and best.epochs_without_improvement >= patience:
                stop, stop_reason = True, f"early stop: {patience} epochs without improvement"
        interrupt = config.train.stop_after_epochs
        if interrupt and epoch + 1 - start_epoch >= interrupt and epoch + 1 < config.train.epochs:
            stop_reason = "interrupted"  # the same on every rank: no broadcast needed
            break
        if broadcast_flag(context, stop):
            break
    train_seconds = time.perf_counter() - started
    if stop_reason:
        LOGGER.info("%s after epoch %d", stop_reason, epoch + 1)
    if stop_reason == "interrupted":
        barrier(context)
        checkpoint = str(out / "checkpoints" / LAST)
        return {"interrupted": True, "epoch": epoch + 1, "checkpoint": checkpoint}
    report: dict[str, Any] = {}
    if context.is_main:
        model.load_state_dict(best.state_dict)
        report = finish(
            config,
            model,
            splits,
            data_description,
            best.epoch,
            len(history),
            history,
            context,
            train_seconds,
        )
    barrier(context)
    return report


def selection_key(metric: str, metrics: ModelMetrics) -> tuple[float, ...]:
    """Larger is better. The safety score first; validation NLL breaks ties."""
    nll = metrics.nll
    nll = -nll if math.isfinite(nll) else -math.inf
    if metric == "val_loss":
        return (nll,)
    if metric == "accuracy":
        return (metrics.accuracy, nll)
    score = metrics.clean_yield_at_recall
    return (score if math.isfinite(score) else -1.0, nll)


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in history))


@dataclass
class Fitted:
    """What :func:`finish` fits on validation and measures once on test."""

    fit: TemperatureFit
    choice: ThresholdChoice
    val: ModelMetrics
    test: ModelMetrics
    test_logits: np.ndarray
    val_logits: np.ndarray


@dataclass
class Exported:
    """What :func:`export_run` wrote: the bundle, its variants, and the run's files."""

    bundle: ModelBundle
    bundle_dir: Path
    variants: dict[str, dict[str, Any]]
    files: dict[str, str]  # file name in the run folder -> what it is


def finish(
    config: TrainConfig,
    model: nn.Module,
    splits: dict[str, Split],
    data_description: str,
    best_epoch: int,
    epochs_run: int,
    history: list[dict[str, Any]],
    context: DistContext,
    train_seconds: float,
) -> dict[str, Any]:
    """Calibrate, tune thresholds, test once, export everything and write the report."""
    fitted = fit_and_test(config, model, splits, context.device)
    LOGGER.info("test: %s", summary_line(fitted.test))
    provenance = build_provenance(
        config, splits, data_description, best_epoch, epochs_run, fitted, context.device
    )
    final = config.manifest(fitted.fit.temperature, fitted.choice.thresholds, provenance)
    exported = export_run(config, model, final, splits, fitted.test_logits, fitted.val_logits)
    report = build_report(
        config, model, exported, provenance, fitted, train_seconds, context.device
    )
    write_run_report(config, report, history, fitted, splits["test"].labels)
    copy_into_bundle(Path(config.run.out_dir), exported.bundle_dir)
    return report


def calibrate(config: TrainConfig, logits: np.ndarray, labels: np.ndarray) -> TemperatureFit:
    """The validation temperature (:mod:`.calibration`), or T = 1 when calibration is off."""
    if not config.calibration.enabled:
        return TemperatureFit(1.0, math.nan, math.nan, False)
    return fit_temperature(
        logits, labels, config.calibration.min_temperature, config.calibration.max_temperature
    )


def tune_thresholds(
    config: TrainConfig, logits: np.ndarray, labels: np.ndarray, temperature: float
) -> ThresholdChoice:
    """Thresholds on calibrated validation probabilities (:mod:`.thresholds`)."""
    tuning = config.thresholds
    return choose_thresholds(
        softmax(logits, temperature),
        labels,
        config.model.class_names,
        tuning.pit_recall_target,
        tuning.max_maybe_rate,
        tuning.steps,
    )


def fit_and_test(
    config: TrainConfig, model: nn.Module, splits: dict[str, Split], device: torch.device
) -> Fitted:
    """Temperature and thresholds on validation, then the one test run; both splits scored."""
    manifest, batch = config.manifest(), config.train.eval_batch_size
    names = config.model.class_names
    val, test = splits["val"], splits["test"]
    val_logits = predict_logits(model, val.crops, manifest, device, batch)
    fit = calibrate(config, val_logits, val.labels)
    choice = tune_thresholds(config, val_logits, val.labels, fit.temperature)
    scoring = {
        "temperature": fit.temperature,
        "thresholds": choice.thresholds,
        "pit_recall_target": config.thresholds.pit_recall_target,
    }
    val_metrics = evaluate_logits(val_logits, val.labels, names, **scoring)
    test_logits = predict_logits(model, test.crops, manifest, device, batch)
    test_metrics = evaluate_logits(test_logits, test.labels, names, **scoring)
    return Fitted(fit, choice, val_metrics, test_metrics, test_logits, val_logits)


def build_provenance(
    config: TrainConfig,
    splits: dict[str, Split],
    data_description: str,
    best_epoch: int,
    epochs_run: int,
    fitted: Fitted,
    device: torch.device,
) -> dict[str, Any]:
    """The bundle manifest's provenance: data, selection, calibration, headline figures."""
    target = config.selection.pit_recall_target
    return {
        "note": config.run.note,
        "trained": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": data_description,
        "training_data": training_data(config, splits),
        "split_sizes": {name: len(split) for name, split in splits.items()},
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "selection": f"{config.selection.metric} (pit recall >= {target})",
        "temperature_fit": {
            "nll_before": fitted.fit.nll_before,
            "nll_after": fitted.fit.nll_after,
            "at_bound": fitted.fit.at_bound,
        },
        "thresholds_feasible": fitted.choice.feasible,
        "val_metrics": fitted.val.to_dict(HEADLINE),
        "test_metrics": fitted.test.to_dict(HEADLINE),
        "software": {"torch": torch.__version__, "python": platform.python_version()},
        "git_commit": _git_commit(),
        "device": str(device),
        "config": config.to_dict(),
    }


def training_data(config: TrainConfig, splits: dict[str, Split]) -> dict[str, Any]:
    """Provenance's ``training_data``: the data's kind (synthetic, real, mixed) and crop count
    (all splits: what the model's training, selection and test saw)."""
    root = config.data.root
    kind = dataset_kind(root) if root else SYNTHETIC_DATA
    return {"kind": kind, "crops": sum(len(split) for split in splits.values())}


def export_run(
    config: TrainConfig,
    model: nn.Module,
    final: ModelManifest,
    splits: dict[str, Split],
    test_logits: np.ndarray,
    val_logits: np.ndarray | None = None,
) -> Exported:
    """The bundle (golden: test crops of every decided label; reference distribution: the
    validation split's), its variants, params, ONNX, bare state_dict."""
    out, export = Path(config.run.out_dir), config.export
    test = splits["test"]
    bundle_dir = bundle_folder(config)
    bundle = write_bundle(
        bundle_dir, model, final, test.crops, test_logits, test.labels, export.golden_crops
    )
    LOGGER.info("bundle %s written to %s", bundle.model_id, bundle_dir)
    if val_logits is not None:
        reference = write_validation_reference(bundle_dir, bundle, splits["val"], val_logits)
        LOGGER.info("reference distribution: %s", reference.summary())
    calibration_crops = splits["train"].crops[: export.calibration_crops]
    variants = write_variants(
        bundle_dir, calibration_crops, test.crops, test.labels, export.variants
    )
    files = {
        f"{bundle_dir.name}/": "the bundle (manifest.yaml, weights.pt, golden.npz, "
        "reference.json, variants/)",
        PARAMS_FILE: "node parameters with the tuned thresholds",
        METRICS_FILE: "per-epoch metrics (JSON lines)",
        CONFIG_FILE: "the resolved training config",
        REPORT_JSON: "this report's figures",
        "checkpoints/last.pt": "the last epoch's training state (resume with --resume)",
    }
    write_params(out / PARAMS_FILE, final.thresholds, bundle_dir.name)
    if export.onnx:
        write_onnx(out / ONNX_FILE, model, final)
        files[ONNX_FILE] = "fp32 ONNX (input: preprocessed N x C x S x S; output: logits)"
    if export.production_state_dict and write_production_state_dict(
        out / PRODUCTION_FILE, model, final
    ):
        files[PRODUCTION_FILE] = "bare ResNet50 state_dict (clean, maybe, pit) for the old detector"
    return Exported(bundle, bundle_dir, variants, files)


def build_report(
    config: TrainConfig,
    model: nn.Module,
    exported: Exported,
    provenance: dict[str, Any],
    fitted: Fitted,
    train_seconds: float,
    device: torch.device,
) -> dict[str, Any]:
    """``report.json``'s content (also what :func:`train` returns)."""
    tuning = config.thresholds
    return {
        "run_name": Path(config.run.out_dir).name,
        "note": config.run.note,
        "model_id": exported.bundle.model_id,
        "bundle": str(exported.bundle_dir),
        "architecture": config.model.architecture,
        "class_names": list(config.model.class_names),
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_bytes": (exported.bundle_dir / "weights.pt").stat().st_size,
        "data": provenance["data"],
        "split_sizes": provenance["split_sizes"],
        "best_epoch": provenance["best_epoch"],
        "epochs_run": provenance["epochs_run"],
        "selection_metric": config.selection.metric,
        "train_seconds": train_seconds,
        "device": str(device),
        "temperature": fitted.fit.temperature,
        "calibration": provenance["temperature_fit"],
        "thresholds": fitted.choice.thresholds.to_dict(),
        "thresholds_feasible": fitted.choice.feasible,
        "pit_recall_target": tuning.pit_recall_target,
        "max_maybe_rate": tuning.max_maybe_rate,
        "val": fitted.val.to_dict(),
        "test": fitted.test.to_dict(),
        "variants": {name: _variant_summary(r) for name, r in exported.variants.items()},
        "files": exported.files,
    }


def write_run_report(
    config: TrainConfig,
    report: dict[str, Any],
    history: list[dict[str, Any]],
    fitted: Fitted,
    test_labels: np.ndarray,
) -> None:
    """``report.json`` and, with ``export.report``, ``report.md`` and its plots."""
    out = Path(config.run.out_dir)
    if config.export.report:
        report["files"][REPORT_MD] = "this report, with plots"
        names = config.model.class_names
        write_plots(
            out,
            history,
            report["best_epoch"],
            fitted.test,
            names,
            fitted.test_logits,
            test_labels,
            fitted.fit.temperature,
        )
        write_markdown(out / REPORT_MD, report, names)
    (out / REPORT_JSON).write_text(json.dumps(report, indent=2))


def copy_into_bundle(out: Path, bundle_dir: Path) -> None:
    """Copy the run's report and records into the bundle: it documents itself wherever it goes."""
    for name in COPIED_INTO_BUNDLE:
        if (out / name).is_file():
            shutil.copy2(out / name, bundle_dir / name)


def bundle_folder(config: TrainConfig) -> Path:
    """``export.bundle_dir`` or ``<out_dir>/<bundle_name or out_dir's name>``."""
    export = config.export
    if export.bundle_dir:
        return Path(export.bundle_dir)
    out = Path(config.run.out_dir)
    return out / (export.bundle_name or out.resolve().name)


def summary_line(metrics: ModelMetrics) -> str:
    """The summary view of a split's figures on one line."""
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.to_dict(SUMMARY).items())


def _variant_summary(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("accepted", "reason", "decision_agreement", "pit_recall", "pit_recall_fp32", "file")
    return {key: record[key] for key in keys if key in record}


def _git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def build_parser() -> argparse.ArgumentParser:
    """``cherry-train``'s command line (:mod:`cherry_classifier.cli` convention)."""
    parser = cli.tool_parser(
        "cherry-train", __doc__.split("\n\n")[0], epilog=__doc__.split("\n\n")[1]
    )
    parser.add_argument("--config", type=Path, help="YAML config (see training/configs/)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. optim.lr=1e-3 (repeatable)",
    )
    parser.add_argument(
        "--data", help="dataset root (data.root; None: the config's, else synthetic crops)"
    )
    cli.add_out(parser, "run folder (run.out_dir; None: the config's)")
    cli.add_renamed(parser, "--out-dir", "out", type=Path)
    parser.add_argument("--weights", help="initial weights: local state_dict (model.weights)")
    parser.add_argument("--resume", type=Path, help="a checkpoint (…/checkpoints/last.pt)")
    parser.add_argument("--seeds", help="comma-separated seeds: one run each, then a summary")
    cli.add_quiet(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    overrides = list(args.set)
    for key, value in (
        ("data.root", args.data),
        ("run.out_dir", None if args.out is None else str(args.out)),
        ("model.weights", args.weights),
    ):
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    if args.quiet:
        overrides.append("train.progress=false")
    config = load_config(args.config, overrides)
    started = time.monotonic()
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        summary = run_seeds(config, seeds, train)
        print(summary["markdown"])
    else:
        report = train(config, args.resume)
        if report.get("interrupted"):
            print(
                f"interrupted after epoch {report['epoch']}: resume with --resume "
                f"{report['checkpoint']}"
            )
        elif report:
            print(f"test: {summary_line(ModelMetrics.from_dict(report['test']))}")
            print(
                f"bundle {report['model_id']} in {report['bundle']}; report in "
                f"{Path(config.run.out_dir) / REPORT_MD}"
            )
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
