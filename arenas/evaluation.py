"""What an arena's held-out evaluation plays and reports (:class:`Evaluation`).

An arena declares its evaluation by returning an :class:`Evaluation` from
``Arena.evaluation()``; a recipe may instead name another arena in ``[eval]``. The
training loop plays the declared variant on held-out seeds (derived from ``eval.seed``
differently from every training seed), greedily unless told otherwise, with the trained
adapters bound to the seats they train, stores the matches as ``eval-i<k>-s<seed>`` and
logs each metric as ``eval/<name>``.

With nothing declared the loop reports, for every (reward, seat) pair, the mean reward
on held-out matches of the training arena itself, under keys
``eval/mean_reward/<reward>/<seat>``: a fallback, labelled as such.

Held-out items are compared with what training produced: when ``item`` is given, it
maps a transcript (training or held-out) to a key, e.g. the arithmetic expression a
questioner wrote; held-out matches whose key also occurs in training matches are left out
of the metrics and counted in ``eval/overlap_with_training``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparring.rewards.metrics import Metric

if TYPE_CHECKING:
    from sparring.arenas.arena import Arena
    from sparring.arenas.transcript import Transcript


@dataclass(frozen=True)
class Evaluation:
    """A held-out evaluation declared by an arena.

    Attributes:
        arena: The variant that plays held-out seeds (e.g. references hidden, a held-out
            split of items); ``None`` plays the arena itself.
        metrics: Named functions of the held-out transcripts; empty means per-seat mean
            rewards of the variant's own rewards.
        greedy: Every seat samples at temperature 0, so a number moves only when the
            adapters do.
        item: Key of the item a transcript is about, for de-duplication against training.
    """

    arena: Arena | None = None
    metrics: Sequence[Metric] = ()
    greedy: bool = True
    item: Callable[[Transcript], str | None] | None = None
