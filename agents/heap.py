"""Give freed heap memory back to the operating system between phases of a run.

glibc's malloc keeps freed memory for reuse, and from the first freed large block on it
serves blocks of up to 32 MB from its heap instead of mapping them (its dynamic mmap
threshold). A decode step reallocates every layer's KV cache (one ``torch.cat`` per
layer and step, a few MB each), so after generation the process holds hundreds of MB of
freed, fragmented heap that the update's differently sized activations cannot all reuse:
resident memory then climbs phase after phase: issue 24's long-prompt judge case
(``benchmarks/memory.py``, ``long_debate_long``) ended with 2395 MiB resident before this
module, 997 after (``docs/memory_long_before.json``, ``docs/memory.json``). Mapping every
large block instead (a fixed mmap threshold) also removes the retention, but re-faults the
KV cache's pages at every decode step.

:func:`release_free_memory` calls ``malloc_trim(0)``, which returns every free page of
every arena (``MADV_DONTNEED``), at the boundaries where one kind of work ends: a decode
session draining, an update step done. It frees nothing in use and costs milliseconds
(pages are faulted in again when next used), so speed within a phase is unchanged.
Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from typing import Any


@functools.cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only (musl has none)
    except OSError:
        return None


def release_free_memory() -> bool:
    """Return freed heap pages to the OS (glibc ``malloc_trim(0)``); whether any were returned."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
