"""Preference builders on hand-made qa-verify transcripts (scripted engine, no model)."""

from __future__ import annotations

import pytest

from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import QuestionAnswerVerify, Runner
from sparring.rewards import builders

ANSWERS = ["Answer: 42", "Answer: 41", "Answer: 42", "Answer: 40"]


def _script(req, i):  # noqa: ANN001, ANN202
    system = req.messages[0]["content"]
    if "exam questions" in system:
        return "Question: What is 12 + 30?\nAnswer: 42"
    if "careful solver" in system:
        return ANSWERS[req.seed % 4]
    proposed = req.messages[-1]["content"].split("Proposed answer: ")[1].split("\n")[0]
    return "Verdict: correct" if proposed == "42" else "Verdict: incorrect"


def _encode(messages):  # noqa: ANN001, ANN202
    return [len(m["content"]) for m in messages]


@pytest.fixture(scope="module")
def transcripts():  # noqa: ANN201
    runner = Runner({"default": ScriptedEngine(_script)})
    return runner.play(QuestionAnswerVerify(group_size=4), list(range(6)))


def test_grpo_groups_follow_asks(transcripts) -> None:  # noqa: ANN001
    samples = builders.grpo_groups(transcripts, "solver", "solver_truth", _encode)
    assert len(samples) == 6 * 4
    groups = {s.group_id for s in samples}
    assert len(groups) == 6
    for s in samples:
        assert s.meta["role"] == "solver" and s.meta["match_id"].startswith("i0-")
        assert s.reward == (1.0 if s.meta["completion"] == "Answer: 42" else 0.0)
        assert s.old_logprobs is not None and len(s.old_logprobs) == len(s.completion_ids)


def test_match_level_rewards_form_one_batch_group(transcripts) -> None:  # noqa: ANN001
    samples = builders.grpo_groups(transcripts, "questioner", "questioner_learnability", _encode)
    assert len(samples) == 6 and len({s.group_id for s in samples}) == 1


def test_best_worst_and_margin_pairs(transcripts) -> None:  # noqa: ANN001
    pairs = builders.best_worst_pairs(transcripts, "solver", "solver_truth", _encode)
    for p in pairs:
        assert p.meta["chosen"] == "Answer: 42" and p.meta["rejected"] != "Answer: 42"
        assert p.strength == 1.0
    margin = builders.margin_pairs(transcripts, "solver", "solver_truth", _encode, margin=0.5)
    assert len(margin) >= len(pairs)
    assert all(p.meta["margin"] >= 0.5 for p in margin)


def test_spin_and_sft(transcripts) -> None:  # noqa: ANN001
    arena = QuestionAnswerVerify()
    pairs = builders.spin_pairs(transcripts, "solver", arena.reference_reply, _encode, lambda s: [ord(c) for c in s])
    assert pairs and all(p.meta["chosen"].endswith("Answer: 42") for p in pairs)
    sft = builders.sft_samples(transcripts, "solver", "solver_truth", _encode, min_reward=1.0)
    assert sft and all(s.meta["completion"] == "Answer: 42" for s in sft)


def test_consistency_pairs_weight_by_agreement(transcripts) -> None:  # noqa: ANN001
    same = builders.consistency_pairs(transcripts, "solver", "solver_truth", "solver_truth", _encode)
    assert same and all(p.strength == pytest.approx(1.0 if p.meta["consistency"] == 1.0 else 0.5 + 0.5 * p.meta["consistency"]) for p in same)
    assert all(p.meta["consistency"] == 1.0 for p in same)
    against = builders.consistency_pairs(transcripts, "solver", "solver_truth", "solver_verdict", _encode)
    assert all(0.5 <= p.strength <= 1.0 for p in against)


def test_win_rates_rank_within_groups(transcripts) -> None:  # noqa: ANN001
    samples = builders.win_rates(builders.grpo_groups(transcripts, "solver", "solver_truth", _encode), 0.0, 1.0)
    assert all(0.0 <= s.reward <= 1.0 for s in samples)
