"""Scoring a transcript: apply rewards and store their records on it.

This lives with the arenas (above the rewards in the package stack) because it writes
``RewardRecord``s into a ``Transcript``; rewards themselves only read transcripts.
"""

from __future__ import annotations

from collections.abc import Sequence

from sparring.arenas.failures import mark_stage
from sparring.arenas.transcript import RewardRecord, Transcript
from sparring.rewards.base import Reward


def apply_rewards(transcript: Transcript, rewards: Sequence[Reward]) -> Transcript:
    """Score ``transcript`` with every reward and store the records on it (replacing old ones)."""
    records = []
    for r in rewards:
        try:
            scores = r(transcript) or []
            for s in scores:
                records.append(
                    RewardRecord(reward=r.name, role=s.role, value=float(s.value), turn=s.turn,
                                 explanation=s.explanation)
                )
        except Exception as exc:
            mark_stage(exc, f"reward {getattr(r, 'name', r)!r}")  # so a report can name the reward, not "the match"
            raise
    transcript.rewards = records
    return transcript
