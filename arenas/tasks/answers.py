"""Reading answers from replies and comparing them with the truth, by answer kind.

A family's ``kind`` picks how its replies are read: ``number`` (the number on the
``Answer:`` line), ``list`` (the numbers on it, in order) or ``text`` (the line,
normalised). Integers compare exactly, other numbers within 1e-6 absolute or 1e-9
relative, lists element-wise, text after :func:`normalise`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from sparring.agents import parsers
from sparring.agents.parsers import ParseError


def normalise(text: str) -> str:
    """A prompt's identity: lowercase, single spaces, no trailing punctuation or quotes."""
    return " ".join(str(text).lower().split()).strip(" .?!'\"")


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _answer_line(text: str) -> str:
    """The value of the last ``Answer:`` line, else the last non-empty line."""
    try:
        return parsers.field_value("Answer")(text)
    except ParseError:
        lines = [line.strip() for line in text[: parsers.MAX_PARSE_CHARS].splitlines() if line.strip()]
        if not lines:
            raise ParseError("expected a line 'Answer: <answer>'") from None
        return lines[-1]


def canonical_number(value: int | float | Fraction) -> int | float:
    """Integers stay integers (``2.0`` -> ``2``); other values are rounded to 6 decimals."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return int(value)
        value = float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParseError(f"not a finite number: {value}")
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
        return round(value, 6)
    return int(value)


def parse_number(text: str) -> int | float:
    """The number on the ``Answer:`` line (else the last number of the reply)."""
    return canonical_number(parsers.answer_number(text))


def parse_list(text: str) -> list[int | float]:
    """The numbers on the ``Answer:`` line (else on the last line), in order."""
    found = _NUMBER.findall(_answer_line(text).replace(",", " , "))
    if not found:
        raise ParseError("expected a line 'Answer: <numbers separated by commas>'")
    if len(found) > 100:
        raise ParseError(f"expected a short list, got {len(found)} numbers")
    return [canonical_number(float(x)) for x in found]


def parse_text(text: str) -> str:
    """The ``Answer:`` line (else the last line), normalised (lowercase, single spaces)."""
    value = normalise(_answer_line(text))
    if not value:
        raise ParseError("expected a non-empty answer")
    return value[:200]


PARSERS: dict[str, Callable[[str], Any]] = {
    "number": parsers.with_examples(parse_number, "12 + 30 = 42.\nAnswer: 42", "Answer: 41"),
    "list": parsers.with_examples(parse_list, "Answer: 1, 2, 3", "Answer: 3, 2, 1"),
    "text": parsers.with_examples(parse_text, "Answer: Paris", "Answer: blue"),
}


def same_number(answer: Any, truth: Any) -> bool:
    """Integers equal exactly; other numbers within 1e-6 (absolute) or 1e-9 (relative)."""
    if isinstance(answer, bool) or isinstance(truth, bool):
        return False
    if isinstance(answer, int) and isinstance(truth, int):
        return answer == truth
    try:
        return math.isclose(float(answer), float(truth), rel_tol=1e-9, abs_tol=1e-6)
    except (TypeError, ValueError, OverflowError):
        return False


def check_by_kind(kind: str) -> Callable[[Any, Any], bool]:
    """The default checker of an answer kind."""
    if kind == "number":
        return same_number
    if kind == "list":
        return lambda answer, truth: (isinstance(answer, list) and isinstance(truth, list)
                                      and len(answer) == len(truth)
                                      and all(same_number(a, b) for a, b in zip(answer, truth, strict=True)))
    return lambda answer, truth: normalise(str(answer)) == normalise(str(truth))


def format_answer(answer: Any) -> str:
    """An answer as written on a reference reply's ``Answer:`` line."""
    if isinstance(answer, list):
        return ", ".join(str(a) for a in answer)
    return str(answer)
