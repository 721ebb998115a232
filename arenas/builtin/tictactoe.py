"""Tic-tac-toe between two roles, on PettingZoo's ``tictactoe_v3`` (``sparring/tictactoe-v1``).

Seats and what each sees:
    x: moves first. o: moves second. Before each of its moves a seat sees its mark, the
    board with empty cells shown by their number (1-9, row by row) and the legal moves::

        You are playing tic-tac-toe as X. X moves first; three in a row wins.
        Board (empty cells show their number):
        X | 2 | O
        4 | X | 6
        7 | 8 | O
        Legal moves: 2, 4, 6, 7, 8
        Reply with the number of the cell you take, like "Move: 5".

Moves: the number after ``Move:``, else the first number in the reply. A reply without a
number, with a cell off the board or an occupied cell is re-prompted with the reason, up to
``max_retries`` times, then the seat forfeits (see :mod:`sparring.arenas.pettingzoo_arena`).

Rewards: ``game_result`` (+1 win, -1 loss or forfeit, 0 draw; match-level). The arena
declares ``winner``; monitors ``rejected_reply_rate``, ``forfeit_rate``, ``draw_rate``,
``win_rate/<seat>``. Held-out evaluation: the trained X role, greedy, against the scripted
blocker :func:`win_block_random` as O (``opponents``): ``eval/win_rate/x``,
``eval/draw_rate``, ``eval/forfeit_rate``, ``eval/rejected_reply_rate``.
Needs ``pip install 'sparring[pettingzoo]'`` (PettingZoo and pygame-ce, which PettingZoo's
classic games import).

Scripted players for tournaments and leagues (``policy = "sparring.arenas.builtin.tictactoe:..."``
in a tournament's ``[players.<name>]``): :func:`random_legal` (a uniformly random legal
cell) and :func:`win_block_random` (complete three in a row if it can, else block the
opponent's, else random). Both read the board from the prompt and draw from the row's
seeded generator.

Versions: v1, first version.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from sparring.agents.engines.base import Message
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.pettingzoo_arena import (
    PettingZooArena,
    draw_rate,
    forfeit_rate,
    parse_move,
    rejected_reply_rate,
    win_rate,
)

ENV_FN = "pettingzoo.classic.tictactoe.tictactoe:env"
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
"""The eight lines of three cells (0-based, row by row)."""
_ROW = re.compile(r"^\s*(\S)\s*\|\s*(\S)\s*\|\s*(\S)\s*$", re.MULTILINE)
_MARK = re.compile(r"tic-tac-toe as ([XO])\b")


def render_board(env: Any, agent: str, observation: Any, legal: Sequence[int]) -> str:
    """The prompt of a move: the seat's mark, the board and the legal cells (1-9)."""
    planes = observation["observation"]  # [row, col, 0] = the mover's marks, [..., 1] = the opponent's
    mark, other = ("X", "O") if agent == "player_1" else ("O", "X")
    cells = [mark if planes[i // 3][i % 3][0] else other if planes[i // 3][i % 3][1] else str(i + 1)
             for i in range(9)]
    rows = "\n".join(" | ".join(cells[r * 3:r * 3 + 3]) for r in range(3))
    return (f"You are playing tic-tac-toe as {mark}. X moves first; three in a row wins.\n"
            f"Board (empty cells show their number):\n{rows}\n"
            f"Legal moves: {', '.join(str(a + 1) for a in legal)}\n"
            'Reply with the number of the cell you take, like "Move: 5".')


def parse_cell(text: str, legal: Sequence[int]) -> int:
    """The action of a reply: cell 1-9 (row by row) is action 0-8.

    Raises:
        ValueError: No number, or a number off the board.
    """
    cell = parse_move(text, legal)
    if not 1 <= cell <= 9:
        raise ValueError(f"cell {cell} is not on the board (cells are 1-9)")
    return cell - 1


class TicTacToe(PettingZooArena):
    """Tic-tac-toe: ``x`` and ``o`` take cells until one has three in a row or the board fills.

    Args:
        max_retries: Re-prompts after a rejected reply before the seat forfeits.
        opponents: Seats played by a scripted policy inside the arena (``{"o":
            "sparring.arenas.builtin.tictactoe:win_block_random"}``); see :class:`PettingZooArena`.
    """

    id = "sparring/tictactoe-v1"
    short_name = "tictactoe"
    roles = ("x", "o")
    zero_sum = True
    max_turns = 27
    examples = {seat: [f"Move: {k}" for k in range(1, 10)] for seat in ("x", "o")}

    def __init__(self, max_retries: int = 2, opponents: dict[str, str] | None = None) -> None:
        super().__init__(ENV_FN, render=render_board, parse=parse_cell, seats=("x", "o"),
                         max_retries=max_retries, max_moves=9, opponents=opponents)

    def evaluation(self) -> Evaluation | None:
        """Greedy X against the scripted blocker (O): ``win_rate/x``, ``draw_rate``,
        ``forfeit_rate``, ``rejected_reply_rate``."""
        if self.opponents:  # already a scripted variant: mean rewards on held-out seeds
            return None
        blocker = TicTacToe(max_retries=self.max_retries, opponents={"o": f"{__name__}:win_block_random"})
        return Evaluation(arena=blocker, metrics=[win_rate, draw_rate, forfeit_rate, rejected_reply_rate])

    def move_label(self, action: int) -> str:
        """Cells are numbered 1-9."""
        return str(action + 1)


# -- scripted players ---------------------------------------------------------------------
def read_board(messages: Sequence[Message]) -> tuple[list[str], str]:
    """The board (nine cells: ``"X"``, ``"O"`` or ``""``) and the mark to play, from the
    latest user message that shows a board.

    Raises:
        ValueError: No message shows a tic-tac-toe board.
    """
    for m in reversed([m for m in messages if m["role"] == "user"]):  # not a reply that mimics a board
        rows, mark = _ROW.findall(m["content"]), _MARK.search(m["content"])
        if len(rows) >= 3 and mark:
            cells = [c if c in ("X", "O") else "" for row in rows[-3:] for c in row]
            return cells, mark.group(1)
    raise ValueError("no tic-tac-toe board in the prompt (expected three 'a | b | c' rows and 'as X' or 'as O')")


def _completing(cells: list[str], mark: str) -> list[int]:
    """Empty cells that would give ``mark`` three in a row."""
    return sorted({i for line in LINES for i in line
                   if not cells[i] and sum(cells[j] == mark for j in line) == 2})


def random_legal(messages: Sequence[Message], rng: random.Random) -> str:
    """A uniformly random empty cell (a scripted anchor)."""
    cells, _ = read_board(messages)
    empty = [i for i, c in enumerate(cells) if not c]
    return f"Move: {rng.choice(empty) + 1}" if empty else "Move: 1"


def win_block_random(messages: Sequence[Message], rng: random.Random) -> str:
    """Complete three in a row if possible, else block the opponent's, else a random cell."""
    cells, mark = read_board(messages)
    other = "O" if mark == "X" else "X"
    for candidates in (_completing(cells, mark), _completing(cells, other)):
        if candidates:
            return f"Move: {rng.choice(candidates) + 1}"
    return random_legal(messages, rng)
