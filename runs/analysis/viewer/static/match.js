"use strict";
// One match: a lane per role in turn order (what the role saw, what it replied, the parse,
// the binding, sampling, tokens and latency), rewards with explanations, the outcome, the
// replay check and links to the same seed in other iterations. The file 'sparring export
// --format html' writes draws the same elements server-side (runs/analysis/viewer/static_match.py).

SV.binding = function (turn) {
  const adapter = turn.adapter === null || turn.adapter === undefined ? "base" : turn.adapter;
  const version = turn.adapter_version === null || turn.adapter_version === undefined ? "" : `@v${turn.adapter_version}`;
  return `${turn.model}:${adapter}${version}`;
};

SV.turnCard = function (turn, rewards) {
  const system = turn.messages.filter((m) => m.role === "system");
  const seen = turn.messages.filter((m) => m.role !== "system");
  const last = seen.length ? seen[seen.length - 1] : null;
  const tokens = `${turn.prompt_tokens} prompt → ${turn.token_ids.length} generated`;
  return SV.el("article", {class: `turn ${turn.parse_error === null ? "" : "parse-failed"}`, "data-role": turn.role,
    "data-index": turn.index},
    SV.el("header", {},
      SV.el("strong", {}, `#${turn.index} ${turn.role}`),
      SV.el("span", {class: "meta"}, ` ask ${turn.ask}.${turn.sample}`),
      SV.el("div", {class: "badges"},
        SV.el("span", {class: "badge", title: "model:adapter@version"}, SV.binding(turn)),
        SV.el("span", {class: "badge", title: "tokens"}, tokens),
        SV.el("span", {class: "badge", title: "latency"}, `${(turn.latency || 0).toFixed(2)} s`),
        SV.el("span", {class: "badge", title: "finish reason"}, String(turn.finish_reason)))),
    SV.el("details", {class: "seen"},
      SV.el("summary", {}, `saw ${turn.messages.length} message(s)` + (system.length ? " incl. system prompt" : "")),
      turn.messages.map((m) => SV.el("div", {class: `message m-${m.role === "system" ? "system" : "other"}`},
        SV.el("span", {class: "label"}, m.role), SV.pre(m.content)))),
    last ? SV.el("div", {class: "asked"}, SV.el("span", {class: "label"}, "asked"), SV.pre(last.content)) : null,
    SV.el("div", {class: "reply"}, SV.el("span", {class: "label"}, "replied"), SV.pre(turn.text, "reply-text")),
    turn.parse_error === null
      ? SV.el("div", {class: "parse ok"}, SV.el("span", {class: "label"}, "parsed"), SV.pre(SV.json(turn.parsed)))
      : SV.el("div", {class: "parse error"}, SV.el("span", {class: "label"}, "parse error"), SV.pre(turn.parse_error)),
    SV.el("details", {class: "sampling"}, SV.el("summary", {}, "sampling"), SV.pre(SV.json(turn.sampling))),
    rewards.map((r) => SV.el("div", {class: "turn-reward"},
      SV.el("span", {class: "reward-value"}, `${r.reward} = ${SV.fmt(r.value)}`), " ", SV.el("span", {class: "explanation"}, r.explanation))));
};

SV.lanes = function (t) {
  const seats = [...t.arena.roles];
  t.turns.forEach((u) => { if (!seats.includes(u.role)) seats.push(u.role); });
  const grid = SV.el("div", {class: "lanes"});
  grid.style.gridTemplateColumns = `repeat(${seats.length}, minmax(0, 1fr))`;
  seats.forEach((seat, i) => {
    const info = t.roles[seat] || {};
    const head = SV.el("div", {class: "lane-head"}, SV.el("strong", {}, seat),
      info.player !== undefined ? SV.el("div", {class: "meta"}, `player ${info.player}`) : null,
      SV.el("div", {class: "meta"}, `${info.model || ""}:${info.adapter || "base"}`));
    head.style.gridColumn = String(i + 1);
    head.style.gridRow = "1";
    grid.appendChild(head);
  });
  const byTurn = {};
  t.rewards.forEach((r) => { if (r.turn !== null) (byTurn[r.turn] = byTurn[r.turn] || []).push(r); });
  t.turns.forEach((u, k) => {
    const card = SV.turnCard(u, byTurn[u.index] || []);
    card.style.gridColumn = String(seats.indexOf(u.role) + 1);
    card.style.gridRow = String(k + 2);
    grid.appendChild(card);
  });
  return grid;
};

