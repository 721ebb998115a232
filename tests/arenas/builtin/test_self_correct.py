"""self-correct (SCoRe): conformance, rewards and transitions by hand, groups, golden transcripts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from sparring.agents.engines.base import GenerationRequest
from sparring.arenas import (
    SelfCorrect,
    TaskError,
    Transcript,
    apply_rewards,
    check_arena,
    check_reward,
    replay,
)
from sparring.arenas.builtin.self_correct import (
    REVIEW,
    first_truth,
    second_truth,
    stage_one,
    stage_two_reward,
)
from sparring.arenas.replay import diff
from sparring.rewards import builders
from tests.arenas.task_scripts import play

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "self_correct.json"


def _truth(request: GenerationRequest) -> int:
    a, op, b = re.search(r"What is (\d+) ([+-]) (\d+)\?", request.messages[1]["content"]).groups()  # type: ignore[union-attr]
    return int(a) + int(b) if op == "+" else int(a) - int(b)


class Reviewer:
    """First attempts: sample 0 right, sample 1 wrong. Revision 0 of a right attempt keeps
    it, revision 1 breaks it; revision 0 of a wrong one fixes it, revision 1 keeps it."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, request: GenerationRequest, index: int) -> str:
        truth = _truth(request)
        if len(request.messages) == 2:  # system + prompt: a first attempt
            k = self.seen.get("first", 0)
            self.seen["first"] = k + 1
            return f"Answer: {truth if k % 2 == 0 else truth + 1}"
        first = request.messages[2]["content"]
        k = self.seen.get(first, 0)
        self.seen[first] = k + 1
        return f"I checked it.\nAnswer: {truth if k == 0 else truth + 7}"


@pytest.mark.parametrize("arena", [
    SelfCorrect(), SelfCorrect(family="sorting", difficulty=[1, 3], samples=2, revisions=1, stage=1),
    SelfCorrect(family="letters", samples=1, revisions=3, alpha=4.0, split="held_out"),
])
def test_check_arena(arena: SelfCorrect) -> None:
    assert not check_arena(arena).warnings


def test_rewards_and_transitions_by_hand() -> None:
    [t], _ = play(SelfCorrect(samples=2, revisions=2, alpha=1.0), Reviewer())
    o = t.outcome
    assert o["first_correct"] == [True, False]
    assert o["second_correct"] == [[True, False], [True, False]]
    scores = {s.turn: s.value for s in stage_two_reward(1.0)(t)}  # type: ignore[union-attr]
    # turns: 0, 1 first attempts; 2, 3 revisions of the right one; 4, 5 of the wrong one
    # r̂2: right->right 1, right->wrong 0 + (0 - 1) = -1, wrong->right 1 + 1 = 2, wrong->wrong 0
    assert [scores[i] for i in (2, 3, 4, 5)] == [1.0, -1.0, 2.0, 0.0]
    # first attempts: r1 + mean r̂2 = 1 + 0 and 0 + 1
    assert [scores[0], scores[1]] == [1.0, 1.0]
    assert {s.turn: s.value for s in stage_two_reward(3.0)(t)}[4] == 4.0  # 1 + 3 * (1 - 0)
    assert [s.value for s in stage_one(t)] == [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]  # type: ignore[union-attr]
    assert [s.value for s in first_truth(t)] == [1.0, 0.0]  # type: ignore[union-attr]
    monitors = SelfCorrect().monitors()[0].compute([t])
    assert monitors == {"self_correction/right_right": 1.0, "self_correction/right_wrong": 1.0,
                        "self_correction/wrong_right": 1.0, "self_correction/wrong_wrong": 1.0,
                        "self_correction/n": 4.0, "self_correction/accuracy_first": 0.5,
                        "self_correction/accuracy_second": 0.5, "self_correction/delta": 0.0,
                        "self_correction/kept_rate": 0.5, "self_correction/fixed_rate": 0.5}


def test_what_the_solver_sees() -> None:
    [t], engine = play(SelfCorrect(samples=2, revisions=1), Reviewer())
    truth = str(t.outcome["truth"])
    first, review = engine.requests[0], engine.requests[2]
    assert [m["role"] for m in first.messages] == ["system", "user"]
    assert [m["role"] for m in review.messages] == ["system", "user", "assistant", "user"]
    assert review.messages[2]["content"] == t.turns[0].text and review.messages[3]["content"] == REVIEW
    assert review.messages[1]["content"] == first.messages[1]["content"] == t.outcome["prompt"]
    assert truth not in t.outcome["prompt"].split()


def test_rewards_conform_and_groups_follow_asks() -> None:
    transcripts, _ = play(SelfCorrect(samples=3, revisions=2), Reviewer(), seeds=range(4))
    for r in (first_truth, second_truth, stage_one, stage_two_reward(1.0), stage_two_reward(10.0)):
        assert check_reward(r, transcripts) > 0
    for t in transcripts:
        t.rewards = []
        apply_rewards(t, SelfCorrect(samples=3, revisions=2).rewards())
    groups = builders.grpo_groups(transcripts, "solver", "stage_two", lambda msgs: [len(msgs)])
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g.group_id] = sizes.get(g.group_id, 0) + 1
    assert sorted(sizes.values()) == [2] * 12 + [3] * 4  # per match: 3 first attempts, 3 groups of 2 revisions


