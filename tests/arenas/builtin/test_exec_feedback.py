"""exec-feedback (AutoIF): conformance, cross-validation and scoring in the sandbox by hand,
what each seat sees, hostile checkers, DPO pairs, argument checks, golden transcripts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sparring.agents.engines.base import GenerationRequest
from sparring.agents.parsers import ParseError
from sparring.arenas import TaskError, Transcript, check_arena, check_reward, replay
from sparring.arenas.builtin.exec_feedback import (
    ExecFeedback,
    checker_kept_rate,
    checker_valid,
    instruction_kept,
    parse_checker,
    parse_instruction,
    response_pass,
)
from sparring.arenas.replay import diff
from sparring.rewards import builders
from tests.arenas.task_scripts import play
from tests.helpers import seat_by_system_prompt

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "exec_feedback.json"
SEATS = {"You write instructions": "writer", "You write Python functions": "checker", "You are a helpful": "responder"}
WORDS = ("```python\ndef evaluate(response):\n    return len(response.split()) <= 5\n```\n"
         "PASS: Trains are fast.\nFAIL: Trains are long machines that carry many people.")
ALWAYS = "```python\ndef evaluate(response):\n    return True\n```\nPASS: Yes.\nFAIL: No it is not short at all, sorry."
LOOPS = "```python\ndef evaluate(response):\n    while True:\n        pass\n```\nPASS: a\nFAIL: b c d e f g h"
SHORT, LONG = "Trains hum at night.", "Trains are long and loud machines that cross the whole country every day."


class Script:
    """Replies per seat in ask order (cycled)."""

    def __init__(self, **replies: list[str]) -> None:
        self.replies, self.counts = replies, dict.fromkeys(replies, 0)

    def __call__(self, request: GenerationRequest, index: int) -> str:
        seat = seat_by_system_prompt(request, SEATS)
        k = self.counts[seat]
        self.counts[seat] += 1
        return self.replies[seat][k % len(self.replies[seat])]


def _script(checkers: list[str], responses: list[str] | None = None) -> Script:
    return Script(writer=["Instruction: Answer in at most 5 words."], checker=checkers,
                  responder=responses or [SHORT, LONG])


@pytest.mark.parametrize("arena", [ExecFeedback(), ExecFeedback(checkers=1, samples=2, min_accuracy=1.0)])
def test_check_arena(arena: ExecFeedback) -> None:
    assert not check_arena(arena).warnings


def test_cross_validation_and_scores_by_hand() -> None:
    """The word counter is right on all 4 pooled tests (kept); always-True is right on the 2
    PASS tests only (0.5: dropped); the responses are scored by the word counter alone."""
    arena = ExecFeedback(checkers=2, samples=2)
    [t], _ = play(arena, _script([WORDS, ALWAYS]))
    o = t.outcome
    assert o["instruction"] == "Answer in at most 5 words."
    assert [c["accuracy"] for c in o["checkers"]] == [1.0, 0.5]
    assert [c["kept"] for c in o["checkers"]] == [True, False]
    assert o["response_scores"] == [1.0, 0.0]
    scores = {(s.role, s.turn): s.value for r in (response_pass, checker_valid, instruction_kept) for s in r(t) or []}
    turns = {u.role: [] for u in t.turns}
    for u in t.turns:
        turns[u.role].append(u.index)
    assert [scores["responder", i] for i in turns["responder"]] == [1.0, 0.0]
    assert [scores["checker", i] for i in turns["checker"]] == [1.0, 0.5]
    assert scores["writer", turns["writer"][0]] == 1.0
    assert check_reward(response_pass, [t]) == 2 and checker_kept_rate.fn(t) == 0.5
    # DPO on passing vs failing responses: the short one chosen.
    pairs = builders.best_worst_pairs([t], "responder", "response_pass", lambda m: [len(x["content"]) for x in m])
    assert len(pairs) == 1 and pairs[0].meta["chosen"] == SHORT and pairs[0].meta["rejected"] == LONG


def test_seats_see_only_their_part() -> None:
    [t], engine = play(ExecFeedback(checkers=1, samples=2), _script([WORDS]))
    by_seat: dict[str, list[str]] = {}
    for request in engine.requests:
        by_seat.setdefault(seat_by_system_prompt(request, SEATS), []).append(request.messages[-1]["content"])
    task = t.outcome["task"]
    assert task in by_seat["writer"][0]
    assert all(task not in m and "Answer in at most 5 words." in m for m in by_seat["checker"])  # no task, no responses
    assert all(m == f"{task} Answer in at most 5 words." for m in by_seat["responder"])  # no checker, no tests
    assert all("evaluate" not in m and "PASS" not in m for m in by_seat["responder"])


def test_hostile_checker_is_dropped_and_the_match_goes_on() -> None:
    arena = ExecFeedback(checkers=2, samples=2, timeout=2.0)
    [t], _ = play(arena, _script([LOOPS, WORDS]))
    looping, words = t.outcome["checkers"]
    assert not looping["kept"] and ("cpu time limit" in looping["sandbox_reason"]
                                    or "wall time limit" in looping["sandbox_reason"])
    assert words["kept"] and t.outcome["response_scores"] == [1.0, 0.0]


def test_no_kept_checker_means_no_scores() -> None:
    [t], _ = play(ExecFeedback(checkers=1, samples=2), _script([ALWAYS]))
    assert t.outcome["response_scores"] is None and response_pass(t) is None
    assert instruction_kept(t)[0].value == 0.0  # type: ignore[index]
    [t], _ = play(ExecFeedback(checkers=1, samples=2), Script(writer=["no instruction here"], checker=[WORDS],
                                                               responder=[SHORT]))
    assert t.outcome["instruction"] is None and len(t.turns) == 1 and response_pass(t) is None


def test_parsers_name_what_is_missing() -> None:
    assert parse_instruction("Sure!\nInstruction: Use no commas.") == "Use no commas."
    with pytest.raises(ParseError, match="Instruction"):
        parse_instruction("Use no commas.")
    assert parse_checker(WORDS)["tests"] == [["Trains are fast.", True],
                                            ["Trains are long machines that carry many people.", False]]
    with pytest.raises(ParseError, match="no ```python block defining evaluate"):
        parse_checker("def evaluate(r): return True\nPASS: a\nFAIL: b")
    with pytest.raises(ParseError, match="at least one 'PASS"):
        parse_checker("```python\ndef evaluate(r):\n    return True\n```\nPASS: a")


def test_arguments_are_checked() -> None:
    with pytest.raises(TaskError, match=r"samples must be an integer in 2\.\.16, got 1"):
        ExecFeedback(samples=1)
    with pytest.raises(TaskError, match=r"min_accuracy must be a number in \(0, 1\], got 0"):
        ExecFeedback(min_accuracy=0)
    with pytest.raises(TaskError, match="timeout must be a number of seconds"):
        ExecFeedback(timeout=600)


GOLDEN_WRITER = ["Instruction: Answer in at most 5 words.", "Instruction: Do not use the letter z.", "Hmm."]
GOLDEN_CHECKER = [WORDS, "```python\ndef evaluate(response):\n    return 'z' not in response.lower()\n```\n"
                  "PASS: Trains are fast.\nFAIL: Zebras ride trains.", ALWAYS, "no code at all"]
GOLDEN_RESPONDER = [SHORT, LONG, "Zero trains today.", "Calm rivers run."]


def golden_script(request: GenerationRequest, index: int) -> str:
    """Replies per seat picked by row seed (independent of batching)."""
    replies = {"writer": GOLDEN_WRITER, "checker": GOLDEN_CHECKER,
               "responder": GOLDEN_RESPONDER}[seat_by_system_prompt(request, SEATS)]
    return replies[request.seed % len(replies)]


def _played() -> list[dict[str, Any]]:
    return [t.comparable() for t in play(ExecFeedback(checkers=2, samples=3), golden_script, seeds=range(5))[0]]


def test_golden_transcripts() -> None:
    """Regenerate after an intended change: SPARRING_UPDATE_GOLDEN=1 python -m pytest -q <this file>."""
    played = _played()
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    differences = diff(golden, played)
    assert not differences, "exec-feedback no longer plays its golden transcripts:\n" + "\n".join(differences)
    for data in golden:
        assert replay(Transcript.model_validate(data)).identical
    values = {(r["reward"], r["value"]) for t in golden for r in t["rewards"]}
    assert {("response_pass", 1.0), ("response_pass", 0.0), ("instruction_kept", 1.0)} <= values
    assert any(t["outcome"].get("instruction") is None for t in golden)  # a writer reply that did not parse
