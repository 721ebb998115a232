"""The transcript: the complete, versioned record of one match.

Rewards, preference data, ratings and the viewer are all functions of stored
transcripts, so they can be recomputed later without generating again. Every field is
plain JSON; ``schema_version`` grows when the layout changes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


def jsonable(value: Any) -> Any:
    """Make a parse result storable: JSON values pass, anything else becomes its ``repr``."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        if isinstance(value, (list, tuple)):
            return [jsonable(v) for v in value]
        if isinstance(value, dict):
            return {str(k): jsonable(v) for k, v in value.items()}
        return repr(value)


class ArenaSpec(BaseModel):
    """What an arena is and how to re-make it (recorded in every transcript)."""

    id: str
    roles: list[str]
    zero_sum: bool = False
    reward_bounds: tuple[float, float] = (-1.0, 1.0)
    max_turns: int = 64
    kwargs: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None  # "module:Class" or "file.py:Class" for user arenas


class Turn(BaseModel):
    """One generated reply and everything needed to understand, replay or train on it."""

    index: int
    ask: int
    sample: int = 0
    role: str
    model: str
    adapter: str | None = None
    adapter_version: int | None = None
    messages: list[dict[str, str]]
    sampling: dict[str, Any]
    seed: int
    text: str
    token_ids: list[int] = Field(default_factory=list)
    logprobs: list[float] = Field(default_factory=list)
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    parsed: Any = None
    parse_error: str | None = None
    latency: float = 0.0


class RewardRecord(BaseModel):
    """One reward given to a role (whole match) or to one turn, with its explanation."""

    reward: str
    role: str
    value: float
    turn: int | None = None
    explanation: str = ""


class Transcript(BaseModel):
    """The record of a match: spec, seed, role bindings, turns, outcome and rewards."""

    schema_version: int = SCHEMA_VERSION
    match_id: str
    run_id: str | None = None
    iteration: int = 0
    arena: ArenaSpec
    seed: int
    roles: dict[str, dict[str, Any]]
    turns: list[Turn] = Field(default_factory=list)
    outcome: dict[str, Any] | None = None
    summary: str = ""
    rewards: list[RewardRecord] = Field(default_factory=list)
    status: str = "finished"  # "finished" or "error"
    error: str | None = None
    started_at: float = 0.0
    finished_at: float = 0.0

    def turns_of(self, role: str) -> list[Turn]:
        """Turns played by ``role``, in order."""
        return [t for t in self.turns if t.role == role]

    def reward_of(self, role: str, reward: str | None = None) -> float | None:
        """Mean reward of ``role`` (over one reward's records, or all); ``None`` if none."""
        values = [
            r.value for r in self.rewards if r.role == role and (reward is None or r.reward == reward)
        ]
        return sum(values) / len(values) if values else None

    def comparable(self) -> dict[str, Any]:
        """The transcript without wall-clock fields, for exact replay comparison."""
        data = self.model_dump(mode="json", exclude={"started_at", "finished_at", "run_id"})
        for turn in data["turns"]:
            turn.pop("latency", None)
        return data
