"""code-feedback (CodeDPO): conformance, problems and splits, ranking by hidden tests in the
sandbox, mutual verification by hand, hostile solutions, DPO pairs, arguments, golden."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from sparring.agents.engines.base import GenerationRequest
from sparring.agents.parsers import ParseError
from sparring.arenas import TaskError, Transcript, check_arena, check_reward, replay
from sparring.arenas.builtin.code_feedback import (
    CodeFeedback,
    mutual_scores,
    parse_solution,
    parse_tests,
    score_truth_agreement,
    solution_score,
    solution_truth,
)
from sparring.arenas.builtin.code_feedback import (
    test_score as score_of_testers,
)
from sparring.arenas.builtin.code_problems import CODE_PROBLEMS, TESTS_PER_PROBLEM
from sparring.arenas.replay import diff
from sparring.rewards import builders
from tests.arenas.task_scripts import play
from tests.helpers import seat_by_system_prompt

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "code_feedback.json"
SEATS = {"You are a careful Python programmer": "coder", "You write Python test cases": "tester"}
POOL = CODE_PROBLEMS.pool("test", (1, 1))


def _item(request: GenerationRequest) -> Any:
    prompt = request.messages[-1]["content"]
    return next(i for i in POOL if prompt.startswith(i.prompt))


def table_solution(item: Any, wrong: bool = False) -> str:
    """A solution right on the hidden tests (a lookup table of them), or off by a wrapper."""
    name, table = item.answer["name"], {}
    for test in item.answer["tests"]:
        call, expected = re.fullmatch(r"assert \w+\((.*)\) == (.*)", test).groups()  # type: ignore[union-attr]
        table[f"({call},)"] = expected  # every problem's function takes one argument
    body = "{" + ", ".join(f"repr({k}): {v}" for k, v in table.items()) + "}"
    value = "None" if wrong else "table.get(repr(args))"
    return f"```python\ndef {name}(*args):\n    table = {body}\n    return {value}\n```"


def script(coder: list[str], tester: list[str] | None = None, by_seed: bool = False) -> Any:
    """Coder replies by kind (right/wrong/loop/text) in ask order (or per row seed, for the
    golden files: independent of batching); tester replies likewise."""
    counts = {"coder": 0, "tester": 0}

    def reply(request: GenerationRequest, index: int) -> str:
        item = _item(request)
        seat = seat_by_system_prompt(request, SEATS)
        kinds = coder if seat == "coder" else (tester or ["none"])
        kind = kinds[(request.seed if by_seed else counts[seat]) % len(kinds)]
        counts[seat] += 1
        name = item.answer["name"]
        return {"right": table_solution(item), "wrong": table_solution(item, wrong=True),
                "loop": f"```python\ndef {name}(*args):\n    while True:\n        pass\n```",
                "text": "I would use a loop.",
                "tests": "\n".join(item.answer["tests"][:3]),
                "bad_tests": f"assert {name}(1) == 'surely not'\n" + item.answer["tests"][0],
                "none": "no tests"}[kind]
    return reply


@pytest.mark.parametrize("arena", [CodeFeedback(), CodeFeedback(self_tests=True, samples=2, testers=1)])
def test_check_arena(arena: CodeFeedback) -> None:
    assert not check_arena(arena).warnings


def test_problems_have_hidden_tests_and_splits() -> None:
    assert len(POOL) > 150
    item = POOL[0]
    assert len(item.answer["tests"]) == TESTS_PER_PROBLEM and all(t.startswith("assert ") for t in item.answer["tests"])
    assert all(CODE_PROBLEMS.split_of(i.prompt) == "test" for i in POOL[:20])


def test_ranked_by_hidden_tests_passed() -> None:
    arena = CodeFeedback(samples=3, split="test")
    [t], engine = play(arena, script(["right", "wrong", "text"]))
    o = t.outcome
    assert o["prompt"] == POOL[0].prompt and o["parsed"] == [True, True, False]
    assert o["hidden_pass"][0] == 1.0 and o["hidden_pass"][2] == 0.0
    assert o["scores"] == o["hidden_pass"]
    assert all("assert" not in r.messages[-1]["content"] for r in engine.requests)  # hidden tests stay hidden
    values = [s.value for s in solution_score(t) or []]
    assert values == o["hidden_pass"] and [s.value for s in solution_truth(t) or []] == values
    assert check_reward(solution_score, [t]) == 3
    pairs = builders.best_worst_pairs([t], "coder", "solution_score", lambda m: [len(x["content"]) for x in m])
    assert len(pairs) == 1 and "table.get" in pairs[0].meta["chosen"]


def test_hostile_solution_fails_and_the_match_goes_on() -> None:
    arena = CodeFeedback(samples=2, split="test", timeout=2.0)
    [t], _ = play(arena, script(["loop", "right"]))
    assert t.outcome["hidden_pass"] == [0.0, 1.0]


def test_mutual_verification_by_hand() -> None:
    # solutions 0 and 1 pass tests 0 and 1; solution 2 passes only test 2 (a test the others fail)
    code, tests = mutual_scores([[True, True, False], [True, True, False], [False, False, True]], 0.85, 20)
    assert code[0] == code[1] > code[2] and tests[0] == tests[1] > tests[2]
    assert mutual_scores([[False]], 0.85, 3) == ([0.15000000000000002], [0.15000000000000002])


def test_self_tests_rank_without_hidden_tests() -> None:
    arena = CodeFeedback(samples=3, self_tests=True, testers=2, split="test")
    [t], engine = play(arena, script(["right", "wrong", "right"], ["tests", "bad_tests"]))
    o = t.outcome
    assert len(o["tests"]) == 5 and len(o["pass_matrix"]) == 3
    assert o["scores"][0] == o["scores"][2] > o["scores"][1]
    assert o["tester_scores"][0] > o["tester_scores"][1]  # the tester with a false assert ranks lower
    assert [s.role for s in score_of_testers(t) or []] == ["tester", "tester"]
    assert score_truth_agreement.fn(t) == 1.0
    testers = [r for r in engine.requests if seat_by_system_prompt(r, SEATS) == "tester"]
    assert testers and all("def " not in r.messages[-1]["content"] for r in testers)  # no solution shown


def test_parsers_and_arguments() -> None:
    assert parse_solution("x\n```python\ndef f(a):\n    return a\n```").startswith("def f(a):")
    with pytest.raises(ParseError, match="no ```python block defining a function"):
        parse_solution("return a")
    assert parse_tests("assert f(1) == 2\nprint(3)\nassert f(2)==4") == ["assert f(1) == 2", "assert f(2)==4"]
    with pytest.raises(ParseError, match="assert name"):
        parse_tests("f(1) is 2")
    with pytest.raises(TaskError, match=r"damping must be a number in \(0, 1\), got 1"):
        CodeFeedback(damping=1)
    with pytest.raises(TaskError, match="self_tests must be true or false"):
        CodeFeedback(self_tests="yes")  # type: ignore[arg-type]
    with pytest.raises(TaskError, match="split must be one of"):
        CodeFeedback(split="dev")


def _played() -> list[dict[str, Any]]:
    arenas = (CodeFeedback(samples=3, split="test"), CodeFeedback(samples=3, self_tests=True, testers=2, split="test"))
    return [t.comparable() for arena in arenas
            for t in play(arena, script(["right", "wrong", "text", "right"], ["tests", "bad_tests", "none"], by_seed=True),
                          seeds=range(3))[0]]


def test_golden_transcripts() -> None:
    """Regenerate after an intended change: SPARRING_UPDATE_GOLDEN=1 python -m pytest -q <this file>."""
    played = _played()
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    differences = diff(golden, played)
    assert not differences, "code-feedback no longer plays its golden transcripts:\n" + "\n".join(differences)
    for data in golden:
        assert replay(Transcript.model_validate(data)).identical
    values = {(r["reward"], r["value"]) for t in golden for r in t["rewards"]}
    assert {("solution_truth", 1.0), ("solution_truth", 0.0)} <= values
    assert any(r["reward"] == "test_score" for t in golden for r in t["rewards"])
