"""Memory of a tournament of 8 adapter players against one bare model playing the same arena.

Arena: ``examples/debate.py`` (pro and con compete, the judge on the base model). Each arm
runs in its own fresh subprocess and reports the kernel's high-water mark (``VmHWM``) and
the resident set (``VmRSS``) after playing:

- ``bare``: ``sparring play`` of ``--matches`` debates, every seat on the base model;
- ``tournament``: ``sparring tournament`` round-robin of 8 players, each a rank-8
  all-linear LoRA adapter folder with random weights (made first, in another subprocess,
  as ``adapters/solver/v1..v8``), cut to the same ``--matches`` by ``schedule.budget``.

The issue's target: tournament / bare <= 1.3.

Usage: python benchmarks/tournament_memory.py [--matches 16] [--model default] [--out docs/tournament_memory.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

ROOT = Path(__file__).resolve().parents[1]
ARENA = f"{ROOT / 'examples' / 'debate.py'}:Debate"
PLAYERS = 8


def _status() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) / 1024
    return {"peak_mib": round(fields["VmHWM"], 1), "rss_after_mib": round(fields["VmRSS"], 1)}


def arm(name: str, work: Path, matches: int, model: str, threads: int) -> None:
    """Run one arm in this process and print its JSON."""
    import torch

    torch.set_num_threads(threads)
    if name == "make":
        from sparring.agents.pool import ModelPool
        from sparring.runs.training.checkpoint import save_adapter_version

        pool = ModelPool()
        pool.load("default", model)
        for k in range(1, PLAYERS + 1):
            pool.add_adapter("default", f"a{k}", init="random", seed=k)
            pool.get("default").adapters[f"a{k}"].version = k
            saved = save_adapter_version(pool, "default", f"a{k}", work / "train")
            target = work / "train" / "adapters" / "solver" / f"v{k}"
            target.parent.mkdir(parents=True, exist_ok=True)
            saved.rename(target)
        print(json.dumps({}))
        return
    if name == "bare":
        from sparring.runs.playing.play import PlayConfig, play

        summary = play(PlayConfig(arena=ARENA, out=str(work / "bare"), matches=matches, model=model), progress=False)
        print(json.dumps({**_status(), "matches": summary.matches, "tokens": summary.generated_tokens}))
        return
    from sparring.runs.tournaments.tournament import load_tournament, run_tournament

    folders = sorted((work / "train" / "adapters" / "solver").iterdir())
    config = load_tournament({
        "model": {"source": model}, "arena": {"name": ARENA, "seats": ["pro", "con"]},
        "players": {f.name: {"adapter": str(f)} for f in folders},
        "schedule": {"games": 1, "budget": matches},
    })
    summary = run_tournament(config, work / "tournament", progress=False)
    print(json.dumps({**_status(), "matches": summary.played, "tokens": summary.generated_tokens}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=16)
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default="/tmp/sparring-tournament-memory")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--arm", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work)
    if args.arm:
        arm(args.arm, work, args.matches, args.model, args.threads)
        return
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results = {}
    for name in ("make", "bare", "tournament"):
        done = subprocess.run([sys.executable, __file__, "--arm", name, "--work", str(work), "--matches",
                               str(args.matches), "--model", args.model, "--threads", str(args.threads)],
                              capture_output=True, text=True, check=True)
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    report = {
        "machine": machine(),
        "command": " ".join(["python", "benchmarks/tournament_memory.py", *sys.argv[1:]]),
        "model": args.model, "players": PLAYERS, "bare": results["bare"], "tournament": results["tournament"],
        "peak_ratio": round(results["tournament"]["peak_mib"] / results["bare"]["peak_mib"], 3),
        "rss_after_ratio": round(results["tournament"]["rss_after_mib"] / results["bare"]["rss_after_mib"], 3),
        "target_peak_ratio": 1.3,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
