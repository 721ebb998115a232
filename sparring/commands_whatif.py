"""``sparring whatif``: branch stored matches with swapped seats and report the effects."""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import shlex
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

WHERE_KEYS = ("iteration", "arena", "status", "role", "match")


def add_whatif(add: Any) -> None:
    """Register the ``whatif`` subcommand (``add`` makes a subparser, as in :mod:`sparring.cli`)."""
    w = add("whatif", help="branch stored matches from a turn with swapped seats (adapter, model, prompt, "
                           "sampling) and report reward effects with paired intervals and outcome flips")
    w.add_argument("dir", help="run directory")
    w.add_argument("--match", "-m", action="append", default=[], help="match id to branch (repeatable)")
    w.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help=f"select stored matches ({', '.join(WHERE_KEYS)}), e.g. iteration=5, match='i5-*' (a glob on the "
                        "match id: leaves out eval- matches) (repeatable)")
    w.add_argument("--from-turn", type=int, default=0, metavar="N",
                   help="replay turns before N as recorded, play from turn N on (default 0)")
    w.add_argument("--swap", action="append", default=[], metavar="SEAT.FIELD=VALUE",
                   help="seat change from the branch turn on: SEAT.adapter=NAME@vK (or base), SEAT.model=SOURCE, "
                        "SEAT.system_prompt=..., SEAT.temperature=0.0, ... (repeatable; none: the seats as recorded)")
    w.add_argument("--baseline", action="append", default=None, metavar="SEAT.FIELD=VALUE",
                   help="compare against branches with these swaps (same seeds) instead of the originals (repeatable)")
    w.add_argument("--samples", "-k", type=int, default=1, help="branches per match, each with its own seed (default 1)")
    w.add_argument("--seed", type=int, default=0, help="seeds the branch seeds (default 0)")
    w.add_argument("--recorded-seeds", action="store_true",
                   help="sample with the recorded row seeds (one sample; from turn 0 with no swap: the original again)")
    w.add_argument("--pairs", metavar="FILE",
                   help="also write preference pairs by intervention as JSONL (TRL's DPO layout with provenance): "
                        "per branch, the first differing reply of a swapped seat against the original's, the one "
                        "whose match scored higher under --pairs-reward chosen")
    w.add_argument("--pairs-reward", metavar="NAME", help="the reward that picks the chosen reply (with --pairs)")
    w.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE ('-': stdout only)")
    w.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    w.set_defaults(fn=cmd_whatif)


def select(store: Any, matches: list[str], where: list[str]) -> list[str]:
    """Match ids named by ``--match`` or selected by ``--where KEY=VALUE`` (one line on a bad key)."""
    if matches and where:
        raise ValueError("give --match IDs or --where KEY=VALUE, not both")
    if matches:
        for m in matches:
            store.get(m)  # an unknown id is a one-line KeyError naming stored ones
        return matches
    if not where:
        raise ValueError("name the matches to branch: --match ID, or --where iteration=N (--where status=finished "
                         "for all)")
    filters: dict[str, Any] = {}
    pattern = "*"
    for item in where:
        key, eq, value = item.partition("=")
        if not eq or key not in WHERE_KEYS:
            raise ValueError(f"--where {item!r} must look like KEY=VALUE with KEY one of {', '.join(WHERE_KEYS)}")
        if key == "match":
            pattern = value
        elif key == "iteration":
            try:
                filters[key] = int(value)
            except ValueError:
                raise ValueError(f"--where {item!r}: iteration must be a whole number") from None
        else:
            filters[key] = value
    ids = [m for m in store.match_ids(**filters) if fnmatch.fnmatchcase(m, pattern)]
    if not ids:
        raise ValueError(f"--where {' '.join(where)} selects no stored match of {store.path.parent}")
    return ids


def command_line(args: argparse.Namespace) -> str:
    """The ``sparring whatif`` command that reproduces this report (printed and kept in the JSON)."""
    parts = ["sparring", "whatif", args.dir]
    parts += [f"--match={m}" for m in args.match] + [f"--where={w}" for w in args.where]
    parts += [f"--from-turn={args.from_turn}", *(f"--swap={s}" for s in args.swap)]
    parts += [f"--baseline={s}" for s in args.baseline or []]
    parts += [f"--samples={args.samples}", "--recorded-seeds" if args.recorded_seeds else f"--seed={args.seed}"]
    if args.pairs:
        parts += [f"--pairs={args.pairs}", f"--pairs-reward={args.pairs_reward}"]
    if args.json and args.json != "-":
        parts.append(f"--json={args.json}")
    return " ".join(shlex.quote(p) for p in parts)


def _num(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.3f}"


