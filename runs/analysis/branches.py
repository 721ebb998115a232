"""Models, adapters and engines for branches of a stored run (``sparring whatif``).

A branch plays on from its branch turn with the seats the run recorded, except the swapped
ones, so every adapter version a branch needs is loaded from the run: a seat that played
``judge`` at version 3 plays ``RUN/adapters/judge/v3`` again; a swap to ``judge@v0`` loads
``RUN/adapters/judge/v0`` as the frozen snapshot ``judge@v0``. Version 0 of an adapter that
was created fresh (``sparring train`` saves versions from 1; ``sparring play`` creates
unnamed adapters on the spot) is peft's initial LoRA, whose B matrices are zero: it plays
exactly as the base weights, so it is re-made, not read.

Recorded adapters are installed under their own names (the transcript records ``judge`` and
its version, as the original did); a group of branches whose seats need another version of
the same adapter reloads it first.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from sparring.agents.pool import ModelPool
from sparring.runs.playing.play import MODEL, read_adapter_folder
from sparring.runs.recipes.recipe import ModelSection
from sparring.runs.training.checkpoint import adapter_dir, load_adapter_weights

SNAPSHOT = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)@v(?P<version>\d+)$")
SCRATCH = "whatif-scratch"
"""The live adapter a snapshot's weights are loaded into before it is frozen."""


def run_config(run: Path) -> dict[str, Any]:
    """``RUN/config.toml`` (what ``play`` or ``train`` recorded), or a one-line error."""
    path = run / "config.toml"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: whatif re-loads the model the run recorded there; "
                                "branch a run made by sparring play or sparring train")
    return tomllib.loads(path.read_text())


def model_section(config: dict[str, Any]) -> ModelSection:
    """The run's model settings (a train recipe's ``[model]``, or ``play``'s flags)."""
    if config.get("command") not in ("play", "train"):
        raise ValueError(f"whatif branches matches of runs made by sparring play or sparring train; this run's "
                         f"config.toml records command {config.get('command')!r}")
    if config.get("command") == "train":
        return ModelSection.model_validate(config.get("recipe", {}).get("model", {}))
    play = config.get("play", {})
    return ModelSection.model_validate(
        {k: play[k] for k in ("dtype", "device", "batch_size", "engine", "server") if k in play}
        | {"source": play.get("model", "default")}, strict=False)


class BranchModels:
    """A pool holding the run's base model (and any swapped-in one) and the adapter versions branches use.

    Args:
        run: The run directory (adapter folders are read under ``run/adapters``).
        config: Its ``config.toml``.
    """

    def __init__(self, run: Path, config: dict[str, Any]) -> None:
        self.run = run
        self.config = config
        self.section = model_section(config)
        if self.section.engine == "openai":
            raise ValueError(f"{run} was played on engine \"openai\" (a remote model): whatif plays branches on "
                             "local weights; branch a run played on hf or vllm")
        self.pool = ModelPool(device=self.section.device, dtype=self.section.dtype)
        self.engines: dict[str, Any] = {}
        self._installed: dict[tuple[str, str], tuple[str | None, int]] = {}

    def engine(self, model: str) -> Any:
        """The engine of base model ``model``: ``default`` is the run's, any other name a source to load."""
        if model not in self.engines:
            from sparring.agents.engines import make_engine
            from sparring.runs.recipes.machine import make_run_engine

            if model == MODEL:
                self.engines[model] = make_run_engine(self.section, self.pool.load(MODEL, self.section.source))
            else:  # a swapped-in base model plays on the hf engine
                self.engines[model] = make_engine("hf", self.pool.load(model, model),
                                                  max_batch_size=self.section.batch_size)
        return self.engines[model]

    def folder(self, adapter: str, version: int) -> Path | None:
        """The saved folder of ``adapter`` at ``version``; ``None`` for a fresh version 0."""
        found = SNAPSHOT.match(adapter)
        if found:
            return self.folder(found["name"], int(found["version"]))
        saved = adapter_dir(self.run, adapter, version)
        if saved.exists():
            return saved
        loaded = self.config.get("adapters", {}).get(adapter, {})
        if loaded.get("source") and int(loaded.get("version", 0)) == version:  # play --adapter NAME=PATH
            return Path(loaded["source"])
        if version == 0:
            return None
        raise FileNotFoundError(f"{saved} is missing: adapter {adapter!r} version {version} was not saved with the "
                                f"run; swap to a saved version (see {self.run / 'adapters' / adapter})")

    def install(self, model: str, name: str, version: int) -> None:
        """Make adapter ``name`` (or snapshot ``name@vK``) of ``model`` hold ``version``'s weights."""
        self.engine(model)
        folder = self.folder(name, version)
        key = (str(folder) if folder else None, version)
        if self._installed.get((model, name)) == key:
            return
        loaded = self.pool.get(model)
        if SNAPSHOT.match(name):
            if name in loaded.adapters:
                self.pool.drop_snapshot(model, name)
            self._load(model, SCRATCH, folder, version)
            self.pool.snapshot(model, SCRATCH, name)
        else:
            self._load(model, name, folder, version)
        self._installed[(model, name)] = key

    def _load(self, model: str, name: str, folder: Path | None, version: int) -> None:
        loaded = self.pool.get(model)
        shape = read_adapter_folder(name, folder) if folder else {}
        if name in loaded.adapters and shape and loaded.adapters[name].rank != shape["rank"]:
            raise ValueError(f"{folder}: rank {shape['rank']} differs from the rank {loaded.adapters[name].rank} "
                             f"of adapter {name!r} loaded from another version; branch one version at a time")
        if name not in loaded.adapters:
            self.pool.add_adapter(model, name, **{k: shape[k] for k in ("rank", "alpha", "target_modules")
                                                   if k in shape})
        if folder is not None:
            load_adapter_weights(self.pool, model, name, folder)
        else:
            _zero_b(self.pool, model, name)
        loaded.adapters[name].version = version

    def version_of(self, role: Any) -> int | None:
        """The version a role plays with (recorded in its turns)."""
        return None if role.adapter is None else self.pool.version(role.model, role.adapter)

    def close(self) -> None:
        """Stop any engine that holds a process (a vLLM server)."""
        for engine in self.engines.values():
            getattr(engine, "close", lambda: None)()


def _zero_b(pool: ModelPool, model: str, name: str) -> None:
    """Peft's initial LoRA (B = 0): version 0 of an adapter created fresh, equal to the base."""
    import torch

    loaded = pool.get(model)
    with torch.no_grad():
        for module in loaded.base.modules():
            table = getattr(module, "lora_B", None)
            if table is not None and name in table:
                table[name].weight.zero_()
    loaded.weights_epoch += 1
