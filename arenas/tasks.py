"""Task families: seeded, programmatically checkable prompts with a held-out split.

The package cannot download datasets at run time, so arenas that need prompts with a
known answer draw them from a :class:`TaskFamily`. Each family has

- a seeded **generator** with a difficulty knob: ``generate(rng, difficulty)`` returns
  ``(prompt, answer)`` or ``(prompt, answer, reference_reply)``; all randomness comes from
  the ``random.Random`` it is given (in arenas, ``match.rng``);
- a **parser** and a **checker**: ``parse(reply)`` reads the answer from a reply's
  ``Answer:`` line (by the family's answer ``kind``: ``number``, ``list`` of numbers or
  ``text``), ``check(answer, truth)`` says whether it is right;
- a **reference reply** (``"37 + 58 = 95.\\nAnswer: 95"``) for SPIN / SFT on references;
- a **held-out split**: an item is held out when a hash of its normalised prompt falls in
  the held-out bucket (``held_out_fraction`` of the hash space), so the training split
  never produces a held-out item, whatever the seed;
- optionally a **solver of free-form problems** (``solve(problem) -> truth | None``): the
  truth of a problem a model wrote (``"What is 12 * 34?"``), used to log programmatic truth
  beside label-free rewards; ``None`` means unknown.

Built-in families (``families()``): ``arithmetic`` (+/-, difficulty = digits per operand),
``multiplication`` (SQLM's benchmark task), ``letters`` (count a letter in a word; difficulty
= word length band), ``sorting`` (sort a short list; difficulty = list length and range),
``units`` (unit conversion; difficulty 1 metric, 2 metric to a larger unit, 3 two-step,
4 imperial), ``word_problems`` (short stories with 1-4 operations and a numeric answer).

A family of your own is one function pair::

    def generate(rng, difficulty):
        a = rng.randint(1, 10 ** difficulty)
        return f"What is {a} squared?", a * a

    squares = TaskFamily("squares", generate, kind="number", difficulties=(1, 3))
    register_family(squares)          # arenas then take family="squares"

(``check`` defaults to the kind's comparison; pass ``check=lambda answer, truth: ...`` to
grade otherwise), or a JSONL file of ``{"prompt": ..., "answer": ...}`` lines, named by
its path: ``family="data/capitals.jsonl"`` (optional keys ``reference``, ``difficulty``,
``split``; see :func:`load_jsonl`). An arena can also name ``"file.py:attribute"`` or
``"module:attribute"`` holding a ``TaskFamily``.

Programmatic truth is never shown to a seat by the arenas that use these families; it is
always logged in the match outcome.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import random
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from sparring.agents import parsers
from sparring.agents.parsers import ParseError
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams, derive_seed
from sparring.arenas.arithmetic import evaluate, find_expression

Kind = Literal["number", "list", "text"]
Split = Literal["train", "held_out"]
KINDS: tuple[str, ...] = ("number", "list", "text")
SPLITS: tuple[str, ...] = ("train", "held_out")
Generated = tuple[str, Any] | tuple[str, Any, str]
MAX_TRIES = 2000
"""Draws :meth:`TaskFamily.sample` makes before giving up on finding an item of a split."""


class TaskError(ValueError):
    """A task family is misdefined or a task file is malformed; the message says where."""


def normalise(text: str) -> str:
    """A prompt's identity: lowercase, single spaces, no trailing punctuation or quotes."""
    return " ".join(str(text).lower().split()).strip(" .?!'\"")


def split_of_key(key: str, held_out_fraction: float) -> Split:
    """``held_out`` when the hash of ``key`` falls in the held-out bucket, else ``train``."""
    bucket = derive_seed("task-split", key) % 10_000
    return "held_out" if bucket < round(held_out_fraction * 10_000) else "train"


# -- answers: parsing and comparison by kind -------------------------------------------------

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


