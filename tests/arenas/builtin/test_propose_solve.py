"""propose-solve (SQLM): conformance, what each seat sees, rewards against hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparring.arenas import ProposeSolve, TaskError, Transcript, check_arena, check_reward, make
from sparring.arenas.builtin.propose_solve import (
    PROPOSE_SOLVE_MONITORS,
    PROPOSE_SOLVE_REWARDS,
    parse_problem,
)
from sparring.arenas.builtin.task_eval import TaskEval
from sparring.arenas.tasks import TaskFamily, get_family
from sparring.rewards.judges import majority_vote
from sparring.rewards.metrics import compute_all
from tests.arenas.task_scripts import GOLDEN_PROPOSE_SOLVE, InOrder, play


def _scores(t: Transcript, name: str) -> list[tuple[str, float, int | None]]:
    return [(r.role, r.value, r.turn) for r in t.rewards if r.reward == name]


@pytest.mark.parametrize("kwargs", [
    {},
    {"family": "multiplication", "difficulty": 3, "samples": 8},
    {"family": "sorting", "difficulty": [3, 4], "samples": 3, "history": 0, "proposer_reward": "learnability"},
    {"family": "word_problems", "samples": 2, "retries": 0},
    {"family": "units", "difficulty": [1, 4]},
])
def test_check_arena(kwargs: dict) -> None:
    report = check_arena(ProposeSolve(**kwargs))
    assert not report.warnings
    assert "well_formed" in report.scripts


def test_check_arena_on_a_jsonl_family(tmp_path: Path) -> None:
    path = tmp_path / "squares.jsonl"
    path.write_text("\n".join(json.dumps({"prompt": f"What is {i} squared?", "answer": i * i}) for i in range(40)))
    check_arena(ProposeSolve(family=str(path), difficulty=1))


def test_check_reward_on_every_reward() -> None:
    transcripts, _ = play(ProposeSolve(), GOLDEN_PROPOSE_SOLVE, seeds=range(12))
    assert {t.outcome["valid_problem"] for t in transcripts} == {True, False}
    for r in PROPOSE_SOLVE_REWARDS:
        assert check_reward(r, transcripts) > 0, r.name


def test_hand_computed_rewards_some_agree() -> None:
    script = InOrder(proposer=["Problem: What is 3 * 4?"],
                     solver=["Answer: 12", "3 * 4 = 12.\nAnswer: 12", "Answer: 13", "no number"])
    [t], _ = play(ProposeSolve(samples=4), script)
    o = t.outcome
    assert o["answers"] == [12, 12, 13, None] and o["majority"] == 12 and o["majority_count"] == 2
    assert o["truth_known"] and o["truth"] == 12 and o["majority_correct"] is True
    solver_turns = [u.index for u in t.turns if u.role == "solver"]
    assert _scores(t, "solver_majority") == [("solver", v, i) for v, i in zip([1, 1, 0, 0], solver_turns, strict=True)]
    assert [v for _, v, _ in _scores(t, "solver_truth")] == [1, 1, 0, 0]
    assert _scores(t, "proposer_band") == [("proposer", 1.0, None)]
    assert _scores(t, "proposer_learnability") == [("proposer", 1.0, None)]  # p = 1/2


def test_hand_computed_rewards_wrong_majority() -> None:
    script = InOrder(proposer=["Problem: What is 3 * 4?"], solver=["Answer: 13", "Answer: 13", "Answer: 13", "Answer: 12"])
    [t], _ = play(ProposeSolve(samples=4), script)
    assert t.outcome["majority"] == 13 and t.outcome["majority_correct"] is False
    assert [v for _, v, _ in _scores(t, "solver_majority")] == [1, 1, 1, 0]
    assert [v for _, v, _ in _scores(t, "solver_truth")] == [0, 0, 0, 1]
    assert _scores(t, "proposer_band")[0][1] == 1.0                  # m = 3 of 4
    assert _scores(t, "proposer_learnability")[0][1] == 0.5          # 1 - |2 * 3/4 - 1|
    assert _scores(t, "proposer_band_truth")[0][1] == 1.0            # 1 of 4 truly right
    assert _scores(t, "proposer_learnability_truth")[0][1] == 0.5    # 1 - |2 * 1/4 - 1|


@pytest.mark.parametrize(("answers", "band", "learn", "solver"), [
    (["Answer: 12"] * 4, 0.0, 0.0, [1, 1, 1, 1]),                                        # all agree: too easy
    (["Answer: 1", "Answer: 2", "Answer: 3", "Answer: 4"], 0.0, 0.0, [0, 0, 0, 0]),      # no majority: too hard
    (["no", "nothing", "none", "nope"], 0.0, 0.0, [0, 0, 0, 0]),                          # nothing parses
])
def test_band_edges(answers: list[str], band: float, learn: float, solver: list[int]) -> None:
    [t], _ = play(ProposeSolve(samples=4), InOrder(proposer=["Problem: What is 3 * 4?"], solver=answers))
    assert _scores(t, "proposer_band")[0][1] == band
    assert _scores(t, "proposer_learnability")[0][1] == learn
    assert [v for _, v, _ in _scores(t, "solver_majority")] == solver


def test_invalid_problem_is_a_format_penalty_and_solver_abstains() -> None:
    [t], engine = play(ProposeSolve(retries=1), InOrder(proposer=["What?", "Still nothing"], solver=["Answer: 1"]))
    assert t.outcome["valid_problem"] is False
    assert len(engine.requests) == 2 and "Your last reply was invalid" in engine.requests[1].messages[-1]["content"]
    for name in ("proposer_band", "proposer_learnability", "proposer_band_truth", "proposer_learnability_truth"):
        assert _scores(t, name) == [("proposer", -1.0, None)]
    assert not _scores(t, "solver_majority") and not _scores(t, "solver_truth")


def test_unknown_truth_is_marked_and_truth_rewards_abstain() -> None:
    script = InOrder(proposer=["Problem: Sam has 3 apples and buys 4 more. How many apples now?"],
                     solver=["Answer: 7", "Answer: 7", "Answer: 8", "Answer: 7"])
    [t], _ = play(ProposeSolve(family="word_problems", samples=4), script)
    assert t.outcome["truth_known"] is False and t.outcome["truth"] is None and t.outcome["answers_correct"] is None
    assert not _scores(t, "solver_truth") and not _scores(t, "proposer_band_truth")
    assert _scores(t, "proposer_band")[0][1] == 1.0


def test_what_each_seat_sees() -> None:
    script = InOrder(proposer=["Problem: What is 3 + 4?"], solver=["Answer: 7"])
    [t], engine = play(ProposeSolve(family="arithmetic", difficulty=2, samples=2, history=2), script)
    proposer, *solvers = engine.requests
    prompt = proposer.messages[-1]["content"]
    assert prompt.startswith("Topic: addition or subtraction of two 2-digit numbers.")
    recent = t.outcome["recent"]
    assert len(recent) == 2 and all(q in prompt for q in recent)
    assert all(q.startswith("What is") for q in recent)
    assert "Answer" not in prompt  # recent problems are shown without their answers
    assert all(s.messages[-1]["content"] == "What is 3 + 4?" for s in solvers)
    [t0], engine0 = play(ProposeSolve(history=0), InOrder(proposer=["Problem: What is 3 + 4?"], solver=["Answer: 7"]))
    assert "Recent problems" not in engine0.requests[0].messages[-1]["content"] and t0.outcome["recent"] == []


def test_copying_a_shown_question_is_measured() -> None:
    first, _ = play(ProposeSolve(history=3), InOrder(proposer=["Problem: What is 1 + 1?"], solver=["Answer: 2"]))
    copied = first[0].outcome["recent"][0]
    [t], _ = play(ProposeSolve(history=3), InOrder(proposer=[f"Problem: {copied}"], solver=["Answer: 2"]))
    assert t.outcome["copied"] is True
    assert compute_all(PROPOSE_SOLVE_MONITORS, [t, first[0]])["proposer/copy_rate"] == 0.5


def test_monitors() -> None:
    transcripts, _ = play(ProposeSolve(samples=4), InOrder(proposer=["Problem: What is 3 * 4?"],
                                                           solver=["Answer: 13", "Answer: 13", "Answer: 13", "Answer: 12"]))
    values = compute_all(PROPOSE_SOLVE_MONITORS, transcripts)
    assert values == {"majority_agreement_rate": 0.75, "majority_truth_accuracy": 0.0, "truth_known_rate": 1.0,
                      "proposer/valid_rate": 1.0, "proposer/copy_rate": 0.0}


def _majority(answers: list) -> tuple:
    family = get_family("sorting" if any(isinstance(a, list) for a in answers) else "arithmetic")
    return majority_vote(answers, family.check, min_votes=2)


def test_majority() -> None:
    assert _majority([12, 13, 13, 12]) == (12, 2)      # ties: the first given
    assert _majority([None, 5, None]) == (None, 0)     # one answer among several is no majority
    assert _majority([5]) == (5, 1)
    assert _majority([[1, 2], [1, 2], [2, 1]]) == ([1, 2], 2)
    assert _majority([]) == (None, 0)


def test_the_vote_compares_numbers_by_value() -> None:
    """5 and 5.0 are one answer (they were two under JSON identity); so are [1, 2] and [1.0, 2.0]."""
    number = get_family("arithmetic").check
    assert majority_vote([5.0, 7, 5, 7.0, 5], number, min_votes=2) == (5.0, 3)
    assert majority_vote([5.0, 5, 4], number, min_votes=2) == (5.0, 2)
    assert majority_vote([[1.0, 2.0], [1, 2], [2, 1]], get_family("sorting").check, min_votes=2) == ([1.0, 2.0], 2)
    arena = ProposeSolve(samples=3, history=0, difficulty=1)  # a family whose text answers are checked by value
    arena.family = TaskFamily("by_value", lambda rng, d: (f"What is {d} + 4?", "5"), lambda a, t: float(a) == float(t))
    script = InOrder(proposer=["Problem: What is 2 + 3?"], solver=["Answer: 5", "Answer: 5.0", "Answer: 6"])
    [t], _ = play(arena, script)
    assert t.outcome["majority"] == "5" and t.outcome["majority_count"] == 2
    assert t.outcome["agree"] == [True, True, False]


def test_parse_problem() -> None:
    assert parse_problem("Sure!\nProblem: What is 12 * 3?") == "What is 12 * 3?"
    assert parse_problem("Question: What is 12 * 3?") == "What is 12 * 3?"
    with pytest.raises(ValueError, match="Problem:"):
        parse_problem("What is 12 * 3?")
    with pytest.raises(ValueError, match="8 to 500"):
        parse_problem("Problem: 1+1")


def test_declarations_and_arguments() -> None:
    arena = ProposeSolve(family="sorting", difficulty=[2, 3], proposer_reward="learnability")
    assert arena.default_rewards == {"proposer": "proposer_learnability", "solver": "solver_majority"}
    assert ProposeSolve().default_rewards["proposer"] == "proposer_band"
    evaluation = arena.evaluation()
    assert isinstance(evaluation.arena, TaskEval) and evaluation.greedy
    assert evaluation.arena.kwargs == {"family": "sorting", "difficulty": [2, 3], "split": "test"}
    assert [m.name for m in evaluation.metrics] == ["solver_accuracy"]
    assert make("propose-solve", family="letters").family.name == "letters"
    for kwargs, message in [({"proposer_reward": "nope"}, "proposer_reward must be one of band, learnability"),
                            ({"family": "nope"}, "unknown task family 'nope'"),
                            ({"difficulty": 9}, r"difficulty must be an integer in 1\.\.6, got 9"),
                            ({"difficulty": [2, 1]}, "needs low <= high"),
                            ({"samples": 0}, "samples must be an integer"),
                            ({"history": -1}, "history must be an integer in 0..10")]:
        with pytest.raises(TaskError, match=message):
            ProposeSolve(**kwargs)
