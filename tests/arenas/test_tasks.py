"""Task families: determinism, the difficulty knob, disjoint splits, checkers, user families, JSONL."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sparring.arenas import TaskError, TaskFamily, families, get_family, load_jsonl, register_family
from sparring.arenas.tasks import parse_list, parse_number, parse_text, split_of_key

BUILTINS = ("arithmetic", "multiplication", "letters", "sorting", "units", "word_problems")


def test_builtin_families_are_registered() -> None:
    assert set(BUILTINS) <= set(families())


@pytest.mark.parametrize("name", BUILTINS)
def test_same_seed_same_items(name: str) -> None:
    family = get_family(name)
    low, high = family.difficulties
    for difficulty in (low, high):
        assert family.items(8, 11, difficulty) == family.items(8, 11, difficulty)
        assert family.items(8, 11, difficulty, "held_out") == family.items(8, 11, difficulty, "held_out")
    assert family.items(8, 11, low) != family.items(8, 12, low)


@pytest.mark.parametrize("name", BUILTINS)
def test_difficulty_changes_the_items(name: str) -> None:
    family = get_family(name)
    low, high = family.difficulties
    easy = {item.prompt for item in family.items(20, 3, low)}
    hard = {item.prompt for item in family.items(20, 3, high)}
    assert not easy & hard
    assert all(item.difficulty == high for item in family.items(5, 3, high))


def test_difficulty_knob_in_numbers() -> None:
    def operand_digits(prompt: str) -> set[int]:
        return {len(tok) for tok in prompt.rstrip("?").split() if tok.isdigit()}

    arithmetic = get_family("arithmetic")
    assert {d for item in arithmetic.items(10, 0, 1) for d in operand_digits(item.prompt)} == {1}
    assert {d for item in arithmetic.items(10, 0, 4) for d in operand_digits(item.prompt)} == {4}
    sorting = get_family("sorting")
    assert {len(item.answer) for item in sorting.items(10, 0, 1)} == {3}
    assert {len(item.answer) for item in sorting.items(10, 0, 5)} == {7}


@pytest.mark.parametrize("name", BUILTINS)
def test_the_three_splits_are_disjoint(name: str) -> None:
    family = get_family(name)
    low, high = family.difficulties
    for difficulty in range(low, high + 1):
        drawn = {split: family.items(60 if split == "train" else 20, 5, difficulty, split)
                 for split in ("train", "validation", "test")}
        keys = {split: {i.key for i in items} for split, items in drawn.items()}
        assert keys["train"].isdisjoint(keys["validation"]) and keys["train"].isdisjoint(keys["test"])
        assert keys["validation"].isdisjoint(keys["test"])
        for split, items in drawn.items():
            assert all(family.split_of(i) == split for i in items)
        assert family.items(5, 5, difficulty, "held_out") == family.items(5, 5, difficulty, "test")  # older name


def test_split_is_a_function_of_the_prompt_only() -> None:
    keys = [f"what is {i} + {i}" for i in range(4000)]
    splits = [split_of_key(k, 0.1, 0.1) for k in keys]
    assert 280 < splits.count("test") < 520 and 280 < splits.count("validation") < 520  # about 10% each
    assert splits == [split_of_key(k, 0.1, 0.1) for k in keys]
    # the test bucket is the one the single held-out split used: older held-out sets are test sets
    assert [k for k, s in zip(keys, splits, strict=True) if s == "test"] == [k for k in keys if split_of_key(k, 0.1) == "test"]


def test_pool_lists_distinct_items_of_a_split_in_a_fixed_order() -> None:
    family = get_family("arithmetic")
    pool = family.pool("test", 2)
    assert len(pool) >= 500 and len({i.key for i in pool}) == len(pool)
    assert all(family.split_of(i) == "test" for i in pool)
    assert [i.key for i in pool[:50]] == [i.key for i in get_family("arithmetic").pool("test", [2, 2])[:50]]
    small = family.pool("test", 1)  # 1-digit +/-: few prompts exist, the pool ends when they do
    assert len(small) == len({i.key for i in small}) < 40
    assert family.draw(random.Random(0), 7, (2, 2), "test") == pool[7]


def test_split_counts_count_distinct_items() -> None:
    counts = get_family("arithmetic").split_counts(1, draws=5000)
    assert sum(counts.values()) == 162  # 9 x 9 operands x 2 operators
    assert set(counts) == {"train", "validation", "test"}


@pytest.mark.parametrize(("name", "least"), [("units", 6000), ("letters", 5000)])
def test_units_and_letters_hold_a_500_item_test_set_at_every_difficulty(name: str, least: int) -> None:
    family = get_family(name)
    for difficulty in range(1, 5):
        counts = family.split_counts(difficulty, draws=20_000)
        assert sum(counts.values()) >= least and counts["test"] >= 500, (difficulty, counts)


def test_units_difficulties_keep_their_meaning() -> None:
    from sparring.arenas.tasks.builtin import _UNIT_ALIASES, _UNITS

    def conversion(prompt: str) -> tuple[float, str, str]:
        _, value, source, _, target = prompt.rstrip(".").split()
        return float(value), _UNIT_ALIASES[source], _UNIT_ALIASES[target]

    units = get_family("units")
    metric = {"millimeter", "centimeter", "meter", "kilometer", "milligram", "gram", "kilogram", "tonne",
              "milliliter", "centiliter", "liter", "millisecond", "second", "minute", "hour", "day", "week"}
    for difficulty in range(1, 5):
        for item in units.items(200, 4, difficulty):
            value, source, target = conversion(item.prompt)
            assert (value * _UNITS[source][1] / _UNITS[target][1]) == pytest.approx(item.answer)
            if difficulty == 1:  # whole numbers below 1000 to a smaller metric unit (or time), whole answers
                assert value == int(value) < 1000 and isinstance(item.answer, int)
                assert _UNITS[source][1] > _UNITS[target][1] and {source, target} <= metric
            elif difficulty == 2:
                assert _UNITS[source][1] < _UNITS[target][1] and {source, target} <= metric
            elif difficulty == 4:
                assert not {source, target} & metric
    easy = [conversion(item.prompt)[0] for item in units.items(400, 0, 1)]
    assert max(easy) >= 900 and min(easy) < 100  # small round values, 1..999


def test_letters_draw_from_thousands_of_words() -> None:
    from sparring.arenas.tasks.builtin import _LETTER_BANDS, _LETTER_WORDS

    for difficulty, (low, high) in _LETTER_BANDS.items():
        words = _LETTER_WORDS[difficulty]
        assert len(words) >= 500 and all(low <= len(w) <= high and w.isalpha() and w.islower() for w in words)
    assert "mississippi" in _LETTER_WORDS[3] and "strawberry" in _LETTER_WORDS[3]  # the hand-picked ones stay


@pytest.mark.parametrize("name", BUILTINS)
def test_checker_accepts_the_reference_and_rejects_a_wrong_answer(name: str) -> None:
    family = get_family(name)
    low, high = family.difficulties
    for difficulty in range(low, high + 1):
        for item in family.items(10, 9, difficulty) + family.items(3, 9, difficulty, "test"):
            assert family.grade(item.reference, item), item
            assert family.check(family.parse(item.reference), item.answer)
            if isinstance(item.answer, list):
                wrong = "Answer: " + ", ".join(str(v) for v in reversed(item.answer + [1]))
            else:
                wrong = f"Answer: {item.answer + 1}"
            assert not family.grade(wrong, item), (item, wrong)
            assert not family.grade("no answer here", item) or family.kind == "text"


def test_family_solves_its_own_prompts_where_it_can() -> None:
    for name in ("arithmetic", "multiplication", "letters", "sorting", "units"):
        family = get_family(name)
        for item in family.items(20, 1, family.difficulties[1]):
            assert family.check(family.solve(item.prompt), item.answer), item
    assert get_family("word_problems").solve("Sam has 3 apples and buys 2 more. How many?") is None
    assert not get_family("word_problems").can_solve


@pytest.mark.parametrize(("family", "problem", "truth"), [
    ("multiplication", "Problem: what is 123 x 45?", 5535),
    ("letters", 'How many times does the letter "s" appear in the word Mississippi?', 4),
    ("sorting", "Sort from largest to smallest: 3, 10, 7", [10, 7, 3]),
    ("sorting", "Sort 5 numbers: 9, 1, 4", [1, 4, 9]),
    ("units", "Convert 2.5 km to m.", 2500),
    ("units", "Convert 90 minutes into hours", 1.5),
    ("units", "Convert 3 ft to in", 36),
    ("units", "Convert 3 kilograms to meters.", None),
    ("arithmetic", "Name a colour.", None),
])
def test_solving_free_form_problems(family: str, problem: str, truth: object) -> None:
    assert get_family(family).solve(problem) == truth


def test_parsers() -> None:
    assert parse_number("so 2.50 in all\nAnswer: 2.50") == 2.5
    assert parse_number("Answer: 4.0") == 4
    assert parse_list("Answer: 3, 10, -2") == [3, 10, -2]
    assert parse_list("the list\n1 2 3") == [1, 2, 3]
    assert parse_text("Answer: The  Moon.") == "the moon"


def test_a_user_family_is_one_function_pair() -> None:
    def generate(rng: random.Random, difficulty: int) -> tuple[str, str]:
        word = rng.choice(["stressed", "drawer", "level", "reward", "diaper"][: 2 + difficulty])
        return f"Reverse the word '{word}'.", word[::-1]

    def check(answer: str, truth: str) -> bool:
        return answer.strip("'\"") == truth

    family = TaskFamily("reverse_test", generate, check, difficulties=(1, 3))
    register_family(family)
    assert get_family("reverse_test") is family
    item = family.items(1, 0, 2, "train")[0]
    assert family.grade(item.reference, item)
    assert family.grade(f"Answer: '{item.answer}'", item)
    assert not family.grade("Answer: nope", item)
    with pytest.raises(TaskError, match="already registered"):
        register_family(TaskFamily("reverse_test", generate, check))
    with pytest.raises(TaskError, match=r"difficulty must be an integer in 1\.\.3, got 4"):
        family.items(1, 0, 4)


def test_a_family_with_too_few_items_fails_clearly() -> None:
    family = TaskFamily("one_item", lambda rng, d: ("What is 1 + 1?", 2), kind="number")
    split = family.split_of("What is 1 + 1?")
    other = "test" if split == "train" else "train"
    assert family.items(2, 0, 1, split)[0].answer == 2
    with pytest.raises(TaskError, match=f"no {other} item in 2000 draws"):
        family.items(1, 0, 1, other)


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "capitals.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_family(tmp_path: Path) -> None:
    countries = ["France", "Spain", "Italy", "Japan", "Peru", "Kenya", "Chile", "Egypt", "India", "Ghana"]
    capitals = ["Paris", "Madrid", "Rome", "Tokyo", "Lima", "Nairobi", "Santiago", "Cairo", "New Delhi", "Accra"]
    lines = [json.dumps({"prompt": f"What is the capital of {c}?", "answer": a,
                         "difficulty": 1 + i % 2, **({"split": "held_out"} if i in (0, 1) else {"split": "train"})})
             for i, (c, a) in enumerate(zip(countries, capitals, strict=True))]
    lines.insert(3, "")
    path = _write(tmp_path, lines)
    family = get_family(str(path))
    assert family.name == "capitals" and family.kind == "text" and family.difficulties == (1, 2)
    held = {family.sample(random.Random(s), 1, "held_out").prompt for s in range(10)}
    assert held == {"What is the capital of France?"}
    train = family.items(30, 0, 1)
    assert "What is the capital of France?" not in {i.prompt for i in train}
    item = train[0]
    assert family.grade(item.reference, item)
    assert family.grade(f"It is {item.answer}.\nAnswer: {item.answer.upper()}", item)
    assert not family.grade("Answer: London", item)
    assert family.solve("what is the capital of peru") == "Lima"
    assert family.solve("What is the capital of Mars?") is None


def test_jsonl_numbers_and_hash_split(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps({"prompt": f"What is {i} squared?", "answer": i * i}) for i in range(60)])
    family = load_jsonl(path, name="squares")
    assert family.kind == "number"
    held = family.items(5, 0, 1, "held_out")
    assert all(family.split_of(i) == "test" for i in held)
    assert family.grade("so\nAnswer: " + str(held[0].answer), held[0])


@pytest.mark.parametrize(("line", "message"), [
    ('{"prompt": "x?", "answer": 1', "line 2: not valid JSON"),
    ('[1, 2]', "line 2: expected a JSON object"),
    ('{"prompt": "x?"}', "line 2: missing 'answer'"),
    ('{"answer": 3}', "line 2: missing 'prompt'"),
    ('{"prompt": "", "answer": 3}', "line 2: 'prompt' must be a non-empty string"),
    ('{"prompt": "x?", "answer": {"a": 1}}', "line 2: 'answer' must be a finite number"),
    ('{"prompt": "x?", "answer": "seven"}', "line 2: 'answer' is a text but line 1 has a number"),
    ('{"prompt": "x?", "answer": 3, "difficulty": 0}', "line 2: 'difficulty' must be an integer >= 1"),
    ('{"prompt": "x?", "answer": 3, "split": "dev"}', "line 2: 'split' must be \"train\", \"validation\" or \"test\""),
    ('{"promt": "x?", "answer": 3}', "line 2: unknown key(s) 'promt'"),
    ('{"prompt": "What is 1 + 1 ?", "answer": 2}', "line 2: duplicate prompt (first on line 1)"),
])
def test_jsonl_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, ['{"prompt": "What is 1 + 1?", "answer": 2}', line])
    with pytest.raises(TaskError) as info:
        load_jsonl(path)
    assert f"{path} {message}" in str(info.value)


def test_jsonl_file_level_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(TaskError, match="no items"):
        load_jsonl(empty)
    with pytest.raises(TaskError, match="does not exist"):
        get_family(str(tmp_path / "missing.jsonl"))
    with pytest.raises(TaskError, match="unknown task family 'nope'; use one of arithmetic"):
        get_family("nope")
    only_train = _write(tmp_path, ['{"prompt": "What is 1 + 1?", "answer": 2, "split": "train"}'])
    with pytest.raises(TaskError, match="no test item of difficulty 1"):
        load_jsonl(only_train).items(1, 0, 1, "held_out")


def test_family_from_a_python_file(tmp_path: Path) -> None:
    source = tmp_path / "my_tasks.py"
    source.write_text(
        "from sparring.arenas import TaskFamily\n"
        "doubles = TaskFamily('doubles', lambda rng, d: (f'Double {rng.randint(1, 99)}.', 0), kind='number')\n"
        "not_a_family = 3\n")
    assert get_family(f"{source}:doubles").name == "doubles"
    with pytest.raises(TaskError, match="is not a TaskFamily"):
        get_family(f"{source}:not_a_family")