SV.renderMatch = function (detail, options) {
  const opts = options || {};
  const t = detail.transcript;
  const seconds = t.finished_at && t.started_at ? `${(t.finished_at - t.started_at).toFixed(2)} s` : "";
  const rewardRows = t.rewards.map((r) => [r.reward, r.role, r.turn === null ? "match" : `#${r.turn}`,
    SV.el("span", {class: "reward-value"}, SV.fmt(r.value)), SV.el("span", {class: "explanation"}, r.explanation)]);
  const replayBox = SV.el("div", {class: "replay-result", id: "replay-result"});
  const replay = opts.replay ? SV.el("button", {type: "button", id: "replay", onclick: async (ev) => {
    ev.target.disabled = true;
    SV.clear(replayBox).appendChild(SV.el("span", {class: "meta"}, "replaying…"));
    try {
      const result = await opts.replay(t.match_id);
      SV.clear(replayBox).appendChild(result.identical
        ? SV.el("p", {class: "ok"}, "replay identical: the arena reproduces this transcript from its recorded replies")
        : SV.el("div", {class: "error"}, SV.el("p", {}, "replay differs:"),
          SV.el("ul", {}, (result.differences || [result.error]).map((d) => SV.el("li", {}, SV.pre(d))))));
    } catch (err) {
      SV.clear(replayBox).appendChild(SV.el("p", {class: "error"}, String(err)));
    }
    ev.target.disabled = false;
  }}, "replay") : null;
  const others = detail.others && detail.others.length && opts.link
    ? SV.el("nav", {class: "others"}, SV.el("span", {class: "label"}, "same seed in other iterations: "),
      detail.others.map((o) => SV.el("a", {href: opts.link(o.match_id), class: "other"}, `iteration ${o.iteration} (${o.match_id})`)))
    : null;
  const adapters = Object.entries(detail.adapters || {});
  return SV.el("section", {class: "match", id: "match"},
    SV.el("h2", {}, `match ${t.match_id}`),
    SV.el("p", {class: "meta"}, `${t.arena.id} · seed ${t.seed} · iteration ${t.iteration} · ${t.status}` +
      (seconds ? ` · ${seconds}` : "") + ` · run ${t.run_id || "–"}`),
    others,
    t.summary ? SV.el("p", {class: "outcome-summary"}, SV.el("span", {class: "label"}, "outcome"), " ", t.summary) : null,
    SV.el("p", {class: "reward-summary"}, SV.el("span", {class: "label"}, "rewards (mean per reward and seat)"),
      Object.entries(SV.rewardMeans(t)).map(([k, v]) => SV.el("span", {class: "reward-chip"}, `${k} ${SV.fmt(v)}`))),
    replay ? SV.el("div", {class: "replay"}, replay, " runs the arena code this run records on the recorded replies and diffs the transcript", replayBox) : null,
    t.error ? SV.el("div", {class: "error"}, SV.el("h3", {}, "error"), SV.pre(t.error)) : null,
    SV.el("h3", {}, "turns (one lane per role, in turn order)"),
    SV.lanes(t),
    SV.el("h3", {}, "rewards"),
    t.rewards.length ? SV.table(["reward", "seat", "turn", "value", "explanation"], rewardRows, "rewards")
      : SV.el("p", {class: "meta"}, "no rewards stored"),
    SV.el("details", {class: "outcome", open: true}, SV.el("summary", {}, "outcome values"), SV.pre(SV.json(t.outcome))),
    SV.el("details", {}, SV.el("summary", {}, "arena spec and role bindings"), SV.pre(SV.json({arena: t.arena, roles: t.roles}))),
    adapters.length ? SV.el("details", {}, SV.el("summary", {}, "adapter folders"),
      SV.table(["adapter", "loaded from"], adapters)) : null);
};

// {"<reward>/<seat>": mean} of a match, as the terminal's match table shows it (never a blend).
SV.rewardMeans = function (t) {
  const sums = {};
  t.rewards.forEach((r) => { const k = `${r.reward}/${r.role}`; (sums[k] = sums[k] || []).push(r.value); });
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / v.length]));
};
