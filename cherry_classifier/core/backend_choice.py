"""``backend: auto``: the fastest backend this bundle, this CPU and this install allow.

Candidates in order of speed measured on the development CPU (Xeon with AMX and AVX-512 VNNI,
``docs/benchmarks.md``): OpenVINO int8, ONNX Runtime int8, OpenVINO bf16, torch bf16, ONNX
Runtime fp32, eager fp32. A candidate is taken only if

- the bundle holds an accepted variant of that name (the gate of ``core.variants``: at most
  0.5% of held-out decisions differ from fp32, pit recall kept); eager needs none and is always
  possible: the reference every variant was measured against;
- its package imports (openvino, onnxruntime);
- this CPU has the instructions its precision needs to be fast (int8: VNNI or AMX-INT8; bf16:
  AVX512-BF16 or AMX-BF16). A variant accepted on a CPU with AMX is passed over on one without.

The choice comes with the reason for it and for every candidate passed over, to be logged.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cherry_classifier.core.bundle import ModelBundle
from cherry_classifier.core.cpu import BF16_FLAGS, INT8_DOT_FLAGS, cpu_flags

PREFERENCE = ("openvino_int8", "int8", "openvino_bf16", "bf16", "onnxruntime", "eager")
PACKAGE = {
    "openvino_int8": "openvino",
    "openvino_bf16": "openvino",
    "int8": "onnxruntime",
    "onnxruntime": "onnxruntime",
}
NEEDED_FLAGS = {
    "openvino_int8": INT8_DOT_FLAGS,
    "int8": INT8_DOT_FLAGS,
    "openvino_bf16": BF16_FLAGS,
    "bf16": BF16_FLAGS,
}


@dataclass
class BackendChoice:
    """The backend ``auto`` resolved to, why, and why each faster one was passed over."""

    backend: str
    reason: str
    passed_over: list[str] = field(default_factory=list)

    def describe(self) -> str:
        skipped = "; ".join(self.passed_over)
        return f"backend auto -> {self.backend}: {self.reason}" + (
            f" (passed over: {skipped})" if skipped else ""
        )


def _importable(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def choose_backend(
    bundle: ModelBundle,
    flags: frozenset[str] | None = None,
    importable: Callable[[str], bool] = _importable,
    exclude: Iterable[str] = (),
) -> BackendChoice:
    """The first candidate of :data:`PREFERENCE` this bundle, CPU (``flags``, default this
    machine's) and install (``importable``) allow; ``exclude``: candidates that already failed
    to load (each named in ``passed_over``)."""
    flags = cpu_flags() if flags is None else flags
    excluded = set(exclude)
    passed_over = []
    for name in PREFERENCE:
        if name == "eager":
            break
        why_not = _why_not(name, bundle, flags, importable, excluded)
        if not why_not:
            record = bundle.manifest.variants[name]
            measured = record.get("measured_on", {})
            reason = (
                f"fastest accepted variant here ({record.get('precision', '?')}; "
                f"{_agreement(record)}; accepted on {measured.get('processor', '?')} with "
                f"{_flags_text(measured)})"
            )
            return BackendChoice(name, reason, passed_over)
        passed_over.append(f"{name}: {why_not}")
    reason = "eager fp32, the reference (no faster accepted variant runs here)"
    return BackendChoice("eager", reason, passed_over)


def _why_not(
    name: str,
    bundle: ModelBundle,
    flags: frozenset[str],
    importable: Callable[[str], bool],
    excluded: set[str],
) -> str:
    if name in excluded:
        return "failed to load"
    record = bundle.manifest.variants.get(name)
    if record is None:
        return "no such variant in the bundle"
    if not record.get("accepted"):
        return f"refused at export ({record.get('reason', '?')})"
    if record.get("source_model_id") != bundle.model_id:
        return "made from another model"
    package = PACKAGE.get(name)
    if package and not importable(package):
        return f"the {package} package is not installed"
    needed = NEEDED_FLAGS.get(name)
    if needed and not flags & set(needed):
        return f"this CPU has none of {', '.join(needed)}"
    return ""


def _agreement(record: dict) -> str:
    agreement = record.get("decision_agreement")
    return f"agreement {agreement:.2%}" if isinstance(agreement, float) else "agreement ?"


def _flags_text(measured: dict) -> str:
    flags = [*measured.get("int8_flags", []), *measured.get("bf16_flags", [])]
    return ", ".join(flags) if flags else "no int8/bf16 flags"
