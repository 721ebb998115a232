"""Checks of a recipe against its arena and this machine, before any model loads.

``load_recipe`` checks the recipe on its own (types, ranges, known fields and update
names); :func:`validate` then checks what needs the arena and the machine:

- the arena: its name resolves, its kwargs are arguments of its constructor with values
  of the annotated type (or, unannotated, of the default's type), and it accepts them;
- the seats: every seat named is a seat of the arena, some seat trains, reward names are
  rewards of the arena, and each update gets what it needs from the arena (a reward, or
  ground-truth replies);
- a probe: a few matches played on scripted replies (the arena's well-formed examples,
  so no model) show whether the arena plays at all with these kwargs, whether a seat's
  training reward ever scores that seat, and whether the arena gives that seat
  ground-truth replies. The probe only refuses what it saw for certain (a reward that
  scored other seats but never this one; reference replies for other seats but none for
  this one); an arena without well-formed examples for every seat is not probed;
- the evaluation arena, the same way, and that it seats a trained role;
- the machine (:mod:`sparring.runs.recipes.machine`): the model source is ``default``, ``tiny[:seed]`` or a complete local model
  folder (never a hub id: nothing downloads at run time), adapter target modules exist in
  that model (built on the meta device: no weights are read), CUDA is there when asked
  for, warm-start folders hold an adapter of the recipe's shape, and the run directory
  can be made.

Every failure is a :class:`~sparring.runs.recipes.recipe.RecipeError` whose one-line message names
the field and the value.
"""

from __future__ import annotations

import inspect
import re
import traceback
import types
import typing
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas.arena import Arena
from sparring.arenas.conformance import SeatScripts, well_formed_replies
from sparring.arenas.failures import stage_of, user_frames
from sparring.arenas.registry import make, resolve
from sparring.arenas.runner import Runner, bind_roles
from sparring.runs.recipes.machine import (
    EMBEDDED,
    check_device,
    check_engine,
    check_init_from,
    check_model_source,
    check_run_dir,
    check_target_modules,
    module_names,
)
from sparring.runs.recipes.machine import (
    one_line as _one_line,
)
from sparring.runs.recipes.recipe import Recipe, RecipeError, show_value
from sparring.runs.training import band
from sparring.runs.training.algorithms import check_requirements, get_algorithm, training_reward

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript

PROBE_SEEDS = (0, 1, 2, 3)
"""Seeds of the scripted probe matches (a few milliseconds for the built-in arenas)."""


def validate(recipe: Recipe, out: str | Path | None = None, *, resume: bool = False) -> Arena:
    """Check ``recipe`` against its arena and the machine (and ``out``, the run directory,
    when given); returns the arena it trains in."""
    arena = make_arena(recipe.arena.name, recipe.arena.kwargs, "arena")
    for seat in recipe.roles:
        if seat not in arena.roles:
            raise RecipeError(f"recipe field 'roles.{seat}': {seat!r} is not a seat of {arena.id} "
                              f"(seats: {', '.join(arena.roles)})")
    trained = [seat for seat, spec in recipe.roles.items() if spec.update != "none"]
    if not trained:
        raise RecipeError(f"recipe field 'roles': no seat trains, so there is nothing to do; give a seat of "
                          f"{arena.id} ({', '.join(arena.roles)}) an adapter and an update, e.g. "
                          f"roles.{arena.roles[0]}.adapter = \"{arena.roles[0]}\" and roles.{arena.roles[0]}.update = \"grpo\" "
                          "(to only play matches, use sparring play)")
    rewards: dict[str, str | None] = {}
    for seat, spec in recipe.roles.items():
        try:
            if spec.reward is not None or _needs_reward(spec):
                rewards[seat] = training_reward(arena, seat, spec.reward)
            if spec.update != "none":
                check_requirements(arena, seat, spec)
                band.check(arena, seat, spec, rewards.get(seat))
        except ValueError as exc:
            raise RecipeError(_one_line(exc)) from None
    crashes: list[BaseException] = []
    played = probe(arena, crashes=crashes)
    _check_plays(arena, played, recipe.arena.kwargs, "arena", crashes)
    _check_scoring(recipe, arena, played)
    if played:
        for seat in trained:
            spec = recipe.roles[seat]
            if seat in rewards:
                _check_reward_scores(arena, played, seat, rewards[seat], spec.reward is None)
            if _needs_reference(spec):
                _check_reference(arena, played, seat, spec.update, spec.targets)
    if recipe.eval.arena is not None:
        _check_eval_arena(recipe, trained)
    elif recipe.eval.roles:
        raise RecipeError(f"recipe field 'eval.roles' = {show_value(recipe.eval.roles)} is set but 'eval.arena' "
                          "is not; name the held-out arena (eval.arena = \"...\") or remove it")
    elif recipe.eval.kwargs:
        raise RecipeError(f"recipe field 'eval.kwargs' = {show_value(recipe.eval.kwargs)} is set but 'eval.arena' "
                          "is not; name the held-out arena (eval.arena = \"...\") or remove the kwargs")
    check_model_source(recipe.model.source)
    check_device(recipe.model.device)
    check_engine(recipe.model)
    for name, shape in recipe.adapters.items():
        check_target_modules(recipe.model.source, name, shape)
        if shape.init_from is not None:
            check_init_from(name, shape)
    if out is not None:
        check_run_dir(out, resume=resume)
    return arena


