"""Small programming problems with hidden tests: the problems of ``code-feedback`` (CodeDPO).

A problem asks for one Python function (``sum_multiples(xs)``, ``count_char(s)``, ...)
from a statement with one or two parameters drawn from the seed (the divisor, the letter,
the range), so ten templates give about 5,000 distinct statements (528 in the test
split, 475 in validation); the three splits are by the statement's hash, like every task family (:class:`TaskFamily`, kept
private here: its answers are tests to run, not replies to compare, so no other arena
should draw it). The truth of an item is ``{"name": ..., "tests": [...]}``: eight
``assert name(args) == expected`` lines whose expected values come from this module's
own reference functions (plain Python of this package, run in the trainer: no
model-written code is executed here; the arena runs the asserts against model-written
solutions in the sandbox).

Versions: v1 (the templates, their parameters and the test inputs are part of it).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sparring.arenas.tasks import TaskFamily

TESTS_PER_PROBLEM = 8


@dataclass(frozen=True)
class Template:
    """One kind of problem: its function, statement, parameters, reference and inputs."""

    name: str
    statement: str
    params: Callable[[random.Random], dict[str, Any]]
    reference: Callable[[dict[str, Any]], Callable[..., Any]]
    inputs: Callable[[random.Random, dict[str, Any]], tuple[Any, ...]]


def _ints(rng: random.Random, n: int = 6, low: int = -20, high: int = 40) -> list[int]:
    return [rng.randint(low, high) for _ in range(rng.randint(0, n))]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdeilmnorst") for _ in range(rng.randint(1, 7)))


LETTERS = "abcdeilmnorst"
TEMPLATES: tuple[Template, ...] = (
    Template("sum_multiples", "Write a Python function sum_multiples(xs) that returns the sum of the numbers in the "
             "list xs that are divisible by {k} and greater than {t}.",
             lambda r: {"k": r.randint(2, 9), "t": r.randint(-30, 30)},
             lambda p: lambda xs: sum(x for x in xs if x % p["k"] == 0 and x > p["t"]),
             lambda r, p: (_ints(r),)),
    Template("count_char", "Write a Python function count_char(s) that returns how many times the letter '{c}' "
             "occurs in the string s, plus {b}.",
             lambda r: {"c": r.choice(LETTERS), "b": r.randint(0, 49)},
             lambda p: lambda s: s.count(p["c"]) + p["b"],
             lambda r, p: (" ".join(_word(r) for _ in range(r.randint(0, 4))),)),
    Template("clip_list", "Write a Python function clip_list(xs) that returns a new list with every number of xs "
             "clipped to the range [{lo}, {hi}].",
             lambda r: {"lo": (lo := r.randint(-20, 20)), "hi": lo + r.randint(1, 30)},
             lambda p: lambda xs: [min(max(x, p["lo"]), p["hi"]) for x in xs],
             lambda r, p: (_ints(r),)),
    Template("power_sum", "Write a Python function power_sum(n) that returns 1**{e} + 2**{e} + ... + n**{e} "
             "plus {b} (just {b} when n < 1).",
             lambda r: {"e": r.randint(1, 4), "b": r.randint(0, 99)},
             lambda p: lambda n: sum(i ** p["e"] for i in range(1, n + 1)) + p["b"],
             lambda r, p: (r.randint(-2, 12),)),
    Template("rotate", "Write a Python function rotate(xs) that returns the list xs rotated left by {k} positions, "
             "taking {k} modulo the length of xs (an empty list stays empty); then it appends {v}.",
             lambda r: {"k": r.randint(1, 9), "v": r.randint(0, 30)},
             lambda p: lambda xs: (xs[p["k"] % len(xs):] + xs[:p["k"] % len(xs)] if xs else []) + [p["v"]],
             lambda r, p: (_ints(r),)),
    Template("digit_sum", "Write a Python function digit_sum(n) that returns the sum of the digits of the "
             "non-negative integer n written in base {b}, times {m}.",
             lambda r: {"b": r.randint(2, 9), "m": r.randint(1, 12)},
             lambda p: lambda n: _digit_sum(n, p["b"]) * p["m"],
             lambda r, p: (r.randint(0, 5000),)),
    Template("every_kth", "Write a Python function every_kth(xs) that returns every {k}-th element of the list xs, "
             "starting from the element at index {s} (an empty list when there is none).",
             lambda r: {"k": r.randint(2, 6), "s": r.randint(0, 5)},
             lambda p: lambda xs: xs[p["s"]::p["k"]],
             lambda r, p: (_ints(r, 12),)),
    Template("count_between", "Write a Python function count_between(xs) that returns how many numbers in the list "
             "xs are strictly greater than {lo} and at most {hi}.",
             lambda r: {"lo": (lo := r.randint(-20, 30)), "hi": lo + r.randint(1, 30)},
             lambda p: lambda xs: sum(1 for x in xs if p["lo"] < x <= p["hi"]),
             lambda r, p: (_ints(r, 8),)),
    Template("replace_char", "Write a Python function replace_char(s) that returns the string s with every '{a}' "
             "replaced by '{c}' and then repeated {n} times.",
             lambda r: {"a": r.choice(LETTERS), "c": r.choice("xyzXYZ_-*"), "n": r.randint(1, 3)},
             lambda p: lambda s: s.replace(p["a"], p["c"]) * p["n"],
             lambda r, p: (" ".join(_word(r) for _ in range(r.randint(0, 3))),)),
    Template("shift_words", "Write a Python function shift_words(s) that returns the words of s (separated by "
             "single spaces) with each word's letters shifted {k} places forward in the alphabet (z wraps to a), "
             "joined by '{j}'.",
             lambda r: {"k": r.randint(1, 25), "j": r.choice([" ", "-", "_", ","])},
             lambda p: lambda s: p["j"].join("".join(chr((ord(ch) - 97 + p["k"]) % 26 + 97) for ch in w)
                                             for w in s.split(" ")) if s else "",
             lambda r, p: (" ".join(_word(r) for _ in range(r.randint(1, 4))),)),
)


def _digit_sum(n: int, base: int) -> int:
    total = 0
    while n > 0:
        n, digit = divmod(n, base)
        total += digit
    return total


def make_problem(rng: random.Random, difficulty: int) -> tuple[str, dict[str, Any], str]:
    """(statement, ``{"name", "tests"}``, reference text) of one problem drawn from ``rng``."""
    template = rng.choice(TEMPLATES)
    params = template.params(rng)
    statement = template.statement.format(**params)
    fn = template.reference(params)
    tests, seen = [], set()
    for _ in range(TESTS_PER_PROBLEM * 4):  # distinct inputs, up to TESTS_PER_PROBLEM of them
        args = template.inputs(rng, params)
        call = f"{template.name}({', '.join(repr(a) for a in args)})"
        if call not in seen:
            seen.add(call)
            tests.append(f"assert {call} == {fn(*args)!r}")
        if len(tests) == TESTS_PER_PROBLEM:
            break
    return statement, {"name": template.name, "tests": tests}, "(no reference reply: solutions are checked by tests)"


CODE_PROBLEMS = TaskFamily("code-problems", make_problem, check=lambda answer, truth: False, kind="text")
"""The problems as a private task family (splits and pools by statement hash)."""
