"""Ratings of players from pairwise games: Bradley–Terry, Elo, openskill, cycles.

A :class:`Game` is one match between two players with the first player's score
(1 win, 0.5 draw, 0 loss). From a list of games:

- :func:`bradley_terry` fits P(i beats j | i in the first seat) = sigmoid(theta_i -
  theta_j + h) by maximum likelihood (Newton's method), draws counted as half a win each
  way, with a tiny Gaussian prior on theta and h (``prior`` is its precision) so that a
  player who won or lost every game still gets a finite rating and the ratings are
  centred. ``h`` is the first-mover (seat) advantage: without it, a player who happens
  to hold the first seat more often (a Swiss schedule, an unbalanced plan) is credited
  with the seat's edge, and the seat's luck widens every interval. Ratings and ``h`` are
  on the Elo scale: ``1000 + 400 * theta / ln 10`` (a 400-point gap is 10:1 odds).
  ``first_mover=False`` drops ``h`` (the Chatbot Arena method); the order of games does
  not matter.
- :func:`bootstrap_intervals` refits on games resampled with replacement within each
  (pairing, seat order) stratum, so every resample keeps the schedule (who met whom, in
  which seats, how often) and only the results vary (a seeded numpy generator); it takes
  the 2.5% and 97.5% quantiles of each rating and of ``h``.
- :func:`elo` is online Elo in game order (for comparison: it depends on the order and
  forgets, which BT does not); tournaments pass games in play order (the order the
  store received them).
- :func:`openskill_ratings` rates with openskill's Plackett–Luce model (Weng–Lin, a
  TrueSkill-style Bayesian rating with mu and sigma), one 1-vs-1 game at a time.
- :func:`win_matrix` and :func:`cycles`: the pairwise majority graph (an edge i -> j when
  i scored more than half against j) and every preference cycle in it, each with its
  win rates. When there is a cycle, no single number per player describes the results:
  BT then summarises a non-transitive relation (its order is an average over opponents).

Nothing here knows about arenas or models; :mod:`sparring.runs.tournaments.tournament` turns stored
transcripts into games.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def require(module: str) -> Any:
    """Import a dependency of tournaments (core since openskill and matplotlib joined networkx), or
    say how to install it when an environment lacks it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeError(f"ratings need the '{module.split('.')[0]}' package, a dependency of sparring: "
                           "reinstall it (pip install -e . in a checkout)") from None

ELO_SCALE = 400.0 / math.log(10.0)
"""Rating points per unit of BT log-odds."""
ELO_BASE = 1000.0
"""Rating of an average player."""


@dataclass(frozen=True)
class Game:
    """One game between two players.

    Attributes:
        a: Name of the player in the first seat (the first mover, where the arena has one).
        b: Name of the player in the second seat.
        score: ``a``'s score: 1.0 win, 0.5 draw, 0.0 loss.
    """

    a: str
    b: str
    score: float

    def __post_init__(self) -> None:
        if self.a == self.b:
            raise ValueError(f"a game needs two different players, got {self.a!r} twice")
        if self.score not in (0.0, 0.5, 1.0):
            raise ValueError(f"a game's score is 1, 0.5 or 0 (a's win, draw, loss), got {self.score!r}")


def players_of(games: Sequence[Game]) -> list[str]:
    """Players in order of first appearance."""
    seen: dict[str, None] = {}
    for g in games:
        seen.setdefault(g.a)
        seen.setdefault(g.b)
    return list(seen)


