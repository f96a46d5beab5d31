"""The training configuration: one YAML file, dotted ``--set`` overrides, saved with each run.

    cherry-train --config training/configs/demo_synthetic.yaml --set optim.lr=1e-3 \\
        --set train.epochs=20 --set model.class_names=[clean,pit]

Values of ``--set`` are parsed as YAML (numbers, booleans, lists). Unknown keys are refused by
name, so a typo cannot silently train with a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cherry_classifier.core.contract import INPUT_SIZE_PX, LAYER_ORDER, LINE_CLASSES
from cherry_classifier.core.decision import Thresholds
from cherry_classifier.core.manifest import ModelManifest
from cherry_classifier.training.augment import AugmentConfig


@dataclass(frozen=True)
class RunConfig:
    out_dir: str = "runs/demo"
    seed: int = 0
    note: str = ""  # recorded in the manifest's provenance (e.g. "DEMO WEIGHTS ...")
    num_threads: int = 0  # torch CPU threads; 0 = torch's default
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:1
    deterministic: bool = True  # deterministic algorithms (bit-identical reruns on CPU)


@dataclass(frozen=True)
class ModelConfig:
    architecture: str = "mobilenet_v3_small"  # a name from core.architectures.ARCHITECTURES
    weights: str = ""  # "" random | local state_dict path | torchvision name (needs internet)
    class_names: tuple[str, ...] = LINE_CLASSES
    channel_names: tuple[str, ...] = LAYER_ORDER
    input_size: int = INPUT_SIZE_PX
    input_scale: float = 1 / 255  # uint8 * scale: [0, 1], unnormalised, as production
    mean: tuple[float, ...] | None = None  # None: unnormalised (production models)
    std: tuple[float, ...] | None = None
    bn_momentum: float | None = 0.1  # None keeps the architecture's (MobileNetV3: 0.01)


@dataclass(frozen=True)
class SyntheticConfig:
    per_class: int = 400
    maybe_share: float | None = None  # None: per_class maybe crops too
    seed: int | None = None  # None: run.seed


@dataclass(frozen=True)
class DataConfig:
    root: str = ""  # class folders (see training.data); "" = synthetic crops
    val_share: float = 0.15
    test_share: float = 0.15
    sampling: str = "shuffle"  # shuffle | balanced (class-balanced draws)
    num_workers: int = 0
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adamw"  # adamw | sgd
    lr: float = 2e-3
    weight_decay: float = 1e-4  # not applied to norms and biases
    momentum: float = 0.9  # sgd
    nesterov: bool = True  # sgd
    label_smoothing: float = 0.0
    class_weights: str = "balanced"  # balanced (inverse frequency) | none
    grad_clip: float = 5.0  # max gradient norm; 0 = off


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = "cosine"  # cosine | step | constant
    warmup_epochs: float = 0.5  # linear warm-up from warmup_start_factor * lr
    warmup_start_factor: float = 0.01
    min_lr_ratio: float = 0.0  # cosine floor, as a share of lr
    step_epochs: float = 10.0  # step: multiply by gamma every step_epochs
    gamma: float = 0.1


@dataclass(frozen=True)
class TrainLoopConfig:
    epochs: int = 8
    batch_size: int = 32  # per process
    eval_batch_size: int = 64
    amp: str = "auto"  # auto (bf16/fp16 autocast on CUDA) | off | bf16 | fp16
    channels_last: bool = True
    early_stopping_patience: int = 0  # epochs without a better selection score; 0 = off
    stop_after_epochs: int = 0  # end this invocation early (resume later); 0 = off
    progress: bool = True  # tqdm bars


@dataclass(frozen=True)
class SelectionConfig:
    metric: str = "clean_yield_at_recall"  # | val_loss | accuracy
    pit_recall_target: float = 0.99


@dataclass(frozen=True)
class CalibrationConfig:
    enabled: bool = True
    min_temperature: float = 0.5  # a perfectly separated validation set drives T to 0
    max_temperature: float = 10.0


@dataclass(frozen=True)
class ThresholdConfig:
    pit_recall_target: float = 0.99  # pits not decided CLEAN, on validation
    max_maybe_rate: float = 0.15  # share of all crops sent to manual review
    steps: int = 41  # grid resolution of the optimiser per threshold


@dataclass(frozen=True)
class ExportConfig:
    bundle_name: str = ""  # "" = the run folder's name; model_path in params.yaml
    bundle_dir: str = ""  # "" = <out_dir>/<bundle_name>; e.g. models/default
    variants: tuple[str, ...] = ("onnxruntime", "int8", "bf16")  # core.variants; () = none
    calibration_crops: int = 256  # int8 activation ranges, from the train split
    onnx: bool = True  # a standalone fp32 model.onnx beside the bundle
    production_state_dict: bool = True  # bare torchvision state_dict (resnet50 only)
    golden_crops: int = 16  # named golden set, every decided label (at most 32)
    report: bool = True  # report.md + PNG plots


@dataclass(frozen=True)
class TrainConfig:
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    thresholds: ThresholdConfig = field(default_factory=ThresholdConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def manifest(
        self,
        temperature: float = 1.0,
        thresholds: Thresholds | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> ModelManifest:
        """The model's contract as trained (validated by the core)."""
        model = self.model
        return ModelManifest(
            architecture=model.architecture,
            class_names=tuple(model.class_names),
            input_size=model.input_size,
            channel_names=tuple(model.channel_names),
            input_scale=model.input_scale,
            mean=model.mean,
            std=model.std,
            temperature=temperature,
            thresholds=thresholds or Thresholds(),
            provenance=provenance or {},
        )

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    def replace(self, **dotted: Any) -> TrainConfig:
        """A copy with dotted keys replaced, e.g. ``replace(**{"run.seed": 3})``."""
        data = self.to_dict()
        for key, value in dotted.items():
            _set_dotted(data, key, value)
        return from_dict(data)


