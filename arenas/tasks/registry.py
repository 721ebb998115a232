"""Task families by name: the registry, and families named by a file or a module."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from sparring.arenas.registry import load_file
from sparring.arenas.tasks.builtin import builtin_families
from sparring.arenas.tasks.family import TaskError, TaskFamily
from sparring.arenas.tasks.jsonl import load_jsonl

_FAMILIES: dict[str, TaskFamily] = builtin_families()
_FILE_CACHE: dict[tuple[str, float], TaskFamily] = {}


def register_family(family: TaskFamily, *, replace: bool = False) -> TaskFamily:
    """Make ``family`` available by name to arenas (``family="<name>"``)."""
    if not isinstance(family, TaskFamily):
        raise TaskError(f"register_family takes a TaskFamily, got {type(family).__name__}")
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family and not replace:
        raise TaskError(f"task family {family.name!r} is already registered; pass replace=True to override it")
    _FAMILIES[family.name] = family
    return family


def families() -> dict[str, TaskFamily]:
    """Registered task families by name (the built-ins and any registered since)."""
    return dict(_FAMILIES)


def get_family(name: str) -> TaskFamily:
    """A family by registered name, ``.jsonl`` path, ``file.py:attribute`` or ``module:attribute``."""
    if not isinstance(name, str) or not name:
        raise TaskError(f"a task family is named by a string, got {name!r}")
    if name in _FAMILIES:
        return _FAMILIES[name]
    if name.endswith(".jsonl"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise TaskError(f"task file {name} does not exist (a JSONL file of {{\"prompt\": ..., \"answer\": ...}} lines)")
        key = (str(path.resolve()), path.stat().st_mtime)
        if key not in _FILE_CACHE:
            _FILE_CACHE[key] = load_jsonl(path)
        return _FILE_CACHE[key]
    if ":" in name:
        return _import_family(name)
    raise TaskError(f"unknown task family {name!r}; use one of {', '.join(sorted(_FAMILIES))}, a path to a "
                    ".jsonl file of {\"prompt\", \"answer\"} lines, or 'file.py:name' / 'module:name' of a TaskFamily")


def _import_family(name: str) -> TaskFamily:
    target, _, attr = name.rpartition(":")
    if target.endswith(".py"):
        path = Path(target).expanduser()
        if not path.is_file():
            raise TaskError(f"task family file {path} does not exist")
        module = load_file(path)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise TaskError(f"cannot import module {target!r} for task family {name!r}: {exc}") from exc
    family = getattr(module, attr, None)
    if not isinstance(family, TaskFamily):
        raise TaskError(f"{name!r}: {attr!r} is not a TaskFamily in {target}")
    return family
