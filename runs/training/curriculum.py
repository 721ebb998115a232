"""The trainer's curriculum: the arena's declared level, raised as its metric is reached.

An arena that returns a :class:`~sparring.arenas.curriculum.Curriculum` from
``curriculum()`` (SPELL's document mode grows document length as the responder
succeeds) is played at one level per iteration. After the iteration's matches are played
the declared metric's mean over them decides the next level (up by one at the threshold,
never past the highest); the trainer's arena is re-made at that level, so the next
iteration's matches (league seatings included) and its look-ahead play it, and each
stored transcript's spec records its level; the league's own rating rounds keep the
level the run started at (its arena is fixed when the run starts). Logged per iteration: ``curriculum/level`` (the level played) and
``curriculum/<metric>`` (the value that decided).

Resume is exact: the level for the next iteration is saved in every checkpoint, and the
decision reads only the iteration's stored transcripts (a partly played iteration is
replayed at the level its checkpoint names, then decides the same way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparring.arenas.arena import Arena
    from sparring.arenas.curriculum import Curriculum
    from sparring.arenas.transcript import Transcript


class CurriculumMixin:
    """The curriculum of a :class:`~sparring.runs.training.train.Trainer` (which supplies ``arena``)."""

    arena: Arena
    curriculum: Curriculum | None

    def curriculum_start(self) -> None:
        """Read the arena's declaration (``None``: the arena has no curriculum)."""
        self.curriculum = self.arena.curriculum()
        if self.curriculum is not None:
            self.curriculum.level(self.arena)  # a declaration naming a missing argument fails before playing

    def curriculum_state(self) -> dict[str, Any]:
        """What the checkpoint keeps: the level the next iteration plays."""
        return {} if self.curriculum is None else {"curriculum": self.curriculum.level(self.arena)}

    def curriculum_restore(self, state: dict[str, Any]) -> None:
        """Re-make the arena at the level a checkpoint names."""
        if self.curriculum is not None and "curriculum" in state:
            self.arena = self.curriculum.at(self.arena, int(state["curriculum"]))

    def curriculum_advance(self, transcripts: list[Transcript]) -> dict[str, float]:
        """Decide the next level from this iteration's training transcripts; returns the
        ``curriculum/...`` metrics (empty without a curriculum)."""
        if self.curriculum is None:
            return {}
        played = self.curriculum.level(self.arena)
        level, value = self.curriculum.next_level(played, transcripts)
        self.arena = self.curriculum.at(self.arena, level)
        out = {"curriculum/level": float(played)}
        if value is not None:
            out[f"curriculum/{self.curriculum.metric.name}"] = value
        return out
