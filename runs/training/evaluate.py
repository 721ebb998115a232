"""Held-out evaluation during training: what plays, on which items, what is reported.

The plan comes from the arena's declaration (``Arena.evaluation()``, see
:mod:`sparring.arenas.evaluation`) or from the recipe's ``[eval] arena``; with neither,
the training arena itself plays the held-out seeds and the per-seat mean of each of its
rewards is reported as ``eval/mean_reward/<reward>/<seat>`` (a fallback, labelled so).

Two splits are evaluated (DESIGN.md section 11): ``test``, reported as ``eval/...`` and
never read by any decision, and, with ``[eval] select = "validation"``, ``validation``,
reported as ``validation/...`` and the only figures that pick the best checkpoint or
stop a run. An evaluation arena that plays a task family's items (it takes a ``split``
argument and counts its items, :meth:`Arena.distinct_items`) plays seeds ``0..n-1`` of
each split, ``n`` distinct items; other arenas play seeds derived from ``eval.seed``
under a label per split, so validation and test seeds never meet. Every value carries a
95% interval and its item counts (:mod:`sparring.rewards.metrics`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sparring.agents.sampling import derive_seed
from sparring.arenas.arena import Arena
from sparring.arenas.transcript import Transcript
from sparring.rewards.intervals import mean_interval
from sparring.rewards.metrics import Metric, compute_all
from sparring.runs.recipes.recipe import Recipe, RecipeError
from sparring.runs.recipes.validate import make_arena

PREFIXES = {"test": "eval-", "validation": "eval-val-"}
"""Match-id prefixes of held-out matches (``eval-i<k>-s<seed>``, ``eval-val-i<k>-s<seed>``):
both start with ``eval-``, so everything that keeps held-out matches out of training
data keeps validation out too."""
KEYS = {"test": "eval/", "validation": "validation/"}
"""Metric-key prefixes of each split's figures."""


@dataclass(frozen=True)
class HeldOut:
    """A resolved evaluation plan: the arena of each split and what is reported."""

    arena: Arena
    metrics: Sequence[Metric]
    greedy: bool
    item: Callable[[Transcript], str | None] | None
    declared: bool
    validation: Arena | None = None

    def describe(self) -> str:
        """One line for the run log."""
        what = ", ".join(m.name for m in self.metrics) if self.declared else \
            "per-seat mean rewards (the arena declares no evaluation)"
        counted = self.arena.distinct_items()
        items = f", {counted} distinct test items available" if counted is not None else ""
        selection = "; best checkpoint chosen on validation" if self.validation is not None else ""
        return f"held-out evaluation on {self.arena.id}{' (greedy)' if self.greedy else ''}: {what}{items}{selection}"

    def arena_of(self, split: str) -> Arena:
        """The arena that plays ``split`` (``test`` or ``validation``)."""
        return self.validation if split == "validation" and self.validation is not None else self.arena

    def selection_key(self, metric: str | None) -> str:
        """The validation metric key selection reads (``validation/<metric>``)."""
        if metric is None:
            if not self.metrics:
                raise RecipeError("recipe field 'eval.metric': the evaluation declares no metric, so "
                                  "eval.select = \"validation\" needs one named (e.g. a mean_reward/<reward>/<seat>)")
            metric = self.metrics[0].name
        return f"{KEYS['validation']}{metric}"


def on_split(arena: Arena, split: str) -> Arena | None:
    """``arena`` re-made on ``split`` when it takes a ``split`` argument, else ``None``."""
    kwargs = arena.kwargs
    if "split" not in kwargs:
        return None
    return type(arena)(**{**kwargs, "split": split})


def plan(recipe: Recipe, training: Arena) -> HeldOut:
    """The held-out evaluation of a run (recipe's ``[eval] arena`` first, then the arena's).

    Raises:
        RecipeError: when ``eval.size`` or ``eval.validation_size`` asks for more distinct
            items than the split holds, or selection names no metric.
    """
    source = training
    if recipe.eval.arena is not None:
        source = make_arena(recipe.eval.arena, recipe.eval.kwargs, "eval")
    declared = source.evaluation()
    arena = (declared.arena if declared and declared.arena is not None else source)
    greedy = recipe.eval.greedy if recipe.eval.greedy is not None else (declared.greedy if declared else True)
    metrics = tuple(declared.metrics) if declared else ()
    validation = None
    if recipe.eval.select == "validation":
        validation = on_split(arena, "validation") or arena
    held_out = HeldOut(arena, metrics, greedy, declared.item if declared else None, bool(metrics), validation)
    check_sizes(recipe, held_out)
    if validation is not None:
        held_out.selection_key(recipe.eval.metric)
    return held_out


def check_sizes(recipe: Recipe, held_out: HeldOut) -> None:
    """Refuse an evaluation larger than its split's distinct items (one line, the fix)."""
    wanted = {"test": ("eval.size", recipe.eval.size)}
    if held_out.validation is not None:
        wanted["validation"] = ("eval.validation_size", recipe.eval.validation_size or recipe.eval.size)
    for split, (field, size) in wanted.items():
        available = held_out.arena_of(split).distinct_items()
        if available is not None and size > available:
            raise RecipeError(f"recipe field '{field}': {size} {split} items asked, but {held_out.arena.id} "
                              f"({_about(held_out.arena)}) holds {available} distinct {split} items; lower {field} "
                              f"to at most {available} or widen the difficulty range")


def _about(arena: Arena) -> str:
    kwargs = arena.kwargs
    return ", ".join(f"{k}={kwargs[k]}" for k in ("family", "difficulty") if k in kwargs) or "its items"


def seeds(recipe: Recipe, held_out: HeldOut | None = None, split: str = "test") -> list[int]:
    """Seeds of one split's held-out matches: item indices ``0..n-1`` for an arena that
    plays items, else seeds derived under a per-split label (never a training seed)."""
    size = recipe.eval.size if split == "test" else (recipe.eval.validation_size or recipe.eval.size)
    if held_out is not None and held_out.arena_of(split).distinct_items() is not None:
        return list(range(size))
    label = "eval" if split == "test" else "validation"
    return [derive_seed(recipe.eval.seed, label, i) % (1 << 31) for i in range(size)]


def summarise(held_out: HeldOut, transcripts: Sequence[Transcript], training_items: Iterable[str] = (),
              prefix: str = "eval/") -> dict[str, float]:
    """The metrics of held-out transcripts with intervals and item counts, leaving out
    items seen in training."""
    out: dict[str, float] = {}
    if held_out.item is not None:
        seen = set(training_items)
        overlapping = [t for t in transcripts if held_out.item(t) in seen]
        out[f"{prefix}overlap_with_training"] = float(len(overlapping))
        transcripts = [t for t in transcripts if held_out.item(t) not in seen]
    if held_out.declared:
        out.update(compute_all(held_out.metrics, transcripts, prefix=prefix, intervals=True, item=held_out.item))
        return out
    values: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for transcript in transcripts:
        if transcript.status == "finished":
            key = (held_out.item(transcript) if held_out.item is not None else None) or transcript.match_id
            for r in transcript.rewards:
                values[f"{prefix}mean_reward/{r.reward}/{r.role}"].append((r.value, key))
    for name, scored in values.items():
        numbers = [v for v, _ in scored]
        low, high = mean_interval(numbers)
        out.update({name: sum(numbers) / len(numbers), f"{name}/ci_low": low, f"{name}/ci_high": high,
                    f"{name}/n_items": float(len(numbers)), f"{name}/n_distinct": float(len({k for _, k in scored}))})
    return out
