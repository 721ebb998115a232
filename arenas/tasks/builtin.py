"""The built-in task families: arithmetic, multiplication, letters, sorting, units, word problems.

Evaluations play distinct items of the test split (10% of the prompt-hash space), so a
family needs thousands of distinct prompts at a difficulty to give a 500-item test set;
``sparring tasks`` counts them (``docs/task_splits.json``). ``letters`` draws from about
4,300 common English words (``words.py``) and ``units`` from 14 to 24 unit pairs per
difficulty with values up to 999 (difficulty 1) or below 100 in halves to thousandths:
20,000 draws find 7,000 or more distinct prompts of each at every difficulty, new values
rather than new phrasings (a paraphrase of a training item in the test split would leak it). 1-digit
``arithmetic`` (162 prompts) and ``multiplication`` (81) are small by nature.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from fractions import Fraction

from sparring.arenas.builtin.arithmetic import evaluate, find_expression
from sparring.arenas.tasks.answers import canonical_number
from sparring.arenas.tasks.family import Generated, TaskFamily
from sparring.arenas.tasks.words import COMMON_WORDS

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
    # hand-picked, many with repeated letters (beside the common words of words.py)
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
_LETTER_WORDS: dict[int, tuple[str, ...]] = {
    difficulty: tuple(sorted({w for w in (*_WORDS, *COMMON_WORDS) if low <= len(w) <= high}, key=lambda w: (len(w), w)))
    for difficulty, (low, high) in _LETTER_BANDS.items()
}
"""The words of each difficulty band, by length then alphabetically (the generator's order)."""
_LETTER_QUESTION = re.compile(
    r"letter\s+['\"‘’“”]?([a-z])['\"‘’“”]?\s+(?:appear|occur)s?\s+in\s+(?:the\s+word\s+)?['\"‘’“”]?([a-z]+)",
    re.I)


def _letters_generate(rng: random.Random, difficulty: int) -> Generated:
    """How often a letter appears in a word of the difficulty's length band: a letter of
    the word 85% of the time, else one it lacks (answer 0)."""
    word = rng.choice(_LETTER_WORDS[difficulty])
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


# name -> (dimension, size in the dimension's base unit, plural); US customary volumes
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
    "tonne": ("mass", Fraction(1_000_000), "tonnes"),
    "ounce": ("mass", Fraction("28.349523125"), "ounces"),
    "pound": ("mass", Fraction("453.59237"), "pounds"),
    "milliliter": ("volume", Fraction(1), "milliliters"),
    "centiliter": ("volume", Fraction(10), "centiliters"),
    "liter": ("volume", Fraction(1000), "liters"),
    "cup": ("volume", Fraction("236.5882365"), "cups"),
    "pint": ("volume", Fraction("473.176473"), "pints"),
    "quart": ("volume", Fraction("946.352946"), "quarts"),
    "gallon": ("volume", Fraction("3785.411784"), "gallons"),
    "millisecond": ("time", Fraction(1, 1000), "milliseconds"),
    "second": ("time", Fraction(1), "seconds"),
    "minute": ("time", Fraction(60), "minutes"),
    "hour": ("time", Fraction(3600), "hours"),
    "day": ("time", Fraction(86400), "days"),
    "week": ("time", Fraction(604800), "weeks"),
}
_METRIC_RE = ("millimeter", "centimeter", "meter", "kilometer", "milliliter", "centiliter", "liter")
_UNIT_ALIASES: dict[str, str] = {
    **{name: name for name in _UNITS}, **{plural: name for name, (_, _, plural) in _UNITS.items()},
    "mm": "millimeter", "cm": "centimeter", "m": "meter", "km": "kilometer", "in": "inch", "ft": "foot",
    "yd": "yard", "mi": "mile", "mg": "milligram", "g": "gram", "kg": "kilogram", "t": "tonne", "oz": "ounce",
    "lb": "pound", "lbs": "pound", "ml": "milliliter", "cl": "centiliter", "l": "liter", "pt": "pint",
    "qt": "quart", "gal": "gallon", "ms": "millisecond", "s": "second", "sec": "second", "secs": "second",
    "min": "minute", "mins": "minute", "h": "hour", "hr": "hour", "hrs": "hour",
    **{f"{n}re": n for n in _METRIC_RE}, **{f"{n}res": n for n in _METRIC_RE},
}
# Each pair's factor (the larger unit in the smaller) is a whole number; a pair converts to
# the smaller unit (the given value drawn) or to the larger (the answer drawn), see _units_generate.
_UNIT_LEVELS: dict[int, tuple[tuple[str, str], ...]] = {
    1: (("kilometer", "meter"), ("meter", "centimeter"), ("meter", "millimeter"), ("centimeter", "millimeter"),
        ("kilogram", "gram"), ("gram", "milligram"), ("tonne", "kilogram"), ("liter", "milliliter"),
        ("liter", "centiliter"), ("centiliter", "milliliter"), ("second", "millisecond"), ("hour", "minute"),
        ("minute", "second"), ("day", "hour"), ("week", "day")),
    2: (("meter", "kilometer"), ("gram", "kilogram"), ("milliliter", "liter"), ("minute", "hour"),
        ("centimeter", "meter"), ("millimeter", "centimeter"), ("second", "minute"), ("millimeter", "meter"),
        ("milligram", "gram"), ("kilogram", "tonne"), ("centiliter", "liter"), ("milliliter", "centiliter"),
        ("millisecond", "second"), ("hour", "day"), ("day", "week")),
    3: (("hour", "second"), ("kilometer", "centimeter"), ("day", "minute"), ("kilogram", "milligram"),
        ("week", "hour"), ("kilometer", "millimeter"), ("tonne", "gram"), ("minute", "millisecond"),
        ("second", "hour"), ("centimeter", "kilometer"), ("minute", "day"), ("milligram", "kilogram"),
        ("gram", "tonne"), ("hour", "week")),
    4: (("foot", "inch"), ("yard", "foot"), ("yard", "inch"), ("mile", "foot"), ("mile", "yard"),
        ("pound", "ounce"), ("gallon", "quart"), ("gallon", "pint"), ("gallon", "cup"), ("quart", "pint"),
        ("quart", "cup"), ("pint", "cup"),
        ("inch", "foot"), ("foot", "yard"), ("inch", "yard"), ("foot", "mile"), ("yard", "mile"),
        ("ounce", "pound"), ("quart", "gallon"), ("pint", "gallon"), ("cup", "gallon"), ("pint", "quart"),
        ("cup", "quart"), ("cup", "pint")),
}
_UNIT_DENOMINATORS: dict[int, tuple[int, ...]] = {1: (1,), 2: (1, 2, 4, 10, 100, 1000), 3: (1, 2, 4, 10),
                                                   4: (1, 2, 4, 8)}
