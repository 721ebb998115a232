"""Reply parsers: good inputs, malformed inputs (ParseError) and hostile inputs (fast)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from sparring.agents import parsers
from sparring.agents.parsers import ParseError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("so it is 1,234.", 1234),
        ("first 3 then -7", -7),
        ("pi is about 3.14", 3.14),
        ("x = 2.0", 2.0),
        ("0", 0),
    ],
)
def test_last_number(text: str, expected: float) -> None:
    value = parsers.last_number(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("text", ["", "no digits here", "- . ,"])
def test_last_number_malformed(text: str) -> None:
    with pytest.raises(ParseError, match="expected a number"):
        parsers.last_number(text)


def test_field_value() -> None:
    parse = parsers.field_value("Answer")
    assert parse("Answer: 42") == "42"
    assert parse("  **Answer**:   forty two  \n") == "forty two"
    assert parse("answer：七") == "七"  # case-insensitive, full-width colon
    assert parse("Answer: 1\nthinking...\nAnswer: 2") == "2"  # the last line wins
    assert parse.__name__ == "field_value_answer"


@pytest.mark.parametrize("text", ["", "The answer is 42", "Answer 42", "My Answer: 42"])
def test_field_value_malformed(text: str) -> None:
    with pytest.raises(ParseError, match="expected a line starting with 'Answer:'"):
        parsers.field_value("Answer")(text)


def test_field_value_escapes_the_name() -> None:
    parse = parsers.field_value("a.b")
    assert parse("a.b: x") == "x"
    with pytest.raises(ParseError):
        parse("axb: x")


def test_answer_number() -> None:
    assert parsers.answer_number("12 + 30 = 42\nAnswer: 42") == 42
    assert parsers.answer_number("Answer: the result is -5") == -5
    assert parsers.answer_number("7 apples, so 12") == 12  # falls back to the last number
    with pytest.raises(ParseError):
        parsers.answer_number("Answer: none")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Verdict: correct", True),
        ("Verdict: incorrect", False),
        ("verdict: Yes", True),
        ("I think it is wrong, not right", False),  # the first verdict word wins
        ("It is right.\nVerdict: incorrect", False),  # a Verdict line wins over the rest
        ("VALID", True),
    ],
)
def test_verdict(text: str, expected: bool) -> None:
    assert parsers.verdict(text) is expected


@pytest.mark.parametrize("text", ["", "Verdict: maybe", "hmm", "correctly"])
def test_verdict_malformed(text: str) -> None:
    with pytest.raises(ParseError, match="expected a verdict"):
        parsers.verdict(text)


def test_score() -> None:
    parse = parsers.score(0, 10)
    assert parse("Score: 7") == 7.0
    assert parse("I'd give it 3.5") == 3.5
    assert parse("Score: 10\n") == 10.0
    assert parse.__name__ == "score_0_10"
    with pytest.raises(ParseError, match=r"outside \[0, 10\]"):
        parse("Score: 11")
    with pytest.raises(ParseError, match=r"outside"):
        parse("Score: -1")
    with pytest.raises(ParseError):
        parse("no score")


def test_choice() -> None:
    parse = parsers.choice("A", "B")
    assert parse("Winner: B") == "B"
    assert parse("winner: a") == "A"
    assert parse("Choice: b") == "B"
    assert parse("I prefer A over B") == "A"  # without a Winner line, the first label wins
    assert parse("Both are fine.\nWinner: B") == "B"
    assert parse.__name__ == "choice_A_B"
    with pytest.raises(ParseError, match="expected one of A, B"):
        parse("Winner: C")
    with pytest.raises(ParseError):
        parse("")


def test_json_object() -> None:
    assert parsers.json_object('{"a": 1}') == {"a": 1}
    assert parsers.json_object('Sure! ```json\n{"a": [1, 2], "b": {"c": null}}\n```') == {
        "a": [1, 2], "b": {"c": None}
    }
    assert parsers.json_object('{broken {"ok": true}') == {"ok": True}
    assert parsers.json_object('[1, 2] then {"x": "y"}') == {"x": "y"}


@pytest.mark.parametrize("text", ["", "[1, 2]", "{not json}", '"just a string"', "{" * 10])
def test_json_object_malformed(text: str) -> None:
    with pytest.raises(ParseError, match="expected a JSON object"):
        parsers.json_object(text)


def test_text() -> None:
    assert parsers.text("  hello \n") == "hello"
    with pytest.raises(ParseError, match="non-empty"):
        parsers.text(" \n\t ")


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(ParseError, ValueError)


PARSERS: dict[str, Callable[[str], Any]] = {
    "last_number": parsers.last_number,
    "field_value": parsers.field_value("Answer"),
    "answer_number": parsers.answer_number,
    "verdict": parsers.verdict,
    "score": parsers.score(0, 10),
    "choice": parsers.choice("A", "B"),
    "json_object": parsers.json_object,
    "text": parsers.text,
}

HOSTILE = {
    "digits": "9" * 100_000,
    "newlines": "\n" * 100_000,
    "blank_lines": " \n" * 50_000,
    "spaces_then_answer": " " * 99_990 + "Answer: 1",
    "answer_lines": "Answer:\n" * 12_500,
    "open_braces": "{" * 100_000,
    "nested_objects": '{"a":' * 20_000,
    "nested_arrays": '{"a":' + "[" * 100_000,
    "unclosed_objects": '{"a": 1, ' * 10_000,
    "minus_signs": "-" * 100_000,
    "digit_commas": "1," * 50_000,
    "words": "maybe " * 16_000,
}


@pytest.mark.parametrize("label", sorted(HOSTILE))
@pytest.mark.parametrize("name", sorted(PARSERS))
def test_hostile_input_is_fast_and_never_crashes(name: str, label: str) -> None:
    # CPU time, not wall time, so a busy machine does not fail the test. Before the fix a
    # reply of 100k newlines took ~4 s in field_value (quadratic regex); the worst case
    # now is ~0.25 s (deeply nested JSON).
    started = time.process_time()
    try:
        PARSERS[name](HOSTILE[label])
    except ParseError:
        pass
    assert time.process_time() - started < 1.0, f"{name} is slow on {label}"
