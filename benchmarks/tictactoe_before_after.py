"""Tic-tac-toe: the player's rating against scripted anchors before and after training.

Runs one tournament (``examples/tictactoe_tournament.toml``: round-robin, both seat orders)
between the untrained embedded model (``base``), the trained adapter (``trained``, a
version folder of a ``recipes/tictactoe.toml`` run), a uniformly random legal player
(``random``) and the scripted win-else-block-else-random player (``blocker``), then rates
it (Bradley–Terry with bootstrap intervals, Elo, openskill) and prints JSON: ratings, the
head-to-head record of ``base`` and ``trained`` against each anchor, and how games ended
(wins, draws, forfeits after illegal or unparseable replies).

Usage:
    python benchmarks/tictactoe_before_after.py --adapter RUN/adapters/player/vN \\
        --games 50 --out out/ttt-before-after > out/tictactoe_before_after.json
Progress goes to standard error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path

from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", required=True, help="the trained player's adapter folder")
    parser.add_argument("--games", type=int, default=16, help="games per pairing and seat order")
    parser.add_argument("--out", default="out/ttt-before-after")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    from sparring.runs.storage.store import Store
    from sparring.runs.tournaments.tournament import load_tournament, rate_run, run_tournament

    adapter = Path(args.adapter).resolve()
    if not (adapter / "adapter_config.json").is_file():
        parser.error(f"--adapter {args.adapter}: not a saved adapter folder (no adapter_config.json)")
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    config = load_tournament(ROOT / "examples" / "tictactoe_tournament.toml",
                             [f"players.trained.adapter={json.dumps(str(adapter))}", f"schedule.games={args.games}"])
    run_tournament(config, out, progress=False)
    rated = rate_run(out, bootstrap=args.bootstrap, plots=True)

    record: dict[str, Counter] = defaultdict(Counter)  # "base vs blocker" -> wins/draws/losses/forfeits
    ends: dict[str, Counter] = defaultdict(Counter)
    with Store(out / "store.sqlite") as store:
        for t in store.transcripts():
            if t.status != "finished":
                continue
            o = t.outcome or {}
            players = {seat: t.roles[seat]["player"] for seat in ("x", "o")}
            for seat, me in players.items():
                other = players["o" if seat == "x" else "x"]
                ends[me][o.get("end", "?")] += 1
                key = f"{me} vs {other}"
                result = "draws" if o.get("winner") is None else "wins" if o.get("winner") == seat else "losses"
                record[key][result] += 1
                if o.get("forfeit") == seat:
                    record[key]["forfeits"] += 1
                record[key]["rejected_replies"] += (o.get("rejected") or {}).get(seat, 0)
    report = rated.report
    summary = {
        "machine": machine(),
        "command": "python benchmarks/tictactoe_before_after.py " + " ".join(sys.argv[1:]),
        "adapter": str(adapter), "games_per_pairing_and_order": args.games, "games": report.games,
        "ratings": [{"player": r.player, "bt": r.bt, "bt_low": r.bt_low, "bt_high": r.bt_high, "elo": r.elo,
                     "mu": r.mu, "sigma": r.sigma, "games": r.games, "wins": r.wins, "draws": r.draws,
                     "losses": r.losses} for r in report.ratings],
        "cycles": [list(map(str, c)) for c in report.cycles],
        "head_to_head": {k: dict(v) for k, v in sorted(record.items()) if k.split(" vs ")[0] in ("base", "trained")},
        "ends_by_player": {k: dict(v) for k, v in sorted(ends.items())},
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
