"""recipes/tictactoe.toml trains through the CLI with its league; tic-tac-toe tournaments with
scripted policy players run through the CLI and rate the anchors in the right order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.storage.store import Store
from sparring.runs.tournaments.tournament import TournamentError, load_tournament

ROOT = Path(__file__).resolve().parents[2]
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2",
        "league.every=1", "league.games=1"]


def test_the_recipe_runs_one_tiny_iteration_with_its_league(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / "tictactoe.toml"), *TINY, "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        names = {name for _, name, _ in store.metrics()}
    expected = {"reward/game_result/x", "reward/game_result/o", "update/player/loss", "forfeit_rate",
                "rejected_reply_rate", "eval/win_rate/x", "eval/forfeit_rate", "league/bt", "league/bt/base",
                "league/bt/center", "league/bt/blocker", "league/score", "reward/move_result/x"}
    assert expected <= names, sorted(names)
    assert (out / "adapters" / "player" / "v1").is_dir()
    with Store(out / "league" / "store.sqlite") as store:
        assert len(store.match_ids(status="finished")) == 6  # v1 against base and the two anchors, both orders


def test_the_league_plays_policy_anchors(tmp_path: Path) -> None:
    """``league.policies``: the scripted win/block/random player as an in-loop anchor; its
    replies are always legal moves, and it is rated each round."""
    out = tmp_path / "run"
    policies = 'league.policies={blocker="sparring.arenas.builtin.tictactoe:win_block_random"}'
    assert main(["train", str(ROOT / "recipes" / "tictactoe.toml"), *TINY, policies, "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        names = {name for _, name, _ in store.metrics()}
    assert {"league/bt/blocker", "league/bt/center", "league/score/blocker"} <= names, sorted(names)
    with Store(out / "league" / "store.sqlite") as store:
        games = [store.get(m) for m in store.match_ids(status="finished")]
    assert len(games) == 6  # v1 against base, the fixed anchor and the policy, both orders
    blocker = [(t, seat) for t in games for seat in ("x", "o") if t.roles[seat]["player"] == "blocker"]
    assert len(blocker) == 2 and all(t.outcome["rejected"][seat] == 0 for t, seat in blocker)


@pytest.mark.parametrize(("policies", "expect"), [
    ('{blocker="sparring.arenas.builtin.tictactoe:no_such"}', "'no_such' is not a function"),
    ('{blocker="nope_module:f"}', "cannot import 'nope_module'"),
    ('{center="sparring.arenas.builtin.tictactoe:random_legal"}', "center named both in anchors and in policies"),
    ('{base="sparring.arenas.builtin.tictactoe:random_legal"}', "not 'base'"),
])
def test_bad_league_policies_are_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      policies: str, expect: str) -> None:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / "tictactoe.toml"), *TINY, f"league.policies={policies}",
                 "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = (captured.out + captured.err).strip()
    assert "recipe field 'league" in err and expect in err and "\n" not in err, err
    assert not out.exists()


def _policies_only(tmp_path: Path, games: int) -> Path:
    config = tmp_path / "ttt.toml"
    config.write_text(f"""
[arena]
name = "tictactoe"
[players.random]
policy = "sparring.arenas.builtin.tictactoe:random_legal"
[players.blocker]
policy = "sparring.arenas.builtin.tictactoe:win_block_random"
[players.centre]
reply = "Move: 5"
[schedule]
games = {games}
""")
    return config


def test_a_tournament_of_policy_players_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["tournament", str(_policies_only(tmp_path, 6)), "--out", str(out), "-q"]) == 0
    with Store(out / "store.sqlite") as store:
        transcripts = [store.get(m) for m in store.match_ids()]
    assert len(transcripts) == 3 * 2 * 6 and all(t.status == "finished" for t in transcripts)
    # A policy player is a scripted engine: it sees the prompt, and its replies are always legal.
    assert all(t.outcome["rejected"][seat] == 0 for t in transcripts for seat in ("x", "o")
               if t.roles[seat]["player"] != "centre")
    assert main(["ratings", str(out), "--bootstrap", "50", "--no-plots"]) == 0
    ratings = {r["player"]: r["bt"] for r in json.loads((out / "ratings.json").read_text())["ratings"]}
    assert ratings["blocker"] > ratings["random"] > ratings["centre"], ratings


def test_the_example_tournament_runs_on_the_tiny_model(tmp_path: Path) -> None:
    example = ROOT / "examples" / "tictactoe_tournament.toml"
    out = tmp_path / "out"
    assert main(["tournament", str(example), 'model.source="tiny"', "schedule.budget=6", "--out", str(out), "-q"]) == 0
    with Store(out / "store.sqlite") as store:
        assert len(store.match_ids(status="finished")) == 6
    assert main(["ratings", str(out), "--bootstrap", "20", "--no-plots"]) == 0


def test_policy_errors_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _policies_only(tmp_path, 1)
    assert main(["tournament", str(config), 'players.random.policy="sparring.arenas.builtin.tictactoe:nope"',
                 "--out", str(tmp_path / "o"), "-q"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("error: tournament field 'players.random.policy'") and "is not a function" in out, out
    with pytest.raises(TournamentError, match="sets reply and policy"):
        load_tournament(config, ['players.centre.policy="sparring.arenas.builtin.tictactoe:random_legal"'])


def test_a_policy_file_resolves_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text("def first(messages, rng):\n    return 'Move: 1'\n")
    path = tmp_path / "t.toml"
    path.write_text('[arena]\nname = "tictactoe"\n[players.a]\npolicy = "mine.py:first"\n[players.b]\nreply = "Move: 2"\n')
    assert load_tournament(path).players["a"].policy == f"{(tmp_path / 'mine.py').resolve()}:first"
