"""Rating a tournament run directory: its recorded config, its stored games, the files written.

``sparring ratings OUT`` reads the games back with :func:`sparring.runs.tournaments.results.stored_games`
(no arena code runs) and writes ``ratings.json`` and the plots beside the store.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparring.runs.storage.rundir import RunDir
from sparring.runs.tournaments.ratings import RatingReport
from sparring.runs.tournaments.results import stored_games


def read_tournament(out: str | Path) -> dict[str, Any]:
    """The recorded config of a tournament run directory (clear error if it is not one)."""
    run = RunDir.existing(out)
    recorded = tomllib.loads(run.config_path.read_text()) if run.config_path.exists() else {}
    if recorded.get("command") != "tournament":
        raise FileNotFoundError(f"{run.path} is not a tournament run (its config.toml records "
                                f"{recorded.get('command', 'nothing')!r}); make one with 'sparring tournament CONFIG --out DIR'")
    return recorded


def version_series(players: Mapping[str, Mapping[str, Any]]) -> dict[str, list[tuple[int, str]]]:
    """Adapter players grouped by adapter (``RUN/adapters/<name>/v<N>``): ``{label: [(N, player)]}``,
    only groups of two versions or more."""
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for name, info in players.items():
        source = info.get("source")
        found = re.search(r"(?:^|/)adapters/([^/]+)/v(\d+)/?$", source or "")
        if found:
            groups[f"{Path(source).parent.parent.parent.name}/{found.group(1)}"].append((int(found.group(2)), name))
    return {label: sorted(series) for label, series in groups.items() if len(series) >= 2}


@dataclass
class RunRatings:
    """Ratings of a tournament run directory and the files written for them."""

    report: RatingReport
    no_result: int
    files: list[Path] = field(default_factory=list)


def rate_run(out: str | Path, *, bootstrap: int = 1000, seed: int = 0, plots: bool = True) -> RunRatings:
    """Rate the players of the tournament in ``out`` from its stored matches.

    Writes ``ratings.json``, ``win_matrix.png`` and, when some players are versions of
    one adapter (``RUN/adapters/<name>/v<N>``), ``ratings_over_versions.png``.
    """
    from sparring.runs.tournaments.ratings import rate

    recorded = read_tournament(out)
    run = RunDir(out)
    reward = recorded.get("tournament", {}).get("arena", {}).get("reward")
    with run.open_store() as store:
        games, no_result = stored_games(store, reward=reward)
    if not games:
        why = (f"{no_result} finished without a result: a competing seat got no reward, e.g. the reward "
               "returned None for an unparseable reply" if no_result else "none is stored")
        raise ValueError(f"{run.path} holds no decided tournament match ({why}); "
                         "play some with 'sparring tournament CONFIG --out DIR'")
    players = [p for p in recorded.get("players", {}) if any(p in (g.a, g.b) for g in games)]
    report = rate(games, players or None, bootstrap=bootstrap, seed=seed)
    files = [run.path / "ratings.json"]
    files[0].write_text(json.dumps({**report.to_json(), "no_result": no_result, "bootstrap": bootstrap,
                                    "seed": seed}, indent=2))
    if plots:
        from sparring.runs.tournaments.rating_plots import versions_png, win_matrix_png

        files.append(win_matrix_png(report, run.path / "win_matrix.png", title=f"{recorded['arena']['id']}: win matrix"))
        series = version_series(recorded.get("players", {}))
        if series:
            files.append(versions_png(report, series, run.path / "ratings_over_versions.png"))
    return RunRatings(report, no_result, files)
