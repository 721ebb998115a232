"""Judges: equivalence through sympy, judge parsers, order swap, P(True), self-certainty, measurements."""

from __future__ import annotations

import math

import pytest

from sparring.agents.parsers import ParseError
from sparring.arenas import check_reward
from sparring.arenas.transcript import ArenaSpec, Transcript, Turn
from sparring.rewards import judges as J


@pytest.mark.parametrize(("answer", "truth"), [
    ("42", 42), ("1,000", "1000"), ("3/4", "0.75"), ("-2.50", "-2.5"), ("2x + x", "3*x"),
    ("x^2 - 1", "(x - 1)(x + 1)"), ("sqrt(4)", "2"), ("Paris.", "paris"), ("1e3", "1000"),
])
def test_equivalent(answer: object, truth: object) -> None:
    assert J.equivalent(answer, truth)


@pytest.mark.parametrize(("answer", "truth"), [
    ("41", 42), ("2x", "3x"), ("x^2", "x^3"), (None, 1), ("london", "paris"), ("1/0", "0"),
    # unsafe or huge text is never evaluated: not equal rather than slow or dangerous
    ("__import__('os')", "0"), ("9^9^9", "1"), ("2^(3^4)", "1"), ("x**100", "x**100 + 1"),
])
def test_not_equivalent(answer: object, truth: object) -> None:
    assert not J.equivalent(answer, truth)


def test_numbers_and_tolerance() -> None:
    assert J.as_number("3/4") == J.as_number("0.75")
    assert J.numeric_equal("0.1", 0.1 + 1e-12) and not J.numeric_equal("0.1", 0.2)
    assert J.as_number("nan") is None and J.as_number(True) is None


def test_majority_vote_uses_equivalence() -> None:
    assert J.majority_vote(["1/2", "0.5", "3", None, "3", "0.50"]) == ("1/2", 3)
    assert J.majority_vote([None, None]) == (None, 0)
    assert J.majority_vote(["a", "b"]) == ("a", 1)  # ties: the first given


def test_pointwise_prompt_and_score() -> None:
    prompt = J.pointwise_prompt("Say hi.", "hi")
    assert "additive 5-point" in prompt and "<response>hi</response>" in prompt and "Score:" in prompt
    assert "My answer:" not in prompt and "My answer:" in J.pointwise_prompt("Say hi.", "hi", reference=True)
    assert J.parse_score("Relevant.\nScore: 3\nno wait\n**Score:** 4/5") == 4.0
    for bad in ("no score here", "Score: 7"):
        with pytest.raises(ParseError):
            J.parse_score(bad)


def test_pairwise_verdicts_and_order_swap() -> None:
    assert J.parse_winner("A is better.\nWinner: Response B") == "B"
    assert J.parse_winner("Winner: TIE") == "tie"
    with pytest.raises(ParseError):
        J.parse_winner("Both are good.")
    assert J.pairwise_preference("A", "B") == 1.0  # first reply wins in both orders
    assert J.pairwise_preference("A", "A") == 0.5  # always the first position: no preference
    assert J.pairwise_preference("tie", "B") == 0.75
    assert J.pairwise_preference(None, "A") == 0.0 and J.pairwise_preference(None, None) is None
    assert J.position_consistent("A", "B") and J.position_consistent("tie", "tie")
    assert not J.position_consistent("A", "A")


def test_verdict_and_p_true() -> None:
    assert J.parse_verdict("  Yes, it does.") is True and J.parse_verdict("No.") is False
    with pytest.raises(ParseError):
        J.parse_verdict("Maybe yes")
    lp = math.log(0.8)
    assert J.p_true(True, [lp, -3.0]) == pytest.approx(0.8)
    assert J.p_true(False, [lp]) == pytest.approx(0.2)  # the rest of the mass is taken to be on yes
    assert J.p_true(True, []) is None and J.p_true(True, [0.0]) == 1.0