"""The drawn side of a conversion is ``n / q`` for one of these ``q`` that divides the
pair's factor (so the other side is whole and every value is an exact decimal): whole
numbers at difficulty 1, halves, quarters and tenths to thousandths at 2, halves, quarters
and tenths at 3, halves to eighths at 4 (only where the factor allows: 1/8 mile, not 1/8 foot)."""
_CONVERT = re.compile(r"convert\s+(-?\d+(?:\.\d+)?)\s+([a-z]+)\s+(?:in)?to\s+([a-z]+)", re.I)


def _unit_name(unit: str, value: Fraction | int | float) -> str:
    return unit if value == 1 else _UNITS[unit][2]


def _show(value: Fraction) -> str:
    return str(canonical_number(value))


def _drawn(rng: random.Random, difficulty: int, factor: Fraction) -> Fraction:
    """The drawn side of a conversion by ``factor``: ``n / q`` below 100 (whole numbers
    below 1000 at difficulty 1 when the factor is a power of ten)."""
    q = rng.choice([q for q in _UNIT_DENOMINATORS[difficulty] if (factor / q).denominator == 1])
    power_of_ten = factor.numerator == 10 ** (len(str(factor.numerator)) - 1)
    limit = 1000 if difficulty == 1 and power_of_ten else 100
    return Fraction(rng.randint(1, limit * q - 1), q)


def _units_generate(rng: random.Random, difficulty: int) -> Generated:
    """``Convert X unit to unit.`` with an exact answer. Difficulty 1: a whole number below
    1000 (below 100 for time by 60, 24 or 7) to a smaller metric unit or time unit, one step
    (km to m, L to cL, days to hours); 2: to a larger one, the answer whole or an exact
    decimal below 100 (2850 minutes to hours = 47.5); 3: two steps either way (km to cm,
    seconds to hours), halves, quarters or tenths; 4: US customary length, weight and
    volume (feet to inches, cups to gallons), halves to eighths where the factor allows."""
    source, target = rng.choice(_UNIT_LEVELS[difficulty])
    ratio = _UNITS[source][1] / _UNITS[target][1]
    factor = ratio if ratio >= 1 else 1 / ratio  # a whole number for every pair in the table
    if ratio >= 1:  # to the smaller unit: the given value is drawn, the answer is whole
        value = _drawn(rng, difficulty, factor)
    else:  # to the larger unit: the answer is drawn, the given value is whole
        value = _drawn(rng, difficulty, factor) * factor
    truth = value * ratio
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
                3: "two-step unit conversions (hours to seconds, km to cm, seconds to hours)",
                4: "imperial unit conversions (feet to inches, pounds to ounces, cups to gallons)"}

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


def builtin_families() -> dict[str, TaskFamily]:
    """A fresh instance of every built-in family, by name."""
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
