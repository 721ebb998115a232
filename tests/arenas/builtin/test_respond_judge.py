"""respond-judge and the instructions family: conformance, hand-computed judgements, pair
updates from the algorithm table, golden transcripts (scripted engine, no model).

Golden file: ``tests/golden/respond_judge.json``; after an intended change regenerate with
``SPARRING_UPDATE_GOLDEN=1 python -m pytest -q tests/arenas/builtin/test_respond_judge.py`` and
review ``git diff tests/golden/``.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from pathlib import Path

import pytest

from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import (
    RespondJudge,
    ResponseEval,
    Runner,
    TaskError,
    Transcript,
    check_arena,
    check_reward,
    get_family,
    replay,
)
from sparring.arenas.builtin.instructions import INSTRUCTIONS, check_constraint, satisfaction
from sparring.arenas.builtin.respond_judge import RESPOND_JUDGE_MONITORS, RESPOND_JUDGE_REWARDS
from sparring.arenas.replay import diff
from sparring.rewards import builders
from sparring.rewards import judges as J
from sparring.runs.recipes.recipe import RoleSection
from sparring.runs.training.algorithms import check_requirements, get_algorithm
from tests.helpers import seat_by_system_prompt

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "respond_judge.json"
_SEATS = {"You are a helpful assistant": "responder", "You are a strict, fair judge": "judge"}


def _words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9']+", text))


def judge_by_length(request: GenerationRequest) -> str:
    """A consistent judge that prefers longer replies: points = min(5, words), the longer of
    two replies wins, yes when a reply has at least 4 words."""
    prompt = request.messages[-1]["content"]
    if "<response A>" in prompt:
        a = _words(prompt.split("<response A>")[1].split("</response A>")[0])
        b = _words(prompt.split("<response B>")[1].split("</response B>")[0])
        return f"Comparing lengths.\nWinner: {'A' if a > b else 'B' if b > a else 'tie'}"
    response = prompt.split("<response>")[1].split("</response>")[0]
    if "Begin your reply with Yes or No" in prompt:
        return "Yes, it is complete." if _words(response) >= 4 else "No, too short."
    return f"My answer: something.\nIt has {_words(response)} words.\nScore: {min(5, _words(response))}"


class Script:
    """Responder replies in the order asked (cycling); the judge by :func:`judge_by_length`."""

    def __init__(self, replies: list[str], biased: bool = False) -> None:
        self.replies, self.count, self.biased = replies, 0, biased

    def __call__(self, request: GenerationRequest, index: int) -> str:
        if seat_by_system_prompt(request, _SEATS) == "judge":
            if self.biased and "<response A>" in request.messages[-1]["content"]:
                return "Winner: A"  # always the first position
            return judge_by_length(request)
        reply = self.replies[self.count % len(self.replies)]
        self.count += 1
        return reply


def _play(arena: RespondJudge, script: object, seeds: range | list[int] = (0,)) -> list[Transcript]:
    return Runner({"default": ScriptedEngine(script)}).play(arena, list(seeds))  # type: ignore[arg-type]


REPLIES = ["one two three four five six", "one two", "one two three four"]


# -- the instructions family -------------------------------------------------------------------

def test_instructions_family_references_meet_every_constraint() -> None:
    family = get_family("instructions")
    assert family is INSTRUCTIONS
    for difficulty in (1, 2, 3):
        for item in family.items(30, seed=difficulty, difficulty=difficulty):
            assert len(item.answer) == difficulty and family.grade(item.reference, item)
            assert satisfaction(item.reference, item.answer) == 1.0
            assert family.split_of(item) == "train"
        for item in family.items(5, seed=difficulty, difficulty=difficulty, split="held_out"):
            assert family.split_of(item) == "test"


@pytest.mark.parametrize(("reply", "constraint", "ok"), [
    ("one two three", {"kind": "max_words", "value": 3}, True),
    ("one two three four", {"kind": "max_words", "value": 3}, False),
    ("a bright day", {"kind": "keyword", "value": "bright"}, True),
    ("a brightly lit day", {"kind": "keyword", "value": "bright"}, False),
    ("it is very warm", {"kind": "forbidden", "value": "very"}, False),
    ("- a\n- b\nmore", {"kind": "bullets", "value": 2}, True),
    ("- a\n- b\n- c", {"kind": "bullets", "value": 2}, False),
    ("all small here.", {"kind": "lowercase"}, True),
    ("ALL BIG, 2 TIMES.", {"kind": "uppercase"}, True),
    ("Bye. Thank you.", {"kind": "ends_with", "value": "Thank you."}, True),
    ("<<Rain>>\ntext", {"kind": "title"}, True),
    ("no title", {"kind": "title"}, False),
])
def test_constraint_checker(reply: str, constraint: dict, ok: bool) -> None:
    assert check_constraint(reply, constraint) is ok


def test_satisfaction_is_the_share_met() -> None:
    constraints = [{"kind": "max_words", "value": 3}, {"kind": "keyword", "value": "warm"}, {"kind": "lowercase"}]
    assert satisfaction("a warm day", constraints) == 1.0
    assert satisfaction("A warm sunny day", constraints) == pytest.approx(1 / 3)
    assert satisfaction(None, constraints) == 0.0


# -- conformance ---------------------------------------------------------------------------------

@pytest.mark.parametrize("arena", [
    RespondJudge(),
    RespondJudge(family="arithmetic", judges=["pairwise", "pointwise", "verdict"], samples=3, repeats=1,
                 self_reference=True, anchor_samples=2, anchor_judge=True),
    ResponseEval(), ResponseEval(family="letters", difficulty=2),
])
def test_check_arena(arena: object) -> None:
    assert not check_arena(arena).warnings  # type: ignore[arg-type]


def test_bad_arguments_are_one_line_errors() -> None:
    for kwargs, message in [({"samples": 1}, "samples must be"), ({"judges": ["pointwise", "vibes"]}, "judges must"),
                            ({"judges": []}, "judges must"), ({"repeats": 0}, "repeats must"),
                            ({"anchor_samples": 9}, "anchor_samples must"), ({"margin": 0}, "margin must"),
                            ({"judges": ["verdict"], "self_reference": True}, "applies to the pairwise judge"),
                            ({"judges": ["pointwise"], "self_reference": True}, "single-reply variant"),
                            ({"judges": ["pairwise"], "self_reference": "pointwise"}, "applies to the pointwise"),
                            ({"judges": ["pairwise"], "self_reference": "both"}, "self_reference must be")]:
        with pytest.raises(TaskError, match=message):
            RespondJudge(**kwargs)


ALL = RespondJudge(judges=["pointwise", "pairwise", "verdict"], samples=3, repeats=2, anchor_samples=2,
                   anchor_judge=True, self_reference=True)


def test_every_reward_passes_check_reward() -> None:
    transcripts = _play(ALL, Script(REPLIES + ["a b c d e f g", "x"]), seeds=range(4))
    for r in RESPOND_JUDGE_REWARDS:
        assert check_reward(r, transcripts) > 0, r.name


def test_response_eval_reward_and_metrics() -> None:
    from sparring.arenas.builtin.instructions import RESPONSE_EVAL_METRICS, eval_responder_truth

    item = INSTRUCTIONS.items(1, seed=0, difficulty=1, split="held_out")[0]
    transcripts = _play(ResponseEval(difficulty=1), Script([item.reference, "", "x"]), seeds=range(6))
    assert check_reward(eval_responder_truth, transcripts) == 6
    values = {k: v for m in RESPONSE_EVAL_METRICS for k, v in m.compute(transcripts).items()}
    scores = [t.outcome["truth_score"] for t in transcripts]
    assert values["responder_satisfaction"] == pytest.approx(sum(scores) / 6)
    assert values["responder_accuracy"] == pytest.approx(sum(t.outcome["correct"] for t in transcripts) / 6)
    assert all(get_family("instructions").split_of(t.outcome["prompt"]) == "test" for t in transcripts)


# -- hand-computed judgements -------------------------------------------------------------------

def test_judgements_by_hand() -> None:
    arena = RespondJudge(judges=["pointwise", "pairwise", "verdict"], samples=3, repeats=2)
    [t] = _play(arena, Script(REPLIES))
    o = t.outcome
    assert o["answers"] == REPLIES
    # pointwise: min(5, words) / 5 = 5/5, 2/5, 4/5 (both repeats agree)
    assert o["pointwise"]["responder"] == [1.0, 0.4, 0.8]
    assert o["judgements"]["pointwise"]["raw"] == [[5.0, 5.0], [2.0, 2.0], [4.0, 4.0]]
    # pairwise, the longer wins in both orders: W = [[-, 1, 1], [0, -, 0], [0, 1, -]]
    assert o["judgements"]["pairwise"]["win_matrix"] == [[None, 1.0, 1.0], [0.0, None, 0.0], [0.0, 1.0, None]]
    assert o["pairwise"]["responder"] == [1.0, 0.0, 0.5]
    # verdict: yes for >= 4 words; the scripted engine's log-probs are 0, so P(True) is 1 or 0
    assert o["verdict"]["responder"] == [1.0, 0.0, 1.0]
    assert o["judge_scores"] == [1.0, 0.4, 0.8]  # the primary (first) judge
    scores = {r.reward: [] for r in t.rewards}
    for r in t.rewards:
        scores[r.reward].append((r.turn, r.value))
    assert scores["judge_score"] == [(0, 1.0), (1, 0.4), (2, 0.8)]
    assert scores["judge_pairwise"] == [(0, 1.0), (1, 0.0), (2, 0.5)]
    # the checker never appears in what a seat sees
    truth = json.dumps(o["truth"])
    assert all(truth not in json.dumps(u.messages) for u in t.turns)
    monitors = {k: v for m in RESPOND_JUDGE_MONITORS for k, v in m.compute([t]).items()}
    assert monitors["judge/position_consistency"] == 1.0
    # the primary judge is the rubric: no gold judgement on its scale, so no DBG
    assert o["gold_scores"] is None and "judge/self_preference_bias" not in monitors


def test_dbg_compares_the_judges_scores_with_gold_judgements_on_its_scale() -> None:
    replies = ["one two three four five six", "one two", "Short note about rivers, quiet and calm."]
    [t] = _play(RespondJudge(judges=["verdict", "pairwise"], samples=3, repeats=1), Script(replies))
    o = t.outcome
    truth = o["truth_scores"]
    assert o["gold_scores"] == [1.0 if s >= 1 else 0.0 for s in truth]  # gold yes/no: every constraint met
    monitors = {k: v for m in RESPOND_JUDGE_MONITORS for k, v in m.compute([t]).items()}
    assert monitors["judge/self_preference_bias"] == pytest.approx(
        sum(o["judge_scores"]) / 3 - sum(s >= 1 for s in truth) / 3)
    [t] = _play(RespondJudge(judges=["pairwise"], samples=3), Script(replies))
    assert t.outcome["gold_scores"] == J.gold_win_rates(t.outcome["truth_scores"])  # the checker's win rates


def test_p_true_is_not_read_off_leading_punctuation() -> None:
    answered: list[str] = []

    def script(request: GenerationRequest, index: int) -> str | Completion:
        if seat_by_system_prompt(request, _SEATS) == "responder":
            answered.append(["first reply", "second reply"][len(answered) % 2])
            return answered[-1]
        if "first reply" in request.messages[-1]["content"]:
            return Completion("Yes, fine.", token_ids=[1, 2, 3], logprobs=[math.log(0.8), -1.0, -1.0])
        # "**" is sampled at probability 0.3, then "Yes" at 0.9: neither is P(yes) of the first token
        return Completion("**Yes** fine.", token_ids=[4, 5, 6], logprobs=[math.log(0.3), math.log(0.9), -1.0])

    [t] = _play(RespondJudge(judges=["verdict"], samples=2, repeats=1), script)
    scores = dict(zip(t.outcome["answers"], t.outcome["judge_scores"], strict=True))
    assert scores["first reply"] == pytest.approx(0.8)
    assert scores["second reply"] is None  # the verdict parsed, but its token's probability is unknown


def test_a_position_biased_judge_gives_no_preference() -> None:
    arena = RespondJudge(judges=["pairwise"], samples=3)
    [t] = _play(arena, Script(REPLIES, biased=True))
    assert t.outcome["judge_scores"] == [0.5, 0.5, 0.5]
    assert {k: v for m in RESPOND_JUDGE_MONITORS for k, v in m.compute([t]).items()}[
        "judge/position_consistency"] == 0.0
    assert builders.best_worst_pairs([t], "responder", "judge_score", len) == []


def test_self_reference_judges_pairs_in_both_orders() -> None:
    arena = RespondJudge(judges=["pairwise"], samples=3, self_reference=True)
    [t] = _play(arena, Script(REPLIES))
    judged = [u.messages[-1]["content"] for u in t.turns if u.role == "judge"]
    assert len(judged) == 6 and all("My answer:" in p and "<response A>" in p for p in judged)
    shown = {(p.split("<response A>")[1].split("</response A>")[0], p.split("<response B>")[1].split("</response B>")[0])
             for p in judged}
    assert shown == {(a, b) for a in REPLIES for b in REPLIES if a != b}  # every pair, both orders
    assert t.outcome["judge_scores"] == [1.0, 0.0, 0.5]
    # the cheaper single-reply variant has its own name
    [t] = _play(RespondJudge(samples=2, repeats=1, self_reference="pointwise"), Script(REPLIES))
    judged = [u.messages[-1]["content"] for u in t.turns if u.role == "judge"]
    assert len(judged) == 2 and all("My answer:" in p and "<response>" in p for p in judged)


@pytest.mark.parametrize("kind", ["pointwise", "pairwise", "verdict"])
def test_cream_anchor_judge_uses_the_primary_judges_method(kind: str) -> None:
    arena = RespondJudge(judges=[kind], samples=2, repeats=1, anchor_samples=1, anchor_judge=True)
    roles = arena.default_roles()
    assert roles["anchor_judge"].parser is roles["judge"].parser
    [t] = _play(arena, Script(["one two three", "one", "a b c d e"]))
    asked = {seat: sorted(u.messages[-1]["content"] for u in t.turns if u.role == seat)
             for seat in ("judge", "anchor_judge")}
    assert asked["judge"] and asked["anchor_judge"] == asked["judge"]  # the same judgements of the same replies
    anchor = [u for u in t.turns if u.role == "anchor"]
    responder = [u for u in t.turns if u.role == "responder"]
    assert len(anchor) == 1 and anchor[0].messages == responder[0].messages  # same prompt, same messages
    assert t.outcome["anchor_judged"] == t.outcome["primary"]  # a consistent script judges alike


# -- the algorithm table -----------------------------------------------------------------------

def _encode(messages: list[dict[str, str]]) -> list[int]:
    return [len(m["content"]) for m in messages]


def test_judged_updates_build_pairs() -> None:
    [t] = _play(RespondJudge(judges=["pointwise", "pairwise"], samples=3, repeats=1, anchor_samples=2,
                             anchor_judge=True), Script(REPLIES + ["one two three four five six seven", "x"]))
    decl = RespondJudge(judges=["pointwise", "pairwise"], anchor_samples=2, anchor_judge=True).judged_pairs()
    assert (decl.previous_reward, decl.anchor_seat, decl.agreeing_rewards) == (
        "anchor_judge_score", "anchor", ("judge_pointwise", "judge_pairwise"))
    [best_worst] = builders.best_worst_pairs([t], "responder", "judge_score", _encode)
    assert (best_worst.meta["chosen"], best_worst.meta["rejected"]) == (REPLIES[0], REPLIES[1])
    [cream] = builders.consistency_pairs([t], "responder", "judge_score", decl.previous_reward, _encode)
    assert cream.strength == 1.0  # the anchor judge (same script) ranks alike
    from sparring.rewards.judge_pairs import agreement_pairs, anchored_pairs

    [temporal] = anchored_pairs([t], "responder", "anchor", "judge_score", _encode)
    assert (temporal.meta["chosen"], temporal.meta["rejected"]) == (REPLIES[0], "x")
    [scir] = agreement_pairs([t], "responder", decl.agreeing_rewards, _encode)
    assert (scir.meta["chosen"], scir.meta["rejected"]) == (REPLIES[0], REPLIES[1])


@pytest.mark.parametrize(("update", "kwargs", "missing"), [
    ("dpo_cream", {}, "frozen judge"), ("dpo_temporal", {}, "anchor seat"),
    ("dpo_temporal_anchored", {}, "anchor seat"),
    ("dpo_scir", {"judges": ["pointwise"]}, "two or more internal judges"),
])
def test_requirements_are_checked_before_loading(update: str, kwargs: dict, missing: str) -> None:
    spec = RoleSection(adapter="policy", update=update)
    with pytest.raises(ValueError, match=f"roles.responder.update.*{missing}"):
        check_requirements(RespondJudge(**kwargs), "responder", spec)
    check_requirements(RespondJudge(judges=["pointwise", "verdict"], anchor_samples=2, anchor_judge=True),
                       "responder", spec)
    assert get_algorithm(update).reference == "base"
    assert get_algorithm("dno").reference == get_algorithm("sppo_judged").reference == "iterate"


# -- golden transcripts ------------------------------------------------------------------------

def _golden_script(request: GenerationRequest, index: int) -> str:
    if seat_by_system_prompt(request, _SEATS) == "judge":
        if request.seed % 5 == 0:
            return "I cannot decide."  # a judgement that does not parse
        return judge_by_length(request)
    replies = ["- a quiet morning\n- a warm cup", "rainy days are simple and calm.", "Short.",
               "THE OCEAN IS BRIGHT AND BLUE TODAY. Thank you.", ""]
    return replies[request.seed % len(replies)]


GOLDEN_ARENA = RespondJudge(judges=["pointwise", "pairwise"], samples=2, repeats=1, self_reference=True,
                            anchor_samples=1, anchor_judge=True)


def test_golden_transcripts() -> None:
    played = [t.comparable() for t in _play(GOLDEN_ARENA, _golden_script, seeds=range(3))]
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing; create it with SPARRING_UPDATE_GOLDEN=1 python -m pytest -q {__file__}")
    differences = diff(json.loads(GOLDEN.read_text(encoding="utf-8")), played)
    assert not differences, "respond-judge no longer plays its golden transcripts:\n" + "\n".join(differences)


def test_golden_transcripts_replay_exactly() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert golden and any(None in t["outcome"]["judge_scores"] or
                          None in (t["outcome"]["judgements"]["pointwise"]["raw"][0]) for t in golden)
    for data in golden:
        result = replay(Transcript.model_validate(data))
        assert result.identical, result.differences


def test_instruction_prompts_are_seeded() -> None:
    a = INSTRUCTIONS.sample(random.Random(7), 2)
    b = INSTRUCTIONS.sample(random.Random(7), 2)
    assert a == b and "Constraints:" in a.prompt


def test_thinking_asks_the_pairwise_judge_in_j1s_form() -> None:
    """``thinking``: the pairwise judge is asked as judge-training trained it (thoughts, verdict last)."""
    from sparring.rewards.judge_prompts import THINKING, pairwise_prompt

    [t] = _play(RespondJudge(judges=["pairwise"], samples=2, thinking=True), Script(REPLIES))
    asked = [u.messages[-1]["content"] for u in t.turns_of("judge")]
    assert len(asked) == 2 and all(THINKING in prompt for prompt in asked)
    assert t.outcome["judge_scores"] == [1.0, 0.0]  # the longer reply wins in both orders
    for kwargs, message in [({"judges": ["verdict"], "thinking": True}, "applies to the pairwise judge"),
                            ({"judges": ["pairwise"], "thinking": True, "self_reference": True}, "pick one")]:
        with pytest.raises(TaskError, match=message):
            RespondJudge(**kwargs)
    with pytest.raises(ValueError, match="exclusive"):
        pairwise_prompt("x", "a", "b", reference=True, thinking=True)
