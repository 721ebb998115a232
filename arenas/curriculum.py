"""What an arena's curriculum reads and changes (:class:`Curriculum`).

An arena declares a curriculum by returning a :class:`Curriculum` from
``Arena.curriculum()``: one integer constructor argument (``argument``, e.g. SPELL's
document ``level``) that the training loop raises by one, up to ``highest``, after an
iteration whose training matches reach ``threshold`` on ``metric`` (a per-match metric,
e.g. the responder's success rate). The loop knows nothing else about the arena: it
re-makes it with the new value (:meth:`Curriculum.at`), so every stored transcript records
the level it was played at in its spec and replays exactly.

The decision reads only stored transcripts of one iteration, and the level is kept in
the run's checkpoint, so a run killed anywhere resumes at the level the uninterrupted run
would have played (see :mod:`sparring.runs.training.curriculum`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparring.arenas.errors import ArenaError
from sparring.rewards.metrics import Metric

if TYPE_CHECKING:
    from sparring.arenas.arena import Arena
    from sparring.arenas.transcript import Transcript


@dataclass(frozen=True)
class Curriculum:
    """A curriculum declared by an arena.

    Attributes:
        argument: The integer constructor argument the curriculum raises (the level).
        highest: The highest value it reaches.
        metric: A per-match metric of training transcripts; its mean over one iteration's
            finished matches decides.
        threshold: The level rises by one after an iteration whose mean reaches this.
    """

    argument: str
    highest: int
    metric: Metric
    threshold: float

    def level(self, arena: Arena) -> int:
        """The value ``arena`` was made with."""
        kwargs = arena.kwargs
        if self.argument not in kwargs or not isinstance(kwargs[self.argument], int):
            raise ArenaError(f"{type(arena).__name__}.curriculum() names argument {self.argument!r}, which is not an "
                             f"integer constructor argument (arguments: {', '.join(kwargs)})")
        return int(kwargs[self.argument])

    def at(self, arena: Arena, level: int) -> Arena:
        """``arena`` re-made with the curriculum's argument set to ``level``."""
        if self.level(arena) == level:
            return arena
        return type(arena)(**{**arena.kwargs, self.argument: level})

    def next_level(self, level: int, transcripts: Sequence[Transcript]) -> tuple[int, float | None]:
        """The level after an iteration played at ``level``, and the metric's mean (``None``
        when no match gave a value: the level stays)."""
        value = self.metric.compute(transcripts).get(self.metric.name)
        if value is not None and value >= self.threshold and level < self.highest:
            return level + 1, value
        return level, value
