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

Evaluation figures carry their uncertainty (:func:`compute_all` with ``intervals=True``):
each value ``name`` comes with ``name/ci_low`` and ``name/ci_high`` (a 95% interval:
Wilson for a per-match metric of 0/1 values, a bootstrap over items otherwise),
``name/n_items`` (the matches it averages) and ``name/n_distinct`` (the distinct items
among them, by the evaluation's item key; each match is its own item without one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparring.rewards.intervals import bootstrap, mean_interval, percentile_interval

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


    def compute_with_intervals(self, transcripts: Sequence[Transcript],
                               item: Callable[[Transcript], str | None] | None = None,
                               seed: int = 0) -> dict[str, float]:
        """:meth:`compute` plus each value's interval and item counts (see the module docs)."""
        finished = [t for t in transcripts if t.status == "finished"]

        def key_of(transcript: Transcript) -> str:
            found = item(transcript) if item is not None else None
            return found if found is not None else transcript.match_id

        if self.per_match:
            scored = [(t, float(v)) for t, v in ((t, self.fn(t)) for t in finished) if v is not None]
            if not scored:
                return {}
            values = [v for _, v in scored]
            low, high = mean_interval(values, seed)
            return {self.name: sum(values) / len(values), **_extras(self.name, low, high, len(scored),
                                                                    len({key_of(t) for t, _ in scored}))}
        out = self.compute(finished)
        if not out:
            return out
        distinct = len({key_of(t) for t in finished})
        resampled: dict[str, list[float]] = {key: [] for key in out}

        def stat(sample: Sequence[Transcript]) -> float:
            # one recomputation per resample feeds every key's interval
            for key, value in self.compute(sample).items():
                if key in resampled:
                    resampled[key].append(value)
            return 0.0

        bootstrap(finished, stat, seed, samples=PLAIN_BOOTSTRAP_SAMPLES)
        for key in list(out):
            low, high = percentile_interval(resampled[key])
            out.update(_extras(key, low, high, len(finished), distinct))
        return out


PLAIN_BOOTSTRAP_SAMPLES = 200
"""Resamples for the interval of a metric computed over the whole list (it is recomputed
each time, so fewer than the per-match bootstrap)."""
INTERVAL_KEYS = ("ci_low", "ci_high", "n_items", "n_distinct")
"""Suffixes :func:`compute_all` adds beside each value when asked for intervals."""


def _extras(name: str, low: float, high: float, n_items: int, n_distinct: int) -> dict[str, float]:
    return {f"{name}/ci_low": low, f"{name}/ci_high": high, f"{name}/n_items": float(n_items),
            f"{name}/n_distinct": float(n_distinct)}


def is_interval_key(key: str) -> bool:
    """Whether ``key`` is an interval or count beside a value (``.../ci_low`` etc.)."""
    return key.rsplit("/", 1)[-1] in INTERVAL_KEYS


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


def metric(name: str, *, per_match: bool = False) -> Callable[[Callable[..., Any]], Metric]:
    """Decorator turning a function into a named :class:`Metric` (see module docs)."""
    if not name or name.startswith("/"):
        raise ValueError(f"metric name must be non-empty and not start with '/', got {name!r}")

    def wrap(fn: Callable[..., Any]) -> Metric:
        return Metric(name, fn, per_match)

    return wrap


def compute_all(metrics: Sequence[Metric], transcripts: Sequence[Transcript], prefix: str = "", *,
                intervals: bool = False, item: Callable[[Transcript], str | None] | None = None,
                seed: int = 0) -> dict[str, float]:
    """Every metric's values, keys prefixed (``eval/accuracy``); with ``intervals``, each
    value's 95% interval and item counts beside it (see the module docs)."""
    out: dict[str, float] = {}
    for m in metrics:
        values = m.compute_with_intervals(transcripts, item, seed) if intervals else m.compute(transcripts)
        for key, value in values.items():
            out[f"{prefix}{key}"] = value
    return out
