"""Sampling settings and the counter-based random draws the engines sample with.

Every generated row carries its own integer seed. A row's random draw at decode step
``t`` is a pure function of ``(seed, t)``, so what a row samples never depends on which
other rows shared its batch, on batch order, or on a global RNG.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one reply.

    Attributes:
        max_new_tokens: Upper bound on generated tokens; the reply stops earlier at EOS.
        temperature: Softmax temperature; ``0`` means greedy decoding.
        top_p: Nucleus sampling mass in ``(0, 1]``.
        stop: Strings that end the reply (the stop string is kept out of the text).
    """

    max_new_tokens: int = 128
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def updated(self, **overrides: Any) -> SamplingParams:
        """Return a copy with the given fields replaced; unknown names raise ``TypeError``."""
        known = set(asdict(self))
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(
                f"unknown sampling option(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        if "stop" in overrides and overrides["stop"] is not None:
            stop = overrides["stop"]  # one string is one stop sequence, not its characters
            overrides["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as recorded in transcripts."""
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


def splitmix64(x: int) -> int:
    """One step of the SplitMix64 mixer: a high-quality 64-bit hash of ``x``."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def uniform(seed: int, step: int) -> float:
    """Deterministic uniform draw in ``[0, 1)`` for row ``seed`` at decode ``step``."""
    return (splitmix64(splitmix64(seed & _MASK64) ^ step) >> 11) * (1.0 / (1 << 53))


def derive_seed(*parts: int | str) -> int:
    """Combine integers and strings into one 63-bit seed, stably across processes."""
    h = 0x5EED
    for part in parts:
        if isinstance(part, str):
            for byte in part.encode():
                h = splitmix64(h ^ byte)
        else:
            h = splitmix64(h ^ (part & _MASK64))
    return h & ((1 << 63) - 1)
