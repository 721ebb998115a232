"""The in-loop league: during ``sparring train``, the current adapter version meets its past.

Every ``league.every`` iterations (recipe section ``[league]``), the current version of the
league's adapter (player ``v<N>``) plays each opponent ``games`` times in each seat order
of the two competing seats: the newest ``pool_size`` past versions, the base model
(``base``, adapter off) and scripted anchors (a fixed reply, or a policy function such as
tic-tac-toe's win/block/random player). Past versions are frozen
snapshot adapters ``<adapter>@v<N>`` on the one base model, made from the version folders
the run saves anyway (``adapters/<adapter>/v<N>``), so a league of eight versions costs
eight adapters' megabytes, never a second model. Non-competing seats (a judge) play as
in training.

League matches live in their own tournament directory, ``RUN/league/`` (its
``store.sqlite`` and a ``config.toml`` naming the players), so they never mix with the
training data, and ``sparring ratings RUN/league`` rates them like any tournament (with
the ratings-over-versions plot). After each round the ratings over *all* league games so
far are logged to the iteration's metrics (and TensorBoard):

- ``league/bt``, ``league/bt_low``, ``league/bt_high``: the current version's
  Bradley–Terry rating and 95% bootstrap interval (mean of the league's players = 1000);
- ``league/elo``, ``league/mu``, ``league/sigma``: online Elo and openskill;
- ``league/score``: the current version's score rate this round (draws half), and
  ``league/score/<opponent>`` against each opponent;
- ``league/bt/<anchor>`` for the base and each anchor, and ``league/cycles``: the number of
  preference cycles among the league's players.

Matches of a round that is played again (a resume after a kill before the checkpoint) are
skipped by id, like a tournament's.

**Training opponents** (``league.opponents``, fictitious self-play, so that self-play does
not collapse onto its latest self): with ``uniform`` or ``prioritised``, every training
match draws, from its own seed, which competing seat the learner takes and which version
plays the other seat: the latest version or one of the league's past versions (the
snapshots the league keeps anyway). ``prioritised`` weighs a version by
``(1 - s) ** priority`` with ``s`` the newest league version's score against it in the
league's games so far (PFSP, as in AlphaStar); the latest version counts ``s = 0.5``.
A seat played by a snapshot is the opponent's, not training data: the trainer builds a
seat's data only from matches in which that seat's turns were played by the adapter it
trains. Draws depend only on the run seed, the match seed and the league's stored
results, so a resumed run draws the same opponents.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparring.agents.engines.scripted import ScriptedEngine
from sparring.agents.pool import ModelPool
from sparring.agents.roles import Role
from sparring.arenas.arena import Arena
from sparring.arenas.runner import Runner
from sparring.runs.recipes.recipe import LeagueSection, RecipeError
from sparring.runs.storage.rundir import RunDir
from sparring.runs.tournaments.ratings import rate
from sparring.runs.tournaments.schedule import Scheduled
from sparring.runs.tournaments.tournament import play_scheduled, policy_script, stored_games
from sparring.runs.training.checkpoint import adapter_dir, load_adapter_weights

MODEL = "default"


class League:
    """The league of one training run (see the module docs).

    Args:
        section: The recipe's ``[league]`` section (``adapter`` resolved).
        arena: The training arena.
        pool: The trainer's model pool (snapshots are added to it).
        engine: The trainer's engine of the base model.
        run: The training run directory; the league lives in ``run/league``.
        seed: Run seed (league match seeds and the bootstrap derive from it).
        in_use: Whether another part of training holds a snapshot (never dropped then).
    """

    def __init__(self, section: LeagueSection, arena: Arena, pool: ModelPool, engine: Any, run: Path, seed: int,
                 in_use: Callable[[str], bool] = lambda name: False) -> None:
        self.section = section
        self.adapter = str(section.adapter)
        self.arena = arena
        self.pool = pool
        self.engine = engine
        self.run = Path(run)
        self.seed = seed
        self.in_use = in_use
        seats = section.seats or list(arena.roles)
        if len(seats) != 2 or len(set(seats)) != 2 or any(s not in arena.roles for s in seats):
            raise RecipeError(f"recipe field 'league.seats': name two different seats of {arena.id} "
                              f"(seats: {', '.join(arena.roles)})")
        self.seats = seats
        if section.reward is not None and section.reward not in [r.name for r in arena.rewards()]:
            raise RecipeError(f"recipe field 'league.reward' = \"{section.reward}\": not a reward of {arena.id}")
        self.dir = RunDir(self.run / "league")
        self.past: list[int] = self._recorded_versions()
        self.engines: dict[str, Any] = {MODEL: engine}
        for name, reply in section.anchors.items():
            self.engines[f"scripted-{name}"] = ScriptedEngine([reply])
        for name, ref in section.policies.items():
            self.engines[f"scripted-{name}"] = ScriptedEngine(policy_script(ref))

    @property
    def fixed_players(self) -> list[str]:
        """The scripted anchors: fixed replies, then policies."""
        return [*self.section.anchors, *self.section.policies]

    def due(self, iteration: int) -> bool:
        """Whether a league round follows iteration ``iteration`` (0-based)."""
        return bool(self.section.every) and (iteration + 1) % self.section.every == 0

    def _recorded_versions(self) -> list[int]:
        if not self.dir.config_path.exists():
            return []
        players = tomllib.loads(self.dir.config_path.read_text()).get("players", {})
        return sorted(int(name[1:]) for name in players if name[1:].isdigit() and name.startswith("v"))

    def _snapshot(self, version: int) -> str:
        """The frozen adapter of a past version, made from its saved folder if not in the pool."""
        name = f"{self.adapter}@v{version}"
        if name not in self.pool.adapter_names(MODEL):
            self.pool.snapshot(MODEL, self.adapter, name)
            load_adapter_weights(self.pool, MODEL, name, adapter_dir(self.run, self.adapter, version))
            self.pool.get(MODEL).adapters[name].version = version
        return name

    def opponent_weights(self) -> dict[int, float]:
        """Sampling weight of each candidate version (past ones and the latest) for training."""
        current = self.pool.version(MODEL, self.adapter)
        past = [v for v in self.past if v != current][-self.section.pool_size:]
        if self.section.opponents == "uniform" or not past:
            return {v: 1.0 for v in [*past, current]}
        scores: dict[int, list[float]] = {}
        if self.dir.store_path.exists():
            store = self.dir.open_store()
            try:
                games, _ = stored_games(store, self.arena, self.section.reward)
            finally:
                store.close()
            versions = [int(p[1:]) for g in games for p in (g.a, g.b) if p[1:].isdigit() and p.startswith("v")]
            me = f"v{max(versions)}" if versions else None
            for g in games:
                if me in (g.a, g.b):
                    other, score = (g.b, g.score) if g.a == me else (g.a, 1.0 - g.score)
                    if other[1:].isdigit() and other.startswith("v"):
                        scores.setdefault(int(other[1:]), []).append(score)
        weights = {}
        for v in [*past, current]:
            s = sum(scores[v]) / len(scores[v]) if v in scores and v != current else 0.5
            weights[v] = max(1.0 - s, 1e-3) ** self.section.priority  # never exactly 0: keep every version reachable
        return weights

    def training_seatings(self, iteration: int, seeds: list[int], roles: dict[str, Role]) -> dict[int, dict[str, Role]]:
        """Per training match, the opponent seat bound to a drawn past version (empty: self-play)."""
        if self.section.opponents == "latest":
            return {}
        current = self.pool.version(MODEL, self.adapter)
        weights = self.opponent_weights()
        versions = sorted(weights)
        seatings: dict[int, dict[str, Role]] = {}
        for seed in seeds:
            rng = random.Random(f"{self.seed}:opponents:{iteration}:{seed}")
            learner = rng.randrange(2)
            version = rng.choices(versions, weights=[weights[v] for v in versions])[0]
            if version == current:
                continue
            seat = self.seats[1 - learner]
            seatings[seed] = {seat: roles[seat].bind(model=MODEL, adapter=self._snapshot(version))}
        return seatings

    def play(self, iteration: int, roles: dict[str, Role]) -> dict[str, float]:
        """Play one league round after ``iteration`` with the trainer's ``roles``; returns metrics."""
        current = self.pool.version(MODEL, self.adapter)
        me = f"v{current}"
        past = [v for v in self.past if v != current][-self.section.pool_size:]
        bindings: dict[str, tuple[str, str | None]] = {me: (MODEL, self.adapter)}
        bindings.update({f"v{v}": (MODEL, self._snapshot(v)) for v in past})
        if self.section.base:
            bindings["base"] = (MODEL, None)
        bindings.update({name: (f"scripted-{name}", None) for name in self.fixed_players})
        seat_roles = {(seat, p): roles[seat].bind(model=model, adapter=adapter)
                      for seat in self.seats for p, (model, adapter) in bindings.items()}
        planned = [m for p in bindings if p != me for g in range(self.section.games)
                   for m in (Scheduled(iteration, me, p, g), Scheduled(iteration, p, me, g))]
        self._write_config(bindings)
        store = self.dir.open_store()
        try:
            runner = Runner(self.engines, {**roles, **{s: seat_roles[(s, me)] for s in self.seats}},
                            version_of=lambda r: self.pool.version(r.model, r.adapter) if r.adapter else None)
            play_scheduled(runner, self.arena, self.seats, seat_roles, planned, store, seed=self.seed,
                           run_id="league", iteration=iteration, reward=self.section.reward)
            games, _ = stored_games(store, self.arena, self.section.reward)
            this_round, _ = stored_games(store, self.arena, self.section.reward, ids=[m.match_id for m in planned])
        finally:
            store.close()
        if current not in self.past:
            self.past.append(current)
        for v in self.past[:-self.section.pool_size - 1]:  # keep the newest pool_size past versions (and the current)
            name = f"{self.adapter}@v{v}"
            if name in self.pool.adapter_names(MODEL) and not self.in_use(name):
                self.pool.drop_snapshot(MODEL, name)
        return self._metrics(me, games, this_round, bindings)

    def _metrics(self, me: str, games: list[Any], this_round: list[Any], bindings: dict[str, Any]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if not games:
            return metrics
        report = rate(games, bootstrap=self.section.bootstrap, seed=self.seed)
        rows = {r.player: r for r in report.ratings}
        if me in rows:
            r = rows[me]
            metrics.update({"league/bt": r.bt, "league/bt_low": r.bt_low, "league/bt_high": r.bt_high,
                            "league/elo": r.elo, "league/mu": r.mu, "league/sigma": r.sigma})
        for name in ["base", *self.fixed_players]:
            if name in rows:
                metrics[f"league/bt/{name}"] = rows[name].bt
        points: dict[str, list[float]] = {}
        for g in this_round:
            opponent, score = (g.b, g.score) if g.a == me else (g.a, 1.0 - g.score)
            points.setdefault(opponent, []).append(score)
        if points:
            metrics["league/score"] = sum(sum(v) for v in points.values()) / sum(len(v) for v in points.values())
            for opponent, scores in points.items():
                metrics[f"league/score/{opponent}"] = sum(scores) / len(scores)
        metrics["league/cycles"] = float(len(report.cycles))
        return metrics

    def _write_config(self, bindings: dict[str, tuple[str, str | None]]) -> None:
        """``RUN/league/config.toml``: a tournament config that ``sparring ratings`` reads."""
        recorded = {}
        if self.dir.config_path.exists():
            recorded = tomllib.loads(self.dir.config_path.read_text()).get("players", {})
        players = dict(recorded)
        for name, (model, _) in bindings.items():
            if name.startswith("v") and name[1:].isdigit():
                source = adapter_dir(self.run, self.adapter, int(name[1:])).resolve()
                players[name] = {"kind": "adapter", "source": str(source), "version": int(name[1:])}
            else:
                players[name] = {"kind": "base" if model == MODEL else "fixed"}
        self.dir.path.mkdir(parents=True, exist_ok=True)
        self.dir.write_config({
            "command": "tournament", "arena": self.arena.spec().model_dump(mode="json"), "seats": self.seats,
            "tournament": {"name": "league", "arena": {"name": self.arena.id, "reward": self.section.reward},
                           "schedule": {"kind": "league", "games": self.section.games}},
            "players": players,
        })
