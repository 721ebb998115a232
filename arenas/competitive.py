"""Who won a match: the arena's own ``winner`` declaration, else the seats' rewards.

Tournaments compare two *competing seats* of a match (``pro`` and ``con`` of a debate,
``x`` and ``o`` of a board game). An arena that knows who won declares it::

    class TicTacToe(Arena):
        def winner(self, transcript):          # a seat, or None for a draw
            return transcript.outcome["winner"]

Any arena with a ``winner`` method qualifies (:class:`DeclaresWinner` is a protocol, so
no base class changes). Without one, the seat with the higher mean reward wins and equal
rewards are a draw (:func:`decide`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sparring.arenas.errors import ArenaError

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript

DRAW = "draw"
"""What :func:`decide` returns for a draw."""


@runtime_checkable
class DeclaresWinner(Protocol):
    """An arena that says which seat won a finished match."""

    def winner(self, transcript: Transcript) -> str | None:
        """The winning seat, or ``None`` for a draw."""
        ...


def decide(arena: object, transcript: Transcript, seats: Sequence[str], reward: str | None = None) -> str | None:
    """The winning seat among ``seats``, :data:`DRAW`, or ``None`` when there is no result.

    Args:
        arena: The arena the match was played in; its ``winner(transcript)`` is used when
            it has one (it must name one of ``seats`` or return ``None`` for a draw).
        transcript: A finished match (an errored match has no result).
        seats: The two competing seats.
        reward: Compare only this reward's records (default: each seat's mean over all its
            rewards). A seat without any such reward leaves the match without a result.
    """
    if transcript.status != "finished":
        return None
    if isinstance(arena, DeclaresWinner):
        seat = arena.winner(transcript)
        if seat is None:
            return DRAW
        if seat not in seats:
            raise ArenaError(
                f"{transcript.arena.id}.winner returned {seat!r}, which is not a competing seat "
                f"({', '.join(seats)}); return one of them, or None for a draw"
            )
        return seat
    values = [transcript.reward_of(seat, reward) for seat in seats]
    if any(v is None for v in values):
        return None
    best = max(values)  # type: ignore[type-var]
    leaders = [seat for seat, v in zip(seats, values, strict=True) if v == best]
    return leaders[0] if len(leaders) == 1 else DRAW
