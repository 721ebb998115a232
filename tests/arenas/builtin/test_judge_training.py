"""judge-training (J1): conformance, pairs of each source, the position-consistent reward by
hand, held-out candidates sampled under a greedy evaluation, GRPO groups, golden transcripts
(scripted engine, no model).

Golden file: ``tests/golden/judge_training.json``; after an intended change regenerate with
``SPARRING_UPDATE_GOLDEN=1 python -m pytest -q tests/arenas/builtin/test_judge_training.py``
and review ``git diff tests/golden/``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from sparring.agents.engines.base import GenerationRequest
from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import JudgeTraining, Runner, TaskError, Transcript, check_arena, replay
from sparring.arenas.builtin.judge_training import JUDGE_EVAL_METRICS, JUDGE_TRAINING_MONITORS
from sparring.arenas.replay import diff
from sparring.rewards import builders
from sparring.rewards.judge_prompts import THINKING
from sparring.rewards.metrics import compute_all
from tests.helpers import seat_by_system_prompt

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "judge_training.json"
_SEATS = {"You are a helpful assistant": "responder", "You are a strict, fair judge": "judge"}
_QUESTION = re.compile(r"What is ([\d\s+\-*]+)\?")


def _truth(text: str) -> int | None:
    found = _QUESTION.search(text)
    return int(eval(found.group(1))) if found else None  # noqa: S307 - digits and + - * only


def _response(prompt: str, label: str) -> str:
    return prompt.split(f"<response {label}>")[1].split(f"</response {label}>")[0]


def truthful_judge(request: GenerationRequest) -> str:
    """Names the response whose answer is the instruction's truth (tie when neither or both)."""
    prompt = request.messages[-1]["content"]
    truth = _truth(prompt.split("Instruction:")[1])
    right = [f"Answer: {truth}" in _response(prompt, label) for label in "AB"]
    winner = "tie" if right[0] == right[1] else "A" if right[0] else "B"
    return f"<think>Checking each answer against {truth}.</think>\nWinner: {winner}"


class Script:
    """Responder replies from ``answers`` in the order asked, cycling (``{t}`` is the truth,
    ``{w}`` a wrong value); the judge truthful, or always naming the first position."""

    def __init__(self, answers: list[str], judge: str = "truthful") -> None:
        self.answers, self.judge, self.count = answers, judge, 0

    def __call__(self, request: GenerationRequest, index: int) -> str:
        if seat_by_system_prompt(request, _SEATS) == "judge":
            return "<think>The first one.</think>\nWinner: A" if self.judge == "first" else truthful_judge(request)
        truth = _truth(request.messages[-1]["content"])
        self.count += 1
        return self.answers[(self.count - 1) % len(self.answers)].format(t=truth, w=(truth or 0) + 1)


def _play(arena: JudgeTraining, script: Script, seeds: range | list[int] = range(4)) -> list[Transcript]:
    return Runner({"default": ScriptedEngine(script)}).play(arena, list(seeds))


def _rewards(transcript: Transcript, name: str) -> list[float]:
    return [r.value for r in sorted(transcript.rewards, key=lambda r: r.turn or 0) if r.reward == name]


@pytest.mark.parametrize("arena", [
    JudgeTraining(), JudgeTraining(family="instructions", source="noised", judgements=1),
    JudgeTraining(family="instructions", source="answers", samples=2, split="test"),
    JudgeTraining(family="letters", difficulty=2, split="validation"),
])
def test_check_arena(arena: JudgeTraining) -> None:
    assert not check_arena(arena).warnings


def test_bad_arguments_are_one_line_errors() -> None:
    for kwargs, message in [({"source": "gold"}, "source must be one of answers, noised, mixed"),
                            ({"samples": 1}, "samples must be"), ({"judgements": 9}, "judgements must be"),
                            ({"candidate_temperature": 0}, "candidate_temperature must be"),
                            ({"split": "dev"}, "split")]:
        with pytest.raises(TaskError, match=message) as info:
            JudgeTraining(**kwargs)
        assert "\n" not in str(info.value)


def test_answers_pair_a_correct_over_an_incorrect_sample_judged_in_both_orders() -> None:
    arena = JudgeTraining(source="answers", samples=3, judgements=2)
    for t in _play(arena, Script(["I think {w}.\nAnswer: {w}", "So Answer: {t}", "no idea"])):
        outcome = t.outcome
        assert outcome["chosen_from"] == "sample" and f"Answer: {outcome['truth']}" in outcome["chosen"]
        assert outcome["rejected"] in (f"I think {outcome['truth'] + 1}.\nAnswer: {outcome['truth'] + 1}", "no idea")
        assert outcome["truth_chosen"] == 1.0 and outcome["truth_rejected"] == 0.0
        first, second = [[u for u in t.turns_of("judge") if u.ask == ask] for ask in outcome["judge_asks"]]
        assert len(first) == len(second) == 2
        shown = first[0].messages[-1]["content"]
        assert THINKING in shown and _response(shown, "A") == outcome["chosen"]
        assert _response(second[0].messages[-1]["content"], "B") == outcome["chosen"]
        # the truthful judge is right in both orders: every judge turn gets 1
        assert outcome["pairwise_verdicts"] == [["A", "B"], ["A", "B"]]
        assert _rewards(t, "judge_consistent") == [1.0] * 4 == _rewards(t, "judge_correct")