_PARSERS: dict[str, Callable[[str], Any]] = {
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


def _check_by_kind(kind: str) -> Callable[[Any, Any], bool]:
    if kind == "number":
        return same_number
    if kind == "list":
        return lambda answer, truth: (isinstance(answer, list) and isinstance(truth, list)
                                      and len(answer) == len(truth)
                                      and all(same_number(a, b) for a, b in zip(answer, truth, strict=True)))
    return lambda answer, truth: normalise(str(answer)) == normalise(str(truth))


def _format_answer(answer: Any) -> str:
    if isinstance(answer, list):
        return ", ".join(str(a) for a in answer)
    return str(answer)


# -- items and families ----------------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    """One task: the prompt a seat sees, its programmatic answer and a reference reply."""

    family: str
    prompt: str
    answer: Any
    reference: str
    difficulty: int

    @property
    def key(self) -> str:
        """The item's identity (normalised prompt): splits and de-duplication use it."""
        return normalise(self.prompt)


class TaskFamily:
    """A seeded family of checkable tasks.

    Args:
        name: Family name (what arenas take as ``family=``).
        generate: ``(rng, difficulty) -> (prompt, answer)`` or ``(prompt, answer, reference)``;
            draws only from ``rng``. Answers are JSON values of the family's ``kind``.
        check: ``(answer, truth) -> bool`` on a parsed answer; defaults to the kind's
            comparison (integers exactly, other numbers within 1e-6, lists element-wise,
            text normalised).
        kind: How answers are read from replies: ``number``, ``list`` (of numbers) or ``text``.
        difficulties: Inclusive ``(low, high)`` range of the difficulty knob.
        reference: ``(prompt, answer) -> reply`` when ``generate`` gives none; default
            ``"Answer: <answer>"``.
        solve: ``(problem text) -> truth | None``: the truth of a free-form problem, when
            the family can compute it (``None``: unknown).
        topic: ``difficulty -> description`` shown to seats that write problems.
        held_out_fraction: Share of the prompt-hash space held out (0 < f < 1).
    """

    def __init__(
        self,
        name: str,
        generate: Callable[[random.Random, int], Generated],
        check: Callable[[Any, Any], bool] | None = None,
        *,
        kind: Kind = "text",
        difficulties: tuple[int, int] = (1, 1),
        reference: Callable[[str, Any], str] | None = None,
        solve: Callable[[str], Any] | None = None,
        topic: Callable[[int], str] | None = None,
        held_out_fraction: float = 0.1,
    ) -> None:
        if not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise TaskError(f"task family name must be letters, digits, '_', '-' or '.', got {name!r}")
        if kind not in KINDS:
            raise TaskError(f"task family {name!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        low, high = difficulties
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
            raise TaskError(f"task family {name!r}: difficulties must be (low, high) integers with 1 <= low <= high, "
                            f"got {difficulties!r}")
        if not 0.0 < held_out_fraction < 1.0:
            raise TaskError(f"task family {name!r}: held_out_fraction must be in (0, 1), got {held_out_fraction}")
        self.name = name
        self.kind: Kind = kind
        self.difficulties = (low, high)
        self.held_out_fraction = held_out_fraction
        self._generate = generate
        self._check = check or _check_by_kind(kind)
        self._reference = reference
        self._solve = solve
        self._topic = topic

    def __repr__(self) -> str:
        return f"TaskFamily({self.name!r}, kind={self.kind!r}, difficulties={self.difficulties})"

    # -- items

    def check_difficulty(self, difficulty: int) -> int:
        """``difficulty`` if it is in range; a :class:`TaskError` naming the range otherwise."""
        low, high = self.difficulties
        if isinstance(difficulty, bool) or not isinstance(difficulty, int) or not low <= difficulty <= high:
            raise TaskError(f"task family {self.name!r}: difficulty must be an integer in {low}..{high}, "
                            f"got {difficulty!r}")
        return difficulty

    def make_item(self, generated: Generated, difficulty: int) -> Item:
        """An :class:`Item` from what ``generate`` returned (validated)."""
        if not isinstance(generated, tuple) or len(generated) not in (2, 3):
            raise TaskError(f"task family {self.name!r}: generate must return (prompt, answer) or "
                            f"(prompt, answer, reference), got {type(generated).__name__}")
        prompt, answer = generated[0], generated[1]
        if not isinstance(prompt, str) or not prompt.strip():
            raise TaskError(f"task family {self.name!r}: generate returned an empty or non-string prompt {prompt!r}")
        if self.kind == "number" and isinstance(answer, int | float | Fraction) and not isinstance(answer, bool):
            answer = canonical_number(answer)
        reference = generated[2] if len(generated) == 3 else (
            self._reference(prompt, answer) if self._reference else f"Answer: {_format_answer(answer)}")
        return Item(self.name, prompt, answer, str(reference), difficulty)

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        """One item of either split (the raw generator)."""
        return self.make_item(self._generate(rng, self.check_difficulty(difficulty)), difficulty)

    def split_of(self, item: Item | str) -> Split:
        """The split an item (or a prompt) belongs to."""
        key = item.key if isinstance(item, Item) else normalise(item)
        return split_of_key(key, self.held_out_fraction)

    def sample(self, rng: random.Random, difficulty: int, split: Split = "train") -> Item:
        """An item of ``split``: drawn from ``rng`` until one falls in the split.

        Raises:
            TaskError: after ``MAX_TRIES`` draws without an item of the split (a family
                whose items at this difficulty are too few).
        """
        if split not in SPLITS:
            raise TaskError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        for _ in range(MAX_TRIES):
            item = self.generate(rng, difficulty)
            if self.split_of(item) == split:
                return item
        raise TaskError(f"task family {self.name!r}: no {split} item in {MAX_TRIES} draws at difficulty "
                        f"{difficulty}; the family has too few distinct items at this difficulty")

    def items(self, count: int, seed: int, difficulty: int, split: Split = "train") -> list[Item]:
        """``count`` items of ``split`` from a generator seeded with ``seed`` (tests, benchmarks)."""
        rng = random.Random(seed)
        return [self.sample(rng, difficulty, split) for _ in range(count)]

    # -- answers

    @property
    def parser(self) -> Callable[[str], Any]:
        """The reply parser of this family's answer kind (carries ``examples``)."""
        return _PARSERS[self.kind]

    def parse(self, reply: str) -> Any:
        """The answer in a reply; raises :class:`ParseError` when there is none."""
        return self.parser(reply)

    def check(self, answer: Any, truth: Any) -> bool:
        """Whether a parsed answer is right (``False`` for ``None`` or a checker error)."""
        if answer is None:
            return False
        try:
            return bool(self._check(answer, truth))
        except (TypeError, ValueError, ArithmeticError):
            return False

    def grade(self, reply: str, item: Item) -> bool:
        """Parse ``reply`` and check it against ``item`` (``False`` when it does not parse)."""
        try:
            return self.check(self.parse(reply), item.answer)
        except ParseError:
            return False

    def reference_reply(self, item: Item) -> str:
        """The family's reference reply for an item."""
        return item.reference

    # -- free-form problems

    @property
    def can_solve(self) -> bool:
        """Whether the family can compute the truth of free-form problems at all."""
        return self._solve is not None

    def solve(self, problem: str) -> Any:
        """The truth of a free-form problem (``None``: the family cannot tell)."""
        if self._solve is None:
            return None
        try:
            truth = self._solve(problem[: parsers.MAX_PARSE_CHARS])
        except (ValueError, ArithmeticError, OverflowError):
            return None
        if truth is not None and self.kind == "number":
            truth = canonical_number(truth)
        return truth

    def topic(self, difficulty: int) -> str:
        """What a problem writer is told about this family at ``difficulty``."""
        if self._topic is not None:
            return self._topic(difficulty)
        return f"{self.name.replace('_', ' ')} problems of difficulty {difficulty}"


# -- built-in families ------------------------------------------------------------------------

_OP_WORDS = {"+": "addition", "-": "subtraction", "*": "multiplication"}


def _operands(rng: random.Random, digits: int) -> tuple[int, int]:
    low, high = 10 ** (digits - 1), 10**digits - 1
    return rng.randint(low, high), rng.randint(low, high)


def arithmetic_family(name: str = "arithmetic", ops: Sequence[str] = ("+", "-")) -> TaskFamily:
    """``What is A op B?`` with ``difficulty`` digits per operand (1..6); exact integer answers."""
    ops = tuple(ops)

    def generate(rng: random.Random, difficulty: int) -> Generated:
        a, b = _operands(rng, difficulty)
        op = rng.choice(ops)
        truth = evaluate(f"{a} {op} {b}")
        return f"What is {a} {op} {b}?", truth, f"{a} {op} {b} = {truth}.\nAnswer: {truth}"

    def solve(problem: str) -> int | None:
        expression = find_expression(problem)
        return None if expression is None else evaluate(expression)

    words = " or ".join(_OP_WORDS[o] for o in ops)
    return TaskFamily(name, generate, kind="number", difficulties=(1, 6), solve=solve,
                      topic=lambda d: f"{words} of two {d}-digit numbers")


_WORDS = (
    # 3-5 letters
    "cat", "dog", "tree", "apple", "moon", "river", "bread", "lemon", "sheep", "happy", "kiwi", "melon",
    "pizza", "grass", "book", "cloud", "storm", "level", "puppy", "queen", "zebra", "hello",
    # 6-8 letters
    "banana", "carrot", "cherry", "letter", "pepper", "rabbit", "summer", "bottle", "coffee", "balloon",
    "giraffe", "penguin", "dolphin", "address", "success", "blossom", "cabbage", "assess",
    "village", "hammock", "tomorrow",
    # 9-11 letters
    "strawberry", "chocolate", "butterfly", "pineapple", "telescope", "elephants", "raspberry",
    "accessory", "committee", "different", "excellent", "character", "beginning", "parallel",
    "tennessee", "bookkeeper", "mississippi", "millennium", "possession", "embarrass",
    # 12+ letters
    "successfully", "independence", "mathematical", "unbelievable", "bookkeeping", "extraordinary",
    "communication", "misunderstood", "accommodation", "possessiveness", "parallelogram",
    "assassination", "onomatopoeia", "characteristic", "entertainment",
)
_LETTER_BANDS = {1: (3, 5), 2: (6, 8), 3: (9, 11), 4: (12, 99)}
_LETTER_QUESTION = re.compile(
    r"letter\s+['\"‘’“”]?([a-z])['\"‘’“”]?\s+(?:appear|occur)s?\s+in\s+(?:the\s+word\s+)?['\"‘’“”]?([a-z]+)",
    re.I)


def _letters_generate(rng: random.Random, difficulty: int) -> Generated:
    low, high = _LETTER_BANDS[difficulty]
    word = rng.choice([w for w in _WORDS if low <= len(w) <= high])
    present = sorted(set(word))
    if rng.random() < 0.85:
        letter = rng.choice(present)
    else:
        letter = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c not in present])
    count = word.count(letter)
    reference = f"{'-'.join(word)}: '{letter}' appears {count} time{'s' if count != 1 else ''}.\nAnswer: {count}"
    return f"How many times does the letter '{letter}' appear in '{word}'?", count, reference


