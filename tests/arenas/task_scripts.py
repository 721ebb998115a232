"""Scripted replies for the task arenas (propose-solve, spin, task-eval), by seat.

The seat is read from the system prompt; a reply is picked by the row's seed, so it does
not depend on batching. Used by the arena tests and the golden transcripts.
"""

from __future__ import annotations

from collections.abc import Sequence

from sparring.agents.engines.base import GenerationRequest
from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import Arena, Runner, Transcript
from tests.helpers import seat_by_system_prompt

_SEAT_OF_SYSTEM = {"You write practice problems": "proposer", "You are a careful solver": "solver"}


def seat_of(request: GenerationRequest) -> str:
    """The task-arena seat a request was made for."""
    return seat_by_system_prompt(request, _SEAT_OF_SYSTEM)


class BySeed:
    """Replies per seat, picked by row seed (``replies[seed % len(replies)]``)."""

    def __init__(self, **replies: Sequence[str]) -> None:
        self.replies = {seat: list(r) for seat, r in replies.items()}

    def __call__(self, request: GenerationRequest, index: int) -> str:
        replies = self.replies[seat_of(request)]
        return replies[request.seed % len(replies)]


class InOrder:
    """Replies per seat in the order the seat is asked (for hand-computed cases of one match)."""

    def __init__(self, **replies: Sequence[str]) -> None:
        self.replies = {seat: list(r) for seat, r in replies.items()}
        self.counts = dict.fromkeys(self.replies, 0)

    def __call__(self, request: GenerationRequest, index: int) -> str:
        seat = seat_of(request)
        k = self.counts[seat]
        self.counts[seat] += 1
        return self.replies[seat][k % len(self.replies[seat])]


def play(arena: Arena, script: object, seeds: Sequence[int] = (0,)) -> tuple[list[Transcript], ScriptedEngine]:
    """Play ``arena`` on a scripted engine; returns transcripts and the engine."""
    engine = ScriptedEngine(script)  # type: ignore[arg-type]
    return Runner({"default": engine}).play(arena, list(seeds)), engine


GOLDEN_PROPOSE_SOLVE = BySeed(
    proposer=["Problem: What is 7 + 5?", "Problem: What is 12 - 30?", "I am not sure what to ask."],
    solver=["Answer: 12", "7 + 5 = 12.\nAnswer: 12", "Answer: -18", "Answer: 13", "no idea"],
)
GOLDEN_SPIN = BySeed(solver=["Answer: 12", "I think it is 40.\nAnswer: 40", "no idea", "Answer: 7"])
