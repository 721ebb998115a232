"""One run directory, one set of play settings: refuse to mix two experiments.

Playing again into a directory with the same arena, model, seed, roles and adapters
continues it; anything else is refused with the differences named, before any model loads.
"""

from __future__ import annotations

import tomllib
from typing import Any

import tomli_w

from sparring.runs.storage.rundir import RunDir


def _as_recorded(value: Any) -> Any:
    """``value`` as it reads back from config.toml (no None, tuples as lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items() if x is not None}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v if x is not None]
        return v

    return tomllib.loads(tomli_w.dumps({"v": plain(value)}))["v"]


def _identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """What makes two plays the same experiment (``matches``, batching and such may differ)."""
    play = resolved.get("play", {})
    arena = resolved.get("arena", {})
    return {
        "arena": {"id": arena.get("id"), "kwargs": arena.get("kwargs", {})},
        "model": {"source": play.get("model"), "dtype": play.get("dtype"), "engine": play.get("engine", "hf"),
                  **{k: v for k, v in play.get("server", {}).items() if k in ("base_url", "model")}},
        "seed": play.get("seed"),
        "roles": resolved.get("roles", {}),
        "adapters": {name: a.get("source") for name, a in resolved.get("adapters", {}).items()},
    }


def _differences(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else key
            if key not in old:
                out.append(f"{sub}: not set before, now {new[key]!r}")
            elif key not in new:
                out.append(f"{sub}: recorded {old[key]!r}, now not set")
            else:
                out.extend(_differences(old[key], new[key], sub))
        return out
    return [] if old == new else [f"{path}: recorded {old!r}, now {new!r}"]


def check_same_run(run: RunDir, resolved: dict[str, Any]) -> None:
    """Refuse to play into ``run`` when its config.toml records other settings."""
    if not run.config_path.exists():
        return
    recorded = tomllib.loads(run.config_path.read_text())
    if recorded.get("command") != "play":
        raise FileExistsError(
            f"{run.path} holds a {recorded.get('command', 'different')} run (see its config.toml); "
            "play into another --out directory"
        )
    found = _differences(_identity(recorded), _identity(_as_recorded(resolved)))
    if found:
        raise FileExistsError(
            f"{run.path} was played with other settings ({'; '.join(found[:6])}"
            f"{f'; and {len(found) - 6} more' if len(found) > 6 else ''}); play into a new --out "
            "directory, or repeat the recorded settings (see its config.toml) to finish that run"
        )


