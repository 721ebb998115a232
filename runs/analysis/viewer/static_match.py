"""One match as plain HTML, rendered here rather than by the page's scripts.

The file ``sparring export --format html`` writes is read in mail clients, archives and
readers that run no JavaScript, so the match is drawn on the server: the same lanes,
turn cards, rewards and outcome as the viewer's ``static/match.js`` (same elements and
classes, so the viewer's style sheet applies), as inert HTML. Every string from the
store goes through :func:`html.escape`, so model output is text, never markup; the lane
grid's column and row of each card are classes of a generated style block, since a
``style`` attribute would need the Content-Security-Policy to allow inline styles.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any


def _text(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _fmt(value: Any) -> str:
    """A number as the viewer shows it (``SV.fmt``): integers whole, others to 3 places."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _text(value)
    if isinstance(value, int) or (math.isfinite(value) and value.is_integer()):
        return str(int(value))
    if abs(value) >= 1000 or (abs(value) < 0.001 and value != 0):
        return f"{value:.3g}"
    return f"{value:.3f}"


def _pre(value: Any, cls: str = "") -> str:
    return f'<pre class="text {cls}">{_text(value)}</pre>'


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _label(text: str) -> str:
    return f'<span class="label">{_text(text)}</span>'


def binding(turn: dict[str, Any]) -> str:
    """``model:adapter@vN`` of a turn (``base`` without an adapter)."""
    adapter = "base" if turn.get("adapter") is None else turn["adapter"]
    version = "" if turn.get("adapter_version") is None else f"@v{turn['adapter_version']}"
    return f"{turn.get('model')}:{adapter}{version}"


def _turn_card(turn: dict[str, Any], rewards: list[dict[str, Any]], column: int, row: int) -> str:
    messages = turn.get("messages") or []
    system = [m for m in messages if m.get("role") == "system"]
    seen = [m for m in messages if m.get("role") != "system"]
    failed = turn.get("parse_error") is not None
    tokens = f"{turn.get('prompt_tokens')} prompt → {len(turn.get('token_ids') or [])} generated"
    parts = [
        f'<article class="turn {"parse-failed" if failed else ""} col-{column} row-{row}" '
        f'data-role="{_text(turn.get("role"))}" data-index="{_text(turn.get("index"))}">',
        f'<header><strong>#{_text(turn.get("index"))} {_text(turn.get("role"))}</strong>'
        f'<span class="meta"> ask {_text(turn.get("ask"))}.{_text(turn.get("sample"))}</span>'
        '<div class="badges">'
        f'<span class="badge" title="model:adapter@version">{_text(binding(turn))}</span>'
        f'<span class="badge" title="tokens">{_text(tokens)}</span>'
        f'<span class="badge" title="latency">{float(turn.get("latency") or 0):.2f} s</span>'
        f'<span class="badge" title="finish reason">{_text(turn.get("finish_reason"))}</span>'
        "</div></header>",
        f'<details class="seen"><summary>saw {len(messages)} message(s)'
        f'{" incl. system prompt" if system else ""}</summary>',
        *(f'<div class="message m-{"system" if m.get("role") == "system" else "other"}">'
          f'{_label(m.get("role", ""))}{_pre(m.get("content"))}</div>' for m in messages),
        "</details>",
    ]
    if seen:
        parts.append(f'<div class="asked">{_label("asked")}{_pre(seen[-1].get("content"))}</div>')
    parts.append(f'<div class="reply">{_label("replied")}{_pre(turn.get("text"), "reply-text")}</div>')
    if failed:
        parts.append(f'<div class="parse error">{_label("parse error")}{_pre(turn.get("parse_error"))}</div>')
    else:
        parts.append(f'<div class="parse ok">{_label("parsed")}{_pre(_json(turn.get("parsed")))}</div>')
    parts.append(f'<details class="sampling"><summary>sampling</summary>{_pre(_json(turn.get("sampling")))}</details>')
    parts += [f'<div class="turn-reward"><span class="reward-value">{_text(r["reward"])} = {_fmt(r["value"])}</span> '
              f'<span class="explanation">{_text(r.get("explanation"))}</span></div>' for r in rewards]
    return "".join(parts) + "</article>"


