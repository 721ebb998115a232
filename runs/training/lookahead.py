"""The look-ahead of an algorithm that trains on a future model's replies (Temporal SR's
future-guided chosen): a temporary update, a replay of the iteration's seeds on it, and the
live adapter restored exactly. A mixin of :class:`~sparring.runs.training.train.Trainer`.
"""

from __future__ import annotations

import copy
import random

import torch

from sparring.agents.sampling import derive_seed
from sparring.agents.updates import minibatches
from sparring.arenas.transcript import Transcript
from sparring.runs.training.algorithms import FUTURE_PREFIX
from sparring.runs.training.heldout import MODEL


class LookAheadMixin:
    """:meth:`look_ahead` for :class:`~sparring.runs.training.train.Trainer`."""

    def look_ahead(self, it: int, adapter: str, seats: list[str], algo: str,
                   transcripts: list[Transcript]) -> tuple[list[Transcript], dict[str, float]]:
        """The future model of a look-ahead algorithm (Temporal SR's future-guided chosen).

        From the live adapter and its optimizer state, one update (``train.epochs`` passes
        of ``train.steps_per_epoch`` steps, as the real one) on the look-ahead data, frozen
        as the snapshot ``<adapter>@future`` (its version: the live version plus the
        look-ahead's steps); the live adapter's weights, optimizer state and version are
        then restored exactly, so only the real update that follows moves them. ``seats``
        play this iteration's seeds again on the snapshot, stored as
        ``future-i<it>-s<seed>``, while the adapter's other seats (the judge) play the
        current weights; the snapshot is dropped. Deterministic given the stored matches,
        so a kill during the future play resumes bit-identical. Returns the finished
        future matches (none without look-ahead data) and the look-ahead's metrics.
        """
        data = [d for seat in seats for d in self.build(seat, algo, transcripts, lookahead=True)]
        if not data:
            return [], {}
        loaded = self.pool.get(MODEL)
        update = self.updates[adapter]
        version = self.pool.version(MODEL, adapter)
        weights = [p.detach().clone() for p in update.params]
        state = copy.deepcopy(update.state_dict())
        steps: list[dict[str, float]] = []
        try:
            plan = [minibatches(data, self.recipe.train.steps_per_epoch,
                                random.Random(derive_seed(self.recipe.train.seed, "future", it, epoch, adapter)))
                    for epoch in range(self.recipe.train.epochs)]
            for batch in (b for epoch in plan for b in epoch):
                steps.append(update.step(batch))
            future = self.pool.snapshot(MODEL, adapter, f"{adapter}@future")
        finally:
            with torch.no_grad():
                for param, saved in zip(update.params, weights, strict=True):
                    param.copy_(saved)
            update.load_state_dict(state)
            loaded.adapters[adapter].version = version
            loaded.weights_epoch += 1  # engines re-read the restored weights
        try:
            roles = {seat: role.bind(adapter=future) if seat in seats else role for seat, role in self.roles.items()}
            self._play_all(self.arena, roles, self.seeds_of(it), it, FUTURE_PREFIX,
                           f"iteration {it + 1}: future {adapter} playing", "future")
        finally:
            self.pool.drop_snapshot(MODEL, future)
        played = [t for t in self.store.transcripts(iteration=it, arena=self.arena.id)
                  if t.match_id.startswith(f"{FUTURE_PREFIX}i{it}-") and t.status == "finished"]
        metrics = {f"future/{adapter}/{k}": sum(m[k] for m in steps) / len(steps) for k in ("loss",) if k in steps[-1]}
        metrics.update({f"future/{adapter}/samples": float(len(data)), f"future/{adapter}/steps": float(len(steps)),
                        f"future/{adapter}/matches": float(len(played))})
        return played, metrics

