"""Rewards as plain functions: the ``reward`` decorator and ``apply_rewards``."""

from __future__ import annotations

from sparring import Reward, Score, reward
from sparring.arenas import Transcript
from sparring.arenas.scoring import apply_rewards
from sparring.rewards import FunctionReward
from tests.helpers import play_qa


@reward("turn_count")
def turn_count(t: Transcript) -> list[Score]:
    """Number of turns, scaled."""
    return [Score("solver", len(t.turns) / 100, "turns/100"), Score("verifier", 1, turn=5)]


@reward("abstains")
def abstains(t: Transcript) -> None:
    return None


def test_reward_decorator() -> None:
    assert isinstance(turn_count, FunctionReward)
    assert isinstance(turn_count, Reward)
    assert turn_count.name == "turn_count"
    assert turn_count.__doc__ == "Number of turns, scaled."
    assert repr(turn_count) == "reward('turn_count')"


def test_apply_rewards_records_scores_in_order() -> None:
    [t], _ = play_qa([0])
    out = apply_rewards(t, [turn_count, abstains])
    assert out is t
    assert [(r.reward, r.role, r.value, r.turn, r.explanation) for r in t.rewards] == [
        ("turn_count", "solver", 0.09, None, "turns/100"),
        ("turn_count", "verifier", 1.0, 5, ""),
    ]
    assert isinstance(t.rewards[1].value, float)


def test_apply_rewards_replaces_old_records() -> None:
    [t], _ = play_qa([0])
    assert len(t.rewards) == 19  # the arena's own rewards
    apply_rewards(t, [abstains])
    assert t.rewards == []


def test_plain_callables_are_rewards() -> None:
    class Constant:
        name = "constant"

        def __call__(self, t: Transcript) -> list[Score]:
            return [Score("questioner", -0.5)]

    [t], _ = play_qa([0])
    assert isinstance(Constant(), Reward)
    apply_rewards(t, [Constant()])
    assert [(r.reward, r.value) for r in t.rewards] == [("constant", -0.5)]
