"""What machine a benchmark ran on, and which precisions it computes natively.

Every benchmark in this folder puts :func:`machine` into its JSON (``"machine"``), so a
figure quoted in README can name its CPU, and asks :func:`precision_plan` which of the
precisions it would measure by default to skip: on a CPU without native bf16 (no
``avx512_bf16`` or ``amx_bf16`` flag in ``/proc/cpuinfo``) bf16 matmuls are emulated, about
4x slower than fp32 (measured on an AVX2 machine, see ``agents/pool.py``), and one such
run of ``dpo_throughput.py``'s default bf16 rows took one worker over 20 minutes.
A precision the caller names explicitly always runs: a skip is only ever a default.

Reads ``/proc/cpuinfo`` only (imports no torch), so the orchestrating parent of a
benchmark can call it before any worker starts.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: ``/proc/cpuinfo`` flags that mean bf16 matmuls run in hardware.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the machine type (``x86_64``)."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def bf16_flags() -> list[str]:
    """The native-bf16 flags this CPU reports (empty: bf16 is emulated)."""
    flags: set[str] = set()
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return [f for f in BF16_FLAGS if f in flags]


def machine() -> dict[str, Any]:
    """CPU model, cores, native bf16 (and its flags): the ``"machine"`` field of a benchmark JSON."""
    flags = bf16_flags()
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "bf16_native": bool(flags),
            "bf16_flags": flags, "platform": platform.platform()}


def _canonical(dtype: str) -> str:
    return {"bfloat16": "bf16", "float32": "fp32", "float16": "fp16"}.get(dtype, dtype)


def emulated_reason(dtype: str, device: str = "cpu") -> str | None:
    """Why ``dtype`` would be emulated on this machine's ``device``, or ``None`` if it is native."""
    if device.startswith("cuda") or _canonical(dtype) != "bf16" or bf16_flags():
        return None
    return (f"bf16 skipped: {cpu_model()} has no native bf16 (neither {' nor '.join(BF16_FLAGS)} in "
            "/proc/cpuinfo), so it would be emulated (several times slower than fp32); ask for it "
            "explicitly to measure it anyway")


def precision_plan(dtypes: Iterable[str], explicit: bool, device: str = "cpu") -> tuple[list[str], dict[str, str]]:
    """The precisions to run and those skipped (with the reason), in the given order.

    Args:
        dtypes: Precisions the benchmark would measure (``fp32``, ``bf16``...).
        explicit: The user named them (a command-line flag): run every one, emulated or not.
        device: ``cpu`` or ``cuda``; a GPU never skips.

    Returns:
        ``(run, skipped)``: the precisions to measure, and ``{precision: reason}``.
    """
    run: list[str] = []
    skipped: dict[str, str] = {}
    for dtype in dtypes:
        reason = None if explicit else emulated_reason(dtype, device)
        if reason is None:
            run.append(dtype)
        else:
            skipped[dtype] = reason
    return run, skipped
