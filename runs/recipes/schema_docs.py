"""The reference of every recipe and tournament field, generated from the schema itself.

``python -m sparring.runs.recipes.schema_docs > docs/recipes.md`` walks :class:`~sparring.runs.recipes.recipe.Recipe`
and :class:`~sparring.runs.tournaments.tournament_config.TournamentConfig`: every section becomes a
table of its fields with the type, the default and the meaning, read from the docstring
under each field (and a section's own class docstring). Nothing is written by hand, so
a field added to a section is documented by running the command again; a test fails
when the committed file is stale.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sparring.runs.recipes.config import REFERENCE, section_models, show_value

COMMAND = f"python -m sparring.runs.recipes.schema_docs > {REFERENCE}"

_CONSTRAINTS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def _text(doc: str | None) -> str:
    """A docstring as one Markdown table cell: RST literals as code, cross-references as names."""
    if not doc:
        return ""
    text = " ".join(doc.split())
    text = re.sub(r":\w+:`~?([\w.]+)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)
    return text.replace("``", "`").replace("|", "\\|")


def _type(annotation: Any) -> str:
    """An annotation as a reader of TOML sees it: ``int``, ``"a" | "b"``, ``list of str``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type(a) for a in args if a is not type(None))
    if section_models(annotation):  # a section, a table of them by name, an array of them
        return {list: "array of tables", dict: "tables by name"}.get(origin, "table")  # type: ignore[call-overload]
    if origin is list:
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return f"table of {_type(args[1])}" if args else "table"
    if annotation is typing.Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def _constraints(field: FieldInfo) -> str:
    out = []
    for meta in field.metadata:
        for name, sign in _CONSTRAINTS:
            value = getattr(meta, name, None)
            if value is not None:
                out.append(f"{sign} {value}")
    return f" ({', '.join(out)})" if out else ""


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "(table)"
        return f"`{show_value(value)}`" if value not in ({}, []) else "empty"
    if field.default is PydanticUndefined or field.default is None:
        return "not set"
    return f"`{show_value(field.default)}`"


def _sections(schema: type[BaseModel], label: str, out: list[tuple[str, type[BaseModel]]]) -> None:
    """Every section class under ``schema`` with its name in a file, depth first."""
    out.append((label, schema))
    for name, field in schema.model_fields.items():
        for inner in section_models(field.annotation):
            origin = typing.get_origin(field.annotation)
            suffix = ".<name>" if origin is dict else "[]" if origin is list else ""
            _sections(inner, f"{label}.{name}{suffix}" if label else f"{name}{suffix}", out)


def _heading(label: str) -> str:
    if not label:
        return "top level"
    return f"[[{label[:-2]}]]" if label.endswith("[]") else f"[{label}]"


def _table(schema: type[BaseModel], label: str) -> list[str]:
    lines = [f"### `{_heading(label)}`" if label else "### top level", ""]
    doc = _text(schema.__doc__)
    if doc:
        lines += [doc, ""]
    lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in schema.model_fields.items():
        inner = section_models(field.annotation)
        meaning = _text(field.description) or (_text(inner[0].__doc__) if inner else "")
        if inner:
            origin = typing.get_origin(field.annotation)
            suffix = ".<name>" if origin is dict else "[]" if origin is list else ""
            target = _heading(f"{label}.{name}{suffix}" if label else f"{name}{suffix}")
            meaning = f"{meaning} See `{target}`.".strip()
        kind = _type(field.annotation) + _constraints(field)
        lines.append(f"| `{name}` | {kind} | {_default(field)} | {meaning} |")
    return [*lines, ""]


def undocumented(schema: type[BaseModel]) -> list[str]:
    """Fields of ``schema`` (and its sections) without a docstring or a documented section type."""
    found: list[tuple[str, type[BaseModel]]] = []
    _sections(schema, "", found)
    missing = []
    for label, model in found:
        for name, field in model.model_fields.items():
            inner = section_models(field.annotation)
            if not field.description and not (inner and inner[0].__doc__):
                missing.append(f"{label}.{name}" if label else name)
    return missing


def render() -> str:
    """The Markdown of ``docs/recipes.md``: recipes, then tournament files."""
    from sparring.runs.recipes.recipe import Recipe
    from sparring.runs.tournaments.tournament_config import TournamentConfig

    lines = [
        "# Recipe and tournament reference",
        "",
        f"Generated from the schema's own docstrings by `{COMMAND}`; do not edit by hand",
        "(a test fails when this file is stale). Every field is optional unless its default says",
        "*required*; an unknown field, a value of the wrong type (`true` where a number goes) or",
        "one out of range is refused in one line before any model loads. `section.field=VALUE`",
        "overrides on the command line set the same fields (VALUE read as TOML).",
        "",
        "Names in a heading: `<name>` is a key you choose (an adapter, a seat, a player);",
        "`[[schedule]]` is an array of tables (one `[[schedule]]` block per phase).",
        "",
        "## Recipes (`sparring train RECIPE.toml`)",
        "",
        "Examples: `recipes/*.toml`, `examples/debate.toml`.",
        "",
    ]
    for schema, title in ((Recipe, None), (TournamentConfig, "## Tournaments (`sparring tournament CONFIG.toml`)")):
        if title:
            lines += [title, "", "Examples: `examples/debate_tournament.toml`, `examples/tictactoe_tournament.toml`.", ""]
        found: list[tuple[str, type[BaseModel]]] = []
        _sections(schema, "", found)
        for label, model in found:
            lines += _table(model, label)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    """Print the reference (``python -m sparring.runs.recipes.schema_docs > docs/recipes.md``)."""
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