def _letters_solve(problem: str) -> int | None:
    found = _LETTER_QUESTION.search(problem)
    return None if found is None else found.group(2).lower().count(found.group(1).lower())


def _sorting_generate(rng: random.Random, difficulty: int) -> Generated:
    length = difficulty + 2
    high = 9 if difficulty == 1 else 10 * difficulty * difficulty
    values = [rng.randint(0, high) for _ in range(length)]
    descending = difficulty >= 3 and rng.random() < 0.5
    order = "descending" if descending else "ascending"
    truth = sorted(values, reverse=descending)
    shown = ", ".join(str(v) for v in values)
    return f"Sort these numbers in {order} order: {shown}.", truth, f"Answer: {', '.join(str(v) for v in truth)}"


_NUMBER_RUN = re.compile(r"-?\d+(?:\s*,\s*-?\d+)+")


def _sorting_solve(problem: str) -> list[int] | None:
    runs = _NUMBER_RUN.findall(problem)
    if not runs or "sort" not in problem.lower():
        return None
    values = [int(x) for x in max(runs, key=len).replace(" ", "").split(",")]
    if len(values) > 100 or any(abs(v) > 10**12 for v in values):
        return None
    return sorted(values, reverse="descending" in problem.lower() or "largest to smallest" in problem.lower())


