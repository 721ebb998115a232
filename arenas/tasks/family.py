"""A task family: a seeded generator of checkable items, its checker and its held-out split."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from sparring.agents import parsers
from sparring.agents.parsers import ParseError
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams, derive_seed
from sparring.arenas.tasks.answers import (
    PARSERS,
    canonical_number,
    check_by_kind,
    format_answer,
    normalise,
)

Kind = Literal["number", "list", "text"]
Split = Literal["train", "validation", "test"]
KINDS: tuple[str, ...] = ("number", "list", "text")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
ALIASES = {"held_out": "test"}
"""Older split names still accepted (``held_out`` was the test split before validation existed)."""
Generated = tuple[str, Any] | tuple[str, Any, str]
MAX_TRIES = 2000
"""Draws :meth:`TaskFamily.sample` makes before giving up on finding an item of a split."""
POOL_CAP = 2000
"""Most distinct items :meth:`TaskFamily.pool` enumerates for one split (evaluation sets)."""
POOL_PATIENCE = 20_000
"""Draws without a new distinct item after which a split's pool counts as exhausted."""


class TaskError(ValueError):
    """A task family is misdefined or a task file is malformed; the message says where."""


def split_of_key(key: str, test_fraction: float, validation_fraction: float = 0.0) -> Split:
    """The split of an item key by the hash bucket of the key.

    The lowest ``test_fraction`` of the hash space is ``test`` (the bucket the single
    held-out split used, so older held-out sets are today's test sets), the next
    ``validation_fraction`` is ``validation``, the rest ``train``.
    """
    bucket = derive_seed("task-split", key) % 10_000
    test = round(test_fraction * 10_000)
    if bucket < test:
        return "test"
    return "validation" if bucket < test + round(validation_fraction * 10_000) else "train"


