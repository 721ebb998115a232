"use strict";
// The viewer page: a hash router over the server's JSON API (runs/analysis/viewer/server.py).
//   #/                          the served directories
//   #/s/K                       run page: charts, recipe, config, adapters
//   #/s/K/matches?filters       matches list (filters, sort and page live in the URL)
//   #/s/K/match/ID              one match
//   #/s/K/ratings               ratings of a tournament or league

const FILTERS = ["arena", "iteration", "role", "adapter", "player", "status", "parse", "reward", "min", "max",
  "sort", "page", "per_page"];
const main = () => document.getElementById("main");
const cache = {};

async function api(path, init) {
  const response = await fetch(path, init);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

async function source(key, fresh) {
  if (fresh || !cache[key]) cache[key] = await api(`/api/sources/${key}`);
  return cache[key];
}

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  return {parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || "")};
}

const matchLink = (key, id) => `#/s/${key}/match/${encodeURIComponent(id)}`;
const matchesLink = (key, params) => `#/s/${key}/matches` + (params && [...params].length ? `?${params}` : "");

function nav(src, active) {
  const tab = (name, href) => SV.el("a", {href, class: active === name ? "tab active" : "tab"}, name);
  return SV.el("nav", {class: "tabs"},
    SV.el("a", {href: "#/", class: "tab"}, "all runs"),
    SV.el("span", {class: "source-name"}, src.name),
    tab("run", `#/s/${src.key}`), tab("matches", matchesLink(src.key)),
    src.kind === "tournament" ? tab("ratings", `#/s/${src.key}/ratings`) : null);
}

async function sourcesPage() {
  const list = await api("/api/sources");
  if (list.length === 1) { location.replace(`#/s/${list[0].key}`); return null; }
  return SV.el("section", {}, SV.el("h2", {}, "runs"),
    SV.table(["directory", "kind", ""], list.map((s) => [SV.el("a", {href: `#/s/${s.key}`}, s.name), s.kind,
      SV.el("a", {href: matchesLink(s.key)}, "matches")])));
}

async function runPage(key) {
  const src = await source(key, true);
  const counts = Object.entries(src.counts).map(([k, v]) => `${v} ${k}`).join(", ");
  return SV.el("section", {id: "run"}, nav(src, "run"),
    SV.el("h2", {}, src.name),
    SV.el("p", {class: "meta"}, `${src.kind} directory · matches: ${counts}`),
    src.leagues.map((k) => SV.el("p", {}, SV.el("a", {href: `#/s/${k}/ratings`, class: "league"}, "league ratings"),
      " (its matches: ", SV.el("a", {href: matchesLink(k)}, "list"), ")")),
    src.charts.length ? src.charts.map((group) => SV.el("div", {class: "chart-section"},
      SV.el("h3", {}, group.section), SV.el("div", {class: "charts"}, group.charts.map(SV.chart))))
      : SV.el("p", {class: "meta"}, "no metrics stored"),
    SV.el("h3", {}, "adapters"),
    src.adapters.length ? SV.table(["adapter", "versions saved", "loaded from"], src.adapters.map((a) =>
      [a.name, a.versions.length ? a.versions.map((v) => `v${v}`).join(" ") : "–", a.source || "–"]))
      : SV.el("p", {class: "meta"}, "no adapters saved"),
    src.recipe !== null ? [SV.el("h3", {}, "recipe"), SV.pre(src.recipe, "config")] : null,
    SV.el("details", {}, SV.el("summary", {}, "config.toml"), SV.pre(SV.json(src.config), "config")));
}

