"""Held-out evaluation during training: what plays, on which seeds, what is reported.

The plan comes from the arena's declaration (``Arena.evaluation()``, see
:mod:`sparring.arenas.evaluation`) or from the recipe's ``[eval] arena``; with neither,
the training arena itself plays the held-out seeds and the per-seat mean of each of its
rewards is reported as ``eval/mean_reward/<reward>/<seat>`` (a fallback, labelled so).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sparring.agents.sampling import derive_seed
from sparring.arenas.arena import Arena
from sparring.arenas.transcript import Transcript
from sparring.rewards.metrics import Metric, compute_all
from sparring.runs.recipe import Recipe
from sparring.runs.validate import make_arena


@dataclass(frozen=True)
class HeldOut:
    """A resolved evaluation plan."""

    arena: Arena
    metrics: Sequence[Metric]
    greedy: bool
    item: Callable[[Transcript], str | None] | None
    declared: bool

    def describe(self) -> str:
        """One line for the run log."""
        what = ", ".join(m.name for m in self.metrics) if self.declared else \
            "per-seat mean rewards (the arena declares no evaluation)"
        return f"held-out evaluation on {self.arena.id}{' (greedy)' if self.greedy else ''}: {what}"


def plan(recipe: Recipe, training: Arena) -> HeldOut:
    """The held-out evaluation of a run (recipe's ``[eval] arena`` first, then the arena's)."""
    source = training
    if recipe.eval.arena is not None:
        source = make_arena(recipe.eval.arena, recipe.eval.kwargs, "eval")
    declared = source.evaluation()
    arena = (declared.arena if declared and declared.arena is not None else source)
    greedy = recipe.eval.greedy if recipe.eval.greedy is not None else (declared.greedy if declared else True)
    metrics = tuple(declared.metrics) if declared else ()
    return HeldOut(arena, metrics, greedy, declared.item if declared else None, bool(metrics))


def seeds(recipe: Recipe) -> list[int]:
    """Seeds of the held-out set: derived under a different label than training seeds."""
    return [derive_seed(recipe.eval.seed, "eval", i) % (1 << 31) for i in range(recipe.eval.size)]


def summarise(held_out: HeldOut, transcripts: Sequence[Transcript],
              training_items: Iterable[str] = ()) -> dict[str, float]:
    """The ``eval/...`` metrics of held-out transcripts, leaving out items seen in training."""
    out: dict[str, float] = {}
    if held_out.item is not None:
        seen = set(training_items)
        overlapping = [t for t in transcripts if held_out.item(t) in seen]
        out["eval/overlap_with_training"] = float(len(overlapping))
        transcripts = [t for t in transcripts if held_out.item(t) not in seen]
    if held_out.declared:
        out.update(compute_all(held_out.metrics, transcripts, prefix="eval/"))
        return out
    values: dict[str, list[float]] = defaultdict(list)
    for t in transcripts:
        if t.status == "finished":
            for r in t.rewards:
                values[f"eval/mean_reward/{r.reward}/{r.role}"].append(r.value)
    out.update({k: sum(v) / len(v) for k, v in values.items()})
    return out