def _needs_reward(spec: Any) -> bool:
    return spec.update != "none" and "reward" in get_algorithm(spec.update).requires and spec.targets != "reference"


def _needs_reference(spec: Any) -> bool:
    return spec.update != "none" and ("reference_reply" in get_algorithm(spec.update).requires
                                      or spec.targets == "reference")


# -- the arena and its kwargs -------------------------------------------------------------

def make_arena(name: str, kwargs: dict[str, Any], section: str) -> Arena:
    """Resolve and construct an arena, every failure a one-line error naming the field
    (``arena.name``/``arena.kwargs`` for ``section="arena"``, ``eval.arena``/``eval.kwargs``
    for ``section="eval"``)."""
    field = f"{section}.name" if section == "arena" else f"{section}.arena"
    try:
        cls = resolve(name)
    except Exception as exc:  # noqa: BLE001 - importing a user's arena file may raise anything
        raise RecipeError(f"recipe field '{field}' = {show_value(name)}: {_one_line(exc)}") from None
    _check_kwargs(cls, kwargs, section)
    try:
        return make(name, **kwargs)
    except Exception as exc:  # noqa: BLE001 - an arena constructor's refusal is a recipe error
        reason = _one_line(exc)
        named = [key for key in kwargs if re.search(rf"\b{re.escape(key)}\b", reason)]
        if len(named) == 1:
            key = named[0]
            raise RecipeError(f"recipe field '{section}.kwargs.{key}' = {show_value(kwargs[key])}: "
                              f"{cls.__name__} refused it: {reason}") from None
        raise RecipeError(f"recipe field '{section}.kwargs' = {show_value(kwargs)}: "
                          f"{cls.__name__} refused them: {type(exc).__name__}: {reason}") from None


def _check_kwargs(cls: type[Arena], kwargs: dict[str, Any], section: str) -> None:
    """Unknown and missing names, and values of the wrong simple type (int, float, str,
    bool, lists, tables): the annotated type, else the type of the default."""
    signature = inspect.signature(cls.__init__)
    params = {n: p for n, p in signature.parameters.items()
              if n != "self" and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}
    open_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    try:
        hints = typing.get_type_hints(inspect.unwrap(cls.__init__))
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to the defaults' types
        hints = {}
    for key, value in kwargs.items():
        if key not in params and not open_kw:
            raise RecipeError(f"recipe field '{section}.kwargs.{key}' = {show_value(value)}: {cls.__name__} has no "
                              f"argument {key!r} (arguments: {', '.join(params) or 'none'})")
        param = params.get(key)
        expected = hints.get(key)
        if expected is None and param is not None and param.annotation is inspect.Parameter.empty:
            expected = _type_of_default(param.default)
        if expected is not None and not _matches(value, expected):
            raise RecipeError(f"recipe field '{section}.kwargs.{key}' = {show_value(value)}: expected "
                              f"{_describe(expected)}, got {_kind(value)}")
    for key, param in params.items():
        if param.default is inspect.Parameter.empty and key not in kwargs:
            raise RecipeError(f"recipe field '{section}.kwargs.{key}' is required by {cls.__name__} "
                              f"(arguments: {', '.join(params)})")


