"""Preference builders on hand-made qa-verify transcripts (scripted engine, no model)."""

from __future__ import annotations

import random

import pytest

from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import QuestionAnswerVerify, Runner
from sparring.arenas.transcript import ArenaSpec, RewardRecord, Transcript, Turn
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
    assert same and all(p.strength == 1.0 and p.meta["consistency"] == 1.0 for p in same)
    against = builders.consistency_pairs(transcripts, "solver", "solver_truth", "solver_verdict", _encode)
    assert against and all(p.strength == p.meta["consistency"] for p in against)


def test_win_rates_rank_within_groups(transcripts) -> None:  # noqa: ANN001
    samples = builders.win_rates(builders.grpo_groups(transcripts, "solver", "solver_truth", _encode))
    assert len(samples) == 6 * 4 and all(0.0 <= s.reward <= 1.0 for s in samples)


# -- hand-made transcripts: exact rankings, prompts and sampling settings -----------------


def _transcript(match_id: str, values: list[float], previous: list[float] | None = None, prompt: str = "q",
                temperature: float | None = 0.7, match_level: bool = False) -> Transcript:
    """One ask of ``solver`` with ``len(values)`` replies scored by ``now`` (and ``before``)."""
    sampling = {"max_new_tokens": 8} if temperature is None else {"max_new_tokens": 8, "temperature": temperature}
    turns = [
        Turn(index=i, ask=0, sample=i, role="solver", model="default", messages=[{"role": "user", "content": prompt}],
             sampling=sampling, seed=i, text=f"reply {i}", token_ids=[10 + i], logprobs=[-1.0])
        for i in range(len(values))
    ]
    records = [RewardRecord(reward="now", role="solver", value=v, turn=None if match_level else i)
               for i, v in enumerate(values)]
    records += [RewardRecord(reward="before", role="solver", value=v, turn=i) for i, v in enumerate(previous or [])]
    return Transcript(match_id=match_id, arena=ArenaSpec(id="tests/hand-v1", roles=["solver"]), seed=0,
                      roles={}, turns=turns, rewards=records)


def _ids(messages):  # noqa: ANN001, ANN202
    return [ord(c) for m in messages for c in m["content"]]


def test_consistency_is_the_pair_strength_itself() -> None:
    def strength(previous: list[float]) -> float:
        (pair,) = builders.consistency_pairs([_transcript("m", [3, 2, 1, 0], previous)], "solver", "now", "before", _ids)
        assert pair.meta["chosen"] == "reply 0" and pair.meta["rejected"] == "reply 3"  # best over worst, by "now"
        return pair.strength

    assert strength([3, 2, 1, 0]) == 1.0  # same ranking: a hard preference
    assert strength([0, 1, 2, 3]) == 0.0  # reversed: the soft label trains the flipped pair
    assert strength([3, 2, 0, 1]) == pytest.approx(5 / 6)  # one discordant pair of six: (tau + 1) / 2
    assert strength([3, 3, 1, 0]) == pytest.approx(5.5 / 6)  # a tie in one ranking only counts half
    rng = random.Random(0)
    groups = [_transcript(f"m{k}", [3, 2, 1, 0], rng.sample(range(4), 4)) for k in range(300)]
    rates = [p.strength for p in builders.consistency_pairs(groups, "solver", "now", "before", _ids)]
    assert len(rates) == 300 and sum(rates) / len(rates) == pytest.approx(0.5, abs=0.03)  # unrelated rankings


def test_consistency_ranks_replies_the_previous_judge_left_unscored_lowest() -> None:
    # the previous judge scored replies 0 and 1 only (2 and 3 did not parse): they rank
    # below both, tied; five pairs agree and (2, 3) is tied by one ranking only: 5.5 / 6
    (pair,) = builders.consistency_pairs([_transcript("m", [3, 2, 1, 0], [3, 2])], "solver", "now", "before", _ids)
    assert (pair.meta["chosen"], pair.meta["rejected"]) == ("reply 0", "reply 3")
    assert pair.strength == pytest.approx(5.5 / 6)
    (pair,) = builders.consistency_pairs([_transcript("m", [3, 2, 1, 0], [2, 3])], "solver", "now", "before", _ids)
    assert pair.strength == pytest.approx(4.5 / 6)  # (0, 1) discordant as well
    # a group the previous judge scored none of has no previous ranking to compare with
    assert builders.consistency_pairs([_transcript("m", [3, 2, 1, 0])], "solver", "now", "before", _ids) == []