def _counts(games: Sequence[Game], players: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``W[i, j]`` = points of i against j (draws half), ``N[i, j]`` = games between them."""
    index = {p: i for i, p in enumerate(players)}
    n = len(players)
    wins, count = np.zeros((n, n)), np.zeros((n, n))
    for g in games:
        i, j = index[g.a], index[g.b]
        wins[i, j] += g.score
        wins[j, i] += 1.0 - g.score
        count[i, j] += 1
        count[j, i] += 1
    return wins, count


def _ordered(games: Sequence[Game], players: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Player indices of the first and second seats, and the first seat's scores."""
    index = {p: i for i, p in enumerate(players)}
    return (np.array([index[g.a] for g in games], dtype=int), np.array([index[g.b] for g in games], dtype=int),
            np.array([g.score for g in games], dtype=float))


def _fit(first: np.ndarray, second: np.ndarray, score: np.ndarray, n: int, prior: float, seat: bool,
         start: np.ndarray | None = None, iterations: int = 100, tolerance: float = 1e-10) -> np.ndarray:
    """Penalised BT maximum likelihood by Newton's method.

    Returns ``n`` strengths then ``h`` (log-odds units; ``h`` is 0 without ``seat``).
    ``games[i, j]`` counts games with i in the first seat and j in the second,
    ``points[i, j]`` the first seat's points in them.
    """
    games, points = np.zeros((n, n)), np.zeros((n, n))
    np.add.at(games, (first, second), 1.0)
    np.add.at(points, (first, second), score)
    x = np.zeros(n + 1) if start is None else start.copy()
    size = n + 1 if seat else n
    for _ in range(iterations):
        theta, h = x[:n], x[n]
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :] + h)))  # P(first seat wins)
        residual = points - games * p
        weight = games * p * (1.0 - p)
        gradient = np.empty(n + 1)
        gradient[:n] = residual.sum(axis=1) - residual.sum(axis=0) - prior * theta
        gradient[n] = residual.sum() - prior * h
        hessian = np.empty((n + 1, n + 1))  # minus the Hessian
        hessian[:n, :n] = np.diag(weight.sum(axis=1) + weight.sum(axis=0)) - weight - weight.T + prior * np.eye(n)
        hessian[:n, n] = hessian[n, :n] = weight.sum(axis=1) - weight.sum(axis=0)
        hessian[n, n] = weight.sum() + prior
        step = np.zeros(n + 1)
        step[:size] = np.linalg.solve(hessian[:size, :size], gradient[:size])
        # Damp huge steps (a player who won everything under a tiny prior) so Newton stays stable.
        largest = np.abs(step).max(initial=0.0)
        if largest > 5.0:
            step *= 5.0 / largest
        x += step
        if largest < tolerance:
            break
    return x


def _elo_scale(x: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """Ratings (mean 1000) and the seat advantage in rating points from a fit."""
    return ELO_BASE + ELO_SCALE * (x[:n] - x[:n].mean()), float(ELO_SCALE * x[n])


def bradley_terry_fit(games: Sequence[Game], players: Sequence[str] | None = None, prior: float = 0.01,
                      first_mover: bool = True) -> tuple[dict[str, float], float]:
    """Bradley–Terry ratings and the first-mover advantage, both in rating points.

    See :func:`bradley_terry`; the advantage ``400 h / ln 10`` is what the first seat adds to
    its player's rating (0 with ``first_mover=False``).
    """
    players = list(players or players_of(games))
    if prior <= 0:
        raise ValueError(f"prior must be > 0 (it keeps undefeated players finite), got {prior}")
    if not players:
        return {}, 0.0
    x = _fit(*_ordered(games, players), len(players), prior, first_mover)
    ratings, advantage = _elo_scale(x, len(players))
    return {p: float(r) for p, r in zip(players, ratings, strict=True)}, advantage


def bradley_terry(games: Sequence[Game], players: Sequence[str] | None = None,
                  prior: float = 0.01, first_mover: bool = True) -> dict[str, float]:
    """Bradley–Terry ratings (Elo scale, mean 1000) by penalised maximum likelihood.

    Args:
        games: The games; their order does not matter.
        players: Players to rate (default: everyone in ``games``); one without games gets 1000.
        prior: Precision of the Gaussian prior on log-odds strengths (and on the seat
            term). ``0.01`` (a prior sd of 10 log-odds, about 4000 rating points) changes
            nothing visible when results are mixed and keeps an undefeated player finite.
        first_mover: Fit the seat term ``h`` (P(first seat wins) = sigmoid(theta_a -
            theta_b + h)); ``False``: the seat is ignored.
    """
    return bradley_terry_fit(games, players, prior, first_mover)[0]


def _strata(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Games sorted by (first seat, second seat), and per sorted game its stratum's start and size."""
    order = np.lexsort((second, first))
    key = first[order] * (max(int(second.max(initial=0)), int(first.max(initial=0))) + 1) + second[order]
    _, starts, sizes = np.unique(key, return_index=True, return_counts=True)
    stratum = np.repeat(np.arange(len(starts)), sizes)
    return order, starts[stratum], sizes[stratum]


def bootstrap_fit(games: Sequence[Game], players: Sequence[str] | None = None, *, rounds: int = 1000, seed: int = 0,
                  prior: float = 0.01, level: float = 0.95, first_mover: bool = True,
                  ) -> tuple[dict[str, tuple[float, float]], tuple[float, float]]:
    """Percentile bootstrap intervals of the BT ratings and of the first-mover advantage.

    Games are resampled with replacement within each (pairing, seat order) stratum: a
    resample has as many games of ``a`` (first seat) against ``b`` as the data, so the
    schedule stays fixed and only the results are redrawn.

    Args:
        games: The games.
        players: Players to rate (default: everyone in ``games``).
        rounds: Bootstrap resamples.
        seed: Seed of the numpy generator that draws the resamples.
        prior: As in :func:`bradley_terry`.
        level: Coverage of the interval (0.95: the 2.5% and 97.5% quantiles).
        first_mover: As in :func:`bradley_terry`.
    """
    players = list(players or players_of(games))
    if not games or not players:
        return {p: (ELO_BASE, ELO_BASE) for p in players}, (0.0, 0.0)
    rng = np.random.default_rng(seed)
    first, second, score = _ordered(games, players)
    n = len(players)
    start = _fit(first, second, score, n, prior, first_mover)
    order, starts, sizes = _strata(first, second)
    samples = np.empty((rounds, n + 1))
    for r in range(rounds):
        pick = order[starts + (rng.random(len(games)) * sizes).astype(int)]
        ratings, advantage = _elo_scale(_fit(first[pick], second[pick], score[pick], n, prior, first_mover,
                                             start=start), n)
        samples[r, :n], samples[r, n] = ratings, advantage
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail], axis=0)
    # A stratum of one-sided results resamples to itself, so resamples may equal the estimate
    # up to rounding: the interval is kept around the estimate itself.
    ratings, advantage = _elo_scale(start, n)
    estimate = np.append(ratings, advantage)
    low, high = np.minimum(low, estimate), np.maximum(high, estimate)
    return {p: (float(low[i]), float(high[i])) for i, p in enumerate(players)}, (float(low[n]), float(high[n]))