function filterForm(src, params) {
  const go = (changes) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) { if (v === "" || v === null) next.delete(k); else next.set(k, v); }
    if (!("page" in changes)) next.delete("page");
    location.hash = matchesLink(src.key, next);
  };
  const select = (name, values, label) => {
    const node = SV.el("select", {name, onchange: (e) => go({[name]: e.target.value})},
      SV.el("option", {value: ""}, `any ${label || name}`),
      values.map((v) => SV.el("option", {value: String(v)}, String(v))));
    node.value = params.get(name) || "";
    return SV.el("label", {}, label || name, node);
  };
  const number = (name) => {
    const node = SV.el("input", {type: "number", step: "any", name, value: params.get(name) || "",
      onchange: (e) => go({[name]: e.target.value})});
    return SV.el("label", {}, name, node);
  };
  const o = src.options;
  const sort = SV.el("select", {name: "sort", onchange: (e) => go({sort: e.target.value === "stored" ? "" : e.target.value})},
    [["stored", "stored order"], ["iteration", "iteration"], ["reward_desc", "reward, high first"], ["reward_asc", "reward, low first"]]
      .map(([v, l]) => SV.el("option", {value: v}, l)));
  sort.value = params.get("sort") || "stored";
  const parse = SV.el("select", {name: "parse", onchange: (e) => go({parse: e.target.value})},
    SV.el("option", {value: ""}, "any"), SV.el("option", {value: "failed"}, "some failed"), SV.el("option", {value: "ok"}, "none failed"));
  parse.value = params.get("parse") || "";
  return SV.el("form", {class: "filters", onsubmit: (e) => e.preventDefault()},
    o.arena.length > 1 ? select("arena", o.arena) : null,
    select("iteration", o.iteration), select("role", o.role), select("adapter", o.adapter, "adapter version"),
    o.player.length ? select("player", o.player) : null,
    select("status", o.status), SV.el("label", {}, "parse failures", parse),
    select("reward", o.reward, "reward"), number("min"), number("max"), SV.el("label", {}, "sort", sort),
    SV.el("a", {href: matchesLink(src.key), class: "reset"}, "clear filters"));
}

async function matchesPage(key, params) {
  const src = await source(key);
  if (params.get("sort") && params.get("sort").startsWith("reward") && !params.get("reward") && src.options.reward.length) {
    params.set("reward", src.options.reward[0]);
  }
  const query = new URLSearchParams([...params].filter(([k]) => FILTERS.includes(k)));
  const section = SV.el("section", {id: "matches"}, nav(src, "matches"), filterForm(src, params));
  let page;
  try {
    page = await api(`/api/sources/${key}/matches?${query}`);
  } catch (err) {
    section.appendChild(SV.el("p", {class: "error", id: "query-error"}, err.message));
    return section;
  }
  const rows = page.rows.map((r) => SV.el("tr", {"data-match": r.match_id},
    SV.el("td", {class: "id"}, SV.el("a", {href: matchLink(key, r.match_id)}, r.match_id)),
    SV.el("td", {}, String(r.iteration)), SV.el("td", {}, r.arena), SV.el("td", {}, String(r.seed)),
    SV.el("td", {class: r.status === "finished" ? "" : "error"}, r.status),
    SV.el("td", {}, String(r.turns)), SV.el("td", {class: r.parse_failures ? "error" : ""}, String(r.parse_failures)),
    SV.el("td", {class: "rewards-cell"}, Object.entries(r.rewards).map(([k, v]) =>
      SV.el("span", {class: params.get("reward") === k ? "reward-chip chosen" : "reward-chip"}, `${k} ${SV.fmt(v)}`))),
    src.options.player.length ? SV.el("td", {}, Object.entries(r.players).map(([s, p]) => `${s}: ${p}`).join(", ")) : null,
    SV.el("td", {class: "summary"}, r.summary)));
  const headers = ["match", "iter.", "arena", "seed", "status", "turns", "unparsed", "rewards (reward/seat mean)",
    src.options.player.length ? "players" : null, "outcome"].filter((h) => h !== null);
  const pager = (label, target, enabled) => SV.el("button", {type: "button", disabled: !enabled, class: "pager",
    onclick: () => { const next = new URLSearchParams(params); next.set("page", String(target)); location.hash = matchesLink(key, next); }}, label);
  section.append(
    SV.el("p", {class: "meta"}, SV.el("span", {id: "total"}, String(page.total)), ` matches · page ${page.page} of ${page.pages}` +
      ` · query ${page.query_ms} ms`),
    SV.el("div", {class: "table-wrap"}, SV.el("table", {class: "matches"},
      SV.el("thead", {}, SV.el("tr", {}, headers.map((h) => SV.el("th", {}, h)))), SV.el("tbody", {}, rows))),
    SV.el("div", {class: "pagination"}, pager("← previous", page.page - 1, page.page > 1),
      pager("next →", page.page + 1, page.page < page.pages)));
  return section;
}

