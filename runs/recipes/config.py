"""What recipes and tournament files share: the strict section base, dotted ``KEY=VALUE``
overrides, and one-line validation messages that name the field and the fix."""

from __future__ import annotations

import difflib
import json
import math
import tomllib
import typing
from collections.abc import Sequence
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
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, use_attribute_docstrings=True)


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
REFERENCE = "docs/recipes.md"
"""The generated reference of every recipe and tournament field (``python -m sparring.runs.recipes.schema_docs``)."""


def _where(loc: tuple[Any, ...]) -> str:
    """A pydantic location as the recipe spells it: ``schedule[0].roles``, ``adapters.solver.rank``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in _UNION_TAGS:  # which member of ``str | list[str]`` failed is noise
            out += f".{part}" if out else str(part)
    return out


def section_models(annotation: Any) -> list[type[BaseModel]]:
    """The section classes an annotation holds (``X``, ``X | None``, ``dict[str, X]``, ``list[X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in section_models(arg)]


def section_at(schema: type[BaseModel], path: Sequence[Any]) -> tuple[type[BaseModel], str] | None:
    """The section class at ``path`` (field names, dict keys, list indexes) of ``schema`` and its
    name as ``docs/recipes.md`` heads it (``train``, ``roles.<name>``, ``schedule[]``); ``None``
    when the path leaves the schema (a key of a free-form table such as ``arena.kwargs``)."""
    model, label, i = schema, "", 0
    parts = [p for p in path if p not in _UNION_TAGS]
    while i < len(parts):
        field = model.model_fields.get(parts[i]) if isinstance(parts[i], str) else None
        if field is None:
            return None
        label = f"{label}.{parts[i]}" if label else parts[i]
        i += 1
        origin = typing.get_origin(field.annotation)
        if origin is dict:
            if i < len(parts):
                i += 1
            label += ".<name>"
        elif origin is list:
            if i < len(parts) and isinstance(parts[i], int):
                i += 1
            label += "[]"
        inner = section_models(field.annotation)
        if not inner:
            return None
        model = inner[0]
    return model, label


def _unknown_field(schema: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    found = section_at(schema, loc[:-1]) if schema is not None else None
    if found is None:
        return f"unknown field; every field is listed in {REFERENCE}"
    model, label = found
    names = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    table = f"[[{label[:-2]}]]" if label.endswith("[]") else f"[{label}]" if label else "the top level"
    return f"unknown field; {hint}{table} takes {', '.join(names)} ({REFERENCE})"


def format_validation_error(exc: ValidationError, schema: type[BaseModel] | None = None) -> str:
    """Every problem of a validation, one line each: where, the value given, what to do.

    Args:
        exc: The error of validating a config against ``schema``.
        schema: The validated class (``Recipe``, ``TournamentConfig``): an unknown field is then
            answered with its section's fields and the closest name.
    """
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        where = _where(tuple(err["loc"]))
        if where in seen:  # a value failing every member of a union is one mistake, not several
            continue
        seen.add(where)
        lines.append(_one(err, where, schema))
    return "\n".join(lines)


def _one(err: Any, where: str, schema: type[BaseModel] | None) -> str:
    msg = " ".join(err["msg"].removeprefix("Value error, ").split())
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = _unknown_field(schema, tuple(err["loc"]))
    elif kind in ("model_type", "dict_type") and where:
        msg = f"is a section, not a value; set its fields ({where}.FIELD = VALUE, or a [{where}] table)"
    elif kind == "missing":
        msg = f"is required ({REFERENCE})"
    elif not kind.startswith("value_error") and not kind.startswith("assertion_error"):
        msg = f"{msg} ({REFERENCE})"  # a type or range pydantic checked: the reference says what goes there
    given = ""
    if "input" in err and kind not in ("extra_forbidden", "missing") and not isinstance(err["input"], dict):
        given = f" = {show_value(err['input'])}"
    if not where:  # a check across sections: its message names the field itself
        return msg if msg.startswith("recipe field") else f"recipe: {msg}"
    return f"recipe field '{where}'{given}: {msg}"
