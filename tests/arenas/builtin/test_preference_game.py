"""preference-game: conformance, the stored win matrix and per-prompt win rates by hand, the
SPPO / SPO / DNO builders of the algorithm table (scripted engine, no model)."""

from __future__ import annotations

import pytest

from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import PreferenceGame, Runner, TaskError, Transcript, check_arena, check_reward
from sparring.arenas.builtin.preference_game import (
    PREFERENCE_GAME_MONITORS,
    game_truth_score,
    win_rate,
)
from sparring.rewards import builders
from sparring.rewards.judge_pairs import judged_win_rates, large_margin_pairs, win_rates_from_matrix
from sparring.runs.recipes.recipe import RoleSection
from sparring.runs.training.algorithms import check_requirements, get_algorithm
from tests.arenas.builtin.test_respond_judge import Script

REPLIES = ["one two three four five six", "one two", "one two three four", "one two"]


def _play(arena: PreferenceGame, script: object, seeds: range | list[int] = (0,)) -> list[Transcript]:
    return Runner({"default": ScriptedEngine(script)}).play(arena, list(seeds))  # type: ignore[arg-type]


def _encode(messages: list[dict[str, str]]) -> list[int]:
    return [len(m["content"]) for m in messages]


@pytest.mark.parametrize("arena", [PreferenceGame(), PreferenceGame(family="sorting", samples=3, margin=0.25)])
def test_check_arena(arena: PreferenceGame) -> None:
    assert not check_arena(arena).warnings


def test_bad_arguments() -> None:
    with pytest.raises(TaskError, match="samples must be"):
        PreferenceGame(samples=1)
    with pytest.raises(TaskError, match="margin must be"):
        PreferenceGame(margin=1.5)


def test_check_reward() -> None:
    transcripts = _play(PreferenceGame(samples=3), Script(REPLIES + ["x y z"]), seeds=range(4))
    assert check_reward(win_rate, transcripts) == 12
    assert check_reward(game_truth_score, transcripts) == 12


def test_win_matrix_and_rates_by_hand() -> None:
    [t] = _play(PreferenceGame(samples=4), Script(REPLIES))
    o = t.outcome
    # the longer reply wins in both orders; equal lengths tie: words 6, 2, 4, 2
    assert o["win_matrix"] == [[None, 1.0, 1.0, 1.0],
                               [0.0, None, 0.0, 0.5],
                               [0.0, 1.0, None, 1.0],
                               [0.0, 0.5, 0.0, None]]
    assert o["win_rates"] == win_rates_from_matrix(o["win_matrix"]) == [1.0, pytest.approx(1 / 6),
                                                                      pytest.approx(2 / 3), pytest.approx(1 / 6)]
    assert len([u for u in t.turns if u.role == "judge"]) == 12  # k(k-1): every pair in both orders
    assert [r.value for r in t.rewards if r.reward == "win_rate"] == o["win_rates"]
    monitors = {k: v for m in PREFERENCE_GAME_MONITORS for k, v in m.compute([t]).items()}
    assert monitors["judge/position_consistency"] == 1.0
    assert monitors["judge/tie_rate"] == pytest.approx(2 / 12)


def test_a_first_position_judge_ties_everything() -> None:
    [t] = _play(PreferenceGame(samples=3), Script(REPLIES, biased=True))
    assert t.outcome["win_rates"] == [0.5, 0.5, 0.5]
    monitors = {k: v for m in PREFERENCE_GAME_MONITORS for k, v in m.compute([t]).items()}
    assert monitors["judge/position_consistency"] == 0.0


def test_sppo_spo_and_dno_data() -> None:
    ts = _play(PreferenceGame(samples=4), Script(REPLIES), seeds=[0, 1])
    # SPPO: the judged per-prompt win rates, as they are, one group per prompt
    samples = judged_win_rates(ts, "responder", "win_rate", _encode)
    assert len(samples) == 8 and len({s.group_id for s in samples}) == 2
    assert sorted(s.reward for s in samples[:4]) == sorted(ts[0].outcome["win_rates"])
    # SPO: GRPO groups on the win proportion
    groups = builders.grpo_groups(ts, "responder", "win_rate", _encode)
    assert [g.reward for g in groups[:4]] == ts[0].outcome["win_rates"]
    # DNO: best (1.0) over worst (1/6) per prompt, gap 5/6 >= 0.5
    pairs = large_margin_pairs(ts, "responder", "win_rate", _encode, margin=PreferenceGame().judged_pairs().margin)
    assert len(pairs) == 2 and all(p.meta["chosen"] == REPLIES[0] and p.meta["rejected"] == "one two"
                                   for p in pairs)
    for update in ("sppo_judged", "dno", "grpo"):
        check_requirements(PreferenceGame(), "responder", RoleSection(adapter="policy", update=update))
    with pytest.raises(ValueError, match="anchor seat"):
        check_requirements(PreferenceGame(), "responder", RoleSection(adapter="policy", update="dpo_temporal"))
    assert get_algorithm("sppo_judged").reference == "iterate"
