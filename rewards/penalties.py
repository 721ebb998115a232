"""Format penalties: a negative reward for each turn of a seat that did not parse."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparring.rewards.base import FunctionReward, Score

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript


def format_penalty(role: str, penalty: float = -1.0, truncated: bool = True,
                   name: str | None = None) -> FunctionReward:
    """A reward: ``penalty`` for each turn of ``role`` that did not parse (or, with
    ``truncated``, hit the length limit), 0 for the others; abstains without turns."""
    if not penalty < 0:
        raise ValueError(f"format_penalty: penalty must be negative, got {penalty}")

    def score(transcript: Transcript) -> list[Score] | None:
        out = []
        for turn in transcript.turns:
            if turn.role != role:
                continue
            bad = turn.parse_error is not None or (truncated and turn.finish_reason == "length")
            why = turn.parse_error or ("hit the length limit" if bad else "well-formed")
            out.append(Score(role, penalty if bad else 0.0, why, turn=turn.index))
        return out or None

    return FunctionReward(name or f"{role}_format", score, bounds=(penalty, 0.0))
