"""Branching a stored match: replay its turns before a branch turn, play on from there.

A branch of a match is the same arena with the same match seed (so ``match.rng`` draws
the same claims, items and orders) whose turns before ``from_turn`` are the recorded
replies, served without an engine, and whose turns from ``from_turn`` on are generated
afresh, possibly by other seats (a swapped adapter, model, prompt or sampling).

Turn indices are known when an ask is made: a match's asks reach the runner in ask order,
and turn ``i`` of a transcript is the ``i``-th row in ``(ask, sample)`` order, so the
rows of ask ``a`` are the turns following every row of the asks before it.

Seeds: a recorded row's seed is ``derive_seed(match seed, ask, sample)``. A branch with a
``branch_seed`` samples a fresh row with ``derive_seed(branch_seed, that seed)`` (its own
draws, one branch seed per sample of a ``whatif``); with ``branch_seed=None`` it keeps the
recorded seeds, so a branch from turn 0 with no swap is the original match again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sparring.agents.engines.base import Completion
from sparring.agents.sampling import derive_seed
from sparring.arenas.errors import ArenaError

if TYPE_CHECKING:
    from sparring.arenas.match import PendingAsk
    from sparring.arenas.transcript import Transcript

RowPlan = tuple[tuple[Completion, float] | None, int]
"""One row of an ask: the recorded ``(completion, latency)`` to deliver, or ``None`` and
the seed to generate it with."""


class AskPlan(Protocol):
    """What the runner asks about each ask when it has a prefix (see :class:`BranchPrefix`)."""

    def plan(self, ask: PendingAsk) -> list[RowPlan]:
        """One :data:`RowPlan` per sample of ``ask``; raises ``ArenaError`` on a divergence."""
        ...


def row_seed(branch_seed: int | None, recorded_seed: int) -> int:
    """The seed a branch samples a fresh row with (the recorded one when ``branch_seed`` is None)."""
    return recorded_seed if branch_seed is None else derive_seed(branch_seed, recorded_seed)


@dataclass
class BranchPrefix:
    """Serves each match's turns before ``from_turn`` from its record.

    Args:
        records: The original transcript of each match, by match seed.
        from_turn: The branch turn: turns with a lower index replay as recorded.
        branch_seeds: The branch seed of each match (by match seed; missing or ``None``:
            the recorded seeds).
        swapped: Seats whose role changed: their recorded prompts are not compared (a
            swapped system prompt renders differently, the reply served is the recorded one).
    """

    records: Mapping[int, Transcript]
    from_turn: int
    branch_seeds: Mapping[int, int | None] = field(default_factory=dict)
    swapped: Collection[str] = ()
    _next: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    def plan(self, ask: PendingAsk) -> list[RowPlan]:
        """The rows of ``ask``: recorded before the branch turn, fresh seeds from it on."""
        record = self.records[ask.match.seed]
        asks, first = self._next.get(ask.match.match_id, (0, 0))
        if ask.ask != asks:  # asks are submitted in ask order; anything else breaks the indexing
            raise ArenaError(f"branch of {record.match_id}: ask {ask.ask} reached the runner before ask {asks}")
        self._next[ask.match.match_id] = (asks + 1, first + len(ask.seeds))
        branch_seed = self.branch_seeds.get(ask.match.seed)
        rows: list[RowPlan] = []
        for k, seed in enumerate(ask.seeds):
            index = first + k
            if index >= self.from_turn:
                rows.append((None, row_seed(branch_seed, seed)))
                continue
            turn = record.turns[index] if index < len(record.turns) else None
            if turn is None or turn.seed != seed:
                raise ArenaError(
                    f"branch of {record.match_id} diverged before turn {self.from_turn}: the arena asked for a "
                    f"reply the transcript does not have (turn {index}); it is not deterministic given seed and replies")
            if turn.role not in self.swapped and turn.messages != ask.messages:
                raise ArenaError(f"branch of {record.match_id} diverged at turn {index} ({turn.role}): the prompt "
                                 "differs from the recorded one")
            rows.append(((Completion(turn.text, turn.token_ids, turn.logprobs, turn.prompt_tokens,
                                     turn.finish_reason), turn.latency), seed))
        return rows