def bootstrap_intervals(games: Sequence[Game], players: Sequence[str] | None = None, *,
                        rounds: int = 1000, seed: int = 0, prior: float = 0.01, level: float = 0.95,
                        first_mover: bool = True) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of the BT ratings (see :func:`bootstrap_fit`)."""
    return bootstrap_fit(games, players, rounds=rounds, seed=seed, prior=prior, level=level,
                         first_mover=first_mover)[0]


def elo(games: Sequence[Game], players: Sequence[str] | None = None, *, k: float = 16.0,
        start: float = ELO_BASE) -> dict[str, float]:
    """Online Elo in game order: after each game both ratings move by ``k * (score - expected)``."""
    ratings = {p: start for p in (players or players_of(games))}
    for g in games:
        expected = 1.0 / (1.0 + 10.0 ** ((ratings[g.b] - ratings[g.a]) / 400.0))
        ratings[g.a] += k * (g.score - expected)
        ratings[g.b] -= k * (g.score - expected)
    return ratings


def openskill_ratings(games: Sequence[Game], players: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    """``(mu, sigma)`` per player from openskill's Plackett–Luce model, games rated in order.

    Draws are equal ranks. openskill's defaults: mu 25, sigma 25/3; a conservative
    skill estimate is ``mu - 3 * sigma``.
    """
    PlackettLuce = require("openskill.models").PlackettLuce  # noqa: N806

    model = PlackettLuce()
    ratings = {p: model.rating(name=p) for p in (players or players_of(games))}
    for g in games:
        ranks = [0, 0] if g.score == 0.5 else ([0, 1] if g.score == 1.0 else [1, 0])
        [[ra], [rb]] = model.rate([[ratings[g.a]], [ratings[g.b]]], ranks=ranks)
        ratings[g.a], ratings[g.b] = ra, rb
    return {p: (float(r.mu), float(r.sigma)) for p, r in ratings.items()}


@dataclass
class WinMatrix:
    """Pairwise results: ``points[i][j]`` = i's points against j (draws half), ``games[i][j]``."""

    players: list[str]
    points: list[list[float]]
    games: list[list[int]]

    def rate(self, a: str, b: str) -> float | None:
        """a's score rate against b (``None`` when they never met)."""
        i, j = self.players.index(a), self.players.index(b)
        return self.points[i][j] / self.games[i][j] if self.games[i][j] else None


def win_matrix(games: Sequence[Game], players: Sequence[str] | None = None) -> WinMatrix:
    """The pairwise win matrix of ``games``."""
    players = list(players or players_of(games))
    wins, count = _counts(games, players)
    return WinMatrix(players, wins.tolist(), count.astype(int).tolist())


