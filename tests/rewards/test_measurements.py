"""Measurements against hand-computed values, and as metrics over transcripts."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sparring.arenas.transcript import ArenaSpec, RewardRecord, Transcript, Turn
from sparring.rewards import measurements as m


def _t(match_id: str, *, iteration: int = 0, seed: int = 0, outcome: dict[str, Any] | None = None,
       texts: list[tuple[int, str]] = (), logprobs: list[list[float]] | None = None,
       rewards: list[tuple[str, str, int | None, float]] = ()) -> Transcript:
    turns = [Turn(index=i, ask=ask, role="solver", model="m", messages=[], sampling={}, seed=i, text=text,
                  logprobs=(logprobs[i] if logprobs else []))
             for i, (ask, text) in enumerate(texts)]
    return Transcript(match_id=match_id, iteration=iteration, seed=seed, arena=ArenaSpec(id="t/x-v1", roles=["solver"]),
                      roles={}, turns=turns, outcome=outcome,
                      rewards=[RewardRecord(reward=n, role=r, turn=u, value=v) for n, r, u, v in rewards])


def test_ece_and_brier_by_hand() -> None:
    conf = [0.9, 0.8, 0.3, 0.25, 0.6]
    right = [True, False, False, True, True]
    # 2 bins: [0, .5) holds .3 (wrong), .25 (right): acc .5, conf .275 -> |.225| * 2/5 = .09
    #         [.5, 1] holds .9 (right), .8 (wrong), .6 (right): acc 2/3, conf .7666.. -> .1 * 3/5 = .06
    assert m.expected_calibration_error(conf, right, bins=2) == pytest.approx(0.15)
    # 10 bins: every item alone: mean |c - y| = (.1 + .8 + .3 + .75 + .4) / 5
    assert m.expected_calibration_error(conf, right, bins=10) == pytest.approx(2.35 / 5)
    assert m.expected_calibration_error([1.0, 0.0], [True, False], bins=3) == 0.0  # 1.0 lands in the last bin
    assert m.brier_score(conf, right) == pytest.approx((0.01 + 0.64 + 0.09 + 0.5625 + 0.16) / 5)
    assert m.expected_calibration_error([], []) is None and m.brier_score([], []) is None
    with pytest.raises(ValueError, match=r"confidence must be a probability in \[0, 1\], got 1.5"):
        m.brier_score([1.5], [True])
    with pytest.raises(ValueError, match="bins must be a positive integer"):
        m.expected_calibration_error([0.5], [True], bins=0)


def test_kendall_tau_by_hand() -> None:
    assert m.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert m.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # pairs of [1,2,3] vs [1,3,2]: (0,1) C, (0,2) C, (1,2) D -> (2-1)/3
    assert m.kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    # ties: x=[1,1,2], y=[1,2,3]: pairs (0,1) tied in x, (0,2) C, (1,2) C -> 2/sqrt(2*3)
    assert m.kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))
    assert m.kendall_tau([1, 1, 1], [1, 2, 3]) is None


def test_reward_consistency_across_iterations() -> None:
    def it(k: int, values: dict[str, float]) -> list[Transcript]:
        return [_t(f"i{k}-{key}", iteration=k, outcome={"item_key": key}, rewards=[("judge", "solver", None, v)])
                for key, v in values.items()]
    first = it(0, {"a": 0.1, "b": 0.5, "c": 0.9, "only-first": 0.3})
    reversed_ = it(2, {"a": 0.9, "b": 0.5, "c": 0.1})
    assert m.reward_consistency(first + reversed_, "judge") == (-1.0, 3)
    same = it(1, {"a": 0.2, "b": 0.6, "c": 1.0})
    assert m.reward_consistency(first + same + reversed_, "judge", first=0, second=1) == (1.0, 3)
    metric = m.measurement("consistency/judge")
    assert metric is not None and metric.compute(first + reversed_) == {"consistency/judge/tau": -1.0,
                                                                       "consistency/judge/items": 3.0}


def test_diversity_by_hand() -> None:
    texts = ["the cat sat", "the cat ran", "a dog"]
    # unigrams: the cat sat the cat ran a dog -> 6 distinct of 8
    assert m.distinct_n(texts, 1) == 6 / 8
    # bigrams: (the cat) (cat sat) (the cat) (cat ran) (a dog) -> 4 of 5
    assert m.distinct_n(texts, 2) == 4 / 5
    assert m.distinct_n(["one"], 2) is None
    assert m.edit_distance("kitten", "sitting") == 3
    # pairs: (1,2) 1 edit of 3 words; (1,3) 3 of 3; (2,3) 3 of 3
    assert m.edit_diversity(texts) == pytest.approx((1 / 3 + 1 + 1) / 3)
    # jaccard: {the,cat,sat} vs {the,cat,ran}: 1 - 2/4; vs {a,dog}: 1 - 0 (twice)
    assert m.jaccard_diversity(texts) == pytest.approx((0.5 + 1 + 1) / 3)
    assert m.edit_diversity(["same", "same"]) == 0.0 and m.jaccard_diversity(["", ""]) == 0.0
    t1 = _t("a", texts=[(0, "the cat sat"), (0, "the cat ran"), (1, "a dog")])
    out = m.measurement("diversity").compute([t1])  # type: ignore[union-attr]
    # pairs only within an ask: ask 0 has one pair; ask 1 a single reply
    assert out == {"diversity/distinct_1": 6 / 8, "diversity/distinct_2": 4 / 5,
                   "diversity/edit": pytest.approx(1 / 3), "diversity/jaccard": 0.5}


def test_entropy_by_hand() -> None:
    assert m.mean_token_entropy([[-1.0, -2.0], [-3.0]]) == 2.0
    assert m.mean_token_entropy([[]]) is None
    t1 = _t("a", texts=[(0, "x"), (1, "y")], logprobs=[[-0.5, -1.5], [-1.0]])
    assert m.entropy_metric().compute([t1]) == {"entropy": 1.0}
    assert m.entropy_metric(role="critic").compute([t1]) == {}


def test_correction_decomposition_by_hand() -> None:
    pairs = [(True, True)] * 3 + [(True, False)] + [(False, True)] * 2 + [(False, False)] * 4
    out = m.correction_decomposition(pairs)
    assert out == {"right_right": 3.0, "right_wrong": 1.0, "wrong_right": 2.0, "wrong_wrong": 4.0, "n": 10.0,
                   "accuracy_first": 0.4, "accuracy_second": 0.5, "delta": pytest.approx(0.1),
                   "kept_rate": 0.75, "fixed_rate": pytest.approx(2 / 6)}
    none_right = m.correction_decomposition([(False, False)])
    assert none_right["kept_rate"] is None and none_right["fixed_rate"] == 0.0
    metric = m.correction_metric(lambda t: t.outcome["pairs"])
    values = metric.compute([_t("a", outcome={"pairs": [[False, False]]})])
    assert "self_correction/kept_rate" not in values and values["self_correction/wrong_wrong"] == 1.0


def test_calibration_metric_from_rewards() -> None:
    t1 = _t("a", texts=[(0, "x"), (0, "y")], rewards=[
        ("p_true", "solver", 0, 0.9), ("p_true", "solver", 1, 0.2),
        ("truth", "solver", 0, 1.0), ("truth", "solver", 1, 1.0)])
    metric = m.measurement("calibration/p_true/truth")
    assert metric is not None
    # one bin each of 10: |1 - .9| and |1 - .2| -> ece (.1 + .8) / 2; brier (.01 + .64) / 2
    assert metric.compute([t1]) == {"calibration/p_true/truth/ece": pytest.approx(0.45),
                                    "calibration/p_true/truth/brier": pytest.approx(0.325),
                                    "calibration/p_true/truth/n": 2.0}
    assert m.measurement("calibration/p_true") is None and m.measurement("nonsense") is None
