"""Tournaments: scheduling invariants, config errors, the CLI on scripted players and on the
tiny model (adapter versions, base, anchors), interruption and continuation, ratings output."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sparring.arenas.competitive import DRAW, decide
from sparring.cli import main
from sparring.runs.storage.store import Store
from sparring.runs.tournaments.schedule import SwissState, round_robin, swiss_round
from sparring.runs.tournaments.tournament import version_series
from sparring.runs.tournaments.tournament_config import load_tournament

ROOT = Path(__file__).resolve().parents[3]
ARENAS = Path(__file__).parent.parent / "duel_arena.py"


def _matchings(players: list[str]):
    if not players:
        yield []
        return
    first = players[0]
    for i in range(1, len(players)):
        for rest in _matchings(players[1:i] + players[i + 1:]):
            yield [(first, players[i]), *rest]


@pytest.mark.parametrize("count", [6, 7])
def test_swiss_avoids_rematches_until_necessary_and_balances_seats(count: int) -> None:
    rng = random.Random(count)
    state = SwissState([f"p{i}" for i in range(count)])
    byes: list[str] = []
    for r in range(8):
        met = Counter(state.meetings)
        scheduled, bye = swiss_round(state, r, games=1)
        seated = [p for m in scheduled for p in (m.first, m.second)]
        assert len(seated) == len(set(seated)) == count - (count % 2)  # everyone once, but the bye
        assert (bye is None) == (count % 2 == 0) and bye not in seated
        if bye is not None:
            # nobody gets a second bye before everyone had one
            assert bye not in byes or len(set(byes)) == count
            byes.append(bye)
        rematches = sum(met[frozenset((m.first, m.second))] > 0 for m in scheduled)
        fewest = min(sum(met[frozenset(pair)] > 0 for pair in matching)
                     for matching in _matchings([p for p in state.players if p != bye]))
        assert rematches == fewest, f"round {r}: {rematches} rematches where {fewest} was possible"
        for p in state.players:
            assert abs(state.firsts[p] - state.seconds[p]) <= 2
        for m in scheduled:
            won = rng.random() < 0.5
            state.points[m.first] += won
            state.points[m.second] += not won
    if count == 7:  # seven rounds of seven players without a rematch, then one: every pair met once first
        assert all(n >= 1 for n in (state.meetings[frozenset((a, b))] for a in state.players
                                     for b in state.players if a < b))


def test_swiss_pairs_players_of_equal_points() -> None:
    state = SwissState(["a", "b", "c", "d"])
    state.points.update({"a": 1.0, "b": 0.0, "c": 1.0, "d": 0.0})
    scheduled, _ = swiss_round(state, 1, games=2)
    assert {frozenset((m.first, m.second)) for m in scheduled} == {frozenset("ac"), frozenset("bd")}
    assert [m.game for m in scheduled] == [0, 1, 0, 1]  # two games of each pairing, indexed


def test_round_robin_plays_every_pair_in_both_orders_game_by_game() -> None:
    plan = round_robin(["a", "b", "c"], games=2)
    assert len(plan) == 3 * 2 * 2
    assert Counter((m.first, m.second) for m in plan) == {(a, b): 2 for a in "abc" for b in "abc" if a != b}
    assert [m.game for m in plan[:6]] == [0] * 6  # a budget of 6 keeps one game per order of every pair
    assert len({m.match_id for m in plan}) == len(plan)
    assert len(round_robin(["a", "b", "c"], games=1, both_orders=False)) == 3


def _config(tmp: Path, body: str, arena: str = "Duel") -> Path:
    path = tmp / "tournament.toml"
    path.write_text(f'[model]\nsource = "tiny"\n[arena]\nname = "{ARENAS}:{arena}"\n{body}')
    return path


@pytest.mark.parametrize(("body", "message"), [
    ('[players.a]\nreply = "x"\n[players.b]\nreply = "y"\nadapter = "z"',
     "tournament field 'players.b': sets adapter and reply"),
    ('[players.a]\nreply = "x"', "tournament field 'players': a tournament needs at least two players"),
    ('[players.a]\nreply = "x"\n[players.b]\nreply = "y"\n[schedule]\nkind = "knockout"',
     "tournament field 'schedule.kind' = \"knockout\""),
    ('[players.a]\nreply = "x"\n[players.b]\nreply = "y"\n[schedule]\ngames = true',
     "tournament field 'schedule.games' = true"),
    ('[players.a]\nreply = "x"\n[players."b:c"]\nreply = "y"', "player name 'b:c' must be"),
    ('[players.a]\nreply = "x"\n[players.b]\nreply = "y"\ncolour = 1', "tournament field 'players.b.colour': unknown field"),
])
def test_config_errors_name_the_field(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        load_tournament(_config(tmp_path, body))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("body", "message"), [
    ('[arena]\nseats = ["first", "third"]', "tournament field 'arena.seats' = [\"first\", \"third\"]: 'third' is not a seat"),
    ('[players.c]\nadapter = "nowhere/v1"', "tournament field 'players.c.adapter' = \"nowhere/v1\""),
    ('[roles.first]\nreply = "x"', "tournament field 'roles.first': 'first' is not a non-competing seat"),
    ('[arena]\nreward = "shorter"', "tournament field 'arena.reward' = \"shorter\": tests/duel-v1 has rewards longer"),
])
def test_cli_refuses_bad_settings_in_one_line_before_playing(tmp_path: Path, body: str, message: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    players = '[players.a]\nreply = "x"\n[players.b]\nreply = "y"\n'
    path = tmp_path / "t.toml"
    arena = f'name = "{ARENAS}:Duel"\n'
    text = players + body + "\n"
    text = text.replace("[arena]\n", "[arena]\n" + arena) if "[arena]" in text else f"[arena]\n{arena}" + text
    path.write_text(text)
    assert main(["tournament", str(path), "--out", str(tmp_path / "out"), "-q"]) == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith("error:") and message in " ".join(out.split()), out
    assert not (tmp_path / "out").exists()


def test_rock_paper_scissors_tournament_reports_its_cycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, '[players.rock]\nreply = "rock"\n[players.paper]\nreply = "paper"\n'
                               '[players.scissors]\nreply = "scissors"\n[players.mute]\nreply = "..."\n'
                               "[schedule]\ngames = 2\n", arena="RockPaperScissors")
    out = tmp_path / "rps"
    assert main(["tournament", str(config), "--out", str(out), "-q"]) == 0
    assert "24 matches scheduled in 1 round(s), 24 played" in capsys.readouterr().out
    assert main(["ratings", str(out), "--bootstrap", "50"]) == 0
    text = capsys.readouterr().out
    for column in ("player", "BT", "95% CI", "Elo", "mu", "sigma", "games", "W", "D", "L"):
        assert column in text
    assert "1 preference cycle(s)" in text and "the BT ratings summarise a non-transitive relation" in text
    assert "rock beats scissors 100%, scissors beats paper 100%, paper beats rock 100%" in text
    assert (out / "win_matrix.png").stat().st_size > 1000 and not (out / "ratings_over_versions.png").exists()
    saved = json.loads((out / "ratings.json").read_text())
    mute = next(r for r in saved["ratings"] if r["player"] == "mute")
    assert (mute["games"], mute["losses"]) == (12, 12)
    # every pairing is played in both seat orders and a move's seat does not matter: no seat edge
    seat = saved["first_mover_advantage"]
    assert max(abs(seat["bt"]), abs(seat["low"]), abs(seat["high"])) < 1.0
    assert "first-mover advantage (BT seat term): " in text
    with Store(out / "store.sqlite") as store:
        t = store.get("rock:paper:g1")
        assert (t.roles["first"]["player"], t.roles["second"]["player"]) == ("rock", "paper")
        assert t.roles["first"]["model"] == "scripted-rock" and t.turns[0].text == "rock"
    # a tournament transcript is an ordinary transcript of the inner arena: replay reproduces it
    from sparring.arenas.replay import replay

    assert replay(t).identical


def test_ratings_refuse_a_directory_that_is_not_a_tournament(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sparring.runs.storage.rundir import RunDir

    run = RunDir(tmp_path / "played")
    run.open_store().close()
    run.write_config({"command": "play"})
    assert main(["ratings", str(run.path)]) == 2
    assert "is not a tournament run (its config.toml records 'play')" in capsys.readouterr().out


def test_swiss_through_the_cli_continues_to_more_rounds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    players = "".join(f'[players.p{n}]\nreply = "{"a" * n}"\n' for n in range(1, 6))
    config = _config(tmp_path, players + '[schedule]\nkind = "swiss"\ngames = 1\nrounds = 2\n')
    out = tmp_path / "swiss"
    assert main(["tournament", str(config), "--out", str(out), "-q"]) == 0
    assert "4 matches scheduled in 2 round(s), 4 played" in capsys.readouterr().out
    assert main(["tournament", str(config), "schedule.rounds=4", "--out", str(out), "-q"]) == 0
    assert "8 matches scheduled in 4 round(s), 4 played, 4 already stored" in capsys.readouterr().out
    with Store(out / "store.sqlite") as store:
        ids = store.match_ids()
        pairs = [frozenset(store.get(m).roles[s]["player"] for s in ("first", "second")) for m in ids]
    assert len(ids) == 8 and len(set(pairs)) == 8  # no rematch in four rounds of five players
    assert main(["tournament", str(config), "schedule.kind=\"round-robin\"", "--out", str(out), "-q"]) == 2
    assert "holds another tournament (schedule.kind: recorded \"swiss\", now \"round-robin\")" in capsys.readouterr().out


def test_an_arena_declared_winner_beats_the_rewards(tmp_path: Path) -> None:
    from sparring.arenas.registry import resolve

    arena = resolve(f"{ARENAS}:CountA")()
    config = _config(tmp_path, '[players.a]\nreply = "aaa"\n[players.b]\nreply = "bbbbbbbbbb"\n'
                               "[schedule]\ngames = 1\n", arena="CountA")
    out = tmp_path / "count"
    assert main(["tournament", str(config), "--out", str(out), "-q"]) == 0
    with Store(out / "store.sqlite") as store:
        t = store.get("a:b:g0")
    assert t.reward_of("second") == 1.0  # the longer reply has the reward ...
    assert decide(arena, t, ["first", "second"]) == "first"  # ... but the arena says 'a' won
    assert decide(None, t, ["first", "second"]) == "second"
    t.rewards = [r.model_copy(update={"value": 0.0}) for r in t.rewards]
    assert decide(None, t, ["first", "second"]) == DRAW


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``RUN/adapters/solver/v1`` and ``v2``: two random LoRA adapters of the tiny model."""
    from sparring.agents.pool import ModelPool
    from sparring.runs.training.checkpoint import save_adapter_version

    root = tmp_path_factory.mktemp("train")
    pool = ModelPool(dtype="fp32")
    pool.load("default", "tiny")
    for k in (1, 2):
        pool.add_adapter("default", f"s{k}", rank=4, init="random", seed=k)
        pool.get("default").adapters[f"s{k}"].version = k
        saved = save_adapter_version(pool, "default", f"s{k}", root)
        target = root / "adapters" / "solver" / f"v{k}"
        target.parent.mkdir(parents=True, exist_ok=True)
        saved.rename(target)
    return root


