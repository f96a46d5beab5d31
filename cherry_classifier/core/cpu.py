"""What this CPU can do fast: the flags that decide which low-precision backends pay off."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_any(flags: tuple[str, ...]) -> bool:
    return bool(cpu_flags() & set(flags))


def supports_fast_bf16() -> bool:
    """Native bf16 dot products (AVX512-BF16 or AMX): without them bf16 is emulated and slow."""
    return has_any(BF16_FLAGS)


def supports_fast_int8() -> bool:
    """int8 dot-product instructions (VNNI or AMX): without them int8 can saturate and is slower."""
    return has_any(INT8_DOT_FLAGS)


def cpu_summary() -> dict[str, object]:
    """For provenance: where a variant's agreement figures were measured."""
    return {
        "machine": platform.machine(),
        "processor": _model_name(),
        "bf16_flags": sorted(cpu_flags() & set(BF16_FLAGS)),
        "int8_flags": sorted(cpu_flags() & set(INT8_DOT_FLAGS)),
    }


def _model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
