"""The in-loop league on the tiny model: versions meet past snapshots and anchors; ratings
land in the metrics as league/...; the league directory is a tournament `sparring ratings` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.recipes.recipe import RecipeError, load_recipe
from sparring.runs.storage.store import Store

ARENA = Path(__file__).parent.parent / "lengths_arena.py"
RECIPE = f"""
[model]
source = "tiny"
[arena]
name = "{ARENA}:Lengths"
[roles.writer]
adapter = "writer"
update = "grpo"
[train]
iterations = 3
matches_per_iteration = 4
lr = 1e-2
[eval]
size = 2
every = 0
[league]
every = 1
seats = ["writer", "editor"]
games = 1
pool_size = 1
anchors = {{echo = "hello hello"}}
bootstrap = 20
"""


def test_league_rates_each_version_against_snapshots_and_anchors(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "league.toml"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        rows = store.metrics()
        assert not [m for m in store.match_ids() if ":" in m]  # league matches stay out of the training store
    league = {(it, name): value for it, name, value in rows if name.startswith("league/")}
    for it in range(3):
        for name in ("league/bt", "league/bt_low", "league/bt_high", "league/elo", "league/mu", "league/score",
                     "league/bt/base", "league/bt/echo", "league/cycles"):
            assert (it, name) in league, (it, name)
        assert league[(it, "league/bt_low")] <= league[(it, "league/bt")] <= league[(it, "league/bt_high")] + 1e-6
    assert (0, "league/score/v0") not in league and (1, "league/score/v1") in league
    assert (2, "league/score/v2") in league and (2, "league/score/v1") not in league  # pool_size = 1
    with Store(out / "league" / "store.sqlite") as store:
        ids = store.match_ids()
        # per round: the current version against (past version,) base and echo, both seat orders
        assert len(ids) == len(set(ids)) == 4 + 6 + 6
        t = store.get("v2:v1:g0")
        assert {(u.role, u.adapter, u.adapter_version) for u in t.turns} == {("writer", "writer", 2),
                                                                         ("editor", "writer@v1", 1)}
    capsys.readouterr()
    assert main(["ratings", str(out / "league"), "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "ratings of 16 games" in text and (out / "league" / "ratings_over_versions.png").exists()
    players = {r["player"] for r in json.loads((out / "league" / "ratings.json").read_text())["ratings"]}
    assert players == {"v1", "v2", "v3", "base", "echo"}  # the first round follows the first update
    # past versions are frozen snapshot adapters; only the newest pool_size of them stay loaded
    latest = (out / "checkpoints" / "LATEST").read_text().strip()
    state = json.loads((out / "checkpoints" / latest / "state.json").read_text())
    assert state["snapshots"] == ["writer@v2"] and state["versions"] == {"writer": 3}


def test_league_recipe_errors_name_the_field() -> None:
    base = {"roles": {"writer": {"adapter": "writer", "update": "grpo"}, "editor": {"adapter": "e", "update": "grpo"}}}
    with pytest.raises(RecipeError, match="recipe field 'league.adapter': 2 adapters train"):
        load_recipe({**base, "league": {"every": 1}})
    with pytest.raises(RecipeError, match="recipe field 'league.adapter' = \"x\": not a trained adapter"):
        load_recipe({**base, "league": {"every": 1, "adapter": "x"}})
    with pytest.raises(RecipeError, match="recipe field 'league.games' = 0"):
        load_recipe({**base, "league": {"every": 1, "adapter": "e", "games": 0}})


def test_a_run_killed_after_a_league_round_resumes_without_duplicate_league_matches(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    recipe = tmp_path / "league.toml"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    env = {**os.environ, "SPARRING_FAULT": "metrics:2"}  # after iteration 2's league round, before its checkpoint
    killed = subprocess.run([sys.executable, "-m", "sparring.cli", "train", str(recipe), "--out", str(out)],
                            capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[3], timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    with Store(out / "league" / "store.sqlite") as store:
        assert len(store.match_ids()) == 4 + 6
    assert main(["train", "--resume", str(out)]) == 0
    with Store(out / "league" / "store.sqlite") as store:
        ids = store.match_ids()
        assert len(ids) == len(set(ids)) == 4 + 6 + 6
    with Store(out / "store.sqlite") as store:
        assert [it for it, name, _ in store.metrics("league/bt")] == [0, 1, 2]


def test_league_samples_training_opponents_from_past_versions(tmp_path: Path) -> None:
    recipe = tmp_path / "fsp.toml"
    text = RECIPE.replace('[train]', '[roles.editor]\nadapter = "writer"\nupdate = "grpo"\n[train]')
    text = text.replace("pool_size = 1", 'pool_size = 2\nopponents = "uniform"').replace("iterations = 3", "iterations = 4")
    recipe.write_text(text.replace("matches_per_iteration = 4", "matches_per_iteration = 8"))
    out = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        first = [t for t in store.transcripts(iteration=0)]
        later = [t for it in (2, 3) for t in store.transcripts(iteration=it) if not t.match_id.startswith("eval-")]
    # Iteration 0 has no past version yet: plain self-play, both seats on the live adapter.
    assert all(u.adapter == "writer" for t in first for u in t.turns)
    seated = [t for t in later if any("@" in (u.adapter or "") for u in t.turns)]
    assert seated and len(seated) < len(later)  # some matches met a past version, some the latest
    for t in seated:
        by_seat = {seat: {u.adapter for u in t.turns_of(seat)} for seat in ("writer", "editor")}
        # exactly one seat is the opponent's (a frozen past version), the other the learner's
        assert sorted(len([a for a in adapters if "@" in a]) for adapters in by_seat.values()) == [0, 1]
        (opponent,) = [a for adapters in by_seat.values() for a in adapters if "@" in a]
        assert opponent.startswith("writer@v") and int(opponent.split("@v")[1]) < 3


def test_prioritised_weights_favour_opponents_the_latest_loses_to(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from sparring.runs.tournaments.league import League

    league = League.__new__(League)
    league.section = SimpleNamespace(opponents="prioritised", pool_size=3, priority=2.0, reward=None)
    league.past = [1, 2, 3]
    league.adapter = "writer"
    league.pool = SimpleNamespace(version=lambda model, adapter: 4)
    league.arena = None
    league.dir = SimpleNamespace(store_path=tmp_path / "missing.sqlite")
    # No league games yet: every candidate counts as an even match.
    assert league.opponent_weights() == {1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25}


def test_sampled_opponents_need_league_rounds() -> None:
    base = {"roles": {"writer": {"adapter": "writer", "update": "grpo"}}}
    with pytest.raises(RecipeError, match="recipe field 'league.opponents' = \"uniform\": past versions come from"):
        load_recipe({**base, "league": {"opponents": "uniform"}})
    with pytest.raises(RecipeError, match="league.opponents"):
        load_recipe({**base, "league": {"every": 1, "opponents": "newest"}})
