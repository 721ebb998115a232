"""The question / answer / verify arena, played on scripted replies."""

from __future__ import annotations

import pytest

from sparring import QuestionAnswerVerify, Runner, ScriptedEngine
from sparring.agents.parsers import ParseError
from sparring.arenas.builtin.qa_verify import parse_question
from tests.helpers import SeatScript, play_qa, seat_of


def test_hand_checked_match() -> None:
    """What is 12 + 30? Reference 42; answers 42, 41, 42, 40; verdicts T, T, T, F."""
    [t], engine = play_qa([0])
    assert t.status == "finished", t.error
    assert [u.role for u in t.turns] == ["questioner"] + ["solver"] * 4 + ["verifier"] * 4
    assert t.outcome == {
        "valid_question": True,
        "topic": t.outcome["topic"],
        "question": "What is 12 + 30?",
        "expression": "12 + 30",
        "reference": 42,
        "truth": 42,
        "reference_correct": True,
        "answers": [42, 41, 42, 40],
        "answers_correct": [True, False, True, False],
        "verdicts": [True, True, True, False],
    }
    assert t.summary == "12 + 30 = 42: 3/4 judged right, 2 truly right"

    def scores(name: str) -> list[tuple[str, int | None, float]]:
        return [(r.role, r.turn, r.value) for r in t.rewards if r.reward == name]

    assert scores("solver_verdict") == [("solver", 1, 1.0), ("solver", 2, 1.0), ("solver", 3, 1.0), ("solver", 4, 0.0)]
    assert scores("solver_truth") == [("solver", 1, 1.0), ("solver", 2, 0.0), ("solver", 3, 1.0), ("solver", 4, 0.0)]
    assert scores("questioner_learnability") == [("questioner", None, 0.5)]  # p = 3/4 -> 1 - |1.5 - 1|
    assert scores("questioner_truth") == [("questioner", None, 1.0)]  # p = 2/4
    assert scores("verifier_majority") == [("verifier", 5, 1.0), ("verifier", 6, 1.0), ("verifier", 7, 1.0), ("verifier", 8, 0.0)]
    assert scores("verifier_truth") == [("verifier", 5, 1.0), ("verifier", 6, 0.0), ("verifier", 7, 1.0), ("verifier", 8, 1.0)]
    assert t.reward_of("questioner", "questioner_learnability") == 0.5
    assert t.reward_of("solver") == pytest.approx(5 / 8)


def test_what_each_seat_sees() -> None:
    [t], engine = play_qa([0])
    questioner, solver, verifier = (t.turns_of(seat) for seat in ("questioner", "solver", "verifier"))
    prompt = questioner[0].messages[-1]["content"]
    assert prompt.startswith(f"Write one new question about {t.outcome['topic']}.\nFormat example:\nQuestion: What is ")
    assert all(u.messages[-1]["content"] == "What is 12 + 30?" for u in solver)
    assert [u.messages[-1]["content"] for u in verifier] == [
        f"Question: What is 12 + 30?\nReference answer: 42\nProposed answer: {a}\nIs the proposed answer correct?"
        for a in (42, 41, 42, 40)
    ]
    assert {u.messages[0]["role"] for u in t.turns} == {"system"}


def test_topic_comes_from_the_match_seed() -> None:
    transcripts, _ = play_qa(range(6), digits=3, ops=("*",))
    prompts = {t.turns[0].messages[-1]["content"] for t in transcripts}
    assert len(prompts) == 6
    for t in transcripts:
        assert t.outcome["topic"] == "multiplication of two 3-digit numbers"


def test_malformed_question_is_retried_with_the_reason() -> None:
    script = SeatScript(
        questioner=["What is 2 + 2?", "Question: What is 20 - 5?\nAnswer: 15"],
        solver=["Answer: 15"], verifier=["Verdict: correct"],
    )
    [t], _ = play_qa([0], script=script, group_size=2)
    assert t.status == "finished", t.error
    first, second = t.turns_of("questioner")
    assert first.parse_error == "expected a line starting with 'Question:'"
    assert second.messages[-1]["content"].endswith(
        "\nYour last reply was invalid: expected a line starting with 'Question:'."
    )
    assert second.messages[-1]["content"].startswith(first.messages[-1]["content"])
    assert t.outcome["expression"] == "20 - 5" and t.outcome["answers_correct"] == [True, True]
    assert [r.value for r in t.rewards if r.reward == "questioner_learnability"] == [0.0]  # p = 1


def test_no_valid_question_ends_the_match() -> None:
    script = SeatScript(questioner=["Question: What is the capital of France?\nAnswer: Paris"])
    [t], engine = play_qa([0], script=script)
    assert t.status == "finished"
    assert len(t.turns) == 2 and t.outcome == {"valid_question": False, "topic": t.outcome["topic"]}
    assert t.summary == "no valid question"
    assert t.turns[0].parse_error == "the question must contain an arithmetic expression like '12 + 34'"
    assert {(r.reward, r.role, r.value) for r in t.rewards} == {
        ("questioner_learnability", "questioner", -1.0), ("questioner_checked", "questioner", -1.0),
        ("questioner_truth", "questioner", -1.0),
    }


