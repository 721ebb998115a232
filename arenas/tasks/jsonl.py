"""Task families read from a JSONL file of ``{"prompt": ..., "answer": ...}`` lines."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from sparring.arenas.tasks.answers import canonical_number, format_answer, normalise
from sparring.arenas.tasks.family import (
    ALIASES,
    SPLITS,
    Generated,
    Item,
    Kind,
    Split,
    TaskError,
    TaskFamily,
    check_split,
    difficulty_range,
    split_of_key,
)

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
                 test_fraction: float = 0.1, validation_fraction: float = 0.1) -> None:
        self.source = source
        self._items = items
        self._splits = splits
        self._by_key = {item.key: item for item in items}
        self._split_by_key = {item.key: split for item, split in zip(items, splits, strict=True)}
        difficulties = sorted({item.difficulty for item in items})
        super().__init__(name, self._pick, kind=kind, difficulties=(difficulties[0], difficulties[-1]),
                         solve=self._lookup, test_fraction=test_fraction,
                         validation_fraction=validation_fraction)

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

    def sample(self, rng: random.Random, difficulty: int, split: str = "train") -> Item:
        """An item of ``split`` at ``difficulty``, drawn directly from the file's lines."""
        self.check_difficulty(difficulty)
        return rng.choice(self._lines(check_split(split), difficulty, difficulty))

    def pool(self, split: str, difficulty: int | list[int] | tuple[int, int]) -> list[Item]:
        """The file's lines of ``split`` in the difficulty range, in file order."""
        low, high = difficulty_range(difficulty, self)
        return self._lines(check_split(split), low, high)

    def split_counts(self, difficulty: int, draws: int = 20_000, seed: int = 0) -> dict[str, int]:
        """Distinct prompts per split among the file's lines at ``difficulty`` (exact: no
        draws; ``draws`` and ``seed`` are accepted for the common signature)."""
        self.check_difficulty(difficulty)
        counts = dict.fromkeys(SPLITS, 0)
        for key in {i.key for i in self._items if i.difficulty == difficulty}:
            counts[self.split_of(key)] += 1
        return counts

    def _lines(self, split: str, low: int, high: int) -> list[Item]:
        lines = [i for i, s in zip(self._items, self._splits, strict=True) if s == split and low <= i.difficulty <= high]
        if not lines:
            share = {"test": self.test_fraction, "validation": self.validation_fraction}.get(split, 0.0)
            where = f"difficulty {low}" if low == high else f"difficulties {low}..{high}"
            raise TaskError(f"{self.source}: no {split} item of {where}; mark some lines "
                            f"\"split\": \"{split}\" or add lines ({split} lines are chosen by a hash of the "
                            f"prompt, about {share:.0%} of them)")
        return lines


def load_jsonl(path: str | Path, name: str | None = None, test_fraction: float = 0.1,
               validation_fraction: float = 0.1) -> JsonlFamily:
    """A task family from a JSONL file: one JSON object per line.

    Keys: ``prompt`` (non-empty string) and ``answer`` (a number, a string, or a list of
    numbers; one kind for the whole file) are required; ``reference`` (the reference
    reply; default ``"Answer: <answer>"``), ``difficulty`` (integer >= 1, default 1) and
    ``split`` (``"train"``, ``"validation"`` or ``"test"``, ``"held_out"`` read as test;
    default: by a hash of the prompt) are
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
        if split is not None and ALIASES.get(split, split) not in SPLITS:
            raise TaskError(f"{at}: 'split' must be \"train\", \"validation\" or \"test\", got {json.dumps(split)}")
        if split is not None:
            split = ALIASES.get(split, split)
        if kind == "number":
            answer = canonical_number(answer)
        elif kind == "list":
            answer = [canonical_number(a) for a in answer]
        item = Item(family, prompt, answer, reference or f"Answer: {format_answer(answer)}", difficulty)
        if item.key in seen:
            raise TaskError(f"{at}: duplicate prompt (first on line {seen[item.key]})")
        seen[item.key] = number
        items.append(item)
        splits.append(split or split_of_key(item.key, test_fraction, validation_fraction))
    if not items:
        raise TaskError(f"{where}: no items (expected JSON lines like {{\"prompt\": \"...\", \"answer\": 42}})")
    return JsonlFamily(family, items, splits, kind, where, test_fraction, validation_fraction)  # type: ignore[arg-type]
