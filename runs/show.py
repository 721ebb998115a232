"""Render transcripts in the terminal with rich: turns, prompts, replies, parses, rewards.

Each turn shows everything its role saw, system prompt included (two seats that differ
only in their system prompt look different), what it replied, the parse and its rewards.
The match list shows every (reward, seat) of a match separately, never a blend of a
seat's different rewards.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sparring.arenas.transcript import Transcript

_COLORS = ["cyan", "magenta", "green", "yellow", "blue", "red"]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" … (+{len(text) - limit} chars)"


def render_transcript(t: Transcript, role: str | None = None, full: bool = False) -> Panel:
    """A rich panel for one transcript (optionally only one role's turns)."""
    limit = 10_000 if full else 600
    colors = {seat: _COLORS[i % len(_COLORS)] for i, seat in enumerate(t.arena.roles)}
    parts: list = []
    header = Text()
    header.append(f"{t.arena.id}", style="bold")
    header.append(f"  seed={t.seed}  iteration={t.iteration}  status={t.status}")
    parts.append(header)
    if t.summary:
        parts.append(Text(f"outcome: {t.summary}", style="italic"))
    turn_rewards: dict[int, list[str]] = {}
    for r in t.rewards:
        if r.turn is not None:
            turn_rewards.setdefault(r.turn, []).append(f"{r.reward}={r.value:g} ({r.explanation})")
    for turn in t.turns:
        if role is not None and turn.role != role:
            continue
        color = colors.get(turn.role, "white")
        adapter = turn.adapter or "base"
        version = f" v{turn.adapter_version}" if turn.adapter_version is not None else ""
        title = Text()
        title.append(f"#{turn.index} {turn.role}", style=f"bold {color}")
        title.append(f"  [{turn.model}:{adapter}{version}]  ask {turn.ask}.{turn.sample}  "
                     f"{len(turn.token_ids)} tokens  {turn.finish_reason}")
        body = Table.grid(padding=(0, 1))
        body.add_column(style="dim", no_wrap=True)
        body.add_column()
        system = "\n".join(m["content"] for m in turn.messages if m["role"] == "system")
        if system:
            body.add_row("system", Text(_clip(system, limit), style="dim italic"))
        seen = "\n".join(f"{m['role']}: {m['content']}" for m in turn.messages if m["role"] != "system")
        body.add_row("saw", Text(_clip(seen, limit)))
        body.add_row("replied", Text(_clip(turn.text, limit), style=color))
        if turn.parse_error:
            body.add_row("parse", Text(f"error: {turn.parse_error}", style="red"))
        else:
            body.add_row("parse", Text(_clip(repr(turn.parsed), 200), style="green"))
        for line in turn_rewards.get(turn.index, []):
            body.add_row("reward", Text(line, style="yellow"))
        parts.append(Panel(body, title=title, title_align="left", border_style=color))
    match_rewards = [r for r in t.rewards if r.turn is None and (role is None or r.role == role)]
    if match_rewards:
        table = Table(title="match rewards", show_edge=False)
        for col in ("reward", "role", "value", "explanation"):
            table.add_column(col)
        for r in match_rewards:
            table.add_row(r.reward, r.role, f"{r.value:g}", r.explanation)
        parts.append(table)
    if t.error:
        parts.append(Text(_clip(t.error, 2000), style="red"))
    return Panel(Group(*parts), title=f"match {t.match_id}", title_align="left")


def match_rewards(t: Transcript) -> dict[str, float]:
    """``{"<reward>/<seat>": mean}`` of one match (a reward scoring several turns of a
    seat is averaged over them; different rewards are never blended)."""
    values: dict[str, list[float]] = {}
    for r in t.rewards:
        values.setdefault(f"{r.reward}/{r.role}", []).append(r.value)
    return {key: sum(v) / len(v) for key, v in values.items()}


def match_table(transcripts: list[Transcript]) -> Table:
    """One row per match: id, arena, status, turns, summary, each (reward, seat) value."""
    table = Table(title="matches")
    for col in ("match", "arena", "status", "turns", "summary", "rewards"):
        table.add_column(col, overflow="fold")
    for t in transcripts:
        rewards = " ".join(f"{k}={v:.2f}" for k, v in match_rewards(t).items())
        table.add_row(t.match_id, t.arena.id, t.status, str(len(t.turns)), _clip(t.summary, 80), rewards)
    return table


def show(console: Console, transcripts: list[Transcript], role: str | None = None, full: bool = False,
         adapters: dict[str, str] | None = None) -> None:
    """Print transcripts (a table when many, full panels when one or a few).

    ``adapters`` maps adapter names to the folders they were loaded from (the run's
    config.toml); they are printed first, so a turn's ``judge v3`` can be traced to its file.
    """
    for name, source in (adapters or {}).items():
        console.print(Text(f"adapter {name}: loaded from {source}", style="dim"))
    if len(transcripts) > 3:
        console.print(match_table(transcripts))
        console.print("[dim]show one match with --match ID[/]")
        return
    for t in transcripts:
        console.print(render_transcript(t, role=role, full=full))