def _lanes(t: dict[str, Any]) -> tuple[str, int, int]:
    seats = list(t["arena"]["roles"])
    for turn in t["turns"]:
        if turn["role"] not in seats:
            seats.append(turn["role"])
    parts = [f'<div class="lanes cols-{len(seats)}">']
    for i, seat in enumerate(seats, 1):
        info = t.get("roles", {}).get(seat) or {}
        player = f'<div class="meta">player {_text(info["player"])}</div>' if "player" in info else ""
        parts.append(f'<div class="lane-head col-{i} row-1"><strong>{_text(seat)}</strong>{player}'
                     f'<div class="meta">{_text(info.get("model") or "")}:{_text(info.get("adapter") or "base")}</div></div>')
    by_turn: dict[int, list[dict[str, Any]]] = {}
    for r in t["rewards"]:
        if r.get("turn") is not None:
            by_turn.setdefault(r["turn"], []).append(r)
    for k, turn in enumerate(t["turns"]):
        parts.append(_turn_card(turn, by_turn.get(turn["index"], []), seats.index(turn["role"]) + 1, k + 2))
    return "".join(parts) + "</div>", len(seats), len(t["turns"]) + 1


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def reward_means(t: dict[str, Any]) -> dict[str, float]:
    """``{"<reward>/<seat>": mean}`` of a match, as the viewer's reward chips show it."""
    sums: dict[str, list[float]] = {}
    for r in t["rewards"]:
        sums.setdefault(f"{r['reward']}/{r['role']}", []).append(r["value"])
    return {k: sum(v) / len(v) for k, v in sums.items()}


def render_match(detail: dict[str, Any]) -> tuple[str, str]:
    """One match (``detail`` as :func:`~sparring.runs.analysis.viewer.queries.match_detail` gives it) as
    inert HTML, and the style rules its lane grid needs; no script is needed to read it."""
    t = detail["transcript"]
    seconds = f"{t['finished_at'] - t['started_at']:.2f} s" if t.get("finished_at") and t.get("started_at") else ""
    meta = (f"{t['arena']['id']} · seed {t['seed']} · iteration {t['iteration']} · {t['status']}"
            + (f" · {seconds}" if seconds else "") + f" · run {t.get('run_id') or '–'}")
    lanes, columns, rows = _lanes(t)
    reward_rows = [[_text(r["reward"]), _text(r["role"]), "match" if r.get("turn") is None else f"#{r['turn']}",
                    f'<span class="reward-value">{_fmt(r["value"])}</span>',
                    f'<span class="explanation">{_text(r.get("explanation"))}</span>'] for r in t["rewards"]]
    chips = "".join(f'<span class="reward-chip">{_text(k)} {_fmt(v)}</span>' for k, v in reward_means(t).items())
    adapters = list((detail.get("adapters") or {}).items())
    parts = [
        f'<section class="match" id="match"><h2>match {_text(t["match_id"])}</h2>',
        f'<p class="meta">{_text(meta)}</p>',
        f'<p class="outcome-summary">{_label("outcome")} {_text(t["summary"])}</p>' if t.get("summary") else "",
        f'<p class="reward-summary">{_label("rewards (mean per reward and seat)")}{chips}</p>',
        f'<div class="error"><h3>error</h3>{_pre(t["error"])}</div>' if t.get("error") else "",
        "<h3>turns (one lane per role, in turn order)</h3>", lanes,
        "<h3>rewards</h3>",
        _table(["reward", "seat", "turn", "value", "explanation"], reward_rows, "rewards") if reward_rows
        else '<p class="meta">no rewards stored</p>',
        f'<details class="outcome" open><summary>outcome values</summary>{_pre(_json(t.get("outcome")))}</details>',
        f'<details><summary>arena spec and role bindings</summary>'
        f'{_pre(_json({"arena": t["arena"], "roles": t.get("roles")}))}</details>',
        (f'<details><summary>adapter folders</summary>'
         f'{_table(["adapter", "loaded from"], [[_text(a), _text(p)] for a, p in adapters])}</details>') if adapters else "",
        "</section>",
    ]
    grid = [f".lanes.cols-{columns} {{ grid-template-columns: repeat({columns}, minmax(0, 1fr)); }}"]
    grid += [f".col-{i} {{ grid-column: {i}; }}" for i in range(1, columns + 1)]
    grid += [f".row-{i} {{ grid-row: {i}; }}" for i in range(1, rows + 1)]
    return "".join(parts), "\n".join(grid) + "\n"
