"""Per-match seating: one runner call whose matches each seat their own players.

The runner binds one set of roles for every match of a call. A tournament round (every
pairing of the round) and a training iteration against league opponents (a version drawn
per match) both want all their matches in one call, so that they batch together, while
each match seats its own players: :func:`seated_arena` wraps the arena and swaps in the
roles of each match, looked up by its seed, before the inner arena plays.
"""

from __future__ import annotations

from typing import Any

from sparring.agents.roles import Role
from sparring.arenas.arena import Arena


def seated_arena(inner: Arena, seatings: dict[int, dict[str, Role]]) -> Arena:
    """``inner`` with per-match seat bindings: the match with seed s plays ``seatings[s]``.

    The runner binds one set of roles for every match of a call; this wrapper swaps in the
    players of each match before the inner arena plays, and reports the inner arena's spec
    and rewards, so transcripts are ordinary transcripts of ``inner`` (replayable as such).
    """

    class Seated(Arena):
        id = inner.id
        roles = tuple(inner.roles)
        zero_sum = inner.zero_sum
        reward_bounds = tuple(inner.reward_bounds)
        max_turns = inner.max_turns

        def spec(self) -> Any:
            return inner.spec()

        def default_roles(self) -> dict[str, Role]:
            return inner.default_roles()

        def rewards(self) -> Any:
            return inner.rewards()

        async def play(self, match: Any) -> Any:
            match.roles = {**match.roles, **seatings[match.seed]}
            return await inner.play(match)

    return Seated()