def _type_of_default(default: Any) -> Any:
    """What an unannotated argument takes, read off its default (``None``: anything)."""
    if default is inspect.Parameter.empty or default is None:
        return None
    if isinstance(default, bool):
        return bool
    if isinstance(default, int | float):
        return float  # an int default does not say floats are wrong; a string or true is
    if isinstance(default, str):
        return str
    if isinstance(default, list | tuple):
        kinds = {type(v) for v in default}
        item = _type_of_default(default[0]) if len(kinds) == 1 and default else None
        return Sequence[item] if item is not None else Sequence[Any]  # type: ignore[valid-type]
    if isinstance(default, dict):
        return Mapping[str, Any]
    return None


def _matches(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    if expected is Any or expected is object:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(expected))
    if origin is typing.Literal:
        return value in typing.get_args(expected)
    if expected is type(None) or expected is None:
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, str)
    container = origin if origin is not None else expected
    if isinstance(container, type):
        if issubclass(container, Mapping):
            return isinstance(value, dict)
        if issubclass(container, Sequence) and not issubclass(container, str | bytes):
            args = typing.get_args(expected)
            item = args[0] if len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis) else Any
            return isinstance(value, list | tuple) and all(_matches(v, item) for v in value)
    return True  # anything richer is the arena's own business


_PLURAL = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}
_SINGULAR = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(expected))
    if expected in _SINGULAR:
        return _SINGULAR[expected]
    if expected is type(None):
        return "nothing"
    if origin is typing.Literal:
        return "one of " + ", ".join(show_value(a) for a in typing.get_args(expected))
    container = origin if origin is not None else expected
    if isinstance(container, type) and issubclass(container, Mapping):
        return "a table"
    if isinstance(container, type) and issubclass(container, Sequence):
        args = typing.get_args(expected)
        return f"a list of {_PLURAL.get(args[0], 'values')}" if args else "a list"
    return getattr(expected, "__name__", None) or str(expected).replace("typing.", "")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list" if all(not isinstance(v, dict) for v in value) else "a list of tables"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


# -- the probe: scripted matches, no model -------------------------------------------------

def probe(arena: Arena, seeds: Sequence[int] = PROBE_SEEDS,
          crashes: list[BaseException] | None = None) -> list[Transcript] | None:
    """Matches of ``arena`` played on its well-formed example replies (scripted, no model).

    ``None`` when the arena has no well-formed reply for some seat (or the runner itself
    fails), so that nothing is concluded from matches no model would play. ``crashes``
    receives the first exception of each distinct crash of the probe matches.
    """
    try:
        roles = bind_roles(arena, None)
        replies = well_formed_replies(arena, roles)
        if set(replies) != set(arena.roles):
            return None
        scripts = SeatScripts(replies)
        bound = {seat: role.bind(model=f"probe-{seat}") for seat, role in roles.items()}
        engines = {f"probe-{seat}": ScriptedEngine(scripts.for_seat(seat)) for seat in bound}
        with warnings.catch_warnings():  # throwaway matches: what they warn about is not the user's concern here
            warnings.simplefilter("ignore")
            runner = Runner(engines, bound)
            played = runner.play(arena, list(seeds))
            if crashes is not None:
                crashes.extend(runner.crashes.values())
            return played
    except Exception:  # noqa: BLE001 - a probe that cannot run proves nothing either way
        return None


def _check_plays(arena: Arena, played: list[Transcript] | None, kwargs: dict[str, Any], section: str,
                 crashes: Sequence[BaseException] = ()) -> None:
    """Refuse an arena whose every probe match failed (it would only store errors); a crash in
    the user's code is named with its stage and the user's innermost line."""
    if not played or any(t.status == "finished" for t in played):
        return
    last = [line for line in (played[0].error or "").strip().splitlines() if line.strip()][-1:] or ["unknown error"]
    mine = user_frames(crashes[0]) if crashes else []
    if mine:  # the crash's own message, beside its stage and line (the first match may have crashed otherwise)
        error = traceback.format_exception_only(crashes[0])[-1].strip()
        last = [f"{stage_of(crashes[0])} raised {error} at {mine[-1].filename}:{mine[-1].lineno}"]
    if len(kwargs) == 1:  # one argument given: it is the one to look at
        key, value = next(iter(kwargs.items()))
        where = f"'{section}.kwargs.{key}' = {show_value(value)}"
    elif kwargs:
        where = f"'{section}.kwargs' = {show_value(kwargs)}"
    else:
        where = f"'{section}.{'name' if section == 'arena' else 'arena'}' = {show_value(arena.id)}"
    fix = "fix that line (or the arena's kwargs)" if mine else "check the arena's kwargs"
    raise RecipeError(f"recipe field {where}: every probe match of {arena.id} failed on well-formed scripted "
                      f"replies ({last[0].strip()}); {fix}")