def majority_graph(matrix: WinMatrix) -> Any:
    """A networkx ``DiGraph``: edge i -> j when i scored more than half against j.

    Each edge carries ``rate`` (i's score rate against j) and ``games``.
    """
    nx = require("networkx")

    graph = nx.DiGraph()
    graph.add_nodes_from(matrix.players)
    for i, a in enumerate(matrix.players):
        for j, b in enumerate(matrix.players):
            if matrix.games[i][j] and matrix.points[i][j] / matrix.games[i][j] > 0.5:
                graph.add_edge(a, b, rate=matrix.points[i][j] / matrix.games[i][j], games=matrix.games[i][j])
    return graph


@dataclass
class Cycle:
    """A preference cycle: ``players[0]`` beats ``players[1]`` beats ... beats ``players[0]``.

    Attributes:
        players: The players in cycle order.
        rates: Score rate of each player against the next (the last against the first).
    """

    players: list[str]
    rates: list[float]

    def __str__(self) -> str:
        ring = [*self.players, self.players[0]]
        return ", ".join(f"{ring[k]} beats {ring[k + 1]} {r:.0%}" for k, r in enumerate(self.rates))


def cycles(matrix: WinMatrix, limit: int = 1000) -> list[Cycle]:
    """Every preference cycle of the majority graph (at most ``limit``), shortest first.

    Each cycle is listed once, starting at its first player in ``matrix.players`` order.
    """
    nx = require("networkx")

    graph = majority_graph(matrix)
    order = {p: i for i, p in enumerate(matrix.players)}
    found: list[Cycle] = []
    for ring in nx.simple_cycles(graph):
        first = min(range(len(ring)), key=lambda k: order[ring[k]])
        ring = ring[first:] + ring[:first]
        rates = [graph.edges[ring[k], ring[(k + 1) % len(ring)]]["rate"] for k in range(len(ring))]
        found.append(Cycle(ring, rates))
        if len(found) >= limit:
            break
    found.sort(key=lambda c: (len(c.players), [order[p] for p in c.players]))
    return found


@dataclass
class PlayerRating:
    """All ratings of one player (see the module docs for each)."""

    player: str
    bt: float
    bt_low: float
    bt_high: float
    elo: float
    mu: float
    sigma: float
    games: int
    wins: int
    draws: int
    losses: int


@dataclass
class RatingReport:
    """Ratings of every player, best BT first, with the win matrix and its cycles."""

    ratings: list[PlayerRating]
    matrix: WinMatrix
    cycles: list[Cycle] = field(default_factory=list)
    games: int = 0
    first_mover_advantage: float = 0.0
    """BT's seat term in rating points: what the first seat adds to its player's rating."""
    first_mover_low: float = 0.0
    first_mover_high: float = 0.0
    """Bootstrap interval of ``first_mover_advantage`` (same level as the ratings')."""

    @property
    def transitive(self) -> bool:
        """Whether the majority relation has no cycle (BT then orders it faithfully)."""
        return not self.cycles

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (written as ``ratings.json``)."""
        return {
            "games": self.games,
            "ratings": [vars(r) for r in self.ratings],
            "first_mover_advantage": {"bt": self.first_mover_advantage, "low": self.first_mover_low,
                                      "high": self.first_mover_high},
            "win_matrix": {"players": self.matrix.players, "points": self.matrix.points, "games": self.matrix.games},
            "cycles": [{"players": c.players, "rates": c.rates} for c in self.cycles],
        }


def rate(games: Sequence[Game], players: Sequence[str] | None = None, *, bootstrap: int = 1000,
         seed: int = 0, prior: float = 0.01, elo_k: float = 16.0, first_mover: bool = True) -> RatingReport:
    """Every rating of every player, the first-mover advantage, the win matrix and the
    cycles of ``games`` (in play order: online Elo depends on it)."""
    players = list(players or players_of(games))
    bt, advantage = bradley_terry_fit(games, players, prior=prior, first_mover=first_mover)
    intervals, advantage_interval = bootstrap_fit(games, players, rounds=bootstrap, seed=seed, prior=prior,
                                                  first_mover=first_mover)
    online = elo(games, players, k=elo_k)
    skill = openskill_ratings(games, players)
    record = {p: [0, 0, 0] for p in players}
    for g in games:
        for p, s in ((g.a, g.score), (g.b, 1.0 - g.score)):
            record[p][0 if s == 1.0 else 1 if s == 0.5 else 2] += 1
    rows = [PlayerRating(p, bt[p], *intervals[p], online[p], *skill[p], sum(record[p]), *record[p]) for p in players]
    rows.sort(key=lambda r: -r.bt)
    matrix = win_matrix(games, players)
    return RatingReport(rows, matrix, cycles(matrix), len(games), advantage, *advantage_interval)