def _advantages(group: str, normalize_std: bool) -> dict[tuple[bool, bool], float]:
    """Advantage of each (first right, second right) revision under GRPO with ``group``."""
    import torch

    from sparring.agents.updates.losses import group_advantages

    [t], _ = play(SelfCorrect(samples=2, revisions=2, alpha=1.0), Reviewer())
    samples = [s for s in builders.grpo_groups([t], "solver", "stage_two", lambda m: [len(m)], group=group)
               if len(s.meta["prompt"]) == 4]  # second attempts (system, prompt, first attempt, review)
    ids: dict[str, int] = {}
    adv = group_advantages(torch.tensor([s.reward for s in samples]),
                           [ids.setdefault(s.group_id, len(ids)) for s in samples], normalize_std=normalize_std)
    by_turn = {s.meta["turn"]: a for s, a in zip(samples, adv.tolist(), strict=True)}
    # turns 2, 3: revisions of the right first attempt (kept, broken); 4, 5: of the wrong one (fixed, kept)
    return {(True, True): by_turn[2], (True, False): by_turn[3], (False, True): by_turn[4],
            (False, False): by_turn[5]}


@pytest.mark.parametrize("normalize_std", [True, False])
def test_correction_bonus_survives_the_baseline(normalize_std: bool) -> None:
    """SCoRe's bonus: a wrong->right revision is preferred over a right->right one."""
    adv = _advantages("depth", normalize_std)
    assert adv[(False, True)] > adv[(True, True)] > adv[(False, False)] > adv[(True, False)]
    if not normalize_std:  # r̂2 = 2, 1, 0, -1 around their mean 0.5
        assert adv == pytest.approx({(False, True): 1.5, (True, True): 0.5, (False, False): -0.5,
                                     (True, False): -1.5})
    # grouped by first attempt, r1 is constant in each group and the bonus cancels
    cancelled = _advantages("ask", normalize_std)
    assert cancelled[(False, True)] == pytest.approx(cancelled[(True, True)])


def test_the_arena_and_recipe_group_second_attempts_across_first_attempts() -> None:
    from sparring.runs.recipes.recipe import RoleSection, load_recipe
    from sparring.runs.training.algorithms import group_of

    recipe = load_recipe(Path(__file__).resolve().parents[3] / "recipes" / "self_correct.toml")
    assert recipe.roles["solver"].group == "depth" and recipe.train.normalize_std is False
    spec = RoleSection(adapter="solver", update="grpo")
    assert group_of(SelfCorrect(), "solver", spec) == "depth"
    assert group_of(SelfCorrect(), "solver", RoleSection(adapter="solver", update="grpo", group="ask")) == "ask"
    transcripts, _ = play(SelfCorrect(samples=3, revisions=2), Reviewer(), seeds=range(2))
    samples = builders.grpo_groups(transcripts, "solver", "stage_two", lambda m: [len(m)], group="depth")
    sizes: dict[str, int] = {}
    for g in samples:
        sizes[g.group_id] = sizes.get(g.group_id, 0) + 1
    assert sorted(sizes.values()) == [3, 3, 6, 6]  # per match: 3 first attempts, 3 * 2 second attempts


def test_evaluation_variant_and_defaults() -> None:
    arena = SelfCorrect(family="units", difficulty=[1, 2], stage=1, alpha=2.0)
    assert arena.default_rewards == {"solver": "stage_one"} and arena.reward_bounds == (-2.0, 4.0)
    variant = arena.evaluation().arena
    assert isinstance(variant, SelfCorrect)
    assert variant.kwargs | {} == {"family": "units", "difficulty": [1, 2], "samples": 1, "revisions": 1,
                                   "alpha": 2.0, "stage": 2, "split": "test"}
    transcripts, _ = play(variant, lambda request, index: "Answer: 1", seeds=range(5))
    assert all(variant.family.split_of(t.outcome["prompt"]) == "test" for t in transcripts)
    assert all(len(t.turns) == 2 for t in transcripts)


def test_arguments_are_checked() -> None:
    with pytest.raises(TaskError, match="revisions must be a positive integer, got 0"):
        SelfCorrect(revisions=0)
    with pytest.raises(TaskError, match=r"samples \* \(1 \+ revisions\) must be at most 64"):
        SelfCorrect(samples=16, revisions=4)
    with pytest.raises(TaskError, match=r"alpha must be a number in \[0, 10\], got 11"):
        SelfCorrect(alpha=11)
    with pytest.raises(TaskError, match="stage must be 1 or 2"):
        SelfCorrect(stage=3)


GOLDEN_SCRIPT_FIRST = ["Answer: 12", "I think it is 40.\nAnswer: 40", "no idea", "Answer: 7", "Answer: 48", "Answer: 6"]
GOLDEN_SCRIPT_REVIEW = ["Answer: 12", "On review it is 48.\nAnswer: 48", "Answer: 7", "I keep my answer."]


def golden_script(request: GenerationRequest, index: int) -> str:
    """Scripted replies picked by row seed; reviews (with an assistant turn) from their own list."""
    replies = GOLDEN_SCRIPT_FIRST if len(request.messages) == 2 else GOLDEN_SCRIPT_REVIEW
    return replies[request.seed % len(replies)]


def _played() -> list[dict[str, Any]]:
    transcripts, _ = play(SelfCorrect(samples=2, revisions=2), golden_script, seeds=range(6))
    return [t.comparable() for t in transcripts]


def test_golden_transcripts() -> None:
    """Regenerate after an intended change: SPARRING_UPDATE_GOLDEN=1 python -m pytest -q <this file>."""
    played = _played()
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    differences = diff(golden, played)
    assert not differences, "self-correct no longer plays its golden transcripts:\n" + "\n".join(differences)
    for data in golden:
        assert replay(Transcript.model_validate(data)).identical
    values = {(r["reward"], r["value"]) for t in golden for r in t["rewards"]}
    assert {("stage_two", 2.0), ("stage_two", -1.0)} <= values  # a fix and a break are covered