def _check_scoring(recipe: Recipe, arena: Arena, played: list[Transcript] | None) -> None:
    """Refuse an engine without a scoring path for an arena whose probe scored given replies
    (``match.score``): every match would fail on its first score."""
    if recipe.model.engine == "hf" or not played:
        return
    seats = sorted({u.role for t in played for u in t.turns if u.finish_reason == "scored"})
    if seats:
        raise RecipeError(f"recipe field 'model.engine' = {show_value(recipe.model.engine)}: {arena.id} scores given "
                          f"replies for {', '.join(seats)} (match.score: a log-likelihood, no sampling), which only "
                          "the hf engine can; set model.engine = \"hf\"")


def _check_reward_scores(arena: Arena, played: list[Transcript], seat: str, reward: str | None, default: bool) -> None:
    finished = [t for t in played if t.status == "finished"]
    scores = {(r.reward, r.role) for t in finished for r in t.rewards}
    seats = sorted({role for name, role in scores if name == reward})
    if not seats or seat in seats:
        return  # scored this seat, or never fired in the probe: nothing certain
    fits = sorted({name for name, role in scores if role == seat})
    which = f" (the arena's default {show_value(reward)})" if default else f" = {show_value(reward)}"
    raise RecipeError(f"recipe field 'roles.{seat}.reward'{which}: reward {reward!r} of {arena.id} scores "
                      f"{', '.join(seats)}, never {seat}, so {seat} would get no training data; "
                      f"set roles.{seat}.reward to one that scores it: {', '.join(fits) or 'none does'}")


def _check_reference(arena: Arena, played: list[Transcript], seat: str, update: str, targets: str) -> None:
    reference = getattr(arena, "reference_reply", None)
    if not callable(reference):
        return  # check_requirements refused it already
    given: dict[str, bool] = {}
    try:
        for t in played:
            if t.status != "finished":
                continue
            for turn in t.turns:
                given[turn.role] = given.get(turn.role, False) or reference(t, turn) is not None
    except Exception:  # noqa: BLE001 - an arena's reference_reply failing on probe matches proves nothing
        return
    if seat not in given or given[seat] or not any(given.values()):
        return
    field = f"'roles.{seat}.targets' = {show_value(targets)}" if targets == "reference" else \
        f"'roles.{seat}.update' = {show_value(update)}"
    others = ", ".join(sorted(s for s, ok in given.items() if ok))
    raise RecipeError(f"recipe field {field}: needs ground-truth replies for {seat}, but "
                      f"{type(arena).__name__}.reference_reply gives them only for {others}; "
                      f"train {seat} from a reward instead (e.g. update = \"grpo\")")


def _check_eval_arena(recipe: Recipe, trained: list[str]) -> None:
    source = make_arena(recipe.eval.arena or "", recipe.eval.kwargs, "eval")
    declared = source.evaluation()
    held_out = declared.arena if declared is not None and declared.arena is not None else source
    aliases = recipe.eval.roles
    for seat, role in aliases.items():
        if seat not in held_out.roles:
            raise RecipeError(f"recipe field 'eval.roles.{seat}' names no seat of the held-out arena "
                              f"({held_out.id}, seats: {', '.join(held_out.roles)}); use one of those seats")
        if role not in recipe.roles:
            raise RecipeError(f"recipe field 'eval.roles.{seat}' = {show_value(role)} is not a role of this recipe "
                              f"({', '.join(recipe.roles)}); name one of them")
    if not set(trained) & {aliases.get(seat, seat) for seat in held_out.roles}:
        raise RecipeError(f"recipe field 'eval.arena' = {show_value(recipe.eval.arena)}: its held-out matches "
                          f"({held_out.id}, seats: {', '.join(held_out.roles)}) seat none of the trained roles "
                          f"({', '.join(trained)}), so its numbers could not move; evaluate on an arena with one of them, or map a "
                          "held-out seat to a trained role with eval.roles = { <seat> = \"<role>\" }")
    crashes: list[BaseException] = []
    _check_plays(held_out, probe(held_out, crashes=crashes), recipe.eval.kwargs, "eval", crashes)


# -- the machine ----------------------------------------------------------------------------


# the machine checks live in runs/recipes/machine.py; re-exported for callers of this module
__all__ = ["EMBEDDED", "check_device", "check_init_from", "check_model_source", "check_run_dir",
           "check_target_modules", "make_arena", "module_names", "probe", "validate"]
