"""Control rewards: a label-free reward's random twin.

A gain that a method also shows when its reward is replaced by noise of the same mean is
format learning (the update teaches the reply's shape), not the method's signal. The twin
``random:<name>`` keeps who is scored and on which turns, and the base reward's mean in
each match, but draws each score as a seeded coin flip between the reward's bounds::

    p = (mean of the seat's base scores in the match - low) / (high - low)
    score = high with probability p, else low

A pure function of the transcript (the coin is seeded by the match id and the score's
position), so rescoring a stored match gives the same values.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from sparring.agents.sampling import derive_seed
from sparring.rewards.base import FunctionReward, Reward, Score

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript

PREFIX = "random:"
"""Name prefix of a random twin (``random:debater_majority``)."""


def random_twin(base: Reward, bounds: tuple[float, float] | None = None) -> FunctionReward:
    """The random twin of ``base`` (see the module docs); ``bounds`` default to the base's
    own, else ``(0, 1)``."""
    low, high = bounds or getattr(base, "bounds", None) or (0.0, 1.0)

    def twin(transcript: Transcript) -> list[Score] | None:
        scores = base(transcript)
        if not scores:
            return scores
        by_role: dict[str, list[float]] = {}
        for s in scores:
            by_role.setdefault(s.role, []).append(s.value)
        share = {role: 0.0 if high == low else min(1.0, max(0.0, (sum(v) / len(v) - low) / (high - low)))
                 for role, v in by_role.items()}
        rng = random.Random(derive_seed("random-twin", base.name, transcript.match_id))
        return [Score(s.role, high if rng.random() < share[s.role] else low,
                      f"coin flip with p={share[s.role]:.2f} (random twin of {base.name})", turn=s.turn)
                for s in scores]

    return FunctionReward(f"{PREFIX}{base.name}", twin, (low, high))