def test_p_true_is_read_at_the_verdict_token() -> None:
    first, second = math.log(0.3), math.log(0.8)
    assert J.verdict_p_true("Yes, it does.", [second, -1.0]) == pytest.approx(0.8)
    assert J.verdict_p_true(" No.", [second]) == pytest.approx(0.2)
    # "**Yes": the parser finds the verdict after the markdown, but the first token is
    # "**", whose probability is not P(yes); the verdict token's position is unknown
    assert J.parse_verdict("**Yes** it does.") is True
    assert J.verdict_p_true("**Yes** it does.", [first, second]) is None
    assert J.verdict_p_true("\nYes", [first, second]) is None  # a newline is a token of its own
    assert J.verdict_p_true("Maybe.", [second]) is None
    assert [J.verdict_position(t) for t in ("Yes", " no", "**Yes", "\nNo")] == [0, 0, None, None]


def test_gold_judgements_on_the_judges_scale() -> None:
    assert J.gold_verdicts([1.0, 0.5, None, True, 0.0]) == [1.0, 0.0, None, 1.0, 0.0]
    # checker scores 1, 0.5, 0.5: win rates (1 + 1) / 2, (0 + 1/2) / 2, (0 + 1/2) / 2
    assert J.gold_win_rates([1.0, 0.5, 0.5]) == [1.0, 0.25, 0.25]
    assert J.gold_win_rates([1.0, None]) == [None, None]


def test_self_certainty_and_mean_logprob() -> None:
    uniform = [math.log(0.25)] * 4
    assert J.self_certainty([uniform]) == pytest.approx(0.0)
    peaked = [math.log(p) for p in (0.7, 0.1, 0.1, 0.1)]
    # KL(U || p) = -log 4 - (1/4) * sum log p
    expected = -math.log(4) - sum(peaked) / 4
    assert J.self_certainty([uniform, peaked]) == pytest.approx(expected / 2)
    assert J.mean_token_logprob([-1.0, -3.0]) == -2.0 and J.mean_token_logprob([]) is None
    with pytest.raises(ValueError, match="at least one row"):
        J.self_certainty([])


def _transcript(outcome: dict, turns: list[Turn] | None = None) -> Transcript:
    return Transcript(match_id="m", arena=ArenaSpec(id="t/judged-v1", roles=["responder", "judge"]), seed=0,
                      roles={}, turns=turns or [], outcome=outcome)


def _turn(index: int, role: str, parse_error: str | None = None, finish: str = "stop") -> Turn:
    return Turn(index=index, ask=index, role=role, model="m", messages=[], sampling={}, seed=0, text="x",
                parse_error=parse_error, finish_reason=finish)


def test_format_penalty_reward() -> None:
    penalty = J.format_penalty("judge", penalty=-0.5)
    t = _transcript({}, [_turn(0, "responder"), _turn(1, "judge"), _turn(2, "judge", "expected a score"),
                         _turn(3, "judge", finish="length")])
    assert [(s.turn, s.value) for s in penalty(t)] == [(1, 0.0), (2, -0.5), (3, -0.5)]
    assert penalty.name == "judge_format" and penalty.bounds == (-0.5, 0.0)
    assert check_reward(penalty, [t]) == 3
    assert penalty(_transcript({}, [_turn(0, "responder")])) is None
    with pytest.raises(ValueError, match="negative"):
        J.format_penalty("judge", penalty=1.0)


def test_self_preference_bias_by_hand() -> None:
    # judge 0.8 and 0.6 on answers whose checker scores are 1 and 0: (0.8 - 1 + 0.6 - 0) / 2 = 0.2
    assert J.self_preference_bias([0.8, 0.6, None], [1.0, 0.0, 1.0]) == pytest.approx(0.2)
    assert J.self_preference_bias([None], [1.0]) is None
    metric = J.self_preference_metric()
    ts = [_transcript({"judge_scores": [0.8, 0.6], "gold_scores": [True, False]}),
          _transcript({"judge_scores": [1.0], "gold_scores": [0.5]}), _transcript({})]
    # pooled: (-0.2 + 0.6 + 0.5) / 3
    assert metric.compute(ts) == {"judge/self_preference_bias": pytest.approx(0.3)}


def test_position_consistency_by_hand() -> None:
    assert J.position_consistency([("A", "B"), ("A", "A"), ("tie", "tie"), (None, "A")]) == pytest.approx(2 / 3)
    assert J.position_consistency([(None, None)]) is None
    metric = J.position_consistency_metric()
    ts = [_transcript({"pairwise_verdicts": [["A", "B"], ["B", "B"]]}), _transcript({"pairwise_verdicts": []})]
    assert metric.compute(ts) == {"judge/position_consistency": 0.5}
