"""Render transcripts in the terminal with rich: turns, prompts, replies, parses, rewards.

Each turn shows everything its role saw, system prompt included (two seats that differ
only in their system prompt look different), what it replied, the parse and its rewards.
The match list shows every (reward, seat) of a match separately, never a blend of a
seat's different rewards.

A run's held-out figures follow its matches (:func:`evaluation`): each value with its 95%
interval and item counts on one line (``eval/solver_accuracy 0.431 [0.389, 0.474] n=512
(512 distinct)``), never the interval's companion keys as rows of their own; the test
split (``eval/``), the validation split (``validation/``) and the validation-selected
iteration's test figures (``select/``) each under their own heading; each action of the
collapse guard (``guard/...``) on a line of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sparring.arenas.transcript import Transcript
from sparring.rewards.metrics import is_interval_key

_COLORS = ["cyan", "magenta", "green", "yellow", "blue", "red"]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" … (+{len(text) - limit} chars)"


def render_transcript(transcript: Transcript, role: str | None = None, full: bool = False) -> Panel:
    """A rich panel for one transcript (optionally only one role's turns)."""
    limit = 10_000 if full else 600
    colors = {seat: _COLORS[i % len(_COLORS)] for i, seat in enumerate(transcript.arena.roles)}
    parts: list = []
    header = Text()
    header.append(f"{transcript.arena.id}", style="bold")
    header.append(f"  seed={transcript.seed}  iteration={transcript.iteration}  status={transcript.status}")
    parts.append(header)
    if transcript.summary:
        parts.append(Text(f"outcome: {transcript.summary}", style="italic"))
    turn_rewards: dict[int, list[str]] = {}
    for r in transcript.rewards:
        if r.turn is not None:
            turn_rewards.setdefault(r.turn, []).append(f"{r.reward}={r.value:g} ({r.explanation})")
    for turn in transcript.turns:
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
    match_rewards = [r for r in transcript.rewards if r.turn is None and (role is None or r.role == role)]
    if match_rewards:
        table = Table(title="match rewards", show_edge=False)
        for col in ("reward", "role", "value", "explanation"):
            table.add_column(col)
        for r in match_rewards:
            table.add_row(r.reward, r.role, f"{r.value:g}", r.explanation)
        parts.append(table)
    if transcript.error:
        parts.append(Text(_clip(transcript.error, 2000), style="red"))
    return Panel(Group(*parts), title=f"match {transcript.match_id}", title_align="left")


def match_rewards(transcript: Transcript) -> dict[str, float]:
    """``{"<reward>/<seat>": mean}`` of one match (a reward scoring several turns of a
    seat is averaged over them; different rewards are never blended)."""
    values: dict[str, list[float]] = {}
    for r in transcript.rewards:
        values.setdefault(f"{r.reward}/{r.role}", []).append(r.value)
    return {key: sum(v) / len(v) for key, v in values.items()}


def match_table(transcripts: list[Transcript]) -> Table:
    """One row per match: id, arena, status, turns, summary, each (reward, seat) value."""
    table = Table(title="matches")
    for col in ("match", "arena", "status", "turns", "summary", "rewards"):
        table.add_column(col, overflow="fold")
    for transcript in transcripts:
        rewards = " ".join(f"{k}={v:.2f}" for k, v in match_rewards(transcript).items())
        table.add_row(transcript.match_id, transcript.arena.id, transcript.status, str(len(transcript.turns)), _clip(transcript.summary, 80), rewards)
    return table


SPLITS = (("eval/", "held-out test split (eval/)"), ("validation/", "held-out validation split (validation/)"))
"""Key prefix and heading of each split's figures, in the order shown."""


def figure_line(key: str, values: Mapping[str, float]) -> str:
    """``key`` with its interval and counts, when ``values`` holds them:
    ``eval/solver_accuracy 0.431 [0.389, 0.474] n=512 (512 distinct)``."""
    value = values[key]
    low, high = values.get(f"{key}/ci_low"), values.get(f"{key}/ci_high")
    if low is None or high is None:
        return f"{key} {value:.4g}"
    line = f"{key} {value:.3f} [{low:.3f}, {high:.3f}]"
    n_items, n_distinct = values.get(f"{key}/n_items"), values.get(f"{key}/n_distinct")
    if n_items is not None:
        line += f" n={n_items:.0f}"
    if n_distinct is not None:
        line += f" ({n_distinct:.0f} distinct)"
    return line


def _when(iteration: int) -> str:
    # the store's iteration -1 is the evaluation before training; iteration k ends training iteration k + 1
    return "before training" if iteration < 0 else f"after iteration {iteration + 1}"


def guard_lines(by_iteration: Mapping[int, Mapping[str, float]]) -> list[Text]:
    """One line per action of the collapse guard (:mod:`sparring.runs.training.guard`): when, what,
    the metrics that crossed and the learning-rate scale after it."""
    lines = []
    for iteration, values in sorted(by_iteration.items()):
        action = "rolled back" if values.get("guard/rollback") else "stopped training" if values.get("guard/stop") else None
        if action is None:
            continue
        crossed = ", ".join(f"{k[len('guard/crossed/'):]}={v:.3g}" for k, v in values.items()
                            if k.startswith("guard/crossed/"))
        lines.append(Text(f"collapse guard {_when(iteration)}: {action} ({crossed}); "
                          f"learning rate x{values.get('guard/lr_scale', 1.0):.3g}", style="bold yellow"))
    return lines


def evaluation(rows: Sequence[tuple[int, str, float]]) -> list[Text]:
    """Lines of a run's held-out figures from its stored ``(iteration, key, value)`` metrics
    (see the module docs); empty when the run stored none.

    Iterations are numbered as training counts them (``after iteration 2``, the run's
    ``iteration 2/N`` line), as is ``select/iteration``; the selection block shows the
    latest stored one.
    """
    by_iteration: dict[int, dict[str, float]] = {}
    for iteration, key, value in rows:
        by_iteration.setdefault(iteration, {})[key] = value
    lines: list[Text] = []
    for prefix, heading in SPLITS:
        block: list[Text] = []
        for iteration, values in sorted(by_iteration.items()):
            keys = [k for k in values if k.startswith(prefix) and not is_interval_key(k)]
            if keys:
                block.append(Text(f"  {_when(iteration)}", style="dim"))
                block += [Text(f"    {figure_line(k, values)}") for k in keys]
        if block:
            lines += [Text(heading, style="bold"), *block]
    lines += guard_lines(by_iteration)
    selected = [values for _, values in sorted(by_iteration.items()) if "select/iteration" in values]
    if selected:
        values = selected[-1]
        label = int(values["select/iteration"])
        lines.append(Text(f"validation-selected iteration {label}"
                          f"{' (before training)' if label == 0 else ''} (select/): validation "
                          f"{values.get('select/validation', float('nan')):.3f}, "
                          f"{values.get('select/evaluations_since_best', 0):.0f} later evaluation(s) without a better one",
                          style="bold"))
        lines += [Text(f"    {figure_line(k, values)}") for k in values
                  if k.startswith("select/eval/") and not is_interval_key(k)]
    return lines


def show(console: Console, transcripts: list[Transcript], role: str | None = None, full: bool = False,
         adapters: dict[str, str] | None = None, metrics: Sequence[tuple[int, str, float]] = ()) -> None:
    """Print transcripts (a table when many, full panels when one or a few), then the
    run's held-out figures from ``metrics`` (:func:`evaluation`).

    ``adapters`` maps adapter names to the folders they were loaded from (the run's
    config.toml); they are printed first, so a turn's ``judge v3`` can be traced to its file.
    """
    for name, source in (adapters or {}).items():
        console.print(Text(f"adapter {name}: loaded from {source}", style="dim"))
    if len(transcripts) > 3:
        console.print(match_table(transcripts))
        console.print("[dim]show one match with --match ID[/]")
    else:
        for transcript in transcripts:
            console.print(render_transcript(transcript, role=role, full=full))
    for line in evaluation(metrics):
        console.print(line, soft_wrap=True)
