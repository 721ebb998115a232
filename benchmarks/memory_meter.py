"""Peak resident memory per phase of a process, for ``benchmarks/memory.py``.

:class:`Meter` credits the kernel's high-water mark to the phase that was running, so a
training run reports its peak per phase (load, generation, log-prob forward, backward,
optimizer, evaluation...). Linux only (``/proc/self``).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from typing import Any


def status_mib(key: str) -> float:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ``RssAnon``...) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


class Meter:
    """Peak resident set per phase of a run.

    Exact where the kernel allows it: at every phase change the high-water mark
    (``VmHWM``) is read, credited to the phase that just ran, and reset by writing ``5``
    to ``/proc/self/clear_refs``. Where that file is not writable, a thread sampling
    ``VmRSS`` every 5 ms gives the per-phase figures instead (short spikes can be missed).
    :meth:`peak` is the largest of all, the process's peak since the meter started.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.phase = "other"
        self.peaks: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.exact = self._reset()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)

    @staticmethod
    def _reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def _credit(self, phase: str, mib: float) -> None:
        if mib > self.peaks.get(phase, 0.0):
            self.peaks[phase] = mib

    def _close_interval(self) -> None:
        """Credit the interval since the last phase change to the current phase."""
        if self.exact:
            self._credit(self.phase, status_mib("VmHWM"))
            self._reset()
        else:
            self._credit(self.phase, status_mib("VmRSS"))

    def _sample(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._credit(self.phase, status_mib("VmRSS"))

    def __enter__(self) -> Meter:
        if not self.exact:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._close_interval()

    def peak(self, phase: str | None = None) -> float:
        """Peak RSS (MiB) of ``phase`` (all calls), or of the whole run so far."""
        self._close_interval()
        if phase is not None:
            return max(v for k, v in self.peaks.items() if k.split("#")[0] == phase)
        return max(self.peaks.values())

    @contextlib.contextmanager
    def during(self, phase: str, numbered: bool = False) -> Iterator[None]:
        """Credit the block to ``phase`` (``phase#N`` for the N-th call if ``numbered``).

        Phases nest: the enclosing phase resumes after the block.
        """
        self.calls[phase] = self.calls.get(phase, 0) + 1
        label = f"{phase}#{self.calls[phase]}" if numbered else phase
        self._close_interval()
        outer, self.phase = self.phase, label
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._close_interval()
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0
            self.phase = outer

    def wrap(self, owner: Any, method: str, phase: str, numbered: bool = False) -> None:
        """Credit every call of ``owner.method`` to ``phase`` (skipped if it does not exist)."""
        fn = getattr(owner, method, None)
        if fn is None:
            return

        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.during(phase, numbered):
                return fn(*args, **kwargs)

        setattr(owner, method, wrapped)

    def report(self) -> dict[str, Any]:
        """Per-phase peaks and seconds, and the phase holding the largest peak."""
        self._close_interval()
        peaks = {k: round(v, 1) for k, v in self.peaks.items()}
        return {"phase_peak_rss_mib": peaks, "phase_seconds": {k: round(v, 2) for k, v in self.seconds.items()},
                "peak_phase": max(peaks, key=peaks.__getitem__) if peaks else None,
                "phase_peaks_exact": self.exact}
