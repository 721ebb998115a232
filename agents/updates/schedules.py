"""Learning-rate schedules: the factor an update's base learning rate is multiplied by
before each optimizer step.

A schedule is a pure function of the number of steps already taken, so a resumed run
needs no scheduler object in its checkpoint: the update's step count (already saved with
its optimizer state) and its ``lr_scale`` (lowered by the collapse guard, saved too) give
the exact learning rate of the next step.

* ``constant``: 1 after the warm-up.
* ``linear``: from 1 at the end of the warm-up down to ``min_ratio`` at ``total`` steps.
* ``cosine``: half a cosine from 1 down to ``min_ratio`` at ``total`` steps.

The warm-up rises linearly from ``1 / (warmup + 1)`` (never 0: a first step at learning
rate 0 would be a wasted step) to 1 over ``warmup`` steps. After ``total`` steps the
factor stays at ``min_ratio``.

Example:
    >>> s = LRSchedule("cosine", warmup=2, total=6, min_ratio=0.0)
    >>> [round(s.factor(step), 3) for step in range(8)]
    [0.333, 0.667, 1.0, 0.854, 0.5, 0.146, 0.0, 0.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

KINDS = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class LRSchedule:
    """Warm-up then constant, linear or cosine decay, as a factor of the base learning rate.

    Args:
        kind: ``constant``, ``linear`` or ``cosine``.
        warmup: Steps of linear warm-up.
        total: Step at which the decay reaches ``min_ratio`` (warm-up included); ``None``
            only for ``constant``.
        min_ratio: The factor at the end of the decay.
    """

    kind: Literal["constant", "linear", "cosine"] = "constant"
    warmup: int = 0
    total: int | None = None
    min_ratio: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"learning-rate schedule must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.warmup < 0 or not 0.0 <= self.min_ratio <= 1.0:
            raise ValueError(f"warmup must be >= 0 and min_ratio in [0, 1], got {self.warmup} and {self.min_ratio}")
        if self.kind != "constant" and (self.total is None or self.total <= self.warmup):
            raise ValueError(f"a {self.kind} decay needs total steps > warmup steps ({self.warmup}), "
                             f"got {self.total}")

    def factor(self, step: int) -> float:
        """The learning-rate factor of the optimizer step after ``step`` steps were taken."""
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if self.kind == "constant":
            return 1.0
        assert self.total is not None  # checked in __post_init__
        progress = min(1.0, (step - self.warmup) / (self.total - self.warmup))
        shape = 1.0 - progress if self.kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_ratio + (1.0 - self.min_ratio) * shape
