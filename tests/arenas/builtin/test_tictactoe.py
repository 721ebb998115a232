"""Tic-tac-toe: scripted players reach every terminal state; the scripted policies play as documented."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import pytest

from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import ArenaError, Runner, TicTacToe, check_arena, make, replay
from sparring.arenas.builtin.tictactoe import random_legal, read_board, win_block_random
from sparring.arenas.competitive import DRAW, decide
from sparring.arenas.runner import bind_roles
from sparring.arenas.transcript import Transcript

Policy = Callable[[list[dict[str, str]], random.Random], str]


def _moves(*cells: int) -> Policy:
    """A scripted player that plays ``cells`` in order, one per ask (retries included)."""
    it = iter(cells)
    return lambda messages, rng: f"Move: {next(it)}"


def play(x: Policy | Sequence[str], o: Policy | Sequence[str], seed: int = 0, **kwargs: int) -> Transcript:
    """One match, each seat on its own scripted engine (a policy or a list of replies)."""
    arena = TicTacToe(**kwargs)
    roles = {seat: role.bind(model=seat) for seat, role in bind_roles(arena, None).items()}

    def engine(p: Policy | Sequence[str]) -> ScriptedEngine:
        if callable(p):
            return ScriptedEngine(lambda req, i: p(req.messages, random.Random(req.seed)))
        return ScriptedEngine(list(p))

    [t] = Runner({"x": engine(x), "o": engine(o)}, roles).play(arena, [seed])
    assert t.status == "finished", t.error
    assert replay(t).identical
    return t


def test_a_win() -> None:
    t = play(_moves(1, 2, 3), _moves(4, 5))
    o = t.outcome
    assert o["end"] == "win" and o["winner"] == "x" and o["forfeit"] is None
    assert o["returns"] == {"x": 1.0, "o": -1.0}
    assert {r.role: r.value for r in t.rewards} == {"x": 1.0, "o": -1.0}
    assert decide(TicTacToe(), t, ["x", "o"]) == "x"
    assert [m["action"] for m in o["moves"]] == [0, 3, 1, 4, 2]


def test_a_draw() -> None:
    # X O X / X O O / O X X
    t = play(_moves(1, 3, 4, 8, 9), _moves(2, 5, 6, 7))
    assert t.outcome["end"] == "draw" and t.outcome["winner"] is None
    assert {r.role: r.value for r in t.rewards} == {"x": 0.0, "o": 0.0}
    assert decide(TicTacToe(), t, ["x", "o"]) == DRAW


def test_a_forfeit_after_the_retries_and_the_reasons_given() -> None:
    t = play(_moves(5, 5), ["I pass.", "Move: 5", "Move: 12"], max_retries=2)
    o = t.outcome
    assert o["end"] == "forfeit" and o["forfeit"] == "o" and o["winner"] == "x"
    assert o["rejected"] == {"x": 0, "o": 3}
    assert {r.role: r.value for r in t.rewards} == {"x": 1.0, "o": -1.0}
    o_turns = t.turns_of("o")
    assert len(o_turns) == 3
    assert "no move number" in o_turns[1].messages[-1]["content"]
    assert "move 5 is not legal here" in o_turns[2].messages[-1]["content"]
    assert "Legal moves: 1, 2, 3, 4, 6, 7, 8, 9" in o_turns[2].messages[-1]["content"]
    assert o_turns[2].messages[-2] == {"role": "assistant", "content": "Move: 5"}


def test_a_rejected_reply_followed_by_a_legal_one_plays_on() -> None:
    t = play(_moves(1, 2, 3), ["Move: 1", "Move: 4", "Move: 5"])
    assert t.outcome["rejected"] == {"x": 0, "o": 1} and t.outcome["winner"] == "x"


def test_the_prompt_shows_the_board_and_the_legal_cells() -> None:
    t = play(_moves(5, 1, 9), _moves(3, 7))
    prompt = t.turns_of("x")[1].messages[-1]["content"]
    assert "as X" in prompt and "1 | 2 | O\n4 | X | 6\n7 | 8 | 9" in prompt
    assert "Legal moves: 1, 2, 4, 6, 7, 8, 9" in prompt
    assert read_board(t.turns_of("o")[1].messages) == (["X", "", "O", "", "X", "", "", "", ""], "O")


def test_win_block_random_wins_when_it_can_and_blocks_otherwise() -> None:
    rng = random.Random(0)
    board = [{"role": "user", "content": TicTacToe_prompt("O", "X | X | 3\nO | O | 6\n7 | 8 | 9")}]
    assert win_block_random(board, rng) == "Move: 6"  # O completes its row rather than block X's
    board = [{"role": "user", "content": TicTacToe_prompt("O", "X | X | 3\nO | 5 | 6\n7 | 8 | 9")}]
    assert win_block_random(board, rng) == "Move: 3"
    empty = [{"role": "user", "content": TicTacToe_prompt("X", "1 | 2 | 3\n4 | 5 | 6\n7 | 8 | 9")}]
    cells = {win_block_random(empty, random.Random(s)) for s in range(40)}
    assert len(cells) > 3  # random when nothing is forced


def TicTacToe_prompt(mark: str, rows: str) -> str:  # noqa: N802 - reads like the arena's prompt
    return f"You are playing tic-tac-toe as {mark}. X moves first; three in a row wins.\nBoard:\n{rows}\n"


def test_the_blocker_beats_random_and_both_only_make_legal_moves() -> None:
    games = [(play(win_block_random, random_legal, seed=s), "x") for s in range(12)]
    games += [(play(random_legal, win_block_random, seed=s), "o") for s in range(12, 24)]
    assert all(sum(t.outcome["rejected"].values()) == 0 for t, _ in games)
    wins = sum(t.outcome["winner"] == seat for t, seat in games)
    losses = sum(t.outcome["winner"] not in (None, seat) for t, seat in games)
    assert wins >= 14 and losses <= 3, (wins, losses)  # 17 and 2 with these seeds


def test_read_board_needs_a_board() -> None:
    with pytest.raises(ValueError, match="no tic-tac-toe board"):
        read_board([{"role": "user", "content": "hello"}])


def test_registered_with_a_short_name_and_conformant() -> None:
    arena = make("tictactoe", max_retries=1)
    assert arena.spec().kwargs == {"max_retries": 1, "opponents": None} and arena.max_turns == 18
    report = check_arena(arena)
    assert report.warnings == []


def test_a_scripted_opponent_inside_the_arena_and_the_declared_evaluation() -> None:
    evaluation = TicTacToe().evaluation()
    assert evaluation is not None and evaluation.greedy
    arena = evaluation.arena
    assert arena.spec().kwargs["opponents"] == {"o": "sparring.arenas.builtin.tictactoe:win_block_random"}
    roles = {seat: role.bind(model="x") for seat, role in bind_roles(arena, None).items()}
    x = ScriptedEngine(lambda req, i: random_legal(req.messages, random.Random(req.seed)))
    transcripts = Runner({"x": x}, roles).play(arena, list(range(8)))
    assert all(t.status == "finished" and {u.role for u in t.turns} == {"x"} for t in transcripts)
    assert all(replay(t, arena).identical for t in transcripts)
    assert {m["seat"] for t in transcripts for m in t.outcome["moves"]} == {"x", "o"}
    values = {k: v for m in evaluation.metrics for k, v in m.compute(transcripts).items()}
    assert set(values) == {"win_rate/x", "win_rate/o", "draw_rate", "forfeit_rate", "rejected_reply_rate"}
    assert values["win_rate/o"] > values["win_rate/x"] and values["forfeit_rate"] == 0.0
    with pytest.raises(ArenaError, match="opponents names 'z'"):
        TicTacToe(opponents={"z": "sparring.arenas.builtin.tictactoe:random_legal"})


def test_move_result_credits_every_accepted_move_and_penalises_rejected_replies() -> None:
    from sparring.arenas.pettingzoo_arena import move_result, rejected_turns

    # O is re-prompted once ("Move: 1" is taken) and then plays 4; X wins on its third move.
    t = play(_moves(1, 2, 3), ["Move: 1", "Move: 4", "Move: 5"])
    by_turn = {s.turn: (s.role, s.value) for s in move_result(t)}
    roles = [u.role for u in t.turns]
    assert roles == ["x", "o", "o", "x", "o", "x"]
    assert rejected_turns(t) == {1}
    assert by_turn == {0: ("x", 1.0), 1: ("o", -1.0), 2: ("o", -1.0), 3: ("x", 1.0), 4: ("o", -1.0), 5: ("x", 1.0)}
    # A forfeit: every one of the forfeiting seat's replies was rejected; X's one move won.
    t = play(_moves(5, 5), ["I pass.", "Move: 5", "Move: 12"], max_retries=2)
    assert rejected_turns(t) == {u.index for u in t.turns_of("o")}
    assert {s.turn: s.value for s in move_result(t)} == {0: 1.0, 1: -1.0, 2: -1.0, 3: -1.0}
    # A draw: accepted moves get 0.
    t = play(_moves(1, 3, 4, 8, 9), _moves(2, 5, 6, 7))
    assert rejected_turns(t) == set() and {s.value for s in move_result(t)} == {0.0}