def check_split(split: str) -> Split:
    """``split`` as one of :data:`SPLITS` (``held_out`` is read as ``test``); a
    :class:`TaskError` naming the choices otherwise."""
    split = ALIASES.get(split, split)
    if split not in SPLITS:
        raise TaskError(f"split must be one of {', '.join(SPLITS)} (held_out = test), got {split!r}")
    return split  # type: ignore[return-value]


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
        test_fraction: Share of the prompt-hash space in the ``test`` split.
        validation_fraction: Share in the ``validation`` split (model selection); the
            rest is ``train``. Both in [0, 1) with a sum below 1; test must be positive.
        held_out_fraction: Older name of ``test_fraction`` (kept for user code).
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
        test_fraction: float = 0.1,
        validation_fraction: float = 0.1,
        held_out_fraction: float | None = None,
    ) -> None:
        if not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise TaskError(f"task family name must be letters, digits, '_', '-' or '.', got {name!r}")
        if kind not in KINDS:
            raise TaskError(f"task family {name!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        low, high = difficulties
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
            raise TaskError(f"task family {name!r}: difficulties must be (low, high) integers with 1 <= low <= high, "
                            f"got {difficulties!r}")
        if held_out_fraction is not None:
            test_fraction = held_out_fraction
        if not (0.0 < test_fraction < 1.0 and 0.0 <= validation_fraction < 1.0
                and test_fraction + validation_fraction < 1.0):
            raise TaskError(f"task family {name!r}: test_fraction must be in (0, 1), validation_fraction in [0, 1) "
                            f"and their sum below 1 (the rest is train), got {test_fraction} and {validation_fraction}")
        self.name = name
        self.kind: Kind = kind
        self.difficulties = (low, high)
        self.test_fraction = test_fraction
        self.validation_fraction = validation_fraction
        self._pools: dict[tuple[str, int, int], list[Item]] = {}
        self._generate = generate
        self._check = check or check_by_kind(kind)
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
            self._reference(prompt, answer) if self._reference else f"Answer: {format_answer(answer)}")
        return Item(self.name, prompt, answer, str(reference), difficulty)

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        """One item of either split (the raw generator)."""
        return self.make_item(self._generate(rng, self.check_difficulty(difficulty)), difficulty)

    def split_of(self, item: Item | str) -> Split:
        """The split an item (or a prompt) belongs to."""
        key = item.key if isinstance(item, Item) else normalise(item)
        return split_of_key(key, self.test_fraction, self.validation_fraction)

    @property
    def held_out_fraction(self) -> float:
        """Older name of :attr:`test_fraction`."""
        return self.test_fraction

    def sample(self, rng: random.Random, difficulty: int, split: str = "train") -> Item:
        """An item of ``split``: drawn from ``rng`` until one falls in the split.

        Raises:
            TaskError: after ``MAX_TRIES`` draws without an item of the split (a family
                whose items at this difficulty are too few).
        """
        split = check_split(split)
        for _ in range(MAX_TRIES):
            item = self.generate(rng, difficulty)
            if self.split_of(item) == split:
                return item
        raise TaskError(f"task family {self.name!r}: no {split} item in {MAX_TRIES} draws at difficulty "
                        f"{difficulty}; the family has too few distinct items at this difficulty")

    def items(self, count: int, seed: int, difficulty: int, split: str = "train") -> list[Item]:
        """``count`` items of ``split`` from a generator seeded with ``seed`` (tests, benchmarks)."""
        rng = random.Random(seed)
        return [self.sample(rng, difficulty, split) for _ in range(count)]

    def pool(self, split: str, difficulty: int | Sequence[int]) -> list[Item]:
        """The distinct items of ``split`` at ``difficulty`` (an int or ``[low, high]``), in a
        fixed order: what an evaluation plays, item ``k`` for match seed ``k``.

        Enumerated from a generator seeded by the family, split and difficulty (so every run
        and every arm of a comparison sees the same items in the same order), keeping the
        first occurrence of each prompt, until :data:`POOL_CAP` items, or until
        :data:`POOL_PATIENCE` draws in a row bring nothing new (the split is exhausted).
        """
        split = check_split(split)
        low, high = difficulty_range(difficulty, self)
        cached = self._pools.get((split, low, high))
        if cached is not None:
            return cached
        rng = random.Random(derive_seed("task-pool", self.name, split, low, high))
        seen: set[str] = set()
        found: list[Item] = []
        idle = 0
        while len(found) < POOL_CAP and idle < POOL_PATIENCE:
            item = self.generate(rng, rng.randint(low, high))
            idle += 1
            if item.key in seen:
                continue
            seen.add(item.key)
            if self.split_of(item) == split:
                found.append(item)
                idle = 0
        self._pools[(split, low, high)] = found
        return found

    def draw(self, rng: random.Random, index: int, difficulty: tuple[int, int], split: str) -> Item:
        """The item a match plays: for ``train`` a fresh draw from ``rng`` at a difficulty in
        the range; for ``validation`` and ``test`` item ``index`` (the match seed) of the
        split's :meth:`pool`, so seeds ``0..n-1`` are ``n`` distinct items."""
        split = check_split(split)
        low, high = difficulty
        if split == "train":
            return self.sample(rng, rng.randint(low, high), split)
        pool = self.pool(split, difficulty)
        if not pool:
            raise TaskError(f"task family {self.name!r}: no {split} item at difficulty {low}..{high}")
        return pool[index % len(pool)]

    def split_counts(self, difficulty: int, draws: int = 20_000, seed: int = 0) -> dict[str, int]:
        """Distinct items per split among ``draws`` generated at ``difficulty`` (a lower
        bound on the split's size; equal to it once the family is exhausted)."""
        rng = random.Random(seed)
        keys = {self.generate(rng, difficulty).key for _ in range(draws)}
        counts = dict.fromkeys(SPLITS, 0)
        for key in keys:
            counts[self.split_of(key)] += 1
        return counts

    # -- answers

    @property
    def parser(self) -> Callable[[str], Any]:
        """The reply parser of this family's answer kind (carries ``examples``)."""
        return PARSERS[self.kind]

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
