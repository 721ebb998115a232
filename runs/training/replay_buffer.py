"""Replay buffer: train on this iteration's data mixed with data of earlier iterations.

Self-training on each iteration's own samples alone chases its latest mistakes; mixing in
earlier iterations' data slows that drift. ``[replay] window = K`` keeps the last ``K``
iterations in the buffer; each update then trains on its fresh data plus
``ratio * len(fresh)`` (at most ``size``) samples drawn from the buffer.

The buffer is not a second store: it is *read from the store*. An earlier iteration's
data is rebuilt from its stored training matches by the same builder (so the agreement
band and league filters apply alike), and the draw is seeded by (run seed, iteration,
adapter), so a resumed run replays exactly what an uninterrupted one did. Samples that
share a ``group_id`` (a GRPO group) are drawn whole, keeping their baseline intact;
replayed GRPO samples keep the log-probs they were sampled with, so the clipped
importance ratio accounts for the policy having moved since. Look-ahead algorithms
(``dpo_temporal``) build from their own iteration's future model and replay nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sparring.agents.sampling import derive_seed
from sparring.runs.training.algorithms import get_algorithm


def draw(fresh: Sequence[Any], buffer: Sequence[Any], ratio: float, size: int | None,
         rng: random.Random) -> list[Any]:
    """Samples drawn from ``buffer`` to mix with ``fresh``: whole groups (samples sharing a
    ``group_id``) in seeded random order until ``ratio * len(fresh)`` (capped by ``size``)
    samples are drawn (the last group may pass the target).

    >>> draw([1, 2, 3, 4], list(range(10, 20)), 0.5, None, random.Random(0))
    [17, 18]
    """
    want = round(ratio * len(fresh))
    if size is not None:
        want = min(want, size)
    units: dict[Any, list[Any]] = {}
    for i, item in enumerate(buffer):
        units.setdefault(getattr(item, "group_id", ("item", i)), []).append(item)
    order = list(units.values())
    rng.shuffle(order)
    chosen: list[Any] = []
    for unit in order:
        if len(chosen) >= want:
            break
        chosen.extend(unit)
    return chosen


class ReplayMixin:
    """The trainer's replay (a mixin of :class:`~sparring.runs.training.train.Trainer`, which
    supplies the recipe, ``play_transcripts`` and ``build``)."""

    def with_replay(self, iteration: int, adapter: str, seats: list[str], algo: str,
                    data: list[Any]) -> tuple[list[Any], int]:
        """``data`` plus the samples replayed from the buffer, and how many were replayed."""
        section = self.recipe.replay  # type: ignore[attr-defined]
        if not section.window or not data or get_algorithm(algo).lookahead is not None:
            return data, 0
        buffer: list[Any] = []
        for earlier in range(max(0, iteration - section.window), iteration):
            transcripts = [t for t in self.play_transcripts(earlier) if t.status == "finished"]  # type: ignore[attr-defined]
            buffer += [d for seat in seats for d in self.build(seat, algo, transcripts)]  # type: ignore[attr-defined]
        rng = random.Random(derive_seed(self.recipe.train.seed, "replay", iteration, adapter))  # type: ignore[attr-defined]
        replayed = draw(data, buffer, section.ratio, section.size, rng)
        return data + replayed, len(replayed)