def effects_table(report: dict[str, Any]) -> Table:
    """Per (reward, seat) and metric: original, branch, difference with its 95% interval, matches."""
    against = "baseline" if report["baseline"] is not None else "original"
    table = Table(title=f"effect of {', '.join(report['swaps']) or 'no swap'} from turn {report['from_turn']} "
                        f"(branch - {against}, paired over matches)")
    for col in ("reward/seat", against, "branch", "difference", "95% interval", "matches"):
        table.add_column(col, justify="left" if col == "reward/seat" else "right")
    for key, e in report["diff"]["effects"].items():
        table.add_row(escape(key), _num(e["original"]), _num(e["branch"]), _num(e["difference"]),
                      f"[{_num(e['ci_low'])}, {_num(e['ci_high'])}]", f"{e['n_items']:.0f}")
    return table


def flips_table(report: dict[str, Any]) -> Table:
    """Per outcome key: branches and matches whose value changed."""
    table = Table(title="outcome flips (value differs from the original's)")
    for col in ("outcome", "branches changed", "matches changed", "most frequent changes (original -> branch)"):
        table.add_column(col, justify="right" if "changed" in col else "left")
    for key, f in sorted(report["diff"]["flips"].items(), key=lambda kv: -kv[1]["branches_changed"]):
        top = sorted(f["changes"].items(), key=lambda kv: -kv[1])[:3]
        table.add_row(escape(key), f"{f['branches_changed']}/{f['branches']}", f"{f['matches_changed']}/{f['matches']}",
                      escape(", ".join(f"{change} ×{n}" for change, n in top)))
    return table


def cmd_whatif(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.analysis.whatif import branch_id, parse_swap, whatif, whatif_key
    from sparring.runs.progress import progress_bar
    from sparring.runs.storage.rundir import RunDir

    seed = None if args.recorded_seeds else args.seed
    if bool(args.pairs) != bool(args.pairs_reward):
        raise ValueError("--pairs FILE and --pairs-reward NAME go together (the reward picks the chosen reply)")
    run = RunDir.existing(args.dir)
    with run.open_store() as store:  # opening migrates an older store (adds the branches table)
        ids = select(store, args.match, args.where)
        swaps = [parse_swap(s) for s in args.swap]
        baseline = None if args.baseline is None else [parse_swap(s) for s in args.baseline]
        keys = [whatif_key(args.from_turn, swaps, seed)]
        if baseline is not None:
            keys.append(whatif_key(args.from_turn, baseline, seed))
        todo = sum(1 for m in ids for key in keys for k in range(max(args.samples, 1))
                   if store.branch(branch_id(m, key, k)) is None)
        Console(stderr=True, soft_wrap=True).print(
            f"note: whatif imports and runs the arena code {escape(args.dir)} records; use it only on runs you trust")
        if args.quiet or not todo:
            result = whatif(store, ids, args.from_turn, swaps, args.samples, seed=seed, baseline=baseline)
        else:
            with progress_bar() as bar:
                task = bar.add_task(f"branching {len(ids)} match(es)", total=todo)
                result = whatif(store, ids, args.from_turn, swaps, args.samples, seed=seed, baseline=baseline,
                                on_branch=lambda _: bar.advance(task))
        pairs = None
        if args.pairs:
            from sparring.rewards.intervention import intervention_pairs

            triples = [(t, b, store.branch(b.match_id) or {}) for t in result.originals
                       for b in result.branches[t.match_id]]
            pairs = intervention_pairs(triples, args.pairs_reward, seats={s.seat for s in swaps} or None)
    report = {
        "command": command_line(args), "run": str(run.path), "from_turn": args.from_turn,
        "swaps": [str(s) for s in swaps], "baseline": None if baseline is None else [str(s) for s in baseline],
        "samples": args.samples, "seed": seed, "key": result.key, "matches": len(result.originals),
        "branches": sum(len(b) for b in result.branches.values()), "played": result.played,
        "branch_ids": {m: [b.match_id for b in bs] for m, bs in result.branches.items()},
        "diff": result.diff.to_dict(),
    }
    if pairs is not None:
        Path(args.pairs).write_text("".join(json.dumps(p.row()) + "\n" for p in pairs))
        report["pairs"] = {"file": args.pairs, "reward": args.pairs_reward, "count": len(pairs)}
    if args.json == "-":
        print(json.dumps(report, indent=2))
        return 0
    console.print(f"{report['matches']} match(es), {report['branches']} branch(es) "
                  f"({report['played']} played now, the rest already stored); key {result.key}")
    console.print(effects_table(report))
    if report["diff"]["flips"]:
        console.print(flips_table(report))
    if report["diff"]["errors"]:
        console.print(f"[red]{report['diff']['errors']} branch(es) ended in an error[/] (left out of the figures)")
    if len(ids) == 1:
        first = report["diff"]["first_difference"][ids[0]]
        for branch, turn in zip(report["branch_ids"][ids[0]], first, strict=True):
            where = "no turn differs" if turn is None else f"first differs at turn {turn}"
            console.print(f"  {escape(branch)}: {where}; see it with sparring show {escape(args.dir)} --match "
                          f"{escape(branch)}")
    if pairs is not None:
        console.print(f"wrote {len(pairs)} preference pair(s) by intervention to {escape(args.pairs)}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {escape(args.json)}")
    console.print(f"[dim]{escape(report['command'])}[/]")
    return 0
