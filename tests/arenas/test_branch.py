"""Branching a match: turns before the branch turn replay as recorded, later ones play afresh."""

from __future__ import annotations

from sparring import QuestionAnswerVerify, Runner, ScriptedEngine
from sparring.agents.engines.base import GenerationRequest
from sparring.arenas.branch import BranchPrefix, row_seed
from sparring.arenas.replay import diff
from sparring.arenas.transcript import Transcript
from tests.helpers import seat_of


def by_seed(request: GenerationRequest, index: int) -> str:
    """Replies that depend on the row seed only (so a replay with the same seeds is the same)."""
    seat = seat_of(request)
    if seat == "questioner":
        return "Question: What is 12 + 30?\nAnswer: 42"
    if seat == "solver":
        return f"Answer: {40 + request.seed % 4}"
    return "Verdict: correct" if request.seed % 3 else "Verdict: incorrect"


def play(seeds: list[int], prefix: BranchPrefix | None = None, script: object = by_seed) -> list[Transcript]:
    engine = ScriptedEngine(script)
    return Runner({"default": engine}, prefix=prefix).play(QuestionAnswerVerify(group_size=4), seeds)


def comparable(t: Transcript) -> dict:
    data = t.comparable()
    data.pop("match_id")
    return data


def test_recorded_seeds_reproduce_the_match_from_any_turn() -> None:
    originals = play([3, 4])
    assert len(originals[0].turns) == 9  # questioner, 4 solvers, 4 verifiers
    for from_turn in (0, 1, 5, 9):
        prefix = BranchPrefix({t.seed: t for t in originals}, from_turn)
        branches = play([3, 4], prefix)
        for t, b in zip(originals, branches, strict=True):
            assert diff(comparable(t), comparable(b)) == []


def test_branch_seed_keeps_the_prefix_and_reseeds_the_rest() -> None:
    [original] = play([3])
    prefix = BranchPrefix({3: original}, 5, {3: 77})
    [branch] = play([3], prefix, script=lambda request, index: "generated")
    assert [u.text for u in branch.turns] == [u.text for u in original.turns[:5]] + ["generated"] * 4
    [branch] = play([3], BranchPrefix({3: original}, 5, {3: 77}))
    assert [u.seed for u in branch.turns[:5]] == [u.seed for u in original.turns[:5]]
    assert [u.text for u in branch.turns[:5]] == [u.text for u in original.turns[:5]]
    assert [u.seed for u in branch.turns[5:]] == [row_seed(77, u.seed) for u in original.turns[5:]]
    assert [u.seed for u in branch.turns[5:]] != [u.seed for u in original.turns[5:]]


def test_a_prefix_the_arena_does_not_ask_again_fails_the_match_not_the_run() -> None:
    originals = play([3, 4])
    tampered = originals[0].model_copy(deep=True)
    tampered.turns[1].messages[-1]["content"] = "What is 1 + 1?"
    prefix = BranchPrefix({3: tampered, 4: originals[1]}, 9)
    first, second = play([3, 4], prefix)
    assert first.status == "error"
    assert "diverged at turn 1 (solver): the prompt differs from the recorded one" in (first.error or "")
    assert diff(comparable(second), comparable(originals[1])) == []
