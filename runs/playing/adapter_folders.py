"""Saved peft adapter folders played by ``sparring play`` and tournaments: read their shape
and origin before any model loads, then load them onto the one base model.

A folder is refused when it holds pickled weights (loading never unpickles) or is not a
LoRA adapter; a loaded adapter records the version its folder names (``v3``), so turns
played with it say which version of the run that trained it they came from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparring.agents.roles import Role
from sparring.runs.training.checkpoint import ADAPTER_WEIGHTS, pickled_adapter

if TYPE_CHECKING:
    from sparring.agents.pool import ModelPool

MODEL = "default"
"""The name ``play`` gives the base model in its pool (re-exported by :mod:`sparring.runs.playing.play`)."""


def read_adapter_folder(name: str, path: str | Path) -> dict[str, Any]:
    """Shape and origin of a saved peft LoRA folder: ``source``, ``rank``, ``alpha``,
    ``target_modules`` and ``version`` (from a ``v<N>`` folder name, else 0)."""
    folder = Path(path).expanduser()
    where = f"--adapter {name}={path}"
    if not folder.exists():
        raise FileNotFoundError(f"{where}: {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{where}: {folder} is a file; point it at a peft adapter folder like RUN/adapters/{name}/v3")
    config_file = folder / "adapter_config.json"
    refused = pickled_adapter(folder)
    if refused is not None:
        raise ValueError(f"{where}: {refused}")
    if not config_file.exists() or not (folder / ADAPTER_WEIGHTS).exists():
        raise FileNotFoundError(
            f"{where}: {folder} holds no saved peft adapter (adapter_config.json and "
            f"adapter_model.safetensors); point it at a folder like RUN/adapters/{name}/v3"
        )
    try:
        config = json.loads(config_file.read_text())
        if config.get("peft_type", "LORA") != "LORA":
            raise ValueError(f"it is a {config['peft_type']} adapter; only LoRA adapters can be played")
        shape = {"rank": int(config["r"]), "alpha": config["lora_alpha"], "target_modules": config["target_modules"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: cannot read {config_file}: {exc}") from None
    version = re.fullmatch(r"v(\d+)", folder.resolve().name)
    return {"source": str(folder.resolve()), **shape, "version": int(version.group(1)) if version else 0}


def add_adapters(pool: ModelPool, roles: dict[str, Role], saved: dict[str, dict[str, Any]], model: str = MODEL) -> None:
    """Create every adapter the roles name: loaded from ``saved`` folders, else fresh."""
    from sparring.runs.training.checkpoint import load_adapter_weights

    for name in sorted({r.adapter for r in roles.values() if r.adapter}):
        if name in pool.adapter_names(model):
            continue
        if name not in saved:
            pool.add_adapter(model, name)
            continue
        info = saved[name]
        try:
            pool.add_adapter(model, name, rank=info["rank"], alpha=info["alpha"], target_modules=info["target_modules"])
            load_adapter_weights(pool, model, name, Path(info["source"]))
        except (ValueError, RuntimeError, KeyError) as exc:
            raise ValueError(
                f"--adapter {name}={info['source']} does not fit model {pool.get(model).source!r}: {exc}"
            ) from None
        # Turns record the version the folder holds (``v3`` of the run that trained it).
        pool.get(model).adapters[name].version = info["version"]


