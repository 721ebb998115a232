"""Arenas that play items of a task family's split: one draw rule, one item count.

A training match draws a fresh item of the ``train`` split from its seed; a match on
``validation`` or ``test`` plays item ``seed`` of the split's fixed enumeration
(:meth:`~sparring.arenas.tasks.TaskFamily.pool`), so an evaluation of seeds ``0..n-1``
sees ``n`` distinct items, each once, the same items for every run and every arm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparring.arenas.tasks import check_split

if TYPE_CHECKING:
    from sparring.arenas.match import Match
    from sparring.arenas.tasks import Item, TaskFamily


class SplitItems:
    """Mixin for an arena with ``family``, ``difficulty`` (a ``(low, high)`` range) and
    ``split`` attributes; set ``split`` with :meth:`set_split`."""

    family: TaskFamily
    difficulty: tuple[int, int]
    split: str

    def set_split(self, split: str) -> None:
        """Check and set the split (``held_out`` is read as ``test``)."""
        self.split = check_split(split)

    def draw_item(self, match: Match) -> Item:
        """The item this match plays (see the module docs)."""
        return self.family.draw(match.rng, match.seed, self.difficulty, self.split)

    def distinct_items(self) -> int | None:
        """Distinct items of the evaluation split (``None`` on ``train``: drawn by seed)."""
        return None if self.split == "train" else len(self.family.pool(self.split, self.difficulty))
