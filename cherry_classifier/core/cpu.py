"""What this CPU can do fast: the flags that decide which low-precision backends pay off.

Test hook: ``CHERRY_CPUINFO=<file>`` in the environment makes :func:`cpu_flags` read that file
(cpuinfo format) instead of /proc/cpuinfo, so a test can show how a process behaves on a CPU
without AMX or VNNI. Never set it on a sorting line.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
CPUINFO_VAR = "CHERRY_CPUINFO"


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags from /proc/cpuinfo, or the file ``CHERRY_CPUINFO`` names (empty
    where it cannot be read)."""
    return flags_from(Path(os.environ.get(CPUINFO_VAR) or "/proc/cpuinfo"))


def flags_from(cpuinfo: Path) -> frozenset[str]:
    """The ``flags`` line of a cpuinfo-format file (empty where it cannot be read)."""
    try:
        for line in cpuinfo.read_text().splitlines():
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
