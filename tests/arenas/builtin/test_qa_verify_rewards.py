"""qa-verify rewards on hand-made outcomes: edge cases and exact values."""

from __future__ import annotations

import pytest

from sparring.arenas import Transcript
from sparring.arenas.builtin.qa_verify import (
    QA_VERIFY_REWARDS,
    learnability,
    questioner_learnability,
    questioner_truth,
    solver_truth,
    solver_verdict,
    verifier_majority,
    verifier_truth,
)
from tests.helpers import SeatScript, play_qa


def _invalid() -> Transcript:
    [t], _ = play_qa([0], script=SeatScript(questioner=["no question"]))
    return t


@pytest.mark.parametrize(("p", "value"), [(0.0, 0.0), (0.25, 0.5), (0.5, 1.0), (0.75, 0.5), (1.0, 0.0)])
def test_learnability(p: float, value: float) -> None:
    assert learnability(p) == value


def test_invalid_question_penalises_only_the_questioner() -> None:
    t = _invalid()
    for r in (questioner_learnability, questioner_truth):
        [score] = r(t)
        assert (score.role, score.value, score.turn) == ("questioner", -1.0, None)
        assert score.explanation == "no valid question after retries (format penalty)"
    for r in (solver_verdict, solver_truth, verifier_majority, verifier_truth):
        assert r(t) is None  # the others abstain


def test_errored_match_has_no_outcome() -> None:
    t = _invalid().model_copy(update={"outcome": None, "status": "error"})
    assert [score.value for score in questioner_learnability(t)] == [-1.0]
    assert solver_verdict(t) is None and verifier_truth(t) is None


def _with(t: Transcript, **outcome: object) -> Transcript:
    return t.model_copy(update={"outcome": {**(t.outcome or {}), **outcome}})


def test_all_judged_right_or_wrong_is_not_learnable() -> None:
    [t], _ = play_qa([0])
    assert [s.value for s in questioner_learnability(_with(t, verdicts=[True] * 4))] == [0.0]
    assert [s.value for s in questioner_learnability(_with(t, verdicts=[False] * 4))] == [0.0]
    assert [s.value for s in questioner_learnability(_with(t, verdicts=[True, None, False, None]))] == [0.5]


def test_majority_ties_go_to_incorrect() -> None:
    [t], _ = play_qa([0])
    tied = _with(t, verdicts=[True, False, True, False])
    assert [s.value for s in verifier_majority(tied)] == [0.0, 1.0, 0.0, 1.0]
    assert [s.explanation for s in verifier_majority(tied)][0] == "verdict True vs majority False"


def test_wrong_reference_zeroes_questioner_truth() -> None:
    [t], _ = play_qa([0])
    wrong = _with(t, reference=41, reference_correct=False)
    [score] = questioner_truth(wrong)
    assert (score.value, score.explanation) == (0.0, "reference 41 != truth 42")


def test_explanations() -> None:
    [t], _ = play_qa([0])
    assert [s.explanation for s in solver_verdict(t)] == ["verifier said correct"] * 3 + ["verifier said incorrect"]
    assert solver_verdict(_with(t, verdicts=[None] * 4))[0].explanation == "verifier said nothing parseable"
    assert solver_truth(t)[1].explanation == "answer 41 vs truth 42"
    assert verifier_truth(t)[1].explanation == "verdict True vs truly wrong"
    assert questioner_learnability(t)[0].explanation == "3/4 right: p=0.75"


def test_turn_indices_point_at_the_scored_roles() -> None:
    [t], _ = play_qa([0])
    for r in QA_VERIFY_REWARDS:
        for score in r(t) or []:
            if score.turn is not None:
                assert t.turns[score.turn].role == score.role