def test_tiny_model_tournament_interrupted_and_continued_without_duplicates(
        tmp_path: Path, versions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, f'[players.v1]\nadapter = "{versions}/adapters/solver/v1"\n'
                               f'[players.v2]\nadapter = "{versions}/adapters/solver/v2"\n'
                               '[players.base]\n[players.anchor]\nreply = "aaaa"\n'
                               "[schedule]\ngames = 2\nbudget = 20\n")
    out = tmp_path / "versions"
    env = {**{k: v for k, v in os.environ.items() if k != "SPARRING_FAULT"}, "SPARRING_FAULT": "play:5"}
    killed = subprocess.run([sys.executable, "-m", "sparring.cli", "tournament", str(config), "--out", str(out), "-q"],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    with Store(out / "store.sqlite") as store:
        assert store.count() == 5
    assert main(["tournament", str(config), "--out", str(out), "-q"]) == 0
    assert "20 matches scheduled in 1 round(s), 15 played, 5 already stored, 0 errors" in capsys.readouterr().out
    assert main(["tournament", str(config), "schedule.budget=24", "--out", str(out), "-q"]) == 0
    assert "24 matches scheduled in 1 round(s), 4 played, 20 already stored" in capsys.readouterr().out
    with Store(out / "store.sqlite") as store:
        ids = store.match_ids()
        assert len(ids) == len(set(ids)) == 24
        assert set(ids) == {m.match_id for m in round_robin(["v1", "v2", "base", "anchor"], 2)}
        t = store.get("v2:v1:g0")
        assert {u.adapter: u.adapter_version for u in t.turns} == {"v2": 2, "v1": 1}
        assert [t.roles[s]["player"] for s in ("first", "second")] == ["v2", "v1"]
        assert store.get("base:anchor:g1").turns[0].adapter is None
    assert main(["ratings", str(out), "--bootstrap", "50"]) == 0
    text = capsys.readouterr().out
    assert "ratings of 24 games" in text and "ratings_over_versions.png" in text
    assert (out / "ratings_over_versions.png").stat().st_size > 1000
    recorded = json.loads((out / "ratings.json").read_text())
    assert sum(r["games"] for r in recorded["ratings"]) == 48


def test_version_series_groups_adapter_versions_of_one_run() -> None:
    players = {"v3": {"source": "/r/adapters/solver/v3"}, "v1": {"source": "/r/adapters/solver/v1"},
               "q1": {"source": "/r/adapters/questioner/v1"}, "base": {"kind": "base"}}
    assert version_series(players) == {"r/solver": [(1, "v1"), (3, "v3")]}


def test_a_fixed_judge_decides_a_three_seat_debate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Competing seats pro/con; the judge seat is fixed (scripted to always side with pro)."""
    config = tmp_path / "debate.toml"
    config.write_text(f'[arena]\nname = "{ROOT / "examples" / "debate.py"}:Debate"\nseats = ["pro", "con"]\n'
                      'reward = "debate_win"\n[players.a]\nreply = "It is true."\n[players.b]\nreply = "No."\n'
                      '[roles.judge]\nreply = "Winner: TRUE"\n[schedule]\ngames = 3\n')
    out = tmp_path / "debate"
    assert main(["tournament", str(config), "--out", str(out), "-q"]) == 0
    with Store(out / "store.sqlite") as store:
        t = store.get("b:a:g2")
        assert t.roles["judge"]["model"] == "scripted-_seat_judge" and "player" not in t.roles["judge"]
        assert (t.roles["pro"]["player"], t.roles["con"]["player"]) == ("b", "a")
    capsys.readouterr()
    assert main(["ratings", str(out), "--bootstrap", "20", "--no-plots"]) == 0
    saved = json.loads((out / "ratings.json").read_text())
    assert [(r["wins"], r["losses"]) for r in saved["ratings"]] == [(3, 3), (3, 3)]  # pro always wins
    assert {round(r["bt"]) for r in saved["ratings"]} == {1000}


def test_the_example_tournament_runs_on_the_tiny_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = ROOT / "examples" / "debate_tournament.toml"
    out = tmp_path / "example"
    assert main(["tournament", str(example), 'model.source="tiny"', "schedule.budget=6", "--out", str(out), "-q"]) == 0
    assert "6 matches scheduled in 1 round(s), 6 played, 0 already stored, 0 errors" in capsys.readouterr().out
    # the tiny model's judge writes no verdict, so debate_win scores nobody: no result to rate
    assert main(["ratings", str(out), "--bootstrap", "20", "--no-plots"]) == 2
    assert "6 finished without a result: a competing seat got no reward" in capsys.readouterr().out
    judged = tmp_path / "judged"
    assert main(["tournament", str(example), 'model.source="tiny"', "schedule.budget=6", 'roles.judge.reply="Winner: FALSE"',
                 "--out", str(judged), "-q"]) == 0
    assert main(["ratings", str(judged), "--bootstrap", "20", "--no-plots"]) == 0
    assert "ratings of 6 games" in capsys.readouterr().out


def test_stored_games_come_in_play_order_not_match_id_order(tmp_path: Path) -> None:
    """Online Elo depends on the order of games: they are read in the order the store
    received them (as the matches finished), not sorted by match id."""
    from sparring.arenas.transcript import ArenaSpec, Transcript
    from sparring.runs.tournaments.ratings import elo
    from sparring.runs.tournaments.tournament import stored_games

    spec = ArenaSpec(id="tests/duel-v1", roles=["first", "second"])

    def match(match_id: str, winner: str) -> Transcript:
        result = {"first": "win" if winner == "a" else "loss", "second": "loss" if winner == "a" else "win"}
        return Transcript(match_id=match_id, arena=spec, seed=0,
                          roles={"first": {"player": "a", "result": result["first"]},
                                 "second": {"player": "b", "result": result["second"]}})

    played = [match("r0-m9", "a"), match("r0-m10", "a"), match("r0-m2", "b")]  # m10 < m2 < m9 as text
    with Store(tmp_path / "store.sqlite") as store:
        for t in played:
            store.add(t)
        games, missing = stored_games(store)
        assert [g.score for g in games] == [1.0, 1.0, 0.0] and missing == 0
        assert [g.score for g in stored_games(store, ids=["r0-m2", "r0-m9"])[0]] == [1.0, 0.0]
    by_id = [games[1], games[2], games[0]]  # r0-m10, r0-m2, r0-m9: the order ratings used to read
    assert elo(games)["a"] != pytest.approx(elo(by_id)["a"])  # and Elo depends on it
