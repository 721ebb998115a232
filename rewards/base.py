"""Rewards: functions of a transcript that score roles or turns, with an explanation.

A reward is any callable ``(transcript) -> list[Score] | None`` with a ``name``; ``None``
(or an empty list) means it abstains. Because rewards only read transcripts, stored
matches can be re-scored later without generating again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript


@dataclass(frozen=True)
class Score:
    """A reward value for a role (``turn=None``) or for one of its turns."""

    role: str
    value: float
    explanation: str = ""
    turn: int | None = None


@runtime_checkable
class Reward(Protocol):
    """Scores a transcript; returns ``None`` to abstain."""

    name: str

    def __call__(self, transcript: Transcript) -> list[Score] | None:
        """Score the transcript."""
        ...


class FunctionReward:
    """A reward made from a plain function (see :func:`reward`)."""

    def __init__(self, name: str, fn: Callable[[Transcript], list[Score] | None],
                 bounds: tuple[float, float] | None = None) -> None:
        self.name = name
        self.bounds = bounds
        self._fn = fn
        self.__doc__ = fn.__doc__

    def __call__(self, transcript: Transcript) -> list[Score] | None:
        return self._fn(transcript)

    def __repr__(self) -> str:
        return f"reward({self.name!r})"


def reward(name: str, *, bounds: tuple[float, float] | None = None,
           ) -> Callable[[Callable[[Transcript], list[Score] | None]], FunctionReward]:
    """Decorator turning ``fn(transcript) -> list[Score] | None`` into a named reward.

    Args:
        name: The reward's name (recipes and stored records refer to it).
        bounds: The range this reward's values stay in, when narrower than the arena's
            ``reward_bounds`` (e.g. ``(0, 1)`` for a correctness reward); soft-DPO labels
            and the conformance check use it.
    """
    if bounds is not None and not bounds[0] < bounds[1]:
        raise ValueError(f"reward {name!r}: bounds must be (low, high) with low < high, got {bounds}")

    def wrap(fn: Callable[[Transcript], list[Score] | None]) -> FunctionReward:
        return FunctionReward(name, fn, bounds)

    return wrap
