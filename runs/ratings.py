"""Ratings of players from pairwise games: Bradley–Terry, Elo, openskill, cycles.

A :class:`Game` is one match between two players with the first player's score
(1 win, 0.5 draw, 0 loss). From a list of games:

- :func:`bradley_terry` fits P(i beats j) = sigmoid(theta_i - theta_j) by maximum
  likelihood (Newton's method), draws counted as half a win each way, with a tiny
  Gaussian prior on theta (``prior`` is its precision) so that a player who won or lost
  every game still gets a finite rating and the ratings are centred. Ratings are on the
  Elo scale: ``1000 + 400 * theta / ln 10`` (a 400-point gap is 10:1 odds). This is the
  Chatbot Arena method; the order of games does not matter.
- :func:`bootstrap_intervals` refits on games resampled with replacement (a seeded numpy
  generator) and takes the 2.5% and 97.5% quantiles of each rating.
- :func:`elo` is online Elo in game order (for comparison: it depends on the order and
  forgets, which BT does not).
- :func:`openskill_ratings` rates with openskill's Plackett–Luce model (Weng–Lin, a
  TrueSkill-style Bayesian rating with mu and sigma), one 1-vs-1 game at a time.
- :func:`win_matrix` and :func:`cycles`: the pairwise majority graph (an edge i -> j when
  i scored more than half against j) and every preference cycle in it, each with its
  win rates. When there is a cycle, no single number per player describes the results:
  BT then summarises a non-transitive relation (its order is an average over opponents).

Nothing here knows about arenas or models; :mod:`sparring.runs.tournament` turns stored
transcripts into games.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def require(module: str) -> Any:
    """Import an optional dependency of tournaments, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeError(f"ratings need the '{module.split('.')[0]}' package: pip install 'sparring[tournament]'") from None

ELO_SCALE = 400.0 / math.log(10.0)
"""Rating points per unit of BT log-odds."""
ELO_BASE = 1000.0
"""Rating of an average player."""


@dataclass(frozen=True)
class Game:
    """One game between two players.

    Attributes:
        a: First player's name.
        b: Second player's name.
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


def _fit(wins: np.ndarray, count: np.ndarray, prior: float, start: np.ndarray | None = None,
         iterations: int = 100, tolerance: float = 1e-10) -> np.ndarray:
    """Penalised BT maximum likelihood by Newton's method; returns theta (log-odds units)."""
    n = wins.shape[0]
    theta = np.zeros(n) if start is None else start.copy()
    scored = wins.sum(axis=1)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
        gradient = scored - (count * p).sum(axis=1) - prior * theta
        weight = count * p * (1.0 - p)
        hessian = np.diag(weight.sum(axis=1)) - weight + prior * np.eye(n)  # minus the Hessian
        step = np.linalg.solve(hessian, gradient)
        # Damp huge steps (a player who won everything under a tiny prior) so Newton stays stable.
        largest = np.abs(step).max(initial=0.0)
        if largest > 5.0:
            step *= 5.0 / largest
        theta += step
        if largest < tolerance:
            break
    return theta


def bradley_terry(games: Sequence[Game], players: Sequence[str] | None = None,
                  prior: float = 0.01) -> dict[str, float]:
    """Bradley–Terry ratings (Elo scale, mean 1000) by penalised maximum likelihood.

    Args:
        games: The games; their order does not matter.
        players: Players to rate (default: everyone in ``games``); one without games gets 1000.
        prior: Precision of the Gaussian prior on log-odds strengths. ``0.01`` (a prior sd
            of 10 log-odds, about 4000 rating points) changes nothing visible when results
            are mixed and keeps an undefeated player finite.
    """
    players = list(players or players_of(games))
    if prior <= 0:
        raise ValueError(f"prior must be > 0 (it keeps undefeated players finite), got {prior}")
    if not players:
        return {}
    wins, count = _counts(games, players)
    theta = _fit(wins, count, prior)
    return {p: float(ELO_BASE + ELO_SCALE * (t - theta.mean())) for p, t in zip(players, theta, strict=True)}


def bootstrap_intervals(games: Sequence[Game], players: Sequence[str] | None = None, *,
                        rounds: int = 1000, seed: int = 0, prior: float = 0.01,
                        level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of the BT ratings, resampling games with replacement.

    Args:
        games: The games.
        players: Players to rate (default: everyone in ``games``).
        rounds: Bootstrap resamples.
        seed: Seed of the numpy generator that draws the resamples.
        prior: As in :func:`bradley_terry`.
        level: Coverage of the interval (0.95: the 2.5% and 97.5% quantiles).
    """
    players = list(players or players_of(games))
    if not games or not players:
        return {p: (ELO_BASE, ELO_BASE) for p in players}
    rng = np.random.default_rng(seed)
    index = {p: i for i, p in enumerate(players)}
    a = np.array([index[g.a] for g in games])
    b = np.array([index[g.b] for g in games])
    score = np.array([g.score for g in games])
    n = len(players)
    full_wins, full_count = _counts(games, players)
    start = _fit(full_wins, full_count, prior)
    samples = np.empty((rounds, n))
    for r in range(rounds):
        pick = rng.integers(0, len(games), len(games))
        wins, count = np.zeros((n, n)), np.zeros((n, n))
        np.add.at(wins, (a[pick], b[pick]), score[pick])
        np.add.at(wins, (b[pick], a[pick]), 1.0 - score[pick])
        np.add.at(count, (a[pick], b[pick]), 1.0)
        np.add.at(count, (b[pick], a[pick]), 1.0)
        theta = _fit(wins, count, prior, start=start)
        samples[r] = ELO_BASE + ELO_SCALE * (theta - theta.mean())
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail], axis=0)
    return {p: (float(low[i]), float(high[i])) for i, p in enumerate(players)}


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

    @property
    def transitive(self) -> bool:
        """Whether the majority relation has no cycle (BT then orders it faithfully)."""
        return not self.cycles

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (written as ``ratings.json``)."""
        return {
            "games": self.games,
            "ratings": [vars(r) for r in self.ratings],
            "win_matrix": {"players": self.matrix.players, "points": self.matrix.points, "games": self.matrix.games},
            "cycles": [{"players": c.players, "rates": c.rates} for c in self.cycles],
        }


def rate(games: Sequence[Game], players: Sequence[str] | None = None, *, bootstrap: int = 1000,
         seed: int = 0, prior: float = 0.01, elo_k: float = 16.0) -> RatingReport:
    """Every rating of every player, the win matrix and the cycles of ``games``."""
    players = list(players or players_of(games))
    bt = bradley_terry(games, players, prior=prior)
    intervals = bootstrap_intervals(games, players, rounds=bootstrap, seed=seed, prior=prior)
    online = elo(games, players, k=elo_k)
    skill = openskill_ratings(games, players)
    record = {p: [0, 0, 0] for p in players}
    for g in games:
        for p, s in ((g.a, g.score), (g.b, 1.0 - g.score)):
            record[p][0 if s == 1.0 else 1 if s == 0.5 else 2] += 1
    rows = [PlayerRating(p, bt[p], *intervals[p], online[p], *skill[p], sum(record[p]), *record[p]) for p in players]
    rows.sort(key=lambda r: -r.bt)
    matrix = win_matrix(games, players)
    return RatingReport(rows, matrix, cycles(matrix), len(games))
