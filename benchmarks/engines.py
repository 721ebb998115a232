"""Engines: generated tokens/s of the hf engine vs the vLLM engine on the same rows.

Prints one JSON object. The rows are real arena prompts: the asks of ``--arena`` matches
(default qa-verify) recorded on a scripted engine, so every seat's prompt shape occurs.
Both engines get the same rows, sampling (greedy, ``--tokens`` new tokens at most) and
adapters (``--adapters`` LoRA adapters, r=8 on all linear layers, random non-zero B, on
the one pool model) at each batch size, in two mixes:

- ``base``: every row on the base weights;
- ``mixed``: rows cycle over the adapters and the base (vLLM runs base rows on its zero
  adapter then, see ``agents/engines/vllm.py``).

Tokens/s = generated tokens / wall seconds of ``generate`` (prefill included; the best of
``--repeats`` rounds). ``vllm_over_hf`` divides the two per (mix, batch size). Then
``update_to_serving_s``: seconds from an adapter's weights changing (an update's
``bump_version``) to the first completion on the new version (saving it, loading it into
the server, a 1-token reply), and ``vllm_startup_s``. On CPU report what it is; on a GPU
machine the target is vLLM >= 5x hf. The machine is shared: load averages are reported.

Usage: python benchmarks/engines.py [--batch-sizes 1,8,32] [--tokens 64] [--adapters 3]
       [--repeats 2] [--arena qa-verify] [--model default] [--enforce-eager]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import torch
from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

from sparring.agents.engines.base import GenerationRequest
from sparring.agents.engines.hf import HFEngine
from sparring.agents.engines.scripted import ScriptedEngine
from sparring.agents.engines.vllm import VLLMEngine
from sparring.agents.pool import ModelPool
from sparring.agents.sampling import SamplingParams
from sparring.arenas.conformance import well_formed_replies
from sparring.arenas.registry import make
from sparring.arenas.runner import Runner, bind_roles


def arena_requests(arena_name: str, n: int) -> list[GenerationRequest]:
    """At least ``n`` asks of real matches of ``arena_name``, played on scripted replies."""
    arena = make(arena_name)
    roles = {seat: role.bind(model=seat) for seat, role in bind_roles(arena, None).items()}
    replies = well_formed_replies(arena, roles)
    engines = {seat: ScriptedEngine(replies.get(seat) or ["ok"]) for seat in roles}  # each seat its own replies
    Runner(engines, roles).play(arena, list(range(1, 1 + max(2, n))))
    per_seat = [engine.requests for engine in engines.values() if engine.requests]
    asks = [seat[i % len(seat)] for i in range(max(map(len, per_seat))) for seat in per_seat]  # seats interleaved
    return [asks[i % len(asks)] for i in range(n)]


def rows(requests: list[GenerationRequest], adapters: list[str | None], tokens: int) -> list[GenerationRequest]:
    """``requests`` greedy with ``tokens`` new tokens at most, adapters cycling over ``adapters``."""
    sampling = SamplingParams(max_new_tokens=tokens, temperature=0.0)
    return [GenerationRequest(r.messages, adapters[i % len(adapters)], sampling, r.seed)
            for i, r in enumerate(requests)]


def tokens_per_s(engine: Any, batch: list[GenerationRequest], repeats: int) -> float:
    """Best tokens/s of ``repeats`` calls of ``engine.generate(batch)``."""
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        out = engine.generate(batch)
        seconds = time.perf_counter() - started
        best = max(best, sum(len(c.token_ids) for c in out) / seconds)
    return round(best, 2)


def update_to_serving(engine: VLLMEngine, pool: ModelPool, adapter: str, request: GenerationRequest) -> float:
    """Seconds from ``adapter``'s weights changing to a 1-token completion on the new version."""
    with torch.no_grad():
        for name, param in pool.get("default").model.named_parameters():
            if f".{adapter}." in name and "lora_B" in name:
                param.mul_(1.01)
    started = time.perf_counter()
    pool.bump_version("default", adapter)
    engine.generate(rows([request], [adapter], 1))
    return round(time.perf_counter() - started, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--adapters", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--arena", default="qa-verify")
    parser.add_argument("--model", default="default")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--enforce-eager", action="store_true", help="vLLM without graph capture (faster start)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.batch_sizes.split(",")]

    pool = ModelPool(dtype=args.dtype)
    loaded = pool.load("default", args.model)
    names = [f"bench{i}" for i in range(args.adapters)]
    for i, name in enumerate(names):
        pool.add_adapter("default", name, rank=8, init="random", seed=i)
    mixes: dict[str, list[str | None]] = {"base": [None]}
    if names:
        mixes["mixed"] = [*names, None]
    requests = arena_requests(args.arena, max(sizes))
    print(f"{len(requests)} rows of {args.arena}; starting the vLLM server", file=sys.stderr)
    started = time.perf_counter()
    vllm = VLLMEngine(loaded, max_batch_size=max(sizes), enforce_eager=args.enforce_eager)
    startup = time.perf_counter() - started
    hf = HFEngine(loaded, max_batch_size=max(sizes))
    result: dict[str, Any] = {"machine": machine(), "arena": args.arena, "model": args.model, "dtype": str(loaded.dtype), "tokens": args.tokens,
                              "adapters": args.adapters, "repeats": args.repeats, "vllm_startup_s": round(startup, 1),
                              "hf": {}, "vllm": {}, "vllm_over_hf": {}}
    try:
        for mix, adapters in mixes.items():
            for key in ("hf", "vllm", "vllm_over_hf"):
                result[key][mix] = {}
            for size in sizes:
                batch = rows(requests[:size], adapters, args.tokens)
                vllm.generate(batch[:1] if not names else rows(requests[:len(adapters)], adapters, 1))  # load adapters
                for label, engine in (("hf", hf), ("vllm", vllm)):
                    result[label][mix][str(size)] = tokens_per_s(engine, batch, args.repeats)
                    print(f"{label} {mix} batch {size}: {result[label][mix][str(size)]} tokens/s", file=sys.stderr)
                hf_tps = result["hf"][mix][str(size)]
                result["vllm_over_hf"][mix][str(size)] = round(result["vllm"][mix][str(size)] / hf_tps, 3) if hf_tps else None
        if names:
            result["update_to_serving_s"] = update_to_serving(vllm, pool, names[0], requests[0])
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        vllm.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
