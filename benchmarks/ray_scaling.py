"""Ray scaling: matches/s of the single-process runner and of 1 and 2 local Ray workers.

The same ``--matches`` matches of qa-verify (the same seeds) are played by:

- ``single``: the ordinary :class:`~sparring.arenas.runner.Runner` in this process with
  ``--threads`` torch threads;
- ``ray_1``: one Ray worker actor (``--threads`` CPUs), through ``RayRunner``: arena and
  roles shipped, adapters published through the object store, transcripts streamed back;
- ``ray_2``: two workers, one chunk of the seeds each.

Every arm loads its model before timing and plays a warm-up of 2 other matches first, so
the figures are playing time only (a worker's start-up, about as long as a model load, is
reported separately as ``start_seconds``). ``overhead_1_worker`` is ``single``'s matches/s
over ``ray_1``'s minus 1 (the issue's target is ≤ 0.10); ``speedup_2_workers`` is ``ray_2``
over ``ray_1``. One worker plays the seeds as one chunk, i.e. in the same batches as
``single``, so the two generate the same tokens (``generated_tokens``, up to rounding).
Two workers need two free cores to scale; on a machine shared with other jobs the
figures say little.

Usage: python benchmarks/ray_scaling.py [--matches 32] [--model default] [--threads 1]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=32, help="matches per arm (default 32)")
    parser.add_argument("--model", default="default", help="default (embedded SmolLM2-135M), tiny or a folder")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the single arm and of each worker")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")

    import ray
    import torch

    from sparring.agents.pool import ModelPool
    from sparring.arenas.registry import make
    from sparring.arenas.runner import Runner
    from sparring.runs.playing.distributed import RayOptions, RayWorkers, WorkerSpec
    from sparring.runs.playing.play import match_seeds, resolve_roles
    from sparring.runs.recipes.machine import make_run_engine
    from sparring.runs.recipes.recipe import ModelSection

    torch.set_num_threads(args.threads)
    arena = make("qa-verify", digits=1, group_size=4)
    n = args.max_new_tokens
    roles = resolve_roles(arena, {"questioner": {"max_new_tokens": n}, "solver": {"max_new_tokens": n},
                                  "verifier": {"max_new_tokens": max(4, n // 4)}})
    seeds = match_seeds(0, args.matches + 2)
    warmup, timed = seeds[:2], seeds[2:]
    section = ModelSection(source=args.model, dtype=args.dtype, batch_size=args.batch_size)
    pool = ModelPool(dtype=args.dtype)
    loaded = pool.load("default", args.model)
    result: dict[str, object] = {"machine": machine(), "matches": args.matches, "model": args.model, "dtype": str(loaded.dtype),
                                 "threads": args.threads, "batch_size": args.batch_size,
                                 "max_new_tokens": n, "cpus": os.cpu_count()}

    def timed_play(runner: object) -> dict[str, float]:
        runner.play(arena, warmup, iteration=1)  # type: ignore[attr-defined]
        tokens = runner.stats.generated_tokens  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        runner.play(arena, timed)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - t0
        made = runner.stats.generated_tokens - tokens  # type: ignore[attr-defined]
        return {"seconds": seconds, "matches_per_s": len(timed) / seconds, "generated_tokens": made,
                "tokens_per_s": made / seconds}

    single = Runner({"default": make_run_engine(section, loaded)}, roles,
                    version_of=lambda r: pool.version(r.model, r.adapter))
    result["single"] = timed_play(single)

    ray.init(num_cpus=max(2, 2 * args.threads), include_dashboard=False, log_to_driver=False)
    try:
        for workers in (1, 2):
            t0 = time.perf_counter()
            started = RayWorkers.start(RayOptions(workers=workers, cpus_per_worker=args.threads),
                                       WorkerSpec(section), pool)
            start_seconds = time.perf_counter() - t0
            try:
                result[f"ray_{workers}"] = {**timed_play(started.runner(roles)), "start_seconds": start_seconds}
            finally:
                started.close()
    finally:
        ray.shutdown()
    one, two, base = result["ray_1"], result["ray_2"], result["single"]
    result["overhead_1_worker"] = base["matches_per_s"] / one["matches_per_s"] - 1  # type: ignore[index]
    result["speedup_2_workers"] = two["matches_per_s"] / one["matches_per_s"]  # type: ignore[index]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
