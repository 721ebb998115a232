"""Writing a training run's config, checkpointing it, and resuming it exactly.

A mixin of :class:`~sparring.runs.training.train.Trainer`, which supplies the attributes
named below. A checkpoint holds every live adapter's version (saved as ``adapters/<adapter>/v<N>``),
the frozen snapshots in use, each seat's previous iterate, the validation-selected best,
the guard's and the curriculum's state, and each update's optimizer state; it is written
atomically after each iteration, so a kill loses at most the iteration in flight, and a
resume loads it back before the next iteration plays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import tomli_w

from sparring.runs.storage.rundir import RunDir, write_atomic
from sparring.runs.training.checkpoint import (
    adapter_dir,
    load_adapter_weights,
    read_checkpoint,
    save_adapter_version,
    write_checkpoint,
)
from sparring.runs.training.heldout import MODEL

if TYPE_CHECKING:
    from sparring.agents.pool import ModelPool
    from sparring.agents.roles import Role
    from sparring.agents.updates import Update
    from sparring.arenas.arena import Arena
    from sparring.runs.recipes.recipe import Recipe
    from sparring.runs.storage.store import Store


class ResumeMixin:
    """The run's config, checkpoints and resume, for :class:`~sparring.runs.training.train.Trainer`
    (which also supplies ``_bind_roles``, ``_snapshot_in_use`` and the curriculum's state)."""

    recipe: Recipe
    run: RunDir
    store: Store
    pool: ModelPool
    arena: Arena
    loaded: Any
    updates: dict[str, Update]
    previous: dict[str, str]
    roles: dict[str, Role]
    best: dict[str, Any] | None
    guard_state: dict[str, Any]
    start: int
    completed: int
    log: Callable[[str], None]

    def _write_config(self) -> None:
        data = self.recipe.model_dump(mode="json", exclude_none=True)
        write_atomic(self.run.path / "recipe.toml", tomli_w.dumps(data).encode())
        config = {"command": "train", "recipe": data, "arena": self.arena.spec().model_dump(mode="json"),
                  "model": self.loaded.describe()}
        self.run.write_config(config)
        self.store.add_run(self.run.path.name, config)

    def _restore(self) -> None:
        found = read_checkpoint(self.run.path)
        if found is None:
            self.log("no checkpoint yet: starting from iteration 0 (stored matches are reused)")
            self._write_config()
            return
        state, update_states = found
        for adapter, version in state["versions"].items():
            load_adapter_weights(self.pool, MODEL, adapter, adapter_dir(self.run.path, adapter, version))
            self.pool.get(MODEL).adapters[adapter].version = version
        for snap in state.get("snapshots", []):
            source, _, v = snap.partition("@v")
            self.pool.snapshot(MODEL, source, snap)
            load_adapter_weights(self.pool, MODEL, snap, adapter_dir(self.run.path, source, int(v)))
            self.pool.get(MODEL).adapters[snap].version = int(v)  # a copy of the live adapter took its version
        for adapter, update_state in update_states.items():
            self.updates[adapter].load_state_dict(update_state)
        for adapter, snap in state.get("previous", {}).items():
            if adapter in self.previous:
                self.previous[adapter] = snap
        self.roles = self._bind_roles(self.arena)
        for name, info in list(self.pool.get(MODEL).adapters.items()):
            if info.frozen and not self._snapshot_in_use(name) and name not in state.get("snapshots", []):
                self.pool.drop_snapshot(MODEL, name)  # made by an update's constructor, superseded
        self.best = state.get("best")
        self.guard_state = state.get("guard", self.guard_state)
        self.curriculum_restore(state)
        self.start = self.completed = int(state["completed_iterations"])
        self.log(f"resumed {self.run.path} after iteration {self.start} (versions {state['versions']})")

    def _checkpoint(self, completed: int) -> None:
        versions = {a: info.version for a, info in self.pool.get(MODEL).adapters.items() if not info.frozen}
        snapshots = [a for a, info in self.pool.get(MODEL).adapters.items() if info.frozen]
        for adapter in [*versions, *snapshots]:  # a snapshot is saved as its source's version
            save_adapter_version(self.pool, MODEL, adapter, self.run.path)
        state = {"completed_iterations": completed, "versions": versions, "snapshots": snapshots,
                 "previous": dict(self.previous), "best": self.best, "guard": self.guard_state,
                 "recipe": self.recipe.name, "time": time.time(), **self.curriculum_state()}
        write_checkpoint(self.run.path, completed, state, {a: u.state_dict() for a, u in self.updates.items()})
