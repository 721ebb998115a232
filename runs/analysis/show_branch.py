"""A branch beside its original in the terminal: turns as two columns from the branch turn,
the first differing turn marked, and each (reward, seat) with its delta."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sparring.arenas.transcript import Transcript
from sparring.runs.analysis.effects import first_difference
from sparring.runs.analysis.show import match_rewards


def reward_deltas(original: Transcript, branch: Transcript) -> list[tuple[str, float | None, float | None]]:
    """``(reward/seat, original, branch)`` for every key either side has."""
    a, b = match_rewards(original), match_rewards(branch)
    return [(key, a.get(key), b.get(key)) for key in sorted(set(a) | set(b))]


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def render_branch(original: Transcript, branch: Transcript, info: dict[str, Any], full: bool = False) -> Panel:
    """Columns of the original and the branch from the branch turn on (see the module docs)."""
    limit = 10_000 if full else 400
    start = int(info["from_turn"])
    first = first_difference(original, branch)
    seed = "recorded seeds" if info["branch_seed"] is None else f"branch seed {info['branch_seed']}"
    header = Text()
    header.append(f"branch of {original.match_id} from turn {start}", style="bold")
    header.append(f"  swaps: {', '.join(info['swaps']) or 'none'}  sample {info['sample']}  {seed}")
    where = Text("no turn differs" if first is None else f"first differing turn: #{first}",
                 style="bold yellow" if first is not None else "green")
    table = Table(show_lines=True, expand=True)
    table.add_column("turn", no_wrap=True)
    table.add_column(f"original {original.match_id}", ratio=1)
    table.add_column(f"branch {branch.match_id}", ratio=1)
    for index in range(start, max(len(original.turns), len(branch.turns))):
        cells = []
        for t in (original, branch):
            turn = t.turns[index] if index < len(t.turns) else None
            if turn is None:
                cells.append(Text("(no turn)", style="dim"))
                continue
            adapter = f"{turn.adapter or 'base'}{'' if turn.adapter_version is None else f' v{turn.adapter_version}'}"
            cell = Text(f"{turn.role} [{turn.model}:{adapter}]\n", style="dim")
            cell.append(turn.text if len(turn.text) <= limit else turn.text[:limit] + " …")
            cells.append(cell)
        label = Text(f"#{index}", style="bold yellow" if index == first else "")
        if index == first:
            label.append("\n◀ first\ndifference", style="yellow")
        table.add_row(label, *cells)
    rewards = Table(title="rewards (branch - original)", show_edge=False)
    for col in ("reward/seat", "original", "branch", "delta"):
        rewards.add_column(col)
    for key, a, b in reward_deltas(original, branch):
        delta = "-" if a is None or b is None else f"{b - a:+g}"
        rewards.add_row(key, _value(a), _value(b), Text(delta, style="bold" if delta not in ("-", "+0") else ""))
    outcome = Text(f"outcome: {original.summary or '-'}  →  {branch.summary or '-'}", style="italic")
    return Panel(Group(header, where, table, outcome, rewards), title=f"whatif {branch.match_id}", title_align="left")
