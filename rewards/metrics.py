"""Metrics: named functions of a list of transcripts (held-out evaluation, monitors).

A reward scores one match; a metric summarises many. Arenas declare the metrics their
held-out evaluation reports and the monitors the training loop logs each iteration, so
the loop itself never reads an arena's outcome keys::

    @metric("accuracy", per_match=True)
    def accuracy(t):
        return t.outcome["answer"] == t.outcome["truth"]

A per-match metric returns a number, a bool or ``None`` (abstain) for each finished
transcript and reports the mean; a plain metric receives the whole list and returns a
number, a ``{suffix: number}`` dict (reported as ``name/suffix``), or ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript


@dataclass(frozen=True)
class Metric:
    """A named summary of transcripts; ``compute`` returns ``{key: value}``.

    Attributes:
        name: Key of the value (``accuracy``) or prefix of several (``difficulty/0-20``).
        fn: The function; see the module docs for its two forms.
        per_match: Whether ``fn`` takes one transcript (and the mean is reported).
    """

    name: str
    fn: Callable[..., Any]
    per_match: bool = False

    def compute(self, transcripts: Sequence[Transcript]) -> dict[str, float]:
        """Values of this metric over the finished transcripts (empty when it abstains)."""
        finished = [t for t in transcripts if t.status == "finished"]
        if self.per_match:
            values = [float(v) for v in (self.fn(t) for t in finished) if v is not None]
            return {self.name: sum(values) / len(values)} if values else {}
        value = self.fn(finished)
        if value is None:
            return {}
        if isinstance(value, dict):
            return {f"{self.name}/{k}": float(v) for k, v in value.items() if _finite(v)}
        return {self.name: float(value)} if _finite(value) else {}


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


def metric(name: str, *, per_match: bool = False) -> Callable[[Callable[..., Any]], Metric]:
    """Decorator turning a function into a named :class:`Metric` (see module docs)."""
    if not name or name.startswith("/"):
        raise ValueError(f"metric name must be non-empty and not start with '/', got {name!r}")

    def wrap(fn: Callable[..., Any]) -> Metric:
        return Metric(name, fn, per_match)

    return wrap


def compute_all(metrics: Sequence[Metric], transcripts: Sequence[Transcript], prefix: str = "") -> dict[str, float]:
    """Every metric's values, keys prefixed (``eval/accuracy``)."""
    out: dict[str, float] = {}
    for m in metrics:
        for key, value in m.compute(transcripts).items():
            out[f"{prefix}{key}"] = value
    return out
