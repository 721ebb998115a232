"""Tournament throughput: a 4-player round-robin against one ``sparring play`` of the same arena.

The arena is ``examples/debate.py`` (competing seats pro and con, the judge on the base
model). Players: the base model and three rank-8 all-linear LoRA adapters with random
weights (saved as ``adapters/solver/v1..v3`` folders first, as a training run would).
Arms, each through the real code path and each on a freshly loaded model:

- ``play_base``: ``sparring play`` of ``--matches`` debates, every seat on the base;
- ``play_adapters``: the same with pro on adapter v1 and con on v2 (two adapters mixed);
- ``tournament``: ``sparring tournament`` round-robin of the four players, both seat orders,
  as many matches (12 per game index).

tokens/s is generated tokens over the wall time of playing (model load excluded). The
issue's target is tournament ≥ 0.9 × play.

Usage: python benchmarks/tournament_throughput.py [--games 2] [--threads 2] [--out /tmp/tn-bench]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

ROOT = Path(__file__).resolve().parents[1]
ARENA = f"{ROOT / 'examples' / 'debate.py'}:Debate"


def make_adapters(root: Path, model: str, dtype: str) -> list[Path]:
    """Three random LoRA adapters of ``model`` saved as ``root/adapters/solver/v1..v3``."""
    from sparring.agents.pool import ModelPool
    from sparring.runs.training.checkpoint import save_adapter_version

    pool = ModelPool(dtype=dtype)
    pool.load("default", model)
    folders = []
    for k in (1, 2, 3):
        pool.add_adapter("default", f"a{k}", init="random", seed=k)
        pool.get("default").adapters[f"a{k}"].version = k
        saved = save_adapter_version(pool, "default", f"a{k}", root)
        target = root / "adapters" / "solver" / f"v{k}"
        target.parent.mkdir(parents=True, exist_ok=True)
        saved.rename(target)
        folders.append(target)
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=2, help="games per ordered pairing (12 matches each)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="/tmp/sparring-tournament-bench")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from sparring.runs.playing.play import PlayConfig, play
    from sparring.runs.tournaments.tournament import load_tournament, run_tournament

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    folders = make_adapters(out / "train", args.model, args.dtype)
    matches = 12 * args.games
    results: dict[str, dict[str, float]] = {}

    def record(name: str, tokens: int, seconds: float) -> None:
        results[name] = {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1)}

    base = play(PlayConfig(arena=ARENA, out=str(out / "play_base"), matches=matches, model=args.model,
                           dtype=args.dtype), progress=False)
    record("play_base", base.generated_tokens, base.seconds)
    mixed = play(PlayConfig(arena=ARENA, out=str(out / "play_adapters"), matches=matches, model=args.model,
                            dtype=args.dtype, adapters={"a1": str(folders[0]), "a2": str(folders[1])},
                            roles={"pro": {"adapter": "a1"}, "con": {"adapter": "a2"}}), progress=False)
    record("play_adapters", mixed.generated_tokens, mixed.seconds)
    config = load_tournament({
        "model": {"source": args.model, "dtype": args.dtype},
        "arena": {"name": ARENA, "seats": ["pro", "con"]},
        "players": {"base": {}, **{f"v{k}": {"adapter": str(f)} for k, f in enumerate(folders, 1)}},
        "schedule": {"games": args.games},
    })
    started = time.perf_counter()
    summary = run_tournament(config, out / "tournament", progress=False)
    record("tournament", summary.generated_tokens, summary.seconds)
    results["tournament"]["wall_with_setup_s"] = round(time.perf_counter() - started, 2)
    report = {
        "machine": machine(),
        "matches": matches, "model": args.model, "dtype": args.dtype, "threads": args.threads, "arms": results,
        "tournament_over_play_base": round(results["tournament"]["tokens_per_s"] / results["play_base"]["tokens_per_s"], 3),
        "tournament_over_play_adapters": round(
            results["tournament"]["tokens_per_s"] / results["play_adapters"]["tokens_per_s"], 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
