"""docs/recipes.md is generated from the recipe and tournament schemas and kept current;
config errors point to it and list every problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.recipes.recipe import Recipe
from sparring.runs.recipes.schema_docs import COMMAND, render, undocumented
from sparring.runs.tournaments.tournament_config import TournamentConfig

DOCS = Path(__file__).resolve().parents[3] / "docs" / "recipes.md"


def test_the_committed_reference_is_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == render(), f"docs/recipes.md is stale; regenerate it: {COMMAND}"


def test_the_generator_command_prints_the_reference() -> None:
    done = subprocess.run([sys.executable, "-m", "sparring.runs.recipes.schema_docs"], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout == render()


def test_every_field_is_documented() -> None:
    assert undocumented(Recipe) == []
    assert undocumented(TournamentConfig) == []
    text = render()
    for heading in ("### `[train]`", "### `[[schedule]]`", "### `[roles.<name>]`", "### `[eval]`",
                    "### `[players.<name>]`", "### `[schedule]`", "### `[model.server]`"):
        assert heading in text
    # type, default and meaning come from the schema
    assert "| `iterations` | int (≥ 1) | `10` | Iterations to run (play, score, build data, update). |" in text
    assert "| `matches_per_iteration` | int (≥ 1) | `32` |" in text
    assert "| `choices` | list of str | not set | A scripted player that replies one of these at random" in text
    assert "| `size` | int (≥ 1) | `64` |" in text


def test_unknown_fields_point_to_the_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\niteration = 2\nlr = "fast"\n[roles.solver]\ntemprature = 1.0\n')
    assert main(["train", str(recipe), "--out", str(tmp_path / "out")]) == 2
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    # every problem, one line each; no "(and N more)"
    assert len(lines) == 3 and "more)" not in out
    assert lines[0].startswith("error: recipe field 'roles.solver.temprature': unknown field; did you mean "
                               "'temperature'? [roles.<name>] takes adapter, update, temperature,")
    assert lines[0].endswith("(docs/recipes.md)")
    assert lines[1] == "recipe field 'train.lr' = \"fast\": Input should be a valid number (docs/recipes.md)"
    assert lines[2].startswith("recipe field 'train.iteration': unknown field; did you mean 'iterations'? "
                               "[train] takes iterations, matches_per_iteration,")
    assert not (tmp_path / "out").exists()


def test_tournament_errors_point_to_the_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "t.toml"
    config.write_text('[arena]\nname = "tictactoe"\n[players.a]\n[players.b]\nchoice = ["x"]\n[schedule]\ngame = 2\n')
    assert main(["tournament", str(config), "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        "error: tournament field 'players.b.choice': unknown field; did you mean 'choices'? [players.<name>] takes "
        "adapter, reply, choices, policy, temperature, top_p, max_new_tokens (docs/recipes.md)",
        "tournament field 'schedule.game': unknown field; did you mean 'games'? [schedule] takes kind, games, "
        "both_orders, rounds, budget, seed, max_in_flight (docs/recipes.md)",
    ]


def test_a_union_value_is_one_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text("[adapters.solver]\ntarget_modules = 3\n[[schedule]]\nroles = [\"solver\"]\nevery = 2\n")
    assert main(["train", str(recipe), "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("error: recipe field 'adapters.solver.target_modules' = 3: ")
    assert lines[1].startswith("recipe field 'schedule[0].every': unknown field; [[schedule]] takes roles, iterations")
