"""The trainer's held-out evaluation: the seats it binds, the splits it plays, the
validation-selected adapters it keeps, and the test figures it still owes at the end.

A mixin of :class:`~sparring.runs.training.train.Trainer` (which supplies the pool, store, recipe,
evaluation plan and ``_play_all``); see docs/architecture.md, "How learning is measured".
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sparring.arenas.arena import Arena
from sparring.arenas.runner import bind_roles
from sparring.runs import faults
from sparring.runs.training import evaluate
from sparring.runs.training.checkpoint import adapter_dir, load_adapter_weights, save_best

if TYPE_CHECKING:
    from sparring.agents.roles import Role

MODEL = "default"
"""The name of the trainer's one base model in its pool."""


class HeldOutMixin:
    """Evaluation, selection on validation and early stopping of a training run."""

    best: dict[str, Any] | None

    def _bind_eval_roles(self, arena: Arena) -> dict[str, Role]:
        """Seats of a held-out arena: the adapter of the recipe role that plays each seat
        (``eval.roles`` maps seat to role), sampling from ``[eval]`` over the evaluation
        arena's own role defaults, never the training role's (one protocol for every arm)."""
        section = self.recipe.eval
        temperature = section.temperature if section.temperature is not None else \
            0.0 if self.held_out.greedy else None
        sampling = {k: v for k, v in (("max_new_tokens", section.max_new_tokens), ("temperature", temperature),
                                      ("stop", tuple(section.stop) if section.stop is not None else None))
                    if v is not None}
        roles = bind_roles(arena, None)
        for seat in roles:
            spec = self.recipe.roles.get(section.roles.get(seat, seat))
            role = roles[seat].bind(model=MODEL, **sampling)
            if spec is not None:
                role = role.bind(adapter=self.previous[spec.previous_of] if spec.previous_of is not None else spec.adapter)
            if section.system_prompt is not None:
                role = dataclasses.replace(role, system_prompt=section.system_prompt)
            roles[seat] = role
        return roles

    def eval_splits(self, label: int, final: bool = False) -> tuple[str, ...]:
        """The splits evaluated at ``label``: validation whenever selecting; test at every
        evaluation, or with ``eval.test = "end"`` only before training and at the end."""
        splits = ("validation",) if self.held_out.validation is not None else ()
        if self.recipe.eval.test == "every" or final or label == 0:
            splits += ("test",)
        return splits

    def evaluate(self, label: int, splits: tuple[str, ...] | None = None) -> dict[str, float]:
        """Held-out metrics with the current adapters: the test split (``eval/...``, matches
        ``eval-i<label>-s<seed>``) and, when selecting, validation (``validation/...``,
        matches ``eval-val-i<label>-s<seed>``); ``splits`` default to :meth:`eval_splits`."""
        held_out = self.held_out
        out: dict[str, float] = {}
        for split in splits if splits is not None else self.eval_splits(label, final=True):
            arena = held_out.arena_of(split)
            prefix = evaluate.PREFIXES[split]
            self._play_all(arena, self._bind_eval_roles(arena), evaluate.seeds(self.recipe, held_out, split), label,
                           prefix, f"held-out evaluation ({split})", "eval")
            transcripts = [t for t in self.store.transcripts(iteration=label, arena=arena.id)
                           if t.match_id.startswith(f"{prefix}i")]
            out.update(evaluate.summarise(held_out, transcripts, self._training_items(label), evaluate.KEYS[split]))
        return out

    def select(self, label: int, metrics: dict[str, float]) -> dict[str, float]:
        """Keep the best adapters on validation (``adapters/<adapter>/best``) and report the
        selected iteration's test figures as ``select/...``; reads only validation."""
        if self.held_out.validation is None:
            return {}
        key = self.held_out.selection_key(self.recipe.eval.metric)
        value = metrics.get(key)
        best = self.best
        better = value is not None and (best is None or (value > best["value"] if self.recipe.eval.mode == "max"
                                                          else value < best["value"]))
        if better:
            test = {k: v for k, v in metrics.items() if k.startswith(evaluate.KEYS["test"])}
            self.best = best = {"iteration": label, "value": value, "test": test, "stale": 0,
                                "versions": self._trained_versions()}
            for adapter, version in best["versions"].items():
                save_best(self.pool, MODEL, adapter, self.run.path,
                          {"iteration": label, "version": version, "metric": key, "value": value})
                faults.point("select")
        elif best is not None and value is not None:
            best["stale"] += 1
        if best is None:
            return {}
        return {"select/iteration": float(best["iteration"]), "select/validation": best["value"],
                "select/evaluations_since_best": float(best["stale"]),
                **{f"select/{k}": v for k, v in best["test"].items()}}

    def finish(self, completed: int) -> dict[str, float]:
        """After the last iteration: the test figures still missing (the final adapters with
        ``eval.test = "end"`` after an early stop; the validation-selected adapters, loaded
        from ``adapters/<adapter>/best``, when their iteration had no test evaluation),
        stored with iteration ``completed - 1`` and checkpointed. Reads no test figure to
        decide anything."""
        out: dict[str, float] = {}
        have = {name for i, name, _ in self.store.metrics() if i == completed - 1}
        if completed > 0 and self.recipe.eval.every and not any(k.startswith(evaluate.KEYS["test"]) for k in have):
            out.update(self.evaluate(completed, ("test",)))
        best = self.best
        if best is not None and not best["test"]:
            if best["iteration"] == completed and out:
                best["test"] = {k: v for k, v in out.items() if k.startswith(evaluate.KEYS["test"])}
            else:
                with self._weights(best["versions"], best=True):
                    best["test"] = self.evaluate(best["iteration"], ("test",))
            out.update(self.select(best["iteration"], {}))
        if out:
            self.store.add_metrics(completed - 1, out)
            self._checkpoint(completed)
        return out

    @contextlib.contextmanager
    def _weights(self, versions: dict[str, int], best: bool = False) -> Iterator[None]:
        """The trained adapters at ``versions`` (from ``best`` or the version folders) for the
        duration, then the live weights and versions again."""
        live = self._trained_versions()
        try:
            for adapter, version in versions.items():
                folder = adapter_dir(self.run.path, adapter, version).with_name("best") if best else \
                    adapter_dir(self.run.path, adapter, version)
                load_adapter_weights(self.pool, MODEL, adapter, folder)
                self.pool.get(MODEL).adapters[adapter].version = version
            yield
        finally:
            for adapter, version in live.items():
                load_adapter_weights(self.pool, MODEL, adapter, adapter_dir(self.run.path, adapter, version))
                self.pool.get(MODEL).adapters[adapter].version = version

    def should_stop(self) -> bool:
        """Early stopping: ``eval.patience`` evaluations in a row without a new best on validation."""
        patience = self.recipe.eval.patience
        return bool(patience and self.best is not None and self.best["stale"] >= patience)

    def _trained_versions(self) -> dict[str, int]:
        trained = {r.adapter for r in self.recipe.roles.values() if r.update != "none" and r.adapter}
        return {a: self.pool.version(MODEL, a) for a in sorted(trained)}

    def _training_items(self, label: int) -> set[str]:
        """Held-out item keys of every training match before iteration ``label``; each
        iteration's matches are read from the store once, not at every evaluation."""
        key = self.held_out.item
        if key is None:
            return set()
        for iteration in range(self._items_read, label):
            for t in self.play_transcripts(iteration):
                item = key(t)
                if item is not None:
                    self._items.add(item)
        self._items_read = max(self._items_read, label)
        return self._items

