"""Answer equivalence and majority vote: when two answers say the same thing.

Equivalence (:func:`equivalent`): exact text after normalisation, then numbers (with
thousands separators, fractions, within a relative/absolute tolerance), then math
expressions through ``sympy`` (``2*x + x`` equals ``3x``; ``1/2`` equals ``0.5``). Model
text is never handed to ``eval``: an expression is accepted only when every character
is from a small math alphabet and every name is a single letter or a whitelisted
function, and exponents are bounded, before ``sympy`` parses it.

:func:`majority_vote` is the library's one majority vote (self-consistency, debate
consensus), by default under :func:`equivalent`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d])")
_PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_FRACTION = re.compile(r"^([-+]?\d+)\s*/\s*(\d+)$")
_MATH_CHARS = re.compile(r"^[0-9A-Za-z+\-*/^().,\s]+$")
_NAMES = re.compile(r"[A-Za-z]+")
_FUNCTIONS = frozenset({"sqrt", "sin", "cos", "tan", "log", "ln", "exp", "pi", "abs"})
_POWER = re.compile(r"(\*\*|\^)\s*\(?\s*(\d+)")
MAX_EXPONENT = 64
"""Largest literal exponent an expression may contain (bounds sympy's work on model text)."""
MAX_EXPRESSION = 200
"""Longest expression (characters) handed to sympy."""


def normalise_answer(text: Any) -> str:
    """Lowercase, single spaces, no surrounding punctuation, ``$``, or thousands separators."""
    value = " ".join(str(text).lower().split()).strip(" .!?'\"$")
    return _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), value)


def as_number(text: Any) -> Fraction | float | None:
    """``text`` as a number (``"1,000"``, ``"-3.5"``, ``"3/4"``, ``"1e3"``), else ``None``."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return Fraction(text)
    if isinstance(text, float):
        return text if math.isfinite(text) else None
    value = normalise_answer(text)
    if _PLAIN_NUMBER.match(value) and len(value) <= 40:
        number = float(value)
        if not math.isfinite(number):
            return None
        return Fraction(value) if "e" not in value else number
    found = _FRACTION.match(value)
    if found and int(found.group(2)) != 0 and len(value) <= 40:
        return Fraction(int(found.group(1)), int(found.group(2)))
    return None


def numeric_equal(a: Any, b: Any, rel_tol: float = 1e-9, abs_tol: float = 1e-6) -> bool:
    """Whether ``a`` and ``b`` read as numbers are equal (exactly, or within the tolerances)."""
    x, y = as_number(a), as_number(b)
    if x is None or y is None:
        return False
    if isinstance(x, Fraction) and isinstance(y, Fraction):
        return x == y or math.isclose(float(x), float(y), rel_tol=rel_tol, abs_tol=abs_tol)
    return math.isclose(float(x), float(y), rel_tol=rel_tol, abs_tol=abs_tol)


def _safe_expression(text: str) -> str | None:
    """``text`` rewritten for sympy when it is a small math expression, else ``None``."""
    value = normalise_answer(text)
    if not value or len(value) > MAX_EXPRESSION or not _MATH_CHARS.match(value) or "," in value:
        return None
    for name in _NAMES.findall(value):
        if len(name) > 1 and name not in _FUNCTIONS:
            return None
    if any(int(m.group(2)) > MAX_EXPONENT for m in _POWER.finditer(value)):
        return None
    return value.replace("^", "**").replace("ln", "log")


def _sympify(text: str) -> Any:
    # imported here: sympy takes about a second to import and most callers never need it
    import sympy
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    transformations = (*standard_transformations, implicit_multiplication_application, convert_xor)
    tree = parse_expr(text, transformations=transformations, evaluate=False)
    for power in tree.atoms(sympy.Pow):
        # 9^9^9 would hang sympy: exponents must be small numbers or contain no power
        exponent = power.exp
        if exponent.atoms(sympy.Pow) or (exponent.is_number and abs(exponent) > MAX_EXPONENT):
            raise ValueError(f"exponent {exponent} is too large")
    return sympy.sympify(tree)


def math_equal(a: Any, b: Any) -> bool:
    """Whether two math expressions are equal (``sympy.simplify(a - b) == 0``); ``False``
    when either is not a small, safe expression or sympy cannot decide."""
    x, y = _safe_expression(str(a)), _safe_expression(str(b))
    if x is None or y is None:
        return False
    try:
        import sympy

        difference = sympy.simplify(_sympify(x) - _sympify(y))
        return bool(difference == 0)
    except Exception:  # noqa: BLE001 - sympy raises many types on odd input; unequal then
        return False


def equivalent(answer: Any, truth: Any, rel_tol: float = 1e-9, abs_tol: float = 1e-6) -> bool:
    """Exact (normalised text), numeric, then math-expression equivalence (``sympy``).

    >>> equivalent("1,000", 1000), equivalent("3/4", "0.75"), equivalent("2x + x", "3*x")
    (True, True, True)
    """
    if answer is None or truth is None:
        return False
    if normalise_answer(answer) == normalise_answer(truth):
        return True
    if as_number(answer) is not None and as_number(truth) is not None:
        return numeric_equal(answer, truth, rel_tol, abs_tol)
    return math_equal(answer, truth)


def majority_vote(answers: Sequence[Any], same: Callable[[Any, Any], bool] = equivalent,
                  min_votes: int = 1) -> tuple[Any, int]:
    """The most common answer under ``same`` and its count: the one majority vote of the
    library (arenas pass their task family's ``check``, which compares answers by value).

    ``None`` answers do not vote; ties go to the answer given first. Each answer joins the
    first earlier class it is ``same`` as (``same`` need not be transitive). The winner
    needs ``min_votes`` votes, or every answer when there are fewer (``min_votes=2``: no
    majority when all answers differ, but a single answer is its own majority);
    ``(None, 0)`` when no answer wins.

    >>> majority_vote([5, 5.0, "5", 7])
    (5, 3)
    >>> majority_vote([1, 2, 3], min_votes=2), majority_vote([4], min_votes=2)
    ((None, 0), (4, 1))
    """
    classes: list[list[Any]] = []
    for answer in answers:
        if answer is None:
            continue
        for members in classes:
            if same(answer, members[0]):
                members.append(answer)
                break
        else:
            classes.append([answer])
    if not classes:
        return None, 0
    best = max(classes, key=len)  # max keeps the first of equal lengths
    if len(best) < min(min_votes, len(answers)):
        return None, 0
    return best[0], len(best)
