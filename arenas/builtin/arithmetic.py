"""Safe arithmetic: extract an integer expression from text and evaluate it exactly.

Used as the programmatic truth of the question/answer/verify arena. Only integers and
``+ - *`` (``x`` and ``×`` read as ``*``) are accepted, with bounded size, so a hostile
reply can never make the evaluator slow.
"""

from __future__ import annotations

import re

MAX_DIGITS = 12
MAX_OPERANDS = 6
_EXPR = re.compile(r"-?\d+(?:\s*[-+*x×]\s*-?\d+)+")
_TOKEN = re.compile(r"\s*(-?\d+|[-+*])")


def find_expression(text: str) -> str | None:
    """The first arithmetic expression in ``text`` (normalised), or ``None``."""
    match = _EXPR.search(text[:5000].replace(",", ""))
    if match is None:
        return None
    expr = match.group(0).replace("×", "*").replace("x", "*")
    return " ".join(expr.split())


def evaluate(expr: str) -> int:
    """Evaluate ``a op b op c ...`` with ``*`` before ``+``/``-``; raises ``ValueError``."""
    tokens = _TOKEN.findall(expr.replace(" ", ""))
    if "".join(tokens) != expr.replace(" ", ""):
        raise ValueError(f"not an integer expression: {expr!r}")
    # Re-split so that binary minus is not read as a negative literal ("5-3").
    parts: list[str] = []
    for tok in tokens:
        if parts and parts[-1] not in "+-*" and tok.startswith("-") and tok != "-":
            parts.extend(["-", tok[1:]])
        else:
            parts.append(tok)
    numbers = parts[0::2]
    ops = parts[1::2]
    if len(numbers) != len(ops) + 1 or any(o not in "+-*" for o in ops):
        raise ValueError(f"not an integer expression: {expr!r}")
    if len(numbers) > MAX_OPERANDS or any(len(n.lstrip("-")) > MAX_DIGITS for n in numbers):
        raise ValueError(f"expression too large: {expr!r}")
    values = [int(n) for n in numbers]
    terms = [values[0]]
    signs = [1]
    for op, v in zip(ops, values[1:], strict=True):
        if op == "*":
            terms[-1] *= v
        else:
            terms.append(v)
            signs.append(1 if op == "+" else -1)
    return sum(s * t for s, t in zip(signs, terms, strict=True))
