"""What recipes and tournament files share: the strict section base, dotted ``KEY=VALUE``
overrides, and one-line validation messages that name the field and the fix."""

from __future__ import annotations

import json
import math
import tomllib
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


def show_value(value: Any, limit: int = 100) -> str:
    """``value`` as it would be written in a recipe (TOML: ``true``, ``"text"``, ``[1, 2]``),
    for one-line error messages; longer than ``limit`` characters, its middle is cut (the
    end of a path is what tells it apart)."""

    def toml(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, float) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(toml(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {toml(x)}" for k, x in v.items()) + "}"
        if v is None:
            return "(not set)"
        return str(v)

    text = " ".join(toml(value).split()) if not isinstance(value, str) else toml(value)
    if len(text) <= limit:
        return text
    head = limit // 3
    return text[:head] + "..." + text[len(text) - (limit - head - 3):]


class RecipeError(ValueError):
    """A recipe is invalid; the message names the field and how to fix it."""


class Section(BaseModel):
    """A config section: unknown fields, wrong types, inf and nan are errors."""

    # strict: TOML has real types, so `true` where a number is expected is a mistake;
    # TOML also spells inf and nan, which no setting here means
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.lr=1e-4"`` → ``(["train", "lr"], 1e-4)``; values read as TOML, else strings."""
    if "=" not in item:
        raise RecipeError(f"override {item!r} must look like section.field=value (e.g. train.lr=1e-4)")
    key, _, raw = item.partition("=")
    path = [p.strip() for p in key.strip().split(".")]
    if not key.strip():
        raise RecipeError(f"override {item!r} has an empty field name (e.g. train.lr=1e-4)")
    if not all(path):
        raise RecipeError(f"override {item!r}: field name {key.strip()!r} has an empty part between dots "
                          "(e.g. train.lr=1e-4)")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply dotted overrides to raw recipe data (creating sections as needed)."""
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if isinstance(child, list):
                raise RecipeError(f"override {item!r}: {'.'.join(path[:i + 1])!r} is a list; override it whole, "
                                  f"e.g. {'.'.join(path[:i + 1])}=[{{roles=[\"solver\"]}}]")
            if not isinstance(child, dict):
                raise RecipeError(f"override {item!r}: {'.'.join(path[:i + 1])!r} is a value, not a section")
            node = child
        node[path[-1]] = value
    return data


_UNION_TAGS = ("str", "list[str]", "int", "float", "bool", "none")


def _where(loc: tuple[Any, ...]) -> str:
    """A pydantic location as the recipe spells it: ``schedule[0].roles``, ``adapters.solver.rank``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in _UNION_TAGS:  # which member of ``str | list[str]`` failed is noise
            out += f".{part}" if out else str(part)
    return out


def format_validation_error(exc: ValidationError) -> str:
    """The first error of a validation as one line: where, the value given, what to do."""
    errors = exc.errors()
    err = errors[0]
    where = _where(tuple(err["loc"]))
    msg = " ".join(err["msg"].removeprefix("Value error, ").split())
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = "unknown field; check its spelling against docs (sparring.runs.recipe)"
    elif kind in ("model_type", "dict_type") and where:
        msg = f"is a section, not a value; set its fields ({where}.FIELD = VALUE, or a [{where}] table)"
    elif kind == "missing":
        msg = "is required"
    given = ""
    if "input" in err and kind not in ("extra_forbidden", "missing") and not isinstance(err["input"], dict):
        given = f" = {show_value(err['input'])}"
    # a value failing every member of a union is one mistake, not several
    more = len({_where(tuple(e["loc"])) for e in errors}) - 1
    tail = f" (and {more} more)" if more > 0 else ""
    if not where:  # a check across sections: its message names the field itself
        return f"{msg}{tail}" if msg.startswith("recipe field") else f"recipe: {msg}{tail}"
    return f"recipe field '{where}'{given}: {msg}{tail}"
