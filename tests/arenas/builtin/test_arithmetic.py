"""The safe arithmetic evaluator behind qa-verify's programmatic truth."""

from __future__ import annotations

import time

import pytest

from sparring.arenas.builtin.arithmetic import MAX_DIGITS, MAX_OPERANDS, evaluate, find_expression


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("12 + 30", 42),
        ("5 - 3", 2),
        ("5-3", 2),
        ("2 + 3 * 4", 14),  # * before +
        ("2 * 3 + 4 * 5", 26),
        ("10 - 2 * 3", 4),
        ("10 - 2 - 3", 5),  # left to right
        ("-5 + 3", -2),
        ("5 - -3", 8),
        ("5--3", 8),
        ("2 * -3", -6),
        ("-2 * -3", 6),
        ("7", 7),
        ("0 * 999", 0),
        ("999999999999 * 999999999999", 999999999999 * 999999999999),  # exact, no floats
    ],
)
def test_evaluate(expr: str, value: int) -> None:
    assert evaluate(expr) == value


@pytest.mark.parametrize("expr", ["", "abc", "1 / 2", "1 +", "+ 1", "1 + + 2", "1.5 + 2", "2 ** 3", "(1 + 2)"])
def test_evaluate_rejects_non_expressions(expr: str) -> None:
    with pytest.raises(ValueError):
        evaluate(expr)


def test_bounds() -> None:
    evaluate("9" * MAX_DIGITS + " + 1")
    with pytest.raises(ValueError, match="expression too large"):
        evaluate("9" * (MAX_DIGITS + 1) + " + 1")
    evaluate(" + ".join(["1"] * MAX_OPERANDS))
    with pytest.raises(ValueError, match="expression too large"):
        evaluate(" + ".join(["1"] * (MAX_OPERANDS + 1)))
    started = time.process_time()
    with pytest.raises(ValueError):
        evaluate("9" * 100_000 + " * " + "9" * 100_000)
    with pytest.raises(ValueError):
        evaluate(" * ".join(["99"] * 50_000))
    assert time.process_time() - started < 1.0


@pytest.mark.parametrize(
    ("text", "expr"),
    [
        ("What is 12 + 30?", "12 + 30"),
        ("Compute 7 x 6.", "7 * 6"),
        ("Compute 7×6 now", "7*6"),  # spacing is kept as written
        ("What is 1,000 - 1?", "1000 - 1"),
        ("What is -4 * 3 + 2?", "-4 * 3 + 2"),
        ("first 1 + 1, then 2 + 2", "1 + 1"),
        ("no maths here", None),
        ("just 42", None),
    ],
)
def test_find_expression(text: str, expr: str | None) -> None:
    assert find_expression(text) == expr


def test_find_expression_is_bounded() -> None:
    started = time.process_time()
    assert find_expression("1 " * 100_000) is None
    assert find_expression("x" * 100_000 + "1 + 1") is None  # only the first 5000 chars are read
    found = find_expression("1 + " * 50_000 + "1")
    assert found is not None
    with pytest.raises(ValueError, match="too large"):
        evaluate(found)
    assert time.process_time() - started < 1.0
