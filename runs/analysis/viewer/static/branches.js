"use strict";
// whatif branches on the match page: a branch beside its original (columns from the branch
// turn, the first differing turn marked, reward deltas), the list of a match's branches, and
// a form that starts a branch (a same-origin JSON POST, as replay). Text goes through SV.el.

SV.turnCell = function (turn) {
  if (!turn) return SV.el("td", {class: "meta"}, "(no turn)");
  return SV.el("td", {}, SV.el("div", {class: "meta"}, `${turn.role} · ${SV.binding(turn)}`), SV.pre(turn.text));
};

SV.branchBeside = function (branch, t, link) {
  const o = branch.original;
  const first = branch.first_difference;
  const rows = [];
  for (let i = branch.from_turn; i < Math.max(o.turns.length, t.turns.length); i++) {
    const marked = i === first;
    rows.push(SV.el("tr", {class: marked ? "first-diff" : null, id: marked ? "first-diff" : null},
      SV.el("th", {}, `#${i}`, marked ? SV.el("div", {class: "diff-mark"}, "first difference") : null),
      SV.turnCell(o.turns[i]), SV.turnCell(t.turns[i])));
  }
  const deltas = branch.rewards.map((r) => [r.key, SV.fmt(r.original), SV.fmt(r.branch),
    r.original === null || r.branch === null ? "–" : SV.el("span", {class: "reward-value"},
      `${r.branch - r.original >= 0 ? "+" : ""}${SV.fmt(r.branch - r.original)}`)]);
  return SV.el("section", {class: "branch", id: "branch"},
    SV.el("h3", {}, "whatif branch of ", SV.el("a", {href: link(o.match_id)}, o.match_id), ` from turn ${branch.from_turn}`),
    SV.el("p", {class: "meta"}, `swaps: ${branch.swaps.join(", ") || "none"} · sample ${branch.sample} · ` +
      (branch.branch_seed === null ? "recorded seeds" : `branch seed ${branch.branch_seed}`)),
    SV.el("p", {class: first === null ? "ok" : "diff-note"},
      first === null ? "no turn differs from the original" : `first differing turn: #${first}`),
    SV.el("table", {class: "beside"},
      SV.el("thead", {}, SV.el("tr", {}, SV.el("th", {}, "turn"), SV.el("th", {}, `original ${o.match_id}`),
        SV.el("th", {}, `branch ${t.match_id}`))),
      SV.el("tbody", {}, rows)),
    SV.el("h4", {}, "rewards (branch − original)"),
    SV.table(["reward/seat", "original", "branch", "delta"], deltas, "reward-deltas"));
};

SV.branchList = function (branches, link) {
  if (!branches.length) return SV.el("p", {class: "meta"}, "no whatif branches of this match yet");
  return SV.table(["branch", "from turn", "swaps", "sample", "first difference", "outcome"],
    branches.map((b) => [SV.el("a", {href: link(b.match_id), class: "branch-link"}, b.match_id), String(b.from_turn),
      b.swaps.join(", ") || "none", String(b.sample), b.first_difference === null ? "none" : `#${b.first_difference}`,
      b.summary || b.status]), "branches");
};

SV.branchForm = function (t, whatif, link) {
  const fromTurn = SV.el("input", {type: "number", min: "0", value: "0", id: "whatif-from", size: "4"});
  const swaps = SV.el("input", {type: "text", id: "whatif-swaps", size: "48", placeholder: "judge.adapter=judge@v0, judge.temperature=0"});
  const samples = SV.el("input", {type: "number", min: "1", max: "16", value: "1", id: "whatif-samples", size: "3"});
  const box = SV.el("div", {class: "replay-result", id: "whatif-result"});
  const button = SV.el("button", {type: "button", id: "whatif", onclick: async (ev) => {
    ev.target.disabled = true;
    SV.clear(box).appendChild(SV.el("span", {class: "meta"}, "branching…"));
    try {
      const result = await whatif(t.match_id, {from_turn: Number(fromTurn.value), samples: Number(samples.value),
        swaps: swaps.value.split(/[,\n]/).map((s) => s.trim()).filter((s) => s)});
      SV.clear(box).appendChild(SV.el("p", {class: "ok"}, `${result.branches.length} branch(es), ${result.played} played now: `,
        result.branches.map((b) => SV.el("a", {href: link(b), class: "new-branch"}, b, " "))));
    } catch (err) {
      SV.clear(box).appendChild(SV.el("p", {class: "error"}, String(err)));
    }
    ev.target.disabled = false;
  }}, "start branch");
  return SV.el("div", {class: "whatif-form"}, SV.el("label", {}, "from turn ", fromTurn), " ",
    SV.el("label", {}, "swaps ", swaps), " ", SV.el("label", {}, "samples ", samples), " ", button,
    SV.el("span", {class: "meta"}, " replays the turns before it as recorded and plays on with the swapped seats (runs the arena code this run records)"),
    box);
};

SV.renderBranches = function (detail, opts) {
  const t = detail.transcript;
  return SV.el("section", {class: "branches", id: "branches"},
    detail.branch ? SV.branchBeside(detail.branch, t, opts.link) : null,
    SV.el("h3", {}, "whatif branches"),
    SV.branchList(detail.branches || [], opts.link),
    detail.branch || !opts.whatif ? null : SV.branchForm(t, opts.whatif, opts.link));
};
