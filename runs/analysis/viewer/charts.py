"""The run page's charts and the ratings page, as plain JSON the page draws.

Charts are *specs* (title, series of ``(iteration, value)`` points, an optional warning
threshold); the page draws them as inline SVG with its own few lines of JavaScript
(``static/charts.js``). A held-out figure stored with its 95% interval (the companion keys
``<key>/ci_low`` and ``<key>/ci_high``, :mod:`sparring.rewards.metrics`) gets points
``[iteration, value, ci_low, ci_high]``, drawn as a shaded band around its line; the
companions, and the item counts ``<key>/n_items`` and ``<key>/n_distinct``, are never
charts or series of their own. Metric names are grouped by what the trainer logs (see
``sparring.runs.training.monitors`` and ``docs/architecture.md``):

=====================================  ==============================================
``reward/<reward>/<seat>``             *Rewards per seat*: a chart per seat, a line per reward
``reward_std/<reward>/<seat>``         *Reward spread*, the same way
``eval/<metric>``                      *Held-out*: a chart per metric, line ``test``
``validation/<metric>``                *Held-out*: the same chart, line ``validation``
``select/eval/<metric>``               *Validation-selected*: the test figures of the
                                       iteration validation picked, a chart per metric
``select/<name>`` (other)              *Validation-selected*: a chart per name
``<seat>/<monitor>`` (generic monitor) *Monitors*: a chart per monitor, a line per seat,
                                       with the collapse threshold when it has one
``update/<adapter>/<stat>``            *Updates*: a chart per stat, a line per adapter
``time/<phase>``                       *Time*: one chart, a line per phase
``league/...``                         *League*: a chart per name, a line per opponent
``guard/...``                          *Guard*: the collapse guard's actions (roll-backs,
                                       stop, learning-rate scale, the values that crossed),
                                       each action also a warning under every chart
anything else                          *Arena monitors*: ``a/b/c`` → chart ``a/b``, line ``c``
=====================================  ==============================================

A run without training metrics (``sparring play``) still gets *Rewards per seat*,
computed from its stored rewards per iteration.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sparring.rewards.metrics import is_interval_key
from sparring.runs.analysis.viewer.queries import reward_means
from sparring.runs.analysis.viewer.sources import ReadOnlyStore, Source
from sparring.runs.training.monitors import THRESHOLDS

GENERIC_MONITORS = ("entropy", "distinct", "distinct_2", "length", "parse_failure_rate")
SECTIONS = ("Rewards per seat", "Held-out", "Validation-selected", "Guard", "Monitors", "Reward spread",
            "Arena monitors", "League", "Updates", "Time")


def _place(name: str) -> tuple[str, str, str]:
    """``(section, chart, series)`` of a metric name."""
    parts = name.split("/")
    head = parts[0]
    if head == "reward" and len(parts) >= 3:
        return "Rewards per seat", parts[-1], "/".join(parts[1:-1])
    if head == "reward_std" and len(parts) >= 3:
        return "Reward spread", parts[-1], "/".join(parts[1:-1])
    if head in ("eval", "validation") and len(parts) >= 2:
        return "Held-out", "/".join(parts[1:]), "test" if head == "eval" else "validation"
    if head == "select" and len(parts) >= 3 and parts[1] == "eval":
        return "Validation-selected", "/".join(parts[2:]), "test"
    if head == "select" and len(parts) >= 2:
        return "Validation-selected", "/".join(parts[1:]), "value"
    if head == "guard" and len(parts) >= 2:
        return ("Guard", "crossed", "/".join(parts[2:])) if parts[1] == "crossed" else ("Guard", parts[1], "value")
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
        "threshold", "warnings"}]}]`` in :data:`SECTIONS` order. A point is
        ``[iteration, value]``, or ``[iteration, value, ci_low, ci_high]`` when the rows
        hold the value's interval (``<name>/ci_low``, ``<name>/ci_high``).
    """
    stored = {(iteration, name): value for iteration, name, value in rows}
    grouped: dict[str, dict[str, dict[str, list[tuple[float, ...]]]]] = defaultdict(lambda: defaultdict(dict))
    for iteration, name, value in rows:
        if is_interval_key(name) and (iteration, name.rpartition("/")[0]) in stored:
            continue  # drawn as the band of its value's line
        low, high = stored.get((iteration, f"{name}/ci_low")), stored.get((iteration, f"{name}/ci_high"))
        point = (iteration, value) if low is None or high is None else (iteration, value, low, high)
        section, chart, series = _place(name)
        grouped[section][chart].setdefault(series, []).append(point)
    # the guard's actions are marked under every chart, so a curve's turn can be read against them
    actions = [f"collapse guard {'rolled back' if name == 'guard/rollback' else 'stopped'} after iteration "
               f"{iteration + 1}" for iteration, name, value in sorted(rows)
               if name in ("guard/rollback", "guard/stop") and value]
    out = []
    for section in SECTIONS:
        charts = []
        for title, series in sorted(grouped.get(section, {}).items()):
            threshold = THRESHOLDS.get(title) if section == "Monitors" else None
            warnings = [f"{seat}: {title} {p[1]:.3f} below {threshold} at iteration {p[0]} (possible collapse)"
                        for seat, points in series.items() for p in points
                        if threshold is not None and p[1] < threshold] + actions
            charts.append({"title": title, "threshold": threshold, "warnings": warnings,
                           "series": [{"name": s, "points": sorted(p)} for s, p in sorted(series.items())]})
        if charts:
            out.append({"section": section, "charts": charts})
    return out


def run_page(source: Source, store: ReadOnlyStore) -> dict[str, Any]:
    """What the run page shows: charts of every logged metric (:func:`chart_specs`; a held-out
    point carries its interval), the config and recipe, adapters."""
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
        from sparring.runs.tournaments.ratings import rate
        from sparring.runs.tournaments.results import stored_games
    except ImportError as exc:  # networkx / openskill are dependencies; an environment may still lack them
        return {"available": False, "reason": f"ratings need {exc.name}, a dependency of sparring: reinstall it"}
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
