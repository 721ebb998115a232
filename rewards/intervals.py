"""95% intervals for evaluation figures: Wilson for proportions, bootstrap over items
otherwise, paired intervals for two adapters on the same items, t intervals over seeds.

Pure Python (no numpy): the light layers must not pull in heavy imports. Bootstraps are
seeded, so a figure and its interval are reproducible from the stored transcripts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

Z95 = 1.959963984540054
BOOTSTRAP_SAMPLES = 2000
# two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def is_binary(values: Sequence[float]) -> bool:
    """Whether every value is 0 or 1 (a proportion)."""
    return all(v in (0.0, 1.0) for v in values)


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (``(nan, nan)`` for ``n = 0``)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # at 0 or n successes the bound is exactly 0 or 1 (rounding would leave 1e-17 off)
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return (low, high)


def percentile_interval(samples: Sequence[float]) -> tuple[float, float]:
    """The 2.5% and 97.5% percentiles of bootstrap samples (``nan`` when there are none)."""
    if not samples:
        return (math.nan, math.nan)
    samples = sorted(samples)
    last = len(samples) - 1
    return samples[round(0.025 * last)], samples[round(0.975 * last)]


def bootstrap(values: Sequence[Any], statistic: Callable[[Sequence[Any]], float], seed: int = 0,
              samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resamples of ``values``."""
    if not values:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    n = len(values)
    stats = [statistic([values[rng.randrange(n)] for _ in range(n)]) for _ in range(samples)]
    stats = [s for s in stats if s is not None and math.isfinite(s)]
    return percentile_interval(stats)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def mean_interval(values: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """95% interval of a mean over items: Wilson for 0/1 values, bootstrap otherwise."""
    if not values:
        return (math.nan, math.nan)
    if is_binary(values):
        return wilson(sum(values), len(values))
    return bootstrap(list(values), _mean, seed)


def paired(a: Sequence[float], b: Sequence[float], seed: int = 0) -> dict[str, float]:
    """``b - a`` on the same items: mean difference, paired bootstrap interval and, for 0/1
    values, McNemar's exact two-sided p and the items each side alone got right.

    Raises:
        ValueError: when the two lists differ in length (not the same items).
    """
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs the same items on both sides, got {len(a)} and {len(b)}")
    if not a:
        return {"difference": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n_items": 0.0}
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    low, high = bootstrap(diffs, _mean, seed)
    out = {"difference": _mean(diffs), "ci_low": low, "ci_high": high, "n_items": float(len(diffs))}
    if is_binary(a) and is_binary(b):
        only_a = sum(1 for x, y in zip(a, b, strict=True) if x > y)
        only_b = sum(1 for x, y in zip(a, b, strict=True) if y > x)
        out.update(only_first=float(only_a), only_second=float(only_b), mcnemar_p=mcnemar(only_a, only_b))
    return out


def mcnemar(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts (binomial, p = 1/2)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def over_seeds(values: Sequence[float]) -> dict[str, float]:
    """Mean over training seeds with a Student-t 95% interval (``nan`` bounds for one seed)."""
    n = len(values)
    if n == 0:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n_seeds": 0.0}
    mean = _mean(values)
    if n == 1:
        return {"mean": mean, "ci_low": math.nan, "ci_high": math.nan, "n_seeds": 1.0}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    t = _T975[n - 2] if n - 1 <= len(_T975) else Z95
    half = t * sd / math.sqrt(n)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n_seeds": float(n)}
