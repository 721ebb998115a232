"""Judged pair builders against hand-computed values: CREAM, Temporal SR, SCIR, DNO, SPPO win rates."""

from __future__ import annotations

import pytest

from sparring.arenas.transcript import ArenaSpec, RewardRecord, Transcript, Turn
from sparring.rewards import builders
from sparring.rewards.judge_pairs import (
    agreement_pairs,
    anchored_pairs,
    future_pairs,
    judged_win_rates,
    large_margin_pairs,
    win_rates_from_matrix,
)

PROMPT = [{"role": "user", "content": "Write a note."}]


def _encode(messages: list[dict[str, str]]) -> list[int]:
    return [len(m["content"]) for m in messages]


def _match(scores: dict[str, list[float | None]], roles: tuple[str, ...] = ("responder",) * 4,
           match_id: str = "m0") -> Transcript:
    """One match: turn i is a reply of ``roles[i]`` (text ``r<i>``), ask 0 for responder turns,
    1 for others; ``scores[reward][i]`` is turn i's value (``None``: not scored)."""
    turns = [Turn(index=i, ask=0 if role == "responder" else 1, sample=i, role=role, model="m", messages=PROMPT,
                  sampling={"temperature": 1.0}, seed=i, text=f"r{i}", token_ids=[100 + i], logprobs=[-1.0])
             for i, role in enumerate(roles)]
    rewards = [RewardRecord(reward=name, role=roles[i], value=v, turn=i)
               for name, values in scores.items() for i, v in enumerate(values) if v is not None]
    return Transcript(match_id=match_id, arena=ArenaSpec(id="t/judged-v1", roles=sorted(set(roles))), seed=0,
                      roles={}, turns=turns, rewards=rewards, outcome={})


def test_cream_reversed_ranking_flips_the_pair() -> None:
    # the previous judge ranks the four replies exactly the other way round: C = 0
    t = _match({"now": [0.9, 0.6, 0.3, 0.1], "before": [0.1, 0.3, 0.6, 0.9]})
    [pair] = builders.consistency_pairs([t], "responder", "now", "before", _encode)
    assert pair.meta["chosen"] == "r0" and pair.meta["rejected"] == "r3"
    assert pair.strength == 0.0  # soft DPO then trains r3 over r0


def test_cream_partial_agreement_by_hand() -> None:
    # now: r0 > r1 > r2; before: r0 > r2 > r1 -> pairs (0,1) agree, (0,2) agree, (1,2) disagree: C = 2/3
    t = _match({"now": [1.0, 0.5, 0.0], "before": [1.0, 0.0, 0.5]}, roles=("responder",) * 3)
    [pair] = builders.consistency_pairs([t], "responder", "now", "before", _encode)
    assert pair.strength == pytest.approx(2 / 3)
    # a tie on one side counts 1/2: before ties r1 and r2 -> (1 + 1 + 0.5) / 3
    t = _match({"now": [1.0, 0.5, 0.0], "before": [1.0, 0.2, 0.2]}, roles=("responder",) * 3)
    assert builders.consistency_pairs([t], "responder", "now", "before", _encode)[0].strength == pytest.approx(5 / 6)


def test_temporal_sr_anchors_the_rejected_reply() -> None:
    roles = ("responder", "responder", "anchor", "anchor")
    t = _match({"judge": [0.4, 0.8, 0.6, 0.2]}, roles)
    [pair] = anchored_pairs([t], "responder", "anchor", "judge", _encode)
    # chosen: the responder's best (r1, 0.8); rejected: the anchor's worst (r3, 0.2)
    assert (pair.meta["chosen"], pair.meta["rejected"], pair.meta["margin"]) == ("r1", "r3", pytest.approx(0.6))
    assert pair.chosen_ids == [101] and pair.rejected_ids == [103] and pair.strength == 1.0
    # the responder's best not above the anchor's worst: no pair
    t = _match({"judge": [0.1, 0.2, 0.6, 0.3]}, roles)
    assert anchored_pairs([t], "responder", "anchor", "judge", _encode) == []
    # no anchor replies: no pair
    assert anchored_pairs([_match({"judge": [0.1, 0.9, 0.5, 0.5]})], "responder", "anchor", "judge", _encode) == []


