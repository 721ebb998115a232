"""PettingZooArena: LLM roles play PettingZoo classic games; specs record the game by reference."""

from __future__ import annotations

import pytest
from pettingzoo.classic.connect_four import connect_four
from pettingzoo.classic.rlcard_envs import leduc_holdem

from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import ArenaError, PettingZooArena, Runner, check_arena, make_from_spec, replay
from sparring.arenas.pettingzoo_arena import load_function, parse_move

CONNECT_FOUR = "pettingzoo.classic.connect_four.connect_four:env"


@pytest.mark.parametrize("env_fn", [connect_four.env, leduc_holdem.env], ids=["connect_four", "leduc_holdem"])
def test_classic_games_pass_check_arena(env_fn: object) -> None:
    arena = PettingZooArena(env_fn)
    assert arena.roles == ("player_0", "player_1")
    report = check_arena(arena, scripts={"moves": [f"Move: {k}" for k in range(4)]})
    assert report.matches > 0


def test_the_spec_records_functions_by_name_and_re_makes_the_arena() -> None:
    arena = PettingZooArena(connect_four.env, parse=parse_move, seats=["red", "yellow"], max_retries=1)
    spec = arena.spec()
    assert spec.kwargs["env_fn"] == CONNECT_FOUR
    assert spec.kwargs["parse"] == "sparring.arenas.pettingzoo_arena:parse_move"
    assert spec.source == "sparring.arenas.pettingzoo_arena:PettingZooArena"
    assert spec.roles == ["red", "yellow"] and spec.max_turns == 200 * 2
    assert make_from_spec(spec).spec() == spec


def test_a_game_played_to_the_end_and_replayed() -> None:
    arena = PettingZooArena(CONNECT_FOUR)
    # player_0 stacks column 0 and wins on its fourth move; player_1 plays column 1.
    engines = {"a": ScriptedEngine(["Move: 0"]), "b": ScriptedEngine(["I choose 1"])}
    roles = {"player_0": arena.default_roles()["player_0"].bind(model="a"),
             "player_1": arena.default_roles()["player_1"].bind(model="b")}
    [t] = Runner(engines, roles).play(arena, [3])
    assert t.outcome["end"] == "win" and t.outcome["winner"] == "player_0" and len(t.outcome["moves"]) == 7
    assert arena.winner(t) == "player_0"
    assert {r.role: r.value for r in t.rewards} == {"player_0": 1.0, "player_1": -1.0}
    assert "Legal moves: 0, 1, 2, 3, 4, 5, 6." in t.turns[0].messages[-1]["content"]
    assert replay(t).identical


def test_unrecordable_or_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(ArenaError, match="cannot be recorded by name"):
        PettingZooArena(lambda: connect_four.env())
    with pytest.raises(ArenaError, match="must look like 'package.module:function'"):
        PettingZooArena("connect_four")
    with pytest.raises(ArenaError, match="cannot import 'no_such_module'"):
        PettingZooArena("no_such_module:env")
    with pytest.raises(ArenaError, match="seats .* must name each of the environment's 2 agents"):
        PettingZooArena(CONNECT_FOUR, seats=["one"])
    with pytest.raises(ArenaError, match="max_retries must be an integer >= 0"):
        PettingZooArena(CONNECT_FOUR, max_retries=-1)


def test_load_function_reads_files_too(tmp_path: object) -> None:
    path = tmp_path / "moves.py"  # type: ignore[operator]
    path.write_text("def first(text, legal):\n    return legal[0]\n")
    assert load_function(f"{path}:first")("x", [4]) == 4
    with pytest.raises(ArenaError, match="is not a function"):
        load_function(f"{path}:missing")


def test_parse_move_prefers_the_move_line() -> None:
    assert parse_move("Column 2 looks good. Move: 5", [5]) == 5
    assert parse_move("I take 3, not 4", [3]) == 3
    with pytest.raises(ValueError, match="no move number"):
        parse_move("pass", [0])