def test_margin_pair_labels_use_the_training_rewards_own_bounds() -> None:
    binary = [_transcript("m", [1.0, 0.0])]
    (pair,) = builders.margin_pairs(binary, "solver", "now", _ids, margin=1e-6, bounds=(0.0, 1.0))
    assert pair.strength == 1.0  # a 1-vs-0 pair of a 0/1 reward is a hard preference
    (pair,) = builders.margin_pairs(binary, "solver", "now", _ids, margin=1e-6)  # observed range: also (0, 1)
    assert pair.strength == 1.0

    graded = [_transcript("m", [0.2, 0.4, 0.8])]
    by_gap = {round(p.meta["margin"], 6): p.strength
              for p in builders.margin_pairs(graded, "solver", "now", _ids, margin=1e-6, bounds=(0.0, 1.0))}
    assert by_gap == pytest.approx({0.2: 0.6, 0.4: 0.7, 0.6: 0.8})
    observed = {round(p.meta["margin"], 6): p.strength
                for p in builders.margin_pairs(graded, "solver", "now", _ids, margin=1e-6)}
    assert observed == pytest.approx({0.2: 0.5 + 0.5 / 3, 0.4: 0.5 + 0.5 * 2 / 3, 0.6: 1.0})
    with pytest.raises(ValueError, match="low <= high"):
        builders.margin_pairs(graded, "solver", "now", _ids, bounds=(1.0, 0.0))


def test_grpo_samples_carry_the_recorded_sampling_temperature(transcripts) -> None:  # noqa: ANN001
    turns = {(t.match_id, u.index): u for t in transcripts for u in t.turns}
    samples = builders.grpo_groups(transcripts, "solver", "solver_truth", _encode)
    assert all(s.temperature == turns[(s.meta["match_id"], s.meta["turn"])].sampling["temperature"] for s in samples)
    hand = [_transcript("a", [1.0, 0.0], temperature=1.3), _transcript("b", [1.0, 0.0], temperature=0.0),
            _transcript("c", [1.0, 0.0], temperature=None)]
    got = {s.meta["match_id"]: s.temperature for s in builders.grpo_groups(hand, "solver", "now", _ids)}
    assert got == {"a": 1.3, "b": 0.0, "c": None}
    rates = builders.win_rates(builders.grpo_groups(hand, "solver", "now", _ids))
    assert {s.meta["match_id"]: s.temperature for s in rates} == got  # win_rates keeps every other field


def test_win_rates_compare_replies_to_the_same_prompt_only() -> None:
    # A match-level reward pools one reply per match into one batch group; replies to
    # prompt "a" must not be ranked against replies to prompt "b".
    matches = [_transcript(f"m{k}", [value], prompt=prompt, match_level=True)
               for k, (prompt, value) in enumerate([("a", 0.9), ("a", 0.8), ("b", 0.1), ("b", 0.0), ("c", 0.5)])]
    samples = builders.grpo_groups(matches, "solver", "now", _ids)
    assert len({s.group_id for s in samples}) == 1  # the batch group
    rates = {s.meta["match_id"]: s.reward for s in builders.win_rates(samples)}
    assert rates == {"m0": 1.0, "m1": 0.0, "m2": 1.0, "m3": 0.0}  # "c" has no sibling: left out


def test_win_rates_refuse_a_seat_with_one_reply_per_prompt(transcripts) -> None:  # noqa: ANN001
    questions = builders.grpo_groups(transcripts, "questioner", "questioner_learnability", _ids)
    assert len(questions) == 6
    with pytest.raises(ValueError, match=r"SPPO cannot train seat 'questioner'.*n>1 in match.ask"):
        builders.win_rates(questions)


def test_one_reply_per_ask_forms_one_batch_group() -> None:
    """A game's moves: every ask drew one reply, so no ask has a spread; the batch is the group."""
    ts = [_transcript(f"m{k}", [v]) for k, v in enumerate([1.0, -1.0, 0.0])]
    samples = builders.grpo_groups(ts, "solver", "now", _ids)
    assert [s.reward for s in samples] == [1.0, -1.0, 0.0] and len({s.group_id for s in samples}) == 1
    # Asks with several replies keep their own groups (a lone one-reply ask adds no signal).
    ts = [_transcript("a", [1.0, 0.0]), _transcript("b", [1.0])]
    assert len({s.group_id for s in builders.grpo_groups(ts, "solver", "now", _ids)}) == 2
