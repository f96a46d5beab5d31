"""Train a cherry classifier and export a calibrated, deployable bundle.

    cherry-train --config training/configs/demo_synthetic.yaml [--set epochs=3 --set seed=1]

Everything the model sees goes through the core's ``preprocess`` with the manifest it is saved
with (unnormalised [0,1] input, channels bot1/bot2/top2 by default), so training and inference
cannot disagree. Model selection uses pit safety, not accuracy; temperature and thresholds are
fitted on validation; final figures come from the untouched test split.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from tqdm import tqdm

from cherry_classifier.core.architectures import build_model
from cherry_classifier.core.bundle import save_bundle
from cherry_classifier.core.decision import Thresholds
from cherry_classifier.core.manifest import ModelManifest
from cherry_classifier.core.preprocess import preprocess
from cherry_classifier.training.data import augment_batch, load_splits
from cherry_classifier.training.metrics import (
    choose_thresholds,
    evaluate,
    fit_temperature,
    yield_at_recall,
)

LOGGER = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    architecture: str = "mobilenet_v3_small"
    class_names: list[str] = field(default_factory=lambda: ["clean", "maybe", "pit"])
    channel_names: list[str] = field(default_factory=lambda: ["bot1", "bot2", "top2"])
    input_size: int = 128
    input_scale: float = 1 / 255
    data_dir: str = ""  # class folders (train/val/test or one folder); empty: synthetic
    synthetic_per_class: int = 400
    val_share: float = 0.15
    test_share: float = 0.15
    epochs: int = 8
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    grad_clip: float = 5.0
    seed: int = 0
    num_threads: int = 0
    pit_recall_target: float = 0.99
    max_maybe_rate: float = 0.15
    init_weights: str = ""
    out_dir: str = "runs/demo"
    note: str = ""

    def manifest(
        self, temperature: float = 1.0, thresholds: Thresholds | None = None, provenance=None
    ):
        return ModelManifest(
            architecture=self.architecture,
            class_names=tuple(self.class_names),
            input_size=self.input_size,
            channel_names=tuple(self.channel_names),
            input_scale=self.input_scale,
            temperature=temperature,
            thresholds=thresholds or Thresholds(),
            provenance=provenance or {},
        )


def load_config(path: Path | None, overrides: list[str]) -> TrainConfig:
    """YAML config, then ``key=value`` overrides parsed as YAML scalars."""
    values: dict[str, Any] = yaml.safe_load(path.read_text()) if path else {}
    for override in overrides:
        key, _, raw = override.partition("=")
        values[key.strip()] = yaml.safe_load(raw)
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SystemExit(f"unknown config key(s): {', '.join(unknown)}")
    return TrainConfig(**values)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def predict_logits(model: nn.Module, crops: np.ndarray, manifest: ModelManifest) -> np.ndarray:
    model.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(crops), 64):
            outputs.append(model(preprocess(crops[start : start + 64], manifest)).float().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, len(manifest.class_names)))


def train(config: TrainConfig) -> dict[str, Any]:
    """Run the whole pipeline; returns the final report (also written to out_dir)."""
    seed_everything(config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(asdict(config), sort_keys=False))
    splits = load_splits(config)
    manifest = config.manifest()
    model = build_model(
        config.architecture,
        len(config.class_names),
        init_weights=Path(config.init_weights) if config.init_weights else None,
    ).to(memory_format=torch.channels_last)
    for module in model.modules():  # torchvision's MobileNetV3 uses 0.01: too slow for short runs
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.1
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    train_crops, train_labels = splits["train"]
    counts = np.bincount(train_labels, minlength=len(config.class_names)).astype(np.float32)
    class_weights = torch.tensor(counts.sum() / np.maximum(counts, 1) / len(counts))
    loss_fn = nn.CrossEntropyLoss(weight=class_weights)
    steps_per_epoch = math.ceil(len(train_crops) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup = int(config.warmup_epochs * steps_per_epoch)
    rng = np.random.default_rng(config.seed)
    best: dict[str, Any] = {"score": (-1.0, -1.0)}
    step = 0
    with open(out / "metrics.jsonl", "w") as log:
        for epoch in range(config.epochs):
            model.train()
            order = rng.permutation(len(train_crops))
            losses = []
            bar = tqdm(
                range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", leave=False
            )
            for batch_index in bar:
                index = order[
                    batch_index * config.batch_size : (batch_index + 1) * config.batch_size
                ]
                batch = augment_batch(train_crops[index], rng)
                lr = lr_at(step, total_steps, warmup, config.lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss = loss_fn(
                    model(preprocess(batch, manifest)), torch.from_numpy(train_labels[index])
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                losses.append(float(loss))
                bar.set_postfix(loss=f"{np.mean(losses):.3f}", lr=f"{lr:.2e}")
                step += 1
            val_logits = predict_logits(model, splits["val"][0], manifest)
            metrics = evaluate(val_logits, splits["val"][1], config.class_names)
            score = yield_at_recall(
                val_logits, splits["val"][1], config.class_names, config.pit_recall_target
            )
            record = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": float(np.mean(losses)),
                "val_clean_yield_at_recall": score,
                **{f"val_{k}": v for k, v in metrics.items()},
            }
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(
                f"epoch {epoch + 1}: loss {record['train_loss']:.3f} "
                f"val acc {metrics['accuracy']:.3f}, clean yield {score:.3f} "
                f"at pit recall {config.pit_recall_target}"
            )
            ranking = (score, metrics["accuracy"])  # pit safety first; accuracy breaks ties
            if ranking > best["score"]:
                best = {
                    "score": ranking,
                    "epoch": epoch + 1,
                    "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
                }
    model.load_state_dict(best["state"])
    return export(model, config, splits, best["epoch"], out)


def export(model: nn.Module, config: TrainConfig, splits: dict, best_epoch: int, out: Path) -> dict:
    manifest = config.manifest()
    val_logits = predict_logits(model, splits["val"][0], manifest)
    temperature = fit_temperature(val_logits, splits["val"][1])
    thresholds = choose_thresholds(
        val_logits / temperature,
        splits["val"][1],
        config.class_names,
        config.pit_recall_target,
        config.max_maybe_rate,
    )
    test_crops, test_labels = splits["test"]
    test_logits = predict_logits(model, test_crops, manifest)
    test_metrics = evaluate(test_logits, test_labels, config.class_names, temperature, thresholds)
    provenance = {
        "trained": datetime.now(UTC).isoformat(timespec="seconds"),
        "best_epoch": best_epoch,
        "data": config.data_dir or f"SYNTHETIC (cherry-synth, {config.synthetic_per_class}/class)",
        "note": config.note,
        "config": asdict(config),
        "test_metrics": test_metrics,
    }
    final = config.manifest(temperature, thresholds, provenance)
    golden_crops = test_crops[:16]
    from cherry_classifier.core.decision import softmax

    golden = {
        "crops": golden_crops,
        "probabilities": softmax(predict_logits(model, golden_crops, final), temperature),
    }
    bundle = save_bundle(out / "bundle", model, final, golden=golden)
    params = {
        "classifier": {
            "ros__parameters": {**thresholds.to_dict(), "model_path": str(out / "bundle")}
        }
    }
    (out / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    report = {
        "model_id": bundle.model_id,
        "temperature": temperature,
        "thresholds": thresholds.to_dict(),
        "test": test_metrics,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"test: {json.dumps(test_metrics)}\nbundle {bundle.model_id} in {out / 'bundle'}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="YAML config (see training/configs/)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    started = time.monotonic()
    train(load_config(args.config, args.set))
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
