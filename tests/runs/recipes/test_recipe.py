"""Recipes: every shipped recipe validates; bad fields give one-line errors naming the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sparring.arenas import make
from sparring.runs.recipes.config import parse_override, show_value
from sparring.runs.recipes.recipe import RecipeError, load_recipe
from sparring.runs.recipes.validate import check_run_dir, probe, validate

RECIPES = sorted((Path(__file__).resolve().parents[3] / "recipes").glob("*.toml"))
SMOKE = Path(__file__).resolve().parents[3] / "recipes" / "tiny_smoke.toml"
"""Solver and questioner train, alternating; the verifier is frozen."""
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "debate.toml"


def test_recipes_exist() -> None:
    assert RECIPES, "recipes/ has no .toml files"


@pytest.mark.parametrize("path", [*RECIPES, EXAMPLE], ids=lambda p: p.stem)
def test_every_recipe_loads_and_names_real_seats(path: Path) -> None:
    recipe = load_recipe(path)
    arena = make(recipe.arena.name, **recipe.arena.kwargs)
    assert set(recipe.roles) <= set(arena.roles)
    assert recipe.trained_seats(0), "a shipped recipe should train something in iteration 0"
    # and passes every check against its arena and this machine (the tiny model stands in)
    assert validate(load_recipe(path, ['model.source="tiny"'])).id == arena.id


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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["adapters.solvr.rank=4"], "recipe field 'adapters.solvr': no seat plays on adapter 'solvr'"),
        (["roles.verifier.adapter=v", "roles.verifier.update=grpo"],
         "recipe field 'roles.verifier.update' = \"grpo\": never runs, no schedule phase names 'verifier'"),
        (["roles.verifier.reward=verifier_truth"], "recipe field 'roles.verifier': reward = \"verifier_truth\" has no effect"),
        (["roles.solver.targets=reference"], "targets = \"reference\" is read only by update = \"sft\""),
        (["train.lr=inf"], "recipe field 'train.lr' = inf: Input should be a finite number"),
        (["train.lr=nan"], "recipe field 'train.lr' = nan"),
        (["train.=1"], "has an empty part between dots"),
        (["train..lr=1"], "has an empty part between dots"),
        (["schedule.roles=['solver']"], "'schedule' is a list; override it whole"),
        (["schedule=[{iterations=2}]"], "recipe field 'schedule[0].roles': is required"),
        (["train=3"], "recipe field 'train' = 3: is a section, not a value"),
        (["adapters.solver.target_modules=[]"], "recipe field 'adapters.solver.target_modules' = []"),
        (["adapters.solver.target_modules='(('"], "does not compile"),
    ],
)
def test_checks_across_fields_name_the_field(overrides: list[str], message: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(SMOKE, overrides)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_values_are_shown_as_toml() -> None:
    assert show_value(True) == "true"
    assert show_value("a/b") == '"a/b"'
    assert show_value(["+", 1]) == '["+", 1]'
    assert show_value({"digits": 9}) == "{digits = 9}"
    assert show_value(float("inf")) == "inf"
    long = show_value("/very/long/" + "x" * 200 + "/tail_that_matters")
    assert len(long) == 100 and long.endswith('tail_that_matters"') and "..." in long


def test_overrides_leave_the_callers_dict_alone() -> None:
    data = {"roles": {"solver": {"adapter": "s", "update": "grpo"}}}
    load_recipe(data, ["roles.solver.temperature=0.5"])
    assert data == {"roles": {"solver": {"adapter": "s", "update": "grpo"}}}


def test_home_folders_are_expanded() -> None:
    recipe = load_recipe({"model": {"source": "~/models/x"},
                          "roles": {"solver": {"adapter": "s", "update": "grpo"}},
                          "adapters": {"s": {"init_from": "~/runs/a/adapters/s/v1"}}})
    assert recipe.model.source == str(Path.home() / "models" / "x")
    assert recipe.adapters["s"].init_from == str(Path.home() / "runs" / "a" / "adapters" / "s" / "v1")


def test_run_directory_checks(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "store.sqlite").write_bytes(b"")
    check_run_dir(tmp_path / "new" / "run")  # a new directory under an existing one: fine
    check_run_dir(tmp_path / "run", resume=True)
    for out, resume, message in [
        (tmp_path / "file.txt", False, "a file is there, not a directory"),
        (tmp_path / "file.txt" / "run", False, "is a file, so no directory can be made under it"),
        (tmp_path / "run", False, "already holds a run; resume it with"),
        (tmp_path, True, "not a run directory (no store.sqlite)"),
        (tmp_path / "nowhere", True, "no such directory"),
    ]:
        with pytest.raises(RecipeError, match=re.escape(message)):
            check_run_dir(out, resume=resume)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "run"]  # nothing made


def test_validate_refuses_a_recipe_that_trains_nothing() -> None:
    with pytest.raises(RecipeError, match=r"recipe field 'roles': no seat trains"):
        validate(load_recipe({"model": {"source": "tiny"}}))


def test_probe_concludes_nothing_without_well_formed_replies() -> None:
    """A seat with no well-formed example is not probed: the reward check cannot refuse it."""
    from sparring import Arena, Outcome, Role, Score, reward

    def strict(text: str) -> str:  # a parser with no examples attribute
        if text != "secret":
            raise ValueError("not the secret")
        return text

    @reward("said_secret")
    def said_secret(t):
        return [Score("b", 1.0, "scored b")]

    class Shy(Arena):
        id = "tests/shy-v1"
        roles = ("a", "b")

        def default_roles(self):
            return {"a": Role(name="a", parser=strict), "b": Role(name="b")}

        def rewards(self):
            return [said_secret]

        async def play(self, match):
            await match.ask("a", "?")
            await match.ask("b", "?")
            return Outcome({})

    assert probe(Shy()) is None
