"""spin and task-eval: conformance, references, the algorithm table's spin builder, held-out items."""

from __future__ import annotations

import pytest

from sparring.arenas import Spin, TaskError, TaskEval, check_arena, check_reward, get_family
from sparring.arenas.builtin.spin import reference_match_rate, spin_solver_truth
from sparring.arenas.builtin.task_eval import eval_solver_truth, solver_accuracy
from sparring.rewards import builders
from sparring.runs.recipes.recipe import RoleSection
from sparring.runs.training.algorithms import check_requirements, get_algorithm
from tests.arenas.task_scripts import GOLDEN_SPIN, InOrder, play


@pytest.mark.parametrize("arena", [
    Spin(), Spin(family="letters", difficulty=[1, 4], samples=3), Spin(family="sorting", difficulty=5),
    TaskEval(), TaskEval(family="word_problems", difficulty=[1, 4], split="train"),
])
def test_check_arena(arena: object) -> None:
    assert not check_arena(arena).warnings  # type: ignore[arg-type]


def test_check_reward() -> None:
    transcripts, _ = play(Spin(samples=2), GOLDEN_SPIN, seeds=range(6))
    assert check_reward(spin_solver_truth, transcripts) == 12
    evals, _ = play(TaskEval(), GOLDEN_SPIN, seeds=range(6))
    assert check_reward(eval_solver_truth, evals) == 6


def test_spin_plays_training_items_and_offers_references() -> None:
    family = get_family("arithmetic")
    arena = Spin(samples=2)
    transcripts, engine = play(arena, InOrder(solver=["Answer: 1"]), seeds=range(20))
    for t in transcripts:
        o = t.outcome
        assert family.split_of(o["prompt"]) == "train"
        solver_turns = [u for u in t.turns if u.role == "solver"]
        assert len(solver_turns) == 2
        assert all(u.messages[-1]["content"] == o["prompt"] for u in solver_turns)  # the reference is never shown
        assert all(o["reference"] not in u.messages[-1]["content"] for u in solver_turns)
        assert arena.reference_reply(t, solver_turns[0]) == o["reference"]
        assert family.grade(o["reference"], family.make_item((o["prompt"], o["truth"]), o["difficulty"]))


def test_spin_pairs_from_the_algorithm_table() -> None:
    arena = Spin(samples=2)
    [t], _ = play(arena, InOrder(solver=["Answer: 1"]))
    reference = t.outcome["reference"]
    [t2], _ = play(arena, InOrder(solver=[reference, "Answer: 1"]))
    encode = lambda messages: [len(m["content"]) for m in messages]  # noqa: E731
    encode_reply = lambda text: [ord(c) for c in text]  # noqa: E731
    pairs = builders.spin_pairs([t], "solver", arena.reference_reply, encode, encode_reply)
    assert len(pairs) == 2 and all(p.meta["chosen"] == reference for p in pairs)
    pairs = builders.spin_pairs([t2], "solver", arena.reference_reply, encode, encode_reply)
    assert len(pairs) == 1 and pairs[0].meta["rejected"] == "Answer: 1"  # a sample equal to the reference: no pair
    assert reference_match_rate.fn(t2) == 0.5
    spin = get_algorithm("spin")
    assert spin.reference == "iterate" and "reference_reply" in spin.requires
    check_requirements(arena, "solver", RoleSection(adapter="solver", update="spin"))


def test_task_eval_plays_held_out_items_greedily() -> None:
    family = get_family("units")
    transcripts, engine = play(TaskEval(family="units", difficulty=[1, 4]), InOrder(solver=["Answer: 60"]),
                               seeds=range(12))
    assert all(family.split_of(t.outcome["prompt"]) == "test" for t in transcripts)
    assert all(r.sampling.temperature == 0.0 for r in engine.requests)
    assert {t.outcome["difficulty"] for t in transcripts} > {1}
    right = [t for t in transcripts if t.outcome["truth"] == 60]
    assert solver_accuracy.compute(transcripts) == {"solver_accuracy": len(right) / 12}


def test_arguments_are_checked() -> None:
    with pytest.raises(TaskError, match="samples must be an integer in 1..16"):
        Spin(samples=0)
    with pytest.raises(TaskError, match="split must be one of train, validation, test"):
        TaskEval(split="dev")
    with pytest.raises(TaskError, match=r"difficulty must be an integer in 1\.\.4"):
        Spin(family="letters", difficulty=[1, 5])
