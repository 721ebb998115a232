"""recipes/self_correct.toml and recipes/graph_debate.toml: one tiny-model iteration through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.recipes.recipe import load_recipe
from sparring.runs.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2"]


@pytest.mark.parametrize(("recipe", "short", "expected"), [
    ("self_correct", ["arena.kwargs.samples=2", "arena.kwargs.revisions=2", "roles.solver.max_new_tokens=8"],
     {"eval/self_correction/accuracy_second", "eval/self_correction/n", "self_correction/wrong_wrong",
      "reward/stage_two/solver", "update/solver/loss"}),
    ("graph_debate", ["roles.debater.max_new_tokens=8"],
     {"eval/debate/majority_accuracy", "debate/first_round_accuracy", "reward/debater_majority/debater"}),
])
def test_recipe_runs_one_tiny_iteration(tmp_path: Path, recipe: str, short: list[str], expected: set[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / f"{recipe}.toml"), *TINY, *short, "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        names = {name for _, name, _ in store.metrics()}
        stored = store.count(status="finished")
    assert expected <= names, sorted(names)
    assert not any(n.startswith("eval/mean_reward") for n in names)  # the arena's declared evaluation ran
    assert stored == 2 + 2 * 2  # training matches, and held-out ones before and after the update


def test_recipes_declare_what_they_set() -> None:
    score = load_recipe(ROOT / "recipes" / "self_correct.toml")
    assert score.train.kl_coef == 0.05 and score.roles["solver"].update == "grpo"
    assert score.arena.kwargs["stage"] == 2
    debate = load_recipe(ROOT / "recipes" / "graph_debate.toml")
    assert debate.roles["debater"].update == "sft" and debate.roles["debater"].reward is None  # the label-free default
