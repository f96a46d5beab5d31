"""A model's contract: what goes in (crop, size, channels, scale) and what comes out (classes).

It travels with the weights in every bundle, so nothing about a model's input or output is ever
assumed (in the spirit of timm's ``pretrained_cfg``). Production models are unnormalised: uint8
pixels * 1/255, no mean/std. The crop contract: ``crop_size`` is the side cut from the frame
around each cherry (frame pixels), ``interpolation`` how that crop is resized to ``input_size``,
and ``channel_names`` the layer order. Manifests written before these fields load with the
line's defaults (:mod:`cherry_classifier.core.contract`).

What a model was trained on is in its provenance: ``training_data: {kind, crops}`` with kind
``synthetic``, ``real`` or ``mixed`` (written by training export). A model trained on synthetic
crops only is a *demo model* (:meth:`ModelManifest.is_demo_model`): it has never seen a real
cherry and is not for sorting.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from cherry_classifier.core.contract import (
    CROP_SIZE_PX,
    DEFAULT_INTERPOLATION,
    INPUT_SIZE_PX,
    INTERPOLATIONS,
    LAYER_ORDER,
)
from cherry_classifier.core.decision import ThresholdError, Thresholds

FORMAT_VERSION = 1
CONTRACT_FIELDS = (
    "architecture",
    "class_names",
    "input_size",
    "channel_names",
    "input_scale",
    "mean",
    "std",
)
# Also part of the contract, but they enter the model id only where they differ from the
# defaults, so the ids of models exported before these fields existed stay the same.
CROP_FIELDS = ("crop_size", "interpolation")

# provenance["training_data"]["kind"]: what the training crops were.
SYNTHETIC_DATA, REAL_DATA, MIXED_DATA = "synthetic", "real", "mixed"
TRAINING_DATA_KINDS = (SYNTHETIC_DATA, REAL_DATA, MIXED_DATA)
UNKNOWN_DATA = "unknown"  # a manifest whose provenance does not say
# Bundles exported before training_data existed say SYNTHETIC (upper case) in these strings.
LEGACY_SYNTHETIC_MARK = "SYNTHETIC"
LEGACY_PROVENANCE_TEXTS = ("data", "note")


class ManifestError(ValueError):
    """A manifest is missing a field or holds an impossible value."""


@dataclass(frozen=True)
class ModelManifest:
    architecture: str
    class_names: tuple[str, ...]
    input_size: int = INPUT_SIZE_PX
    channel_names: tuple[str, ...] = LAYER_ORDER  # the layer order
    input_scale: float = 1 / 255
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    temperature: float = 1.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    provenance: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # see core/variants.py
    crop_size: int = CROP_SIZE_PX  # side cut from the frame around a cherry, frame pixels
    interpolation: str = DEFAULT_INTERPOLATION  # crop -> input_size, one of INTERPOLATIONS

    def __post_init__(self) -> None:
        from cherry_classifier.core.architectures import ARCHITECTURES

        if self.architecture not in ARCHITECTURES:
            raise ManifestError(
                f"unknown architecture {self.architecture!r}; known: {', '.join(ARCHITECTURES)}"
            )
        names = tuple(self.class_names)
        if not all(isinstance(name, str) for name in names):
            raise ManifestError(f"class_names must be strings, got {list(names)}")
        if len(names) < 2 or len(set(names)) != len(names):
            raise ManifestError(f"class_names must be 2+ distinct names, got {list(names)}")
        if "clean" not in names or "pit" not in names:
            raise ManifestError(f"class_names must include 'clean' and 'pit', got {list(names)}")
        if not isinstance(self.input_size, int) or not 8 <= self.input_size <= 2048:
            raise ManifestError(
                f"input_size must be an integer in 8..2048, got {self.input_size!r}"
            )
        if not self.channel_names:
            raise ManifestError("channel_names must name at least one channel")
        channels = tuple(self.channel_names)
        if not all(isinstance(n, str) and n for n in channels) or len(set(channels)) != len(
            channels
        ):
            raise ManifestError(
                f"channel_names must be distinct non-empty names, got {list(channels)}"
            )
        if (
            isinstance(self.crop_size, bool)
            or not isinstance(self.crop_size, int)
            or not 8 <= self.crop_size <= 2048
        ):
            raise ManifestError(f"crop_size must be an integer in 8..2048, got {self.crop_size!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ManifestError(
                f"interpolation must be one of {', '.join(INTERPOLATIONS)}, "
                f"got {self.interpolation!r}"
            )
        if not (isinstance(self.input_scale, int | float) and math.isfinite(self.input_scale)):
            raise ManifestError(f"input_scale must be a finite number, got {self.input_scale!r}")
        if self.input_scale <= 0:
            raise ManifestError(f"input_scale must be > 0, got {self.input_scale}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.channel_names):
                raise ManifestError(
                    f"{name} has {len(values)} values for {len(self.channel_names)} channels"
                )
        if self.std is not None and any(v <= 0 for v in self.std):
            raise ManifestError(f"std values must be > 0, got {list(self.std)}")
        if not (isinstance(self.temperature, int | float) and math.isfinite(self.temperature)):
            raise ManifestError(f"temperature must be a finite number, got {self.temperature!r}")
        if not self.temperature > 0:
            raise ManifestError(f"temperature must be > 0, got {self.temperature}")
        if not isinstance(self.thresholds, Thresholds):
            raise ManifestError(f"thresholds must be a Thresholds, got {self.thresholds!r}")
        try:
            self.thresholds.validated()
        except ThresholdError as error:
            raise ManifestError(f"thresholds: {error}") from error
        if not isinstance(self.provenance, dict) or not isinstance(self.variants, dict):
            raise ManifestError("provenance and variants must be mappings")
        recorded = self.provenance.get("training_data")
        if recorded is not None and (
            not isinstance(recorded, dict) or recorded.get("kind") not in TRAINING_DATA_KINDS
        ):
            raise ManifestError(
                f"provenance.training_data must be {{kind: {' | '.join(TRAINING_DATA_KINDS)}, "
                f"crops: N}}, got {recorded!r}"
            )
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "channel_names", tuple(self.channel_names))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_channels(self) -> int:
        return len(self.channel_names)

    def training_data_kind(self) -> str:
        """``synthetic``, ``real`` or ``mixed`` from ``provenance.training_data.kind``; for older
        bundles ``synthetic`` where their ``data`` or ``note`` says SYNTHETIC; else ``unknown``."""
        recorded = self.provenance.get("training_data")
        if isinstance(recorded, dict) and recorded.get("kind") in TRAINING_DATA_KINDS:
            return recorded["kind"]
        for key in LEGACY_PROVENANCE_TEXTS:
            text = self.provenance.get(key)
            if isinstance(text, str) and LEGACY_SYNTHETIC_MARK in text:
                return SYNTHETIC_DATA
        return UNKNOWN_DATA

    def training_data_crops(self) -> int | None:
        """How many crops training used (``provenance.training_data.crops``), if recorded."""
        recorded = self.provenance.get("training_data")
        crops = recorded.get("crops") if isinstance(recorded, dict) else None
        return crops if isinstance(crops, int) and not isinstance(crops, bool) else None

    def training_data_summary(self) -> str:
        """One line for people: ``synthetic, 2222 crops`` (``unknown`` when not recorded)."""
        crops = self.training_data_crops()
        kind = self.training_data_kind()
        return kind if crops is None else f"{kind}, {crops} crops"

    def is_demo_model(self) -> bool:
        """True for a model trained on synthetic crops only: never seen a real cherry."""
        return self.training_data_kind() == SYNTHETIC_DATA

    def demo_model_warning(self) -> str:
        """Why this model must not sort cherries ("" unless it is a demo model)."""
        if not self.is_demo_model():
            return ""
        return (
            f"demo model: trained on synthetic crops only ({self.training_data_summary()}), "
            "never seen a real cherry; not for sorting"
        )

    def contract(self) -> dict[str, Any]:
        """The fields that change what the weights mean (they enter the model id).

        Everything else (temperature, thresholds, provenance, variants) may change without
        changing the model id. ``crop_size`` and ``interpolation`` appear only where they
        differ from the defaults (see ``CROP_FIELDS``).
        """
        contract = {
            "architecture": self.architecture,
            "class_names": list(self.class_names),
            "input_size": self.input_size,
            "channel_names": list(self.channel_names),
            "input_scale": float(self.input_scale),
            "mean": None if self.mean is None else [float(v) for v in self.mean],
            "std": None if self.std is None else [float(v) for v in self.std],
        }
        for name in CROP_FIELDS:
            value = getattr(self, name)
            if value != type(self).__dataclass_fields__[name].default:
                contract[name] = value
        return contract

    def crop_contract(self) -> dict[str, Any]:
        """The crop contract as plain data: crop side, interpolation, input side, layer order."""
        return {
            "crop_size": self.crop_size,
            "interpolation": self.interpolation,
            "input_size": self.input_size,
            "channel_names": list(self.channel_names),
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(self.contract())
        data.update(self.crop_contract())
        data["temperature"] = float(self.temperature)
        data["thresholds"] = self.thresholds.to_dict()
        data["format_version"] = FORMAT_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelManifest:
        """Build and validate; unknown keys and missing required ones are named."""
        if not isinstance(data, dict):
            raise ManifestError(f"a manifest must be a mapping, got {type(data).__name__}")
        data = dict(data)
        version = data.pop("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ManifestError(
                f"manifest format_version {version} is not supported ({FORMAT_VERSION})"
            )
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ManifestError(f"unknown manifest field(s): {', '.join(unknown)}")
        missing = [name for name in ("architecture", "class_names") if name not in data]
        if missing:
            raise ManifestError(f"manifest lacks {', '.join(missing)}")
        if isinstance(data.get("thresholds"), dict):
            try:
                data["thresholds"] = Thresholds(**data["thresholds"])
            except TypeError as error:
                raise ManifestError(f"thresholds: {error}") from error
        for name in ("class_names", "channel_names", "mean", "std"):
            if data.get(name) is not None:
                data[name] = tuple(data[name])
        try:
            return cls(**data)
        except TypeError as error:
            raise ManifestError(str(error)) from error