async function matchPage(key, id) {
  const src = await source(key);
  const detail = await api(`/api/sources/${key}/matches/${encodeURIComponent(id)}`);
  const replay = (matchId) => api(`/api/sources/${key}/matches/${encodeURIComponent(matchId)}/replay`,
    {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"});
  const whatif = (matchId, body) => api(`/api/sources/${key}/matches/${encodeURIComponent(matchId)}/whatif`,
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const link = (m) => matchLink(key, m);
  return SV.el("section", {}, nav(src, "match"), SV.renderMatch(detail, {replay, link}),
    SV.renderBranches(detail, {whatif, link}));
}

async function ratingsPage(key) {
  const src = await source(key);
  const section = SV.el("section", {id: "ratings"}, nav(src, "ratings"), SV.el("h2", {}, `ratings of ${src.name}`));
  const r = await api(`/api/sources/${key}/ratings`);
  if (!r.available) { section.appendChild(SV.el("p", {class: "meta"}, r.reason)); return section; }
  section.append(
    SV.el("p", {class: "meta"}, `${r.games} games; BT: Bradley–Terry MLE on the Elo scale with a ${r.bootstrap}-resample ` +
      `bootstrap 95% interval; Elo: online, K=16; mu/sigma: openskill` + (r.no_result ? `; ${r.no_result} match(es) without a result` : "")),
    SV.table(["player", "BT", "95% CI", "Elo", "mu", "sigma", "games", "W", "D", "L"], r.ratings.map((p) =>
      [p.player, p.bt.toFixed(0), `${p.bt_low.toFixed(0)}–${p.bt_high.toFixed(0)}`, p.elo.toFixed(0), p.mu.toFixed(2),
        p.sigma.toFixed(2), String(p.games), String(p.wins), String(p.draws), String(p.losses)]), "ratings-table"),
    firstMover(r.first_mover_advantage),
    SV.el("h3", {}, "win matrix (row's score rate against column)"), heatmap(r.win_matrix),
    SV.el("h3", {}, "preference cycles"),
    r.cycle_text.length ? SV.el("ul", {class: "cycles"}, r.cycle_text.map((c) => SV.el("li", {}, c)))
      : SV.el("p", {class: "meta"}, "none: the pairwise majority relation is transitive"));
  return section;
}

// BT's seat term: what sitting first adds to a player's rating; the players' BT ratings are net of it.
function firstMover(fm) {
  if (!fm || typeof fm.bt !== "number") return SV.el("p", {class: "meta"}, "first-mover advantage: not fitted");
  const signed = (x) => { const s = x.toFixed(0); return s.startsWith("-") ? s : `+${s}`; };
  const interval = typeof fm.low === "number" && typeof fm.high === "number"
    ? ` (95% CI ${signed(fm.low)} to ${signed(fm.high)})` : "";
  return SV.el("p", {class: "first-mover"}, `first-mover advantage (BT seat term): ${signed(fm.bt)} rating points${interval}`);
}

function heatmap(m) {
  const n = m.players.length;
  const rows = m.players.map((a, i) => SV.el("tr", {}, SV.el("th", {}, a), m.players.map((b, j) => {
    if (i === j || !m.games[i][j]) return SV.el("td", {class: "empty"}, i === j ? "" : "–");
    const rate = m.points[i][j] / m.games[i][j];
    const cell = SV.el("td", {title: `${a} vs ${b}: ${m.points[i][j]} / ${m.games[i][j]}`}, `${Math.round(rate * 100)}%`);
    cell.style.background = `hsl(${Math.round(rate * 120)}, 70%, ${85 - 20 * Math.abs(rate - 0.5)}%)`;
    return cell;
  })));
  return SV.el("table", {class: "heatmap"}, SV.el("thead", {}, SV.el("tr", {}, SV.el("th", {}, n ? "row \\ column" : ""),
    m.players.map((p) => SV.el("th", {}, p)))), SV.el("tbody", {}, rows));
}

let renders = 0;

async function render() {
  const mine = ++renders;  // a slow page must not replace the one asked for after it
  const {parts, params} = route();
  const root = main();
  let page;
  try {
    if (parts[0] !== "s") page = await sourcesPage();
    else if (parts.length === 2) page = await runPage(parts[1]);
    else if (parts[2] === "matches") page = await matchesPage(parts[1], params);
    else if (parts[2] === "match") page = await matchPage(parts[1], parts.slice(3).join("/"));
    else if (parts[2] === "ratings") page = await ratingsPage(parts[1]);
    else page = SV.el("p", {class: "error"}, `no page ${location.hash}`);
  } catch (err) {
    page = SV.el("p", {class: "error", id: "page-error"}, err.message);
  }
  if (page === null || mine !== renders) return;
  SV.clear(root).appendChild(page);
  root.setAttribute("data-ready", location.hash);
}

window.addEventListener("hashchange", render);
window.addEventListener("DOMContentLoaded", render);
