"""solve-review-refine (MAgICoRe): conformance, routing, rounds, rewards by hand, what seats see, golden."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from sparring.agents.engines.base import GenerationRequest
from sparring.arenas import (
    SolveReviewRefine,
    TaskError,
    Transcript,
    check_arena,
    check_reward,
    make,
    replay,
)
from sparring.arenas.builtin.solve_review_refine import (
    parse_review,
    refiner_improvement,
    reviewer_feedback,
    solver_truth,
)
from sparring.arenas.replay import diff
from tests.arenas.task_scripts import play
from tests.helpers import seat_by_system_prompt

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "solve_review_refine.json"
_SEATS = {"You are a careful solver": "solver", "You are a careful reviewer": "reviewer",
          "You are a careful refiner": "refiner"}


def _truth(request: GenerationRequest) -> int:
    a, op, b = re.search(r"What is (\d+) ([+-]) (\d+)\?", request.messages[1]["content"]).groups()  # type: ignore[union-attr]
    return int(a) + int(b) if op == "+" else int(a) - int(b)


def _reviewed_answer(request: GenerationRequest) -> int:
    steps = request.messages[1]["content"].split("Check each step")[0]
    return int(re.findall(r"Answer: (-?\d+)", steps)[-1])


class Script:
    """Solver offsets from the truth in ask order; a truthful reviewer (or one of fixed
    verdict); refiner offsets in ask order. Offsets 0 are right answers."""

    def __init__(self, solver: Sequence[int], refiner: Sequence[int] = (0,), verdict: str | None = None) -> None:
        self.offsets = {"solver": list(solver), "refiner": list(refiner)}
        self.counts = {"solver": 0, "refiner": 0}
        self.verdict = verdict

    def __call__(self, request: GenerationRequest, index: int) -> str:
        seat = seat_by_system_prompt(request, _SEATS)
        truth = _truth(request)
        if seat == "reviewer":
            verdict = self.verdict or ("correct" if _reviewed_answer(request) == truth else "incorrect")
            return f"Step 1: I checked the sum.\nVerdict: {verdict}"
        k = self.counts[seat]
        self.counts[seat] += 1
        offsets = self.offsets[seat]
        return f"{truth} it is.\nAnswer: {truth + offsets[k % len(offsets)]}"


def _by_reward(t: Transcript, fn: Callable[[Transcript], Any]) -> list[float]:
    return [s.value for s in fn(t) or []]


@pytest.mark.parametrize("arena", [
    SolveReviewRefine(), SolveReviewRefine(mode="critique-revise", rounds=1),
    SolveReviewRefine(family="units", samples=3, rounds=3, threshold=1.0, split="test"),
    SolveReviewRefine(family="sorting", difficulty=[1, 3], samples=2, rounds=4),
])
def test_check_arena(arena: SolveReviewRefine) -> None:
    assert not check_arena(arena).warnings


def test_an_easy_problem_is_answered_by_the_majority() -> None:
    [t], _ = play(SolveReviewRefine(samples=4, threshold=0.75), Script([0, 0, 0, 5]))
    o = t.outcome
    assert (o["hard"], o["agreement"], o["stop"], o["rounds"]) == (False, 0.75, "easy", [])
    assert [u.role for u in t.turns] == ["solver"] * 4 and o["final_correct"] and o["initial_majority_correct"]
    assert _by_reward(t, solver_truth) == [1.0, 1.0, 1.0, 0.0]
    assert refiner_improvement(t) is None and reviewer_feedback(t) is None


def test_a_hard_problem_is_reviewed_and_the_wrong_ones_refined() -> None:
    # answers t+1, t+1, t, t+2: agreement 0.5 (hard), majority wrong. The reviewer keeps the
    # right one; the refiner fixes two and leaves the third wrong: t, t, t, t+9 -> 0.75, stop.
    [t], engine = play(SolveReviewRefine(samples=4, threshold=0.75, rounds=3), Script([1, 1, 0, 2], [0, 0, 9]))
    o = t.outcome
    assert o["hard"] and o["agreement"] == 0.5 and not o["initial_majority_correct"]
    assert o["stop"] == "agreement" and len(o["rounds"]) == 1 and o["final_correct"] and o["final_agreement"] == 0.75
    [round_] = o["rounds"]
    assert [r["verdict"] for r in round_["reviews"]] == [False, False, True, False]
    assert [r["solution"] for r in round_["refines"]] == [0, 1, 3]  # the solution judged correct is kept
    assert _by_reward(t, refiner_improvement) == [1.0, 1.0, 0.0]
    assert _by_reward(t, reviewer_feedback) == [1.0, 1.0, 0.0, 0.0]  # review of the kept one: 0
    assert [s.role for s in reviewer_feedback(t) or []] == ["reviewer"] * 4
    arena = SolveReviewRefine()
    metrics = {k: v for m in arena.monitors() for k, v in m.compute([t]).items()}
    assert metrics["refine/wrong_right"] == 1.0 and metrics["refine/delta"] == 1.0
    assert metrics["refinement/fixed_rate"] == pytest.approx(2 / 3) and metrics["refinement/n"] == 3.0
    assert metrics["routing/hard_rate"] == 1.0 and metrics["routing/rounds"] == 1.0
    assert "routing/easy_accuracy" not in metrics  # no easy problem
    # what the reviewer and refiner see: the problem and the solution by steps, never the truth
    review = next(r for r in engine.requests if r.messages[0]["content"].startswith("You are a careful reviewer"))
    refine = next(r for r in engine.requests if r.messages[0]["content"].startswith("You are a careful refiner"))
    assert o["prompt"] in review.messages[1]["content"] and "Step 1: " in review.messages[1]["content"]
    assert "Step 2: Answer:" in review.messages[1]["content"]
    assert "Step 1: I checked the sum.\nVerdict: incorrect" in refine.messages[1]["content"]
    assert len(review.messages) == len(refine.messages) == 2


def test_rounds_re_review_only_what_was_refined() -> None:
    # threshold 1: round 1 refines the three wrong ones without fixing them, round 2 fixes them
    [t], _ = play(SolveReviewRefine(samples=4, threshold=1.0, rounds=2), Script([0, 1, 1, 1], [1, 1, 1, 0, 0, 0]))
    o = t.outcome
    assert [len(r["reviews"]) for r in o["rounds"]] == [4, 3] and o["stop"] == "agreement"
    assert [r["solution"] for r in o["rounds"][1]["reviews"]] == [1, 2, 3]
    assert _by_reward(t, refiner_improvement) == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert _by_reward(t, reviewer_feedback) == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    # the round limit: one round only, nothing fixed
    [t], _ = play(SolveReviewRefine(samples=4, threshold=1.0, rounds=1), Script([0, 1, 1, 1], [1]))
    assert t.outcome["stop"] == "round limit" and len(t.outcome["rounds"]) == 1 and not t.outcome["final_correct"]
    # a reviewer that accepts everything ends the loop: nothing refined
    [t], _ = play(SolveReviewRefine(samples=4, threshold=1.0, rounds=3), Script([0, 1, 1, 1], verdict="correct"))
    assert t.outcome["stop"] == "judged good" and [u.role for u in t.turns].count("refiner") == 0
    assert _by_reward(t, reviewer_feedback) == [0.0] * 4


def test_critique_revise_revises_every_solution_once_and_penalises_a_break() -> None:
    # all agree (would be easy), but critique-revise refines every solution, whatever the verdict
    [t], _ = play(SolveReviewRefine(samples=2, mode="critique-revise", rounds=1), Script([0, 0], [0, 3]))
    o = t.outcome
    assert o["hard"] and o["agreement"] == 1.0 and len(o["rounds"]) == 1
    assert [r["verdict"] for r in o["rounds"][0]["reviews"]] == [True, True]
    assert _by_reward(t, refiner_improvement) == [0.0, -1.0]  # right -> right, right -> wrong
    assert _by_reward(t, reviewer_feedback) == [0.0, -1.0]


def test_rewards_conform() -> None:
    transcripts, _ = play(SolveReviewRefine(samples=3, rounds=2), Script([0, 1, 2], [0, 1]), seeds=range(4))
    for r in (solver_truth, refiner_improvement, reviewer_feedback):
        assert check_reward(r, transcripts) > 0


def test_parse_review() -> None:
    assert parse_review("Step 2 is off.\n**Verdict:** Incorrect") is False
    assert parse_review("Verdict: incorrect\nOn second thought... Verdict: correct") is True
    with pytest.raises(ValueError, match="Verdict: correct"):
        parse_review("Looks fine to me.")


def test_evaluation_variant_defaults_and_registry() -> None:
    arena = make("solve-review-refine", family="units", difficulty=[1, 2], samples=3, threshold=0.6)
    assert arena.default_rewards == {"solver": "solver_truth", "reviewer": "reviewer_feedback",
                                     "refiner": "refiner_improvement"}
    evaluation = arena.evaluation()
    variant = evaluation.arena
    assert isinstance(variant, SolveReviewRefine) and evaluation.greedy is False  # greedy samples would all agree
    assert variant.kwargs == {"family": "units", "difficulty": [1, 2], "samples": 3, "threshold": 0.6,
                              "rounds": 2, "mode": "magicore", "split": "test"}
    transcripts, _ = play(variant, lambda request, index: "Answer: 1", seeds=range(4))
    assert all(variant.family.split_of(t.outcome["prompt"]) == "test" for t in transcripts)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"samples": 1}, "samples must be an integer in 2..16, got 1"),
    ({"rounds": 5}, "rounds must be an integer in 1..4, got 5"),
    ({"threshold": 0}, r"threshold must be a number in \(0, 1\]"),
    ({"mode": "self-refine"}, "mode must be one of magicore, critique-revise, got 'self-refine'"),
    ({"mode": "critique-revise"}, "mode 'critique-revise' revises once: set rounds = 1 \\(got 2\\)"),
])
def test_arguments_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskError, match=message):
        SolveReviewRefine(**kwargs)


GOLDEN_SOLVER = ["Answer: 12", "I think it is 40.\nAnswer: 40", "no idea", "Answer: 7", "Answer: 48"]
GOLDEN_REVIEWER = ["Step 1: the sum is off by one.\nVerdict: incorrect", "Every step checks.\nVerdict: correct",
                   "Hmm."]
GOLDEN_REFINER = ["Fixed.\nAnswer: 48", "Answer: 12", "Answer: 7", "still unsure"]


def golden_script(request: GenerationRequest, index: int) -> str:
    """Scripted replies per seat, picked by row seed (independent of batching)."""
    replies = {"solver": GOLDEN_SOLVER, "reviewer": GOLDEN_REVIEWER,
               "refiner": GOLDEN_REFINER}[seat_by_system_prompt(request, _SEATS)]
    return replies[request.seed % len(replies)]


def _played() -> list[dict[str, Any]]:
    arenas = (SolveReviewRefine(samples=3, rounds=2), SolveReviewRefine(samples=3, mode="critique-revise", rounds=1))
    return [t.comparable() for arena in arenas for t in play(arena, golden_script, seeds=range(3))[0]]


def test_golden_transcripts() -> None:
    """Regenerate after an intended change: SPARRING_UPDATE_GOLDEN=1 python -m pytest -q <this file>."""
    played = _played()
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    differences = diff(golden, played)
    assert not differences, "solve-review-refine no longer plays its golden transcripts:\n" + "\n".join(differences)
    for data in golden:
        assert replay(Transcript.model_validate(data)).identical
    values = {(r["reward"], r["value"]) for t in golden for r in t["rewards"]}
    assert {("refiner_improvement", 1.0), ("reviewer_feedback", 1.0)} <= values  # a fix is covered
    assert ("refiner_improvement", -1.0) in values  # and a break
