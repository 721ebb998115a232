"""Reply parsers: turn a role's raw text into a value or raise :class:`ParseError`.

Parsers are plain functions ``str -> value``. A malformed reply is data, not a crash:
the match records the error message, and the arena decides what to do with it.

Each parser here carries ``examples``: a few replies it accepts. ``check_arena`` uses
them (when an arena declares no ``examples`` of its own) to drive the arena with
well-formed replies, so the success paths of its rewards run too. A parser of your own
can carry them the same way (``my_parser.examples = ("Move: e4",)``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
# Bound parser work on hostile replies (e.g. 100k characters of digits).
MAX_PARSE_CHARS = 20_000


class ParseError(ValueError):
    """A reply did not have the form its role asked for; the message says what was expected."""


def with_examples(parser: Callable[[str], Any], *examples: str) -> Callable[[str], Any]:
    """Attach replies ``parser`` accepts as ``parser.examples`` (read by the conformance check)."""
    parser.examples = examples  # type: ignore[attr-defined]
    return parser


def _clip(text: str) -> str:
    return text[:MAX_PARSE_CHARS]


def _to_number(token: str) -> int | float:
    token = token.replace(",", "")
    value = float(token)
    return int(value) if value.is_integer() and "." not in token else value


def last_number(text: str) -> int | float:
    """The last number in the reply (``"so it is 1,234."`` → ``1234``)."""
    found = _NUMBER.findall(_clip(text))
    if not found:
        raise ParseError("expected a number in the reply, found none")
    try:
        return _to_number(found[-1])
    except ValueError as exc:
        raise ParseError(f"could not read {found[-1]!r} as a number") from exc


with_examples(last_number, "42", "The result is -7.")


def field_value(name: str) -> Callable[[str], str]:
    """Parser for a ``Name: value`` line; returns the value of the last such line."""
    # Leading blanks exclude newlines: ``^\s*`` would let every line start of a reply of
    # blank lines scan all the lines after it (quadratic on hostile replies).
    pattern = re.compile(rf"^[^\S\n]*\**{re.escape(name)}\**\s*[:：]\s*(.+?)\s*$", re.I | re.M)

    def parse(text: str) -> str:
        found = pattern.findall(_clip(text))
        if not found:
            raise ParseError(f"expected a line starting with '{name}:'")
        return found[-1]

    parse.__name__ = f"field_value_{name.lower()}"
    return with_examples(parse, f"{name}: 42")


def answer_number(text: str) -> int | float:
    """The number on an ``Answer:`` line, else the last number in the reply."""
    try:
        return last_number(field_value("Answer")(text))
    except ParseError:
        return last_number(text)


with_examples(answer_number, "12 + 30 = 42.\nAnswer: 42", "Answer: 41")

_YES = {"correct", "yes", "true", "right", "valid", "accept"}
_NO = {"incorrect", "no", "false", "wrong", "invalid", "reject"}


def verdict(text: str) -> bool:
    """A yes/no verdict: ``Verdict: correct`` → ``True``; the first verdict word found wins."""
    clipped = _clip(text)
    try:
        clipped = field_value("Verdict")(clipped)
    except ParseError:
        pass
    for word in re.findall(r"[a-z]+", clipped.lower()):
        if word in _NO:
            return False
        if word in _YES:
            return True
    raise ParseError("expected a verdict: 'correct' or 'incorrect'")


with_examples(verdict, "Verdict: correct", "Verdict: incorrect")


def score(low: float, high: float) -> Callable[[str], float]:
    """Parser for ``Score: x`` with ``low <= x <= high``."""

    def parse(text: str) -> float:
        try:
            value = float(last_number(field_value("Score")(text)))
        except ParseError:
            value = float(last_number(text))
        if not low <= value <= high:
            raise ParseError(f"score {value} is outside [{low}, {high}]")
        return value

    parse.__name__ = f"score_{low:g}_{high:g}"
    return with_examples(parse, f"Score: {low:g}", f"Score: {(low + high) / 2:g}", f"Score: {high:g}")


def choice(*options: str) -> Callable[[str], str]:
    """Parser for one of a few labels (case-insensitive), e.g. a judge's ``A`` or ``B``."""
    lowered = {o.lower(): o for o in options}

    def parse(text: str) -> str:
        clipped = _clip(text)
        for line in (field_value("Winner"), field_value("Choice")):
            try:
                clipped = line(clipped)
                break
            except ParseError:
                continue
        for word in re.findall(r"[A-Za-z0-9]+", clipped):
            if word.lower() in lowered:
                return lowered[word.lower()]
        raise ParseError(f"expected one of {', '.join(options)}")

    parse.__name__ = "choice_" + "_".join(options)
    return with_examples(parse, *(f"Winner: {o}" for o in options))


def json_object(text: str) -> dict[str, Any]:
    """The first JSON object in the reply."""
    clipped = _clip(text)
    start = clipped.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(clipped[start:])
        except (json.JSONDecodeError, RecursionError):  # deep nesting raises RecursionError
            start = clipped.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = clipped.find("{", start + 1)
    raise ParseError("expected a JSON object")


with_examples(json_object, '{"answer": 42}')


def text(reply: str) -> str:
    """Any non-empty reply, stripped."""
    stripped = reply.strip()
    if not stripped:
        raise ParseError("expected a non-empty reply")
    return stripped


with_examples(text, "A short, well-formed reply.")
