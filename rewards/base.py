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

    def __init__(self, name: str, fn: Callable[[Transcript], list[Score] | None]) -> None:
        self.name = name
        self._fn = fn
        self.__doc__ = fn.__doc__

    def __call__(self, transcript: Transcript) -> list[Score] | None:
        return self._fn(transcript)

    def __repr__(self) -> str:
        return f"reward({self.name!r})"


def reward(name: str) -> Callable[[Callable[[Transcript], list[Score] | None]], FunctionReward]:
    """Decorator turning ``fn(transcript) -> list[Score] | None`` into a named reward."""

    def wrap(fn: Callable[[Transcript], list[Score] | None]) -> FunctionReward:
        return FunctionReward(name, fn)

    return wrap
