"""The random twin of a reward: same seats and turns, the match's mean, coin-flip values;
and a recipe that trains on it through the real training loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.rewards.base import Score, reward
from sparring.rewards.controls import random_twin
from sparring.runs.recipes.recipe import RecipeError, load_recipe
from sparring.runs.storage.store import Store
from sparring.runs.training.train import Trainer, train
from tests.helpers import play_qa

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "tiny_smoke.toml"
LENGTHS = Path(__file__).resolve().parents[1] / "runs" / "lengths_arena.py"


@reward("three_of_four", bounds=(0.0, 1.0))
def three_of_four(t):  # type: ignore[no-untyped-def]
    return [Score("solver", 1.0 if i < 3 else 0.0, turn=i) for i in range(4)]


def test_the_twin_keeps_turns_and_the_mean_and_is_a_function_of_the_transcript() -> None:
    played, _ = play_qa(list(range(40)))
    twin = random_twin(three_of_four)
    assert twin.name == "random:three_of_four" and twin.bounds == (0.0, 1.0)
    ones = 0
    for t in played:
        scores = twin(t)
        assert [s.turn for s in scores] == [0, 1, 2, 3] and {s.value for s in scores} <= {0.0, 1.0}
        assert scores == twin(t)  # seeded by the match: rescoring gives the same values
        ones += sum(s.value for s in scores)
    assert 0.6 < ones / (4 * len(played)) < 0.9  # about the base reward's 0.75
    assert random_twin(reward("none")(lambda t: None))(played[0]) is None


def test_a_recipe_trains_on_a_random_twin(tmp_path: Path) -> None:
    recipe = tmp_path / "twin.toml"
    recipe.write_text(
        f'[model]\nsource = "tiny"\n[arena]\nname = "{LENGTHS}:Lengths"\n'
        '[roles.writer]\nadapter = "writer"\nupdate = "grpo"\nreward = "random:variety"\n'
        '[train]\niterations = 1\nmatches_per_iteration = 4\nlr = 1e-2\n[eval]\nsize = 2\n')
    reports = train(recipe, tmp_path / "run", progress=False, log=lambda _: None)
    assert reports[0].updated["writer"]["samples"] > 0
    with Store(tmp_path / "run" / "store.sqlite") as store:
        training = [t for t in store.transcripts() if not t.match_id.startswith("eval-")]
        held_out = [t for t in store.transcripts() if t.match_id.startswith("eval-")]
    assert training and all(any(r.reward == "random:variety" for r in t.rewards) for t in training)
    assert held_out and not any(r.reward.startswith("random:") for t in held_out for r in t.rewards)


def test_a_twin_of_an_unknown_reward_is_refused() -> None:
    with pytest.raises(RecipeError, match="'random:nope' is the random twin of 'nope', which is not a reward"):
        Trainer(load_recipe(RECIPE, ['roles.solver.reward="random:nope"']), "/nonexistent/never", log=print)