# name -> (dimension, size in the dimension's base unit, plural)
_UNITS: dict[str, tuple[str, Fraction, str]] = {
    "millimeter": ("length", Fraction(1, 1000), "millimeters"),
    "centimeter": ("length", Fraction(1, 100), "centimeters"),
    "meter": ("length", Fraction(1), "meters"),
    "kilometer": ("length", Fraction(1000), "kilometers"),
    "inch": ("length", Fraction("0.0254"), "inches"),
    "foot": ("length", Fraction("0.3048"), "feet"),
    "yard": ("length", Fraction("0.9144"), "yards"),
    "mile": ("length", Fraction("1609.344"), "miles"),
    "milligram": ("mass", Fraction(1, 1000), "milligrams"),
    "gram": ("mass", Fraction(1), "grams"),
    "kilogram": ("mass", Fraction(1000), "kilograms"),
    "ounce": ("mass", Fraction("28.349523125"), "ounces"),
    "pound": ("mass", Fraction("453.59237"), "pounds"),
    "milliliter": ("volume", Fraction(1), "milliliters"),
    "liter": ("volume", Fraction(1000), "liters"),
    "quart": ("volume", Fraction("946.352946"), "quarts"),
    "gallon": ("volume", Fraction("3785.411784"), "gallons"),
    "second": ("time", Fraction(1), "seconds"),
    "minute": ("time", Fraction(60), "minutes"),
    "hour": ("time", Fraction(3600), "hours"),
    "day": ("time", Fraction(86400), "days"),
    "week": ("time", Fraction(604800), "weeks"),
}
_UNIT_ALIASES: dict[str, str] = {
    **{name: name for name in _UNITS}, **{plural: name for name, (_, _, plural) in _UNITS.items()},
    "mm": "millimeter", "cm": "centimeter", "m": "meter", "km": "kilometer", "in": "inch", "ft": "foot",
    "yd": "yard", "mi": "mile", "mg": "milligram", "g": "gram", "kg": "kilogram", "oz": "ounce",
    "lb": "pound", "lbs": "pound", "ml": "milliliter", "l": "liter", "qt": "quart", "gal": "gallon",
    "s": "second", "sec": "second", "secs": "second", "min": "minute", "mins": "minute", "h": "hour",
    "hr": "hour", "hrs": "hour", **{f"{n}re": n for n in ("millimeter", "centimeter", "meter", "kilometer",
                                                        "milliliter", "liter")},
    **{f"{n}res": n for n in ("millimeter", "centimeter", "meter", "kilometer", "milliliter", "liter")},
}
_UNIT_LEVELS: dict[int, tuple[tuple[str, str], ...]] = {
    1: (("kilometer", "meter"), ("meter", "centimeter"), ("centimeter", "millimeter"), ("kilogram", "gram"),
        ("liter", "milliliter"), ("hour", "minute"), ("minute", "second")),
    2: (("meter", "kilometer"), ("gram", "kilogram"), ("milliliter", "liter"), ("minute", "hour"),
        ("centimeter", "meter"), ("millimeter", "centimeter"), ("second", "minute")),
    3: (("hour", "second"), ("kilometer", "centimeter"), ("day", "minute"), ("kilogram", "milligram"),
        ("week", "hour")),
    4: (("foot", "inch"), ("yard", "foot"), ("pound", "ounce"), ("gallon", "quart"), ("inch", "foot"),
        ("foot", "yard"), ("ounce", "pound")),
}
_CONVERT = re.compile(r"convert\s+(-?\d+(?:\.\d+)?)\s+([a-z]+)\s+(?:in)?to\s+([a-z]+)", re.I)


