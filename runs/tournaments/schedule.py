"""Tournament scheduling: round-robin and Swiss pairings (networkx maximum-weight matching)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sparring.agents.sampling import derive_seed


@dataclass(frozen=True)
class Scheduled:
    """One scheduled match: ``first`` sits in the first competing seat, ``second`` in the other.

    Attributes:
        round: Round of the schedule (0 for round-robin).
        first: Player in the first competing seat.
        second: Player in the second competing seat.
        game: Index of this match among the games of ``(first, second)`` in this order.
    """

    round: int
    first: str
    second: str
    game: int

    @property
    def match_id(self) -> str:
        """``<first>:<second>:g<game>``: the match's id in the store."""
        return f"{self.first}:{self.second}:g{self.game}"

    def seed(self, tournament_seed: int) -> int:
        """The match seed: a function of the tournament seed, the pairing and the game."""
        return derive_seed(tournament_seed, "tournament", self.first, self.second, self.game) % (1 << 31)


def round_robin(players: Sequence[str], games: int, both_orders: bool = True) -> list[Scheduled]:
    """Every pair ``games`` times per seat order, ordered game index first (so a budget cut is even)."""
    out = []
    for g in range(games):
        for i, a in enumerate(players):
            for b in players[i + 1:]:
                out.append(Scheduled(0, a, b, g))
                if both_orders:
                    out.append(Scheduled(0, b, a, g))
    return out


@dataclass
class SwissState:
    """Standings that Swiss pairing reads: points, meetings, seat counts, byes."""

    players: list[str]
    points: dict[str, float] = field(default_factory=dict)
    meetings: Counter[frozenset[str]] = field(default_factory=Counter)
    firsts: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    byes: Counter[str] = field(default_factory=Counter)
    games: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for p in self.players:
            self.points.setdefault(p, 0.0)

    def ranked(self) -> list[str]:
        """Players by points, then by their order in the config (the seeding)."""
        order = {p: i for i, p in enumerate(self.players)}
        return sorted(self.players, key=lambda p: (-self.points[p], order[p]))


def swiss_round(state: SwissState, round_index: int, games: int) -> tuple[list[Scheduled], str | None]:
    """One Swiss round: the scheduled matches and the player with a bye (``None`` if even).

    The pairing is a maximum-weight perfect matching over all pairs whose weight puts
    avoiding rematches first, close points second, opposite seat-order needs third and
    closeness in the ranking last. It also updates ``state``'s meetings, seat counts,
    byes and game counters (points come from results, see :meth:`Tournament.record`).
    """
    import networkx as nx

    ranked = state.ranked()
    bye = None
    if len(ranked) % 2:
        # lowest-ranked among those with the fewest byes
        fewest = min(state.byes[p] for p in ranked)
        bye = [p for p in ranked if state.byes[p] == fewest][-1]
        ranked.remove(bye)
        state.byes[bye] += 1
    rank = {p: i for i, p in enumerate(ranked)}
    balance = {p: state.firsts[p] - state.seconds[p] for p in ranked}
    graph = nx.Graph()
    for i, a in enumerate(ranked):
        for b in ranked[i + 1:]:
            clash = (balance[a] > 0 and balance[b] > 0) or (balance[a] < 0 and balance[b] < 0)
            cost = (state.meetings[frozenset((a, b))] * 1e9 + (state.points[a] - state.points[b]) ** 2 * 1e5
                    + clash * 1e3 + abs(rank[a] - rank[b]))
            graph.add_edge(a, b, weight=1e12 - cost)
    matching = nx.max_weight_matching(graph, maxcardinality=True)
    pairs = sorted((tuple(sorted(pair, key=rank.get)) for pair in matching), key=lambda ab: rank[ab[0]])
    scheduled = []
    for a, b in pairs:
        # the one who sat first less often sits first; tie: the higher-ranked alternates by round
        if balance[a] != balance[b]:
            first, second = (a, b) if balance[a] < balance[b] else (b, a)
        else:
            first, second = (a, b) if round_index % 2 == 0 else (b, a)
        state.meetings[frozenset((a, b))] += 1
        state.firsts[first] += games
        state.seconds[second] += games
        for _ in range(games):
            scheduled.append(Scheduled(round_index, first, second, state.games[(first, second)]))
            state.games[(first, second)] += 1
    return scheduled, bye