def test_a_judge_naming_one_position_earns_nothing_consistent() -> None:
    t = _play(JudgeTraining(source="answers", samples=2, judgements=3), Script(["Answer: {t}", "Answer: {w}"], judge="first"))[0]
    assert t.outcome["pairwise_verdicts"] == [["A", "A"]] * 3
    assert _rewards(t, "judge_consistent") == [0.0] * 6
    assert sorted(_rewards(t, "judge_correct")) == [0.0] * 3 + [1.0] * 3  # right in the order it is shown first
    metrics = compute_all(JUDGE_TRAINING_MONITORS, [t])
    assert metrics["judge/accuracy"] == 0.5 and metrics["judge/consistent_accuracy"] == 0.0
    assert metrics["judge/position_consistency"] == 0.0 and metrics["pairs/checker_agrees"] == 1.0


def test_the_reference_stands_in_when_no_sample_is_correct_and_all_correct_leaves_no_pair() -> None:
    t = _play(JudgeTraining(source="answers", samples=2), Script(["Answer: {w}"]))[0]
    assert t.outcome["chosen_from"] == "reference" and t.outcome["chosen"].endswith(f"Answer: {t.outcome['truth']}")
    t = _play(JudgeTraining(source="answers", samples=2), Script(["Answer: {t}"]))[0]
    assert t.outcome["chosen"] is not None and t.outcome["rejected"] is None
    assert not t.turns_of("judge") and not t.rewards and "no pair" in t.summary


def test_noised_pairs_answer_another_prompt() -> None:
    for t in _play(JudgeTraining(source="noised", judgements=1), Script(["Answer: {t}"])):
        outcome = t.outcome
        asked = [u.messages[-1]["content"] for u in t.turns_of("responder")]
        assert asked == [outcome["prompt"], outcome["noised_prompt"]] and asked[0] != asked[1]
        assert outcome["rejected_from"] == "noised" and outcome["rejected"] == f"Answer: {_truth(asked[1])}"
        assert outcome["pairwise_verdicts"] == [["A", "B"]]  # the truthful judge sees through it


def test_mixed_draws_both_sources() -> None:
    played = _play(JudgeTraining(judgements=1), Script(["Answer: {t}", "Answer: {w}"]), range(12))
    assert {t.outcome["source"] for t in played} == {"answers", "noised"}


def test_held_out_candidates_are_sampled_and_the_judge_greedy() -> None:
    arena = JudgeTraining(source="answers", split="test", candidate_temperature=0.9)
    evaluation = arena.evaluation()
    assert evaluation.arena.kwargs["judgements"] == 1 and evaluation.arena.split == "test"
    assert [m.name for m in evaluation.metrics] == ["judge_consistent_accuracy", "judge_accuracy"]
    roles = {seat: role.bind(model="default", temperature=0.0) for seat, role in evaluation.arena.default_roles().items()}
    played = Runner({"default": ScriptedEngine(Script(["Answer: {t}", "Answer: {w}"]))}, roles=roles).play(
        evaluation.arena, [0, 1])
    for t in played:
        assert {u.sampling["temperature"] for u in t.turns_of("responder")} == {0.9}
        assert {u.sampling["temperature"] for u in t.turns_of("judge")} == {0.0}
    assert [t.outcome["item_key"] for t in played] == [JudgeTraining(split="test").family.pool(
        "test", (1, 2))[i].key for i in (0, 1)]
    assert compute_all(JUDGE_EVAL_METRICS, played)["judge_consistent_accuracy"] == 1.0


def test_both_orders_of_a_pair_form_one_grpo_group() -> None:
    played = _play(JudgeTraining(source="answers", samples=2, judgements=2), Script(["Answer: {t}", "Answer: {w}"]),
                   range(2))
    samples = builders.grpo_groups(played, "judge", "judge_correct", lambda m: [1] * len(m), group="depth")
    groups: dict[str, int] = {}
    for s in samples:
        groups[s.group_id] = groups.get(s.group_id, 0) + 1
    assert sorted(groups.values()) == [4, 4]


def _played() -> list[dict]:
    script = Script(["I think {w}.\nAnswer: {w}", "So Answer: {t}", "no idea", "Answer: {t}"])
    return [t.comparable() for t in _play(JudgeTraining(samples=2, judgements=2), script, range(6))]


def test_golden_transcripts() -> None:
    """Regenerate after an intended change: SPARRING_UPDATE_GOLDEN=1 python -m pytest -q <this file>."""
    played = _played()
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    differences = diff(golden, played)
    assert not differences, "judge-training no longer plays its golden transcripts:\n" + "\n".join(differences)
    for data in golden:
        assert replay(Transcript.model_validate(data)).identical
    assert {t["outcome"]["source"] for t in golden} == {"answers", "noised"}
    assert {r["reward"] for t in golden for r in t["rewards"]} == {"judge_consistent", "judge_correct"}