CHOICES: dict[str, tuple[str, ...] | None] = {
    "data.sampling": ("shuffle", "balanced"),
    "optim.name": ("adamw", "sgd"),
    "optim.class_weights": ("balanced", "none"),
    "schedule.name": ("cosine", "step", "constant"),
    "train.amp": ("auto", "off", "bf16", "fp16"),
    "selection.metric": ("clean_yield_at_recall", "val_loss", "accuracy"),
}


def from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build and type-check a config from nested plain data; unknown keys are named."""
    config = _build(TrainConfig, data, "")
    for key, allowed in CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        if allowed is not None and value not in allowed:
            raise ValueError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")
    if config.train.epochs < 1 or config.train.batch_size < 1:
        raise ValueError("train.epochs and train.batch_size must be >= 1")
    if not 0 < config.thresholds.pit_recall_target <= 1:
        raise ValueError("thresholds.pit_recall_target must be in (0, 1]")
    return config


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """The YAML file (or the defaults), then ``section.key=value`` overrides."""
    data: dict[str, Any] = {}
    if path:
        loaded = yaml.safe_load(Path(path).read_text())
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"{path}: a training config must be a mapping")
        data = loaded or {}
    for override in overrides or []:
        key, separator, raw = override.partition("=")
        if not separator:
            raise ValueError(f"override {override!r} is not key=value")
        _set_dotted(data, key.strip(), yaml.safe_load(raw))
    return from_dict(data)


def save_config(config: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"{key}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ValueError(
            f"unknown config key(s): {', '.join(prefix + k for k in unknown)}; "
            f"known in {where or 'the top level'}: {', '.join(sorted(known))}"
        )
    values = {}
    for name, raw in data.items():
        values[name] = _coerce(hints[name], raw, f"{where}.{name}" if where else name)
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check and convert a YAML value to the field's type (tuples from lists, ints to floats)."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        element = args[0]
        return tuple(_coerce(element, v, where) for v in value)
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"{where}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