def test_temporal_sr_future_guided_chosen() -> None:
    roles = ("responder", "responder", "anchor", "anchor")
    now = _match({"judge": [0.9, 0.8, 0.6, 0.2]}, roles, match_id="i0-s0")
    ahead = _match({"judge": [0.3, 0.7, 0.5, 0.2]}, roles, match_id="future-i0-s0")
    [pair] = future_pairs([now], [ahead], "responder", "anchor", "judge", _encode)
    # chosen: the future model's best (r1 of the future match, 0.7), not the current best (0.9);
    # rejected: the training match's anchor worst (r3, 0.2)
    assert (pair.meta["match_id"], pair.meta["rejected_match_id"]) == ("future-i0-s0", "i0-s0")
    assert (pair.meta["chosen"], pair.meta["rejected"], pair.meta["margin"]) == ("r1", "r3", pytest.approx(0.5))
    assert pair.meta["future"] and pair.meta["anchored"]
    # the future best not above the anchor's worst: no pair; no future match of that seed: no pair
    low = _match({"judge": [0.1, 0.2, 0.5, 0.2]}, roles, match_id="future-i0-s0")
    assert future_pairs([now], [low], "responder", "anchor", "judge", _encode) == []
    assert future_pairs([now], [], "responder", "anchor", "judge", _encode) == []


def test_scir_keeps_only_pairs_all_judges_agree_on() -> None:
    # pointwise: r0 > r1 > r2 > r3; pairwise agrees on r0 > r2 and r0 > r3, but ranks r3 above r1 and r2
    t = _match({"pointwise": [1.0, 0.8, 0.4, 0.0], "pairwise": [0.9, 0.1, 0.2, 0.5]})
    [pair] = agreement_pairs([t], "responder", ["pointwise", "pairwise"], _encode)
    # agreed pairs: (0,1), (0,2), (0,3) ((1,2) not: pairwise has r1 0.1 < r2 0.2); the largest
    # pointwise gap among them is (0,3)
    assert (pair.meta["chosen"], pair.meta["rejected"]) == ("r0", "r3")
    # a third judge that disagrees on (0,3) moves the pick to the next agreed pair, (0,2)
    t = _match({"pointwise": [1.0, 0.8, 0.4, 0.0], "pairwise": [0.9, 0.1, 0.2, 0.5], "verdict": [0.9, 0.5, 0.1, 1.0]})
    [pair] = agreement_pairs([t], "responder", ["pointwise", "pairwise", "verdict"], _encode)
    assert (pair.meta["chosen"], pair.meta["rejected"], pair.meta["judges"]) == ("r0", "r2", 3)
    # judges that agree on nothing: no pair
    t = _match({"pointwise": [1.0, 0.0, 0.5, 0.5], "pairwise": [0.0, 1.0, 0.5, 0.5]})
    assert agreement_pairs([t], "responder", ["pointwise", "pairwise"], _encode) == []
    with pytest.raises(ValueError, match="at least one"):
        agreement_pairs([t], "responder", [], _encode)


def test_dno_large_margin_pairs() -> None:
    ts = [_match({"w": [1.0, 0.5, 0.5, 0.0]}, match_id="a"), _match({"w": [0.6, 0.5, 0.5, 0.4]}, match_id="b")]
    pairs = large_margin_pairs(ts, "responder", "w", _encode, margin=0.5)
    assert [(p.meta["match_id"], p.meta["chosen"], p.meta["rejected"], p.strength) for p in pairs] == [
        ("a", "r0", "r3", 1.0)]  # match b's gap 0.2 is below the margin
    assert len(large_margin_pairs(ts, "responder", "w", _encode, margin=0.15)) == 2
    with pytest.raises(ValueError, match="positive"):
        large_margin_pairs(ts, "responder", "w", _encode, margin=0)


def test_sppo_win_rates_from_a_stored_matrix() -> None:
    # W[i][j] = P(i beats j), both orders averaged; diagonal unused; None where no verdict parsed
    matrix = [[None, 1.0, 0.5, 0.75],
              [0.0, None, 0.25, None],
              [0.5, 0.75, None, 1.0],
              [0.25, None, 0.0, None]]
    assert win_rates_from_matrix(matrix) == [pytest.approx(0.75), pytest.approx(0.125), pytest.approx(0.75),
                                             pytest.approx(0.125)]
    assert win_rates_from_matrix([[None, None], [None, None]]) == [None, None]


def test_judged_win_rates_are_used_as_is_per_prompt() -> None:
    a = _match({"win_rate": [0.75, 0.125, 0.75, 0.125]}, match_id="a")
    b = _match({"win_rate": [0.5, None, None, None]}, match_id="b")  # one scored reply: no estimate
    samples = judged_win_rates([a, b], "responder", "win_rate", _encode)
    assert [s.reward for s in samples] == [0.75, 0.125, 0.75, 0.125]
    assert len({s.group_id for s in samples}) == 1
    # the generic SPPO builder would re-rank these values among siblings instead
    ranked = builders.win_rates(builders.grpo_groups([a], "responder", "win_rate", _encode))
    assert [s.reward for s in ranked] == [pytest.approx(5 / 6), pytest.approx(1 / 6), pytest.approx(5 / 6),
                                          pytest.approx(1 / 6)]
    with pytest.raises(ValueError, match=r"win rate in \[0, 1\]"):
        judged_win_rates([_match({"w": [2.0, 0.0, 0.0, 0.0]})], "responder", "w", _encode)