def _unit_name(unit: str, value: Fraction | int | float) -> str:
    return unit if value == 1 else _UNITS[unit][2]


def _show(value: Fraction) -> str:
    return str(canonical_number(value))


def _units_generate(rng: random.Random, difficulty: int) -> Generated:
    source, target = rng.choice(_UNIT_LEVELS[difficulty])
    ratio = _UNITS[source][1] / _UNITS[target][1]
    if ratio >= 1:
        value = Fraction(rng.randint(1, 5 * (difficulty + 1)))
    else:
        inverse = 1 / ratio  # a whole number for every pair in the table
        answer = Fraction(rng.randint(1, 20))
        if inverse.numerator % 2 == 0 and rng.random() < 0.3:
            answer += Fraction(1, 2)
        value = answer * inverse
    truth = value * ratio
    factor = ratio if ratio >= 1 else 1 / ratio
    op = "×" if ratio >= 1 else "÷"
    reference = (f"1 {source if ratio >= 1 else target} = {_show(factor)} "
                 f"{_unit_name(target if ratio >= 1 else source, factor)}, so {_show(value)} "
                 f"{_unit_name(source, value)} = {_show(value)} {op} {_show(factor)} = {_show(truth)} "
                 f"{_unit_name(target, truth)}.\nAnswer: {_show(truth)}")
    return f"Convert {_show(value)} {_unit_name(source, value)} to {_UNITS[target][2]}.", canonical_number(truth), reference


def _units_solve(problem: str) -> int | float | None:
    found = _CONVERT.search(problem)
    if found is None:
        return None
    source = _UNIT_ALIASES.get(found.group(2).lower())
    target = _UNIT_ALIASES.get(found.group(3).lower())
    if source is None or target is None or _UNITS[source][0] != _UNITS[target][0]:
        return None
    if len(found.group(1)) > 15:
        return None
    return canonical_number(Fraction(found.group(1)) * _UNITS[source][1] / _UNITS[target][1])


