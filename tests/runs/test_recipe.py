"""Recipes: every shipped recipe validates; bad fields give one-line errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.arenas import make
from sparring.runs.recipe import RecipeError, load_recipe, parse_override

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.toml"))


def test_recipes_exist() -> None:
    assert RECIPES, "recipes/ has no .toml files"


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_loads_and_names_real_seats(path: Path) -> None:
    recipe = load_recipe(path)
    arena = make(recipe.arena.name, **recipe.arena.kwargs)
    assert set(recipe.roles) <= set(arena.roles)
    assert recipe.trained_seats(0), "a shipped recipe should train something in iteration 0"


def test_overrides_apply_with_toml_types() -> None:
    recipe = load_recipe(RECIPES[0], ["train.lr=1e-4", "roles.solver.adapter=shared", "train.iterations=3"])
    assert recipe.train.lr == pytest.approx(1e-4)
    assert recipe.roles["solver"].adapter == "shared"
    assert recipe.train.iterations == 3
    assert parse_override("arena.kwargs.ops=['+']") == (["arena", "kwargs", "ops"], ["+"])
    assert parse_override("name=plain text") == (["name"], "plain text")


@pytest.mark.parametrize(
    ("data", "overrides", "message"),
    [
        ({}, ["train.lr=abc"], "recipe field 'train.lr'"),
        ({}, ["trian.lr=1"], "recipe field 'trian': unknown field"),
        ({"roles": {"solver": {"update": "dpo"}}}, [], "needs an adapter"),
        ({"roles": {"solver": {"adapter": "a", "update": "dpoo"}}}, [], "recipe field 'roles.solver.update'"),
        ({"roles": {"a": {"adapter": "x", "update": "dpo"}, "b": {"adapter": "x", "update": "grpo"}}}, [], "share adapter 'x'"),
        ({"roles": {"solver": {"adapter": "s", "update": "grpo"}}, "schedule": [{"roles": ["verifier"]}]}, [], "schedule[0].roles names 'verifier'"),
        ({}, ["novalue"], "must look like section.field=value"),
    ],
)
def test_bad_recipes_name_the_field(data: dict, overrides: list[str], message: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(data, overrides)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_schedule_alternates() -> None:
    recipe = load_recipe({
        "roles": {"solver": {"adapter": "s", "update": "grpo"}, "questioner": {"adapter": "q", "update": "grpo"}},
        "schedule": [{"roles": ["solver"], "iterations": 2}, {"roles": ["questioner"], "iterations": 1}],
    })
    assert [recipe.trained_seats(i) for i in range(6)] == [["solver"], ["solver"], ["questioner"]] * 2
    no_schedule = load_recipe({"roles": {"solver": {"adapter": "s", "update": "grpo"}}})
    assert no_schedule.trained_seats(5) == ["solver"]


def test_missing_recipe_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(bad)
