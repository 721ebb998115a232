"""The run page's charts and the ratings page, as plain JSON the page draws.

Charts are *specs* (title, series of ``(iteration, value)`` points, an optional warning
threshold); the page draws them as inline SVG with its own few lines of JavaScript
(``static/charts.js``). Metric names are grouped by what the trainer logs (see
``sparring.runs.monitors`` and ``docs/architecture.md``):

=====================================  ==============================================
``reward/<reward>/<seat>``             *Rewards per seat*: a chart per seat, a line per reward
``reward_std/<reward>/<seat>``         *Reward spread*, the same way
``eval/<metric>``                      *Held-out*: a chart per metric
``<seat>/<monitor>`` (generic monitor) *Monitors*: a chart per monitor, a line per seat,
                                       with the collapse threshold when it has one
``update/<adapter>/<stat>``            *Updates*: a chart per stat, a line per adapter
``time/<phase>``                       *Time*: one chart, a line per phase
``league/...``                         *League*: a chart per name, a line per opponent
anything else                          *Arena monitors*: ``a/b/c`` → chart ``a/b``, line ``c``
=====================================  ==============================================

A run without training metrics (``sparring play``) still gets *Rewards per seat*,
computed from its stored rewards per iteration.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sparring.runs.monitors import THRESHOLDS
from sparring.runs.viewer.queries import reward_means
from sparring.runs.viewer.sources import ReadOnlyStore, Source

GENERIC_MONITORS = ("entropy", "distinct", "length", "parse_failure_rate")
SECTIONS = ("Rewards per seat", "Held-out", "Monitors", "Reward spread", "Arena monitors", "League",
            "Updates", "Time")


def _place(name: str) -> tuple[str, str, str]:
    """``(section, chart, series)`` of a metric name."""
    parts = name.split("/")
    head = parts[0]
    if head == "reward" and len(parts) >= 3:
        return "Rewards per seat", parts[-1], "/".join(parts[1:-1])
    if head == "reward_std" and len(parts) >= 3:
        return "Reward spread", parts[-1], "/".join(parts[1:-1])
    if head == "eval":
        return "Held-out", "/".join(parts[1:]), "value"
    if head == "time":
        return "Time", "seconds per phase", "/".join(parts[1:])
    if head == "update" and len(parts) >= 3:
        return "Updates", "/".join(parts[2:]), parts[1]
    if head == "league":
        rest = parts[1:]
        return ("League", rest[0], "/".join(rest[1:])) if len(rest) > 1 else ("League", rest[0] if rest else name, "value")
    if len(parts) == 2 and parts[1] in GENERIC_MONITORS:
        return "Monitors", parts[1], parts[0]
    if len(parts) >= 3:
        return "Arena monitors", "/".join(parts[:-1]), parts[-1]
    return "Arena monitors", name, "value"


def chart_specs(rows: list[tuple[int, str, float]]) -> list[dict[str, Any]]:
    """Sections of charts from ``(iteration, name, value)`` metric rows.

    Returns:
        ``[{"section": ..., "charts": [{"title", "series": [{"name", "points"}],
        "threshold", "warnings"}]}]`` in :data:`SECTIONS` order.
    """
    grouped: dict[str, dict[str, dict[str, list[tuple[int, float]]]]] = defaultdict(lambda: defaultdict(dict))
    for iteration, name, value in rows:
        section, chart, series = _place(name)
        grouped[section][chart].setdefault(series, []).append((iteration, value))
    out = []
    for section in SECTIONS:
        charts = []
        for title, series in sorted(grouped.get(section, {}).items()):
            threshold = THRESHOLDS.get(title) if section == "Monitors" else None
            warnings = [f"{seat}: {title} {v:.3f} below {threshold} at iteration {it} (possible collapse)"
                        for seat, points in series.items() for it, v in points
                        if threshold is not None and v < threshold]
            charts.append({"title": title, "threshold": threshold, "warnings": warnings,
                           "series": [{"name": s, "points": sorted(p)} for s, p in sorted(series.items())]})
        if charts:
            out.append({"section": section, "charts": charts})
    return out


def run_page(source: Source, store: ReadOnlyStore) -> dict[str, Any]:
    """What the run page shows: charts of every logged metric, the config and recipe, adapters."""
    rows = store.metrics()
    if not any(name.startswith("reward/") for _, name, _ in rows):
        rows = rows + [(it, name, v) for name, points in reward_means(store).items() for it, v in points]
    return {"charts": chart_specs(rows), "config": source.config, "recipe": source.recipe(),
            "adapters": source.adapters()}


def ratings_page(source: Source, store: ReadOnlyStore, bootstrap: int = 200) -> dict[str, Any]:
    """Ratings of a tournament (or league) directory: table, win matrix, cycles.

    Returns ``{"available": False, "reason": ...}`` when the directory is not a tournament,
    holds no decided match, or the rating packages are missing.
    """
    if source.kind != "tournament":
        return {"available": False, "reason": f"{source.name} is a {source.kind} run, not a tournament or league"}
    try:
        from sparring.runs.ratings import rate
        from sparring.runs.tournament import stored_games
    except ImportError as exc:  # networkx / openskill are the 'tournament' extra
        return {"available": False, "reason": f"ratings need {exc.name}: pip install 'sparring[tournament]'"}
    reward = source.config.get("tournament", {}).get("arena", {}).get("reward")
    games, no_result = stored_games(store, reward=reward)
    if not games:
        return {"available": False, "reason": f"no decided match stored yet ({no_result} without a result)"}
    players = [p for p in source.config.get("players", {}) if any(p in (g.a, g.b) for g in games)]
    try:
        report = rate(games, players or None, bootstrap=bootstrap, seed=0)
    except RuntimeError as exc:  # ratings.require: a missing optional package, said how to install
        return {"available": False, "reason": str(exc)}
    return {"available": True, "bootstrap": bootstrap, "no_result": no_result, **report.to_json(),
            "cycle_text": [str(c) for c in report.cycles[:50]]}