_UNIT_TOPICS = {1: "converting metric units to a smaller unit (km to m, kg to g, hours to minutes)",
                2: "converting metric units to a larger unit (m to km, g to kg, minutes to hours)",
                3: "two-step unit conversions (hours to seconds, km to cm, days to minutes)",
                4: "imperial unit conversions (feet to inches, pounds to ounces, gallons to quarts)"}

_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Hugo", "Isla", "Jack", "Kira", "Leo",
          "Mia", "Noah", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara")
_OBJECTS = ("apples", "marbles", "stickers", "pencils", "cookies", "stamps", "shells", "cards", "books", "coins")


def _word_problem_generate(rng: random.Random, difficulty: int) -> Generated:
    name, things = rng.choice(_NAMES), rng.choice(_OBJECTS)
    scale = 5 * difficulty + 5
    total = rng.randint(scale, 3 * scale)
    sentences = [f"{name} has {total} {things}."]
    working = []
    for step in range(difficulty):
        kind = rng.choice(("add", "remove", "bags") if step else ("add", "remove"))
        if kind == "add":
            more = rng.randint(2, scale)
            sentences.append(rng.choice((f"Then {name} buys {more} more.", f"A friend gives {name} {more} more.",
                                         f"{name} finds {more} more.")))
            working.append(f"{total} + {more} = {total + more}")
            total += more
        elif kind == "remove":
            less = rng.randint(1, max(1, total // 2))
            sentences.append(rng.choice((f"Then {name} gives away {less}.", f"{name} loses {less} of them.",
                                         f"{name} uses {less}.")))
            working.append(f"{total} - {less} = {total - less}")
            total -= less
        else:
            bags, each = rng.randint(2, 4 + difficulty), rng.randint(2, 6 + difficulty)
            sentences.append(f"Then {name} buys {bags} packs with {each} {things} in each.")
            working.append(f"{bags} × {each} = {bags * each}; {total} + {bags * each} = {total + bags * each}")
            total += bags * each
    sentences.append(f"How many {things} does {name} have now?")
    return " ".join(sentences), total, ". ".join(working) + f".\nAnswer: {total}"


def _builtins() -> dict[str, TaskFamily]:
    return {f.name: f for f in (
        arithmetic_family(),
        arithmetic_family("multiplication", ops=("*",)),
        TaskFamily("letters", _letters_generate, kind="number", difficulties=(1, 4), solve=_letters_solve,
                   topic=lambda d: "counting how many times a letter appears in a word of "
                                   f"{_LETTER_BANDS[d][0]}{'+' if d == 4 else '-' + str(_LETTER_BANDS[d][1])} letters"),
        TaskFamily("sorting", _sorting_generate, kind="list", difficulties=(1, 5), solve=_sorting_solve,
                   topic=lambda d: f"sorting a list of {d + 2} whole numbers"
                                   f"{' in ascending or descending order' if d >= 3 else ' in ascending order'}"),
        TaskFamily("units", _units_generate, kind="number", difficulties=(1, 4), solve=_units_solve,
                   topic=lambda d: _UNIT_TOPICS[d]),
        TaskFamily("word_problems", _word_problem_generate, kind="number", difficulties=(1, 4),
                   topic=lambda d: f"short word problems about counting objects, with {d} "
                                   f"step{'s' if d > 1 else ''} of arithmetic and a whole-number answer"),
    )}


_FAMILIES: dict[str, TaskFamily] = _builtins()
_FILE_CACHE: dict[tuple[str, float], TaskFamily] = {}


def register_family(family: TaskFamily, *, replace: bool = False) -> TaskFamily:
    """Make ``family`` available by name to arenas (``family="<name>"``)."""
    if not isinstance(family, TaskFamily):
        raise TaskError(f"register_family takes a TaskFamily, got {type(family).__name__}")
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family and not replace:
        raise TaskError(f"task family {family.name!r} is already registered; pass replace=True to override it")
    _FAMILIES[family.name] = family
    return family


def families() -> dict[str, TaskFamily]:
    """Registered task families by name (the built-ins and any registered since)."""
    return dict(_FAMILIES)


def get_family(name: str) -> TaskFamily:
    """A family by registered name, ``.jsonl`` path, ``file.py:attribute`` or ``module:attribute``."""
    if not isinstance(name, str) or not name:
        raise TaskError(f"a task family is named by a string, got {name!r}")
    if name in _FAMILIES:
        return _FAMILIES[name]
    if name.endswith(".jsonl"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise TaskError(f"task file {name} does not exist (a JSONL file of {{\"prompt\": ..., \"answer\": ...}} lines)")
        key = (str(path.resolve()), path.stat().st_mtime)
        if key not in _FILE_CACHE:
            _FILE_CACHE[key] = load_jsonl(path)
        return _FILE_CACHE[key]
    if ":" in name:
        return _import_family(name)
    raise TaskError(f"unknown task family {name!r}; use one of {', '.join(sorted(_FAMILIES))}, a path to a "
                    ".jsonl file of {\"prompt\", \"answer\"} lines, or 'file.py:name' / 'module:name' of a TaskFamily")


def _import_family(name: str) -> TaskFamily:
    target, _, attr = name.rpartition(":")
    if target.endswith(".py"):
        path = Path(target).expanduser()
        if not path.is_file():
            raise TaskError(f"task family file {path} does not exist")
        module_name = f"sparring_tasks_{path.stem}_{derive_seed(str(path.resolve())) % 10**8}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise TaskError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise TaskError(f"cannot import module {target!r} for task family {name!r}: {exc}") from exc
    family = getattr(module, attr, None)
    if not isinstance(family, TaskFamily):
        raise TaskError(f"{name!r}: {attr!r} is not a TaskFamily in {target}")
    return family


# -- JSONL families ---------------------------------------------------------------------------

_JSONL_KEYS = ("prompt", "answer", "reference", "difficulty", "split")


def _kind_of(answer: Any) -> str | None:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int | float):
        return "number" if math.isfinite(answer) else None
    if isinstance(answer, str):
        return "text" if answer.strip() else None
    if isinstance(answer, list) and answer and all(_kind_of(a) == "number" for a in answer):
        return "list"
    return None


class JsonlFamily(TaskFamily):
    """A task family read from a JSONL file (see :func:`load_jsonl`)."""

    def __init__(self, name: str, items: list[Item], splits: list[Split], kind: Kind, source: str,
                 held_out_fraction: float = 0.1) -> None:
        self.source = source
        self._items = items
        self._splits = splits
        self._by_key = {item.key: item for item in items}
        self._split_by_key = {item.key: split for item, split in zip(items, splits, strict=True)}
        difficulties = sorted({item.difficulty for item in items})
        super().__init__(name, self._pick, kind=kind, difficulties=(difficulties[0], difficulties[-1]),
                         solve=self._lookup, held_out_fraction=held_out_fraction)

    def _pick(self, rng: random.Random, difficulty: int) -> Generated:
        item = rng.choice([i for i in self._items if i.difficulty == difficulty] or self._items)
        return item.prompt, item.answer, item.reference

    def _lookup(self, problem: str) -> Any:
        item = self._by_key.get(normalise(problem))
        return None if item is None else item.answer

    def split_of(self, item: Item | str) -> Split:
        """The split given on the item's line, else the hash bucket of its prompt."""
        key = item.key if isinstance(item, Item) else normalise(item)
        return self._split_by_key.get(key) or super().split_of(item)

    def sample(self, rng: random.Random, difficulty: int, split: Split = "train") -> Item:
        """An item of ``split`` at ``difficulty``, drawn directly from the file's lines."""
        self.check_difficulty(difficulty)
        if split not in SPLITS:
            raise TaskError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        pool = [i for i, s in zip(self._items, self._splits, strict=True) if s == split and i.difficulty == difficulty]
        if not pool:
            raise TaskError(f"{self.source}: no {split} item of difficulty {difficulty}; mark some lines "
                            f"\"split\": \"{split}\" or add lines (held-out lines are chosen by a hash of the "
                            f"prompt, about {self.held_out_fraction:.0%} of them)")
        return rng.choice(pool)


def load_jsonl(path: str | Path, name: str | None = None, held_out_fraction: float = 0.1) -> JsonlFamily:
    """A task family from a JSONL file: one JSON object per line.

    Keys: ``prompt`` (non-empty string) and ``answer`` (a number, a string, or a list of
    numbers; one kind for the whole file) are required; ``reference`` (the reference
    reply; default ``"Answer: <answer>"``), ``difficulty`` (integer >= 1, default 1) and
    ``split`` (``"train"`` or ``"held_out"``; default: by a hash of the prompt) are
    optional. Blank lines are skipped.

    Raises:
        TaskError: naming the file and line of the first malformed line.
    """
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{where}: cannot be read as UTF-8 text: {exc}") from None
    items: list[Item] = []
    splits: list[Split] = []
    seen: dict[str, int] = {}
    kind: str | None = None
    kind_line = 0
    family = name or path.stem
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        at = f"{where} line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{at}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(data, dict):
            raise TaskError(f"{at}: expected a JSON object {{\"prompt\": ..., \"answer\": ...}}, "
                            f"got {type(data).__name__}")
        unknown = sorted(set(data) - set(_JSONL_KEYS))
        if unknown:
            raise TaskError(f"{at}: unknown key(s) {', '.join(map(repr, unknown))} (keys: {', '.join(_JSONL_KEYS)})")
        for key in ("prompt", "answer"):
            if key not in data:
                raise TaskError(f"{at}: missing {key!r} (each line needs \"prompt\" and \"answer\")")
        prompt, answer = data["prompt"], data["answer"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise TaskError(f"{at}: 'prompt' must be a non-empty string, got {json.dumps(prompt)[:60]}")
        this = _kind_of(answer)
        if this is None:
            raise TaskError(f"{at}: 'answer' must be a finite number, a non-empty string or a list of numbers, "
                            f"got {json.dumps(answer)[:60]}")
        if kind is None:
            kind, kind_line = this, number
        elif this != kind:
            raise TaskError(f"{at}: 'answer' is a {this} but line {kind_line} has a {kind}; "
                            "one file holds one kind of answer")
        difficulty = data.get("difficulty", 1)
        if isinstance(difficulty, bool) or not isinstance(difficulty, int) or difficulty < 1:
            raise TaskError(f"{at}: 'difficulty' must be an integer >= 1, got {json.dumps(difficulty)}")
        reference = data.get("reference")
        if reference is not None and (not isinstance(reference, str) or not reference.strip()):
            raise TaskError(f"{at}: 'reference' must be a non-empty string, got {json.dumps(reference)[:60]}")
        split = data.get("split")
        if split is not None and split not in SPLITS:
            raise TaskError(f"{at}: 'split' must be \"train\" or \"held_out\", got {json.dumps(split)}")
        if kind == "number":
            answer = canonical_number(answer)
        elif kind == "list":
            answer = [canonical_number(a) for a in answer]
        item = Item(family, prompt, answer, reference or f"Answer: {_format_answer(answer)}", difficulty)
        if item.key in seen:
            raise TaskError(f"{at}: duplicate prompt (first on line {seen[item.key]})")
        seen[item.key] = number
        items.append(item)
        splits.append(split or split_of_key(item.key, held_out_fraction))
    if not items:
        raise TaskError(f"{where}: no items (expected JSON lines like {{\"prompt\": \"...\", \"answer\": 42}})")
    return JsonlFamily(family, items, splits, kind, where, held_out_fraction)  # type: ignore[arg-type]


# -- the solver role of task arenas -------------------------------------------------------------

def solver_role(family: TaskFamily, **overrides: Any) -> Role:
    """A solver for ``family``: answers and ends with ``Answer: <answer>``, parsed by the family."""
    role = Role(
        name="solver",
        system_prompt="You are a careful solver. Solve the problem; end with 'Answer: <answer>'.",
        parser=family.parser,
        sampling=SamplingParams(max_new_tokens=64, temperature=0.8),
    )
    return role.bind(**overrides) if overrides else role


def difficulty_range(difficulty: int | Sequence[int], family: TaskFamily) -> tuple[int, int]:
    """``difficulty`` (an int or an inclusive ``[low, high]``) checked against the family's range."""
    if isinstance(difficulty, int) and not isinstance(difficulty, bool):
        low = high = difficulty
    elif isinstance(difficulty, Sequence) and not isinstance(difficulty, str) and len(difficulty) == 2:
        low, high = difficulty[0], difficulty[1]
    else:
        raise TaskError(f"difficulty must be an integer or [low, high], got {difficulty!r}")
    family.check_difficulty(low)
    family.check_difficulty(high)
    if low > high:
        raise TaskError(f"difficulty [low, high] needs low <= high, got {list(difficulty)!r}")  # type: ignore[arg-type]
    return low, high