def test_retries_zero() -> None:
    [t], _ = play_qa([0], script=SeatScript(questioner=["nonsense"]), retries=0)
    assert len(t.turns) == 1 and t.outcome["valid_question"] is False


def test_unparseable_answers_and_verdicts() -> None:
    script = SeatScript(
        questioner=["Question: What is 3 * 4 + 1?\nAnswer: 12"],  # wrong reference
        solver=["no idea", "Answer: 13"], verifier=["hmm", "Verdict: incorrect"],
    )
    [t], _ = play_qa([0], script=script, group_size=2)
    o = t.outcome
    assert (o["truth"], o["reference"], o["reference_correct"]) == (13, 12, False)
    assert o["answers"] == [None, 13] and o["answers_correct"] == [False, True]
    assert o["verdicts"] == [None, False]
    verifier_prompts = [u.messages[-1]["content"] for u in t.turns_of("verifier")]
    assert "Proposed answer: no idea\n" in verifier_prompts[0]  # the raw text when unparsed
    values = {(r.reward, r.turn): r.value for r in t.rewards}
    assert values[("solver_verdict", 1)] == 0.0 and values[("solver_truth", 2)] == 1.0
    assert values[("questioner_truth", None)] == 0.0  # the reference itself is wrong
    assert values[("questioner_learnability", None)] == 0.0  # nothing judged right
    # An unparseable verdict agrees with nothing: 0 for majority and truth alike.
    assert values[("verifier_majority", 3)] == 0.0 and values[("verifier_majority", 4)] == 1.0
    assert values[("verifier_truth", 3)] == 0.0 and values[("verifier_truth", 4)] == 0.0


def test_empty_answer_is_shown_as_no_answer() -> None:
    script = SeatScript(questioner=["Question: What is 1 + 1?\nAnswer: 2"], solver=["  "], verifier=["Verdict: no"])
    [t], _ = play_qa([0], script=script, group_size=1)
    assert "Proposed answer: (no answer)\n" in t.turns_of("verifier")[0].messages[-1]["content"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"digits": 0}, "digits must be in 1..6"),
        ({"digits": 7}, "digits must be in 1..6"),
        ({"ops": ("/",)}, r"ops must be a non-empty subset of \['\+', '-', '\*'\], got \['/'\]"),
        ({"ops": ()}, "ops must be a non-empty subset"),
        ({"group_size": 0}, r"group_size must be in 1..19"),
        ({"group_size": 20}, r"group_size must be in 1..19"),
    ],
)
def test_constructor_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuestionAnswerVerify(**kwargs)


def test_largest_group_fits_max_turns() -> None:
    arena = QuestionAnswerVerify(group_size=19)
    script = SeatScript(questioner=["junk", "Question: What is 1 + 1?\nAnswer: 2"], solver=["2"], verifier=["yes"])
    [t] = Runner({"default": ScriptedEngine(script)}).play(arena, [0])
    assert t.status == "finished", t.error
    assert len(t.turns) == 40 == arena.max_turns


def test_parse_question() -> None:
    assert parse_question("Question: What is 7 x 6?\nAnswer: 42") == {
        "question": "What is 7 x 6?", "expression": "7 * 6", "reference": 42, "truth": 42,
    }
    assert parse_question("Question: What is 1,000 - 1?\nAnswer: 999")["truth"] == 999
    with pytest.raises(ParseError, match="expected a line 'Answer: <number>'"):
        parse_question("Question: What is 1 + 1?")
    with pytest.raises(ParseError, match="expected a line 'Answer: <number>'"):
        parse_question("Question: What is 1 + 1?\nAnswer: two")
    with pytest.raises(ParseError, match="expression too large"):
        parse_question("Question: What is 1234567890123 + 1?\nAnswer: 0")


def test_default_roles_and_rewards() -> None:
    arena = QuestionAnswerVerify()
    roles = arena.default_roles()
    assert set(roles) == {"questioner", "solver", "verifier"}
    assert roles["questioner"].parser is parse_question
    assert [r.name for r in arena.rewards()] == [
        "solver_verdict", "solver_truth", "questioner_learnability", "questioner_checked",
        "questioner_truth", "verifier_majority", "verifier_truth",
    ]
    assert arena.default_rewards == {"solver": "solver_verdict", "questioner": "questioner_checked",
                                     "verifier": "verifier_majority"}


def test_seat_helper_sees_every_request() -> None:
    _, engine = play_qa([0, 1])
    assert [seat_of(r) for r in engine.requests] == ["questioner"] * 2 + ["solver"] * 8 + ["verifier"] * 8
