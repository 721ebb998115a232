"""tree-refine (SPaR): conformance, the breadth-first search and its pairs by hand, what
each seat sees, the evaluation variant, arguments, golden transcripts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sparring.agents.engines.base import GenerationRequest
from sparring.arenas import (
    TaskError,
    Transcript,
    TreeRefine,
    apply_rewards,
    check_arena,
    check_reward,
    replay,
)
from sparring.arenas.builtin.instructions import describe
from sparring.arenas.builtin.tree_refine import (
    EVAL_METRICS,
    REFINER_PROMPT,
    actor_judged,
    actor_truth,
    majority,
    refiner_label,
    refiner_truth,
    word_distance,
)
from sparring.arenas.replay import diff
from sparring.rewards import builders
from sparring.runs.recipes.recipe import RoleSection
from sparring.runs.training.algorithms import check_requirements, get_algorithm
from tests.arenas.task_scripts import play

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "tree_refine.json"
JUDGE = "Does the response meet this constraint?"


def _response(request: GenerationRequest) -> str:
    return request.messages[-1]["content"].split("<response>")[1].split("</response>")[0]


class Refiner:
    """Actor: ``answer``. Refiner: Yes when the response holds ``fixed`` (the third verdict
    on the same question dissents); rewrites of a response taken in order from ``tree``."""

    def __init__(self, answer: str, tree: dict[str, list[str]]) -> None:
        self.answer, self.tree, self.seen = answer, tree, {}  # type: ignore[var-annotated]

    def __call__(self, request: GenerationRequest, index: int) -> str:
        if request.messages[0]["content"] != REFINER_PROMPT:
            return self.answer
        prompt = request.messages[-1]["content"]
        k = self.seen.get(prompt, 0)
        self.seen[prompt] = k + 1
        response = _response(request)
        if JUDGE in prompt:
            return "Yes, it does." if ("fixed" in response) != (k == 2) else "No, it does not."
        return self.tree[response][k % len(self.tree[response])]


TREE = {"a plain answer": ["try one", "try two"],
        "try one": ["try one fixed more words", "try one again"],
        "try two": ["a plain answer fixed", "a plain fixed"]}


@pytest.mark.parametrize("arena", [
    TreeRefine(), TreeRefine(difficulty=[1, 3], samples=1, width=3, depth=1, repeats=1),
    TreeRefine(difficulty=2, samples=3, width=1, depth=3, repeats=2, split="test"),
])
def test_check_arena(arena: TreeRefine) -> None:
    assert not check_arena(arena).warnings


def test_breadth_first_search_and_pairs_by_hand() -> None:
    arena = TreeRefine(difficulty=1, samples=1, width=2, depth=2, repeats=3)
    [t], _ = play(arena, Refiner("a plain answer", TREE))
    [tree] = t.outcome["trees"]
    texts = [n["text"] for n in tree["nodes"]]
    # root, level 1 (both judged failing), level 2 (the search stops here: judged good found)
    assert texts == ["a plain answer", "try one", "try two", "try one fixed more words", "try one again",
                     "a plain answer fixed", "a plain fixed"]
    assert [n["parent"] for n in tree["nodes"]] == [None, 0, 0, 1, 1, 2, 2]
    assert [n["good"] for n in tree["nodes"]] == [False, False, False, True, False, True, True]
    assert all(j["verdicts"][2] != j["majority"] for n in tree["nodes"] for j in n["judgements"])
    # of the three judged good, the closest to the original (1 word; ties by order)
    assert (tree["refined"], tree["refined_text"], tree["edit_distance"]) == (5, "a plain answer fixed", 1)
    assert word_distance("a plain answer", "try one fixed more words") == 5
    assert [s.value for s in actor_judged(t)] == [0.0]  # type: ignore[union-attr]
    label = {s.turn: s.value for s in refiner_label(t)}  # type: ignore[union-attr]
    rewrites = [i for i, u in enumerate(t.turns) if u.role == "refiner" and JUDGE not in u.messages[-1]["content"]]
    assert [label[i] for i in rewrites] == [0.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    assert sorted(v for i, v in label.items() if i not in rewrites) == [0.0] * 7 + [1.0] * 14
    assert arena.reference_reply(t, t.turns[0]) == "a plain answer fixed"
    assert arena.reference_reply(t, t.turns[rewrites[0]]) is None
    # the actor's pair (dpo_target): refinement over the original, to the actor's own prompt
    apply_rewards(t, arena.rewards())
    encode = lambda messages: [len(m["content"]) for m in messages]  # noqa: E731
    encode_reply = lambda text: [ord(c) for c in text]  # noqa: E731
    [pair] = builders.spin_pairs([t], "actor", arena.reference_reply, encode, encode_reply)
    assert (pair.meta["chosen"], pair.meta["rejected"]) == ("a plain answer fixed", "a plain answer")
    assert pair.meta["prompt"] == t.turns[0].messages
    # the refiner's pairs (dpo on refiner_label): 7 judgement pairs (agreeing over dissenting
    # verdict) and 1 refinement pair (the good sibling over the failed one, same parent)
    pairs = builders.best_worst_pairs([t], "refiner", "refiner_label", encode)
    refinements = [p for p in pairs if JUDGE not in p.meta["prompt"][-1]["content"]]
    assert len(pairs) == 8 and [(p.meta["chosen"], p.meta["rejected"]) for p in refinements] == [
        ("try one fixed more words", "try one again")]


def test_the_search_stops_early_and_the_checker_is_measurement() -> None:
    good_first = TreeRefine(difficulty=1, samples=1, width=2, depth=3, repeats=1)
    [t], _ = play(good_first, Refiner("x", {"x": ["x fixed", "y"]}))
    assert [n["text"] for n in t.outcome["trees"][0]["nodes"]] == ["x", "x fixed", "y"]  # level 1 succeeded
    [t], engine = play(good_first, Refiner("already fixed", {}))
    assert t.outcome["trees"][0]["original_good"] and len(t.outcome["trees"][0]["nodes"]) == 1
    assert t.outcome["trees"][0]["refined"] is None and good_first.reference_reply(t, t.turns[0]) is None
    [t], _ = play(TreeRefine(difficulty=1, samples=1, depth=0, repeats=1), Refiner("x", {}))
    assert len(t.outcome["trees"][0]["nodes"]) == 1  # depth 0: judged, never refined
    truth = actor_truth(t)[0].value  # type: ignore[index]
    assert truth == t.outcome["trees"][0]["truth_scores"][0] and truth in (0.0, 1.0)
    checked = t.outcome["trees"][0]["nodes"][0]["checked"][0]
    assert {s.value for s in refiner_truth(t)} == {float(checked is False)}  # type: ignore[union-attr]


def test_what_each_seat_sees() -> None:
    arena = TreeRefine(difficulty=3, samples=1, width=1, depth=1, repeats=1)
    [t], engine = play(arena, Refiner("a plain answer", {"a plain answer": ["a plain answer fixed"]}))
    constraints = t.outcome["truth"]
    actor, *refiner = engine.requests
    assert actor.messages[-1]["content"] == t.outcome["prompt"]
    judged = [r.messages[-1]["content"] for r in refiner if JUDGE in r.messages[-1]["content"]]
    # one constraint per question, each constraint of the instruction asked about the original
    assert sorted(q.split("Constraint: ")[1].split(".\n")[0] for q in judged[:3]) == sorted(map(describe, constraints))
    rewrite = next(r.messages[-1]["content"] for r in refiner if JUDGE not in r.messages[-1]["content"])
    assert all(describe(c) in rewrite for c in constraints)  # every constraint was judged unmet
    assert all("checked" not in r.messages[-1]["content"] and "truth" not in r.messages[-1]["content"]
               for r in engine.requests)


def test_rewards_conform() -> None:
    transcripts, _ = play(TreeRefine(), Refiner("a plain answer", TREE), seeds=range(3))
    for r in (actor_judged, actor_truth, refiner_label, refiner_truth):
        assert check_reward(r, transcripts) > 0


def test_evaluation_variant_and_algorithms() -> None:
    arena = TreeRefine(difficulty=[1, 3], width=3, depth=1)
    evaluation = arena.evaluation()
    variant = evaluation.arena
    assert isinstance(variant, TreeRefine) and evaluation.metrics == EVAL_METRICS
    assert variant.kwargs | {} == {"family": "instructions", "difficulty": [1, 3], "samples": 1, "width": 1,
                                   "depth": 0, "repeats": 1, "split": "test"}
    transcripts, _ = play(variant, Refiner("x", {}), seeds=range(3))
    assert all(variant.family.split_of(t.outcome["prompt"]) == "test" for t in transcripts)
    assert all(len(t.outcome["trees"][0]["nodes"]) == 1 for t in transcripts)
    target = get_algorithm("dpo_target")
    assert target.reference == "base" and tuple(target.references) == ("iterate",)
    assert target.requires == ("reference_reply",)
    check_requirements(arena, "actor", RoleSection(adapter="actor", update="dpo_target", reference="iterate"))
    assert majority([True, None, False]) is None and majority([None, False]) is False


def test_arguments_are_checked() -> None:
    with pytest.raises(TaskError, match="width must be an integer in 1..4, got 0"):
        TreeRefine(width=0)
    with pytest.raises(TaskError, match="family 'arithmetic' has no constraint lists"):
        TreeRefine(family="arithmetic")
    with pytest.raises(TaskError, match="a match could ask for .* replies .* lower width, depth, repeats or samples"):
        TreeRefine(difficulty=3, samples=8, width=4, depth=4, repeats=5)


def golden_script(request: GenerationRequest, index: int) -> str:
    """Replies picked by row seed: answers, verdicts (some not parsing), rewrites (one empty)."""
    if request.messages[0]["content"] != REFINER_PROMPT:
        return ["rainy days are simple and calm.", "- a quiet morning\n- a warm cup\nThank you.", ""][request.seed % 3]
    if JUDGE in request.messages[-1]["content"]:
        return ["Yes. It does.", "No, it does not.", "Maybe.", "Yes, it meets it.", "Yes."][request.seed % 5]
    return [f"{_response(request)} That is all.", _response(request).lower(), ""][request.seed % 3]


def _played() -> list[dict[str, object]]:
    transcripts, _ = play(TreeRefine(samples=2, width=2, depth=2, repeats=3), golden_script, seeds=range(4))
    return [t.comparable() for t in transcripts]


def test_golden_transcripts() -> None:
    """Regenerate after an intended change: SPARRING_UPDATE_GOLDEN=1 python -m pytest -q <this file>."""
    played = _played()
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    differences = diff(golden, played)
    assert not differences, "tree-refine no longer plays its golden transcripts:\n" + "\n".join(differences)
    for data in golden:
        assert replay(Transcript.model_validate(data)).identical
    trees = [tree for t in golden for tree in t["outcome"]["trees"]]
    assert any(tree["refined"] is not None for tree in trees) and any(tree["original_good"] for tree in trees)
    assert any(n["judgements"] == [] for tree in trees for n in tree["nodes"])  # an empty rewrite, not judged
