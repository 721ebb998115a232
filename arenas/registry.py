"""The arena registry: built-in arenas by id and short name, user arenas by path.

``resolve("qa-verify")``, ``resolve("sparring/qa-verify-v1")``, ``resolve("my_file.py:MyArena")``
and ``resolve("my_package.module:MyArena")`` all return an arena class.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from sparring.arenas.arena import Arena, validate_class
from sparring.arenas.errors import ArenaError
from sparring.arenas.transcript import ArenaSpec

_REGISTRY: dict[str, type[Arena]] = {}


def register(cls: type[Arena]) -> type[Arena]:
    """Register an arena class under its id (and short name); usable as a decorator."""
    validate_class(cls)
    for key in filter(None, (cls.id, cls.short_name)):
        existing = _REGISTRY.get(key)
        if existing is not None and existing is not cls:
            raise ArenaError(f"arena name {key!r} is already registered by {existing.__name__}")
        _REGISTRY[key] = cls
    return cls


def registered() -> dict[str, type[Arena]]:
    """Registered arenas by id (short names left out)."""
    return {cls.id: cls for cls in _REGISTRY.values()}


def load_file(path: Path) -> Any:
    """Import the Python file ``path`` once per process (user arenas, rewards, policies)."""
    module_name = f"sparring_user_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ArenaError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]  # a fixed file is imported afresh, not the half-run one
        raise
    return module


def resolve(name: str) -> type[Arena]:
    """Find an arena class by id, short name, ``file.py:Class`` or ``module:Class``."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        target, _, attr = name.rpartition(":")
        if target.endswith(".py"):
            path = Path(target).expanduser()
            if not path.exists():
                raise ArenaError(f"arena file {path} does not exist")
            module = load_file(path)
            source = f"{path.resolve()}:{attr}"
        else:
            try:
                module = importlib.import_module(target)
            except ImportError as exc:
                raise ArenaError(f"cannot import module {target!r} for arena {name!r}: {exc}") from exc
            source = name
        cls = getattr(module, attr, None)
        if not (isinstance(cls, type) and issubclass(cls, Arena)):
            raise ArenaError(f"{name!r}: {attr!r} is not an Arena subclass in {target}")
        validate_class(cls)
        if cls not in _REGISTRY.values():  # built-ins are re-made by id, not by path
            cls._source = source  # type: ignore[attr-defined]
        return cls
    known = sorted({k for k in _REGISTRY})
    raise ArenaError(
        f"unknown arena {name!r}; use a registered name ({', '.join(known)}), "
        "'path/to/file.py:ClassName' or 'package.module:ClassName'"
    )


def make(name: str, **kwargs: Any) -> Arena:
    """Instantiate the arena ``name`` with ``kwargs``."""
    cls = resolve(name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ArenaError(f"bad arguments for arena {cls.id}: {exc}") from exc


def make_from_spec(spec: ArenaSpec) -> Arena:
    """Re-make the arena a transcript was played with (id or recorded source, and kwargs)."""
    if spec.id in _REGISTRY:
        return make(spec.id, **spec.kwargs)
    if spec.source:
        return make(spec.source, **spec.kwargs)
    raise ArenaError(f"arena {spec.id!r} is not registered and its transcript records no source")
