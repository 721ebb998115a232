"""Runner throughput: raw engine vs runner vs naive per-ask loop, multi-LoRA, memory.

Prints one JSON object. All figures come from this one run on the same model and
prompts, so ratios compare like with like:

(a) ``raw``: the hf engine on one batch of B solver prompts (the issue's definition), and
    ``raw_same_requests``: the hf engine on exactly the requests the runner sent in (b)
    (in one generate call when the runner streamed, else in the runner's batches), which
    isolates the runner's own overhead from the workload mix
    (qa-verify's verifier asks generate a few tokens after a long prompt, so any engine
    makes fewer tokens/s on them than on solver prompts).
(b) ``runner``: the runner playing qa-verify with many matches in flight; asks stream into
    the engine's running batch as rows finish (continuous batching; ``--no-stream`` cuts
    whole batches instead, the path before it, for comparison).
(c) ``naive``: the same arena, one ask at a time (batch size 1, one match in flight),
    which is what per-turn arena libraries do.
(e) ``grpo_group_16``: 16 samples of one prompt, prefix reuse (the prompt prefilled once)
    vs the plain path (prefilled 16 times); ``runner.prefix_saved_prefill_tokens`` counts
    the prompt tokens prefix reuse saved in (b).
(d) ``multilora``: a batch of 32 mixing 5 adapters (and base rows) through our batched
    multi-LoRA path vs the bare base model vs peft's mixed-adapter generate
    (see benchmarks/multilora_throughput.py, run here in-process).
Memory: peak RSS of a process holding 5 roles on 5 adapters on one base vs one bare
model, each measured in a fresh subprocess doing the same generation; also the resident
set after generation and the bytes of the model's parameters (adapters included).

Usage: python benchmarks/runner_throughput.py [--quick] [--model default] [--no-stream]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _requests(n: int, seed: int = 0):
    from sparring.agents.builtin_roles import solver
    from sparring.agents.engines.base import GenerationRequest

    role = solver()
    return [
        GenerationRequest(role.render(f"What is {10 + 3 * i} + {20 + 7 * i}?"), None, role.sampling, seed * 1000 + i)
        for i in range(n)
    ]


def memory_probe(mode: str, model: str) -> None:
    """Child process: load, (add adapters), generate one batch, print peak RSS in MiB."""
    from sparring.agents.engines.base import GenerationRequest
    from sparring.agents.engines.hf import HFEngine
    from sparring.agents.pool import ModelPool

    torch.set_num_threads(2)
    pool = ModelPool()
    loaded = pool.load("default", model)
    adapters: list[str | None] = [None]
    if mode == "adapters":
        adapters = [f"role{i}" for i in range(5)]
        for i, name in enumerate(adapters):
            pool.add_adapter("default", name, init="random", seed=i)
    engine = HFEngine(loaded, max_batch_size=32)
    reqs = _requests(32)
    reqs = [GenerationRequest(r.messages, adapters[i % len(adapters)], r.sampling.updated(max_new_tokens=16), r.seed)
            for i, r in enumerate(reqs)]
    engine.generate(reqs)
    page = os.sysconf("SC_PAGE_SIZE")
    rss = int(Path("/proc/self/statm").read_text().split()[1]) * page / 2**20
    params = sum(p.numel() * p.element_size() for p in loaded.model.parameters()) / 2**20
    print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_after_mib": rss, "parameters_mib": params}))


class RecordingEngine:
    """Forwards to an engine and keeps every request it was sent.

    ``calls`` holds each ``generate`` batch and, for continuous batching, each group of
    rows added to a session (the runner streams asks into a session when the engine
    has ``open_session``; with ``stream=False`` that API is hidden and the runner cuts
    whole batches, the path before continuous batching).
    """

    def __init__(self, engine: object, stream: bool = True) -> None:
        self.engine = engine
        self.stream = stream
        self.calls: list[list] = []

    def __getattr__(self, name: str) -> object:
        if name == "open_session" and not self.stream:
            raise AttributeError(name)
        return getattr(self.engine, name)

    def generate(self, requests: list) -> list:
        self.calls.append(list(requests))
        return self.engine.generate(requests)

    def open_session(self) -> object:
        if not self.stream:
            raise AttributeError("open_session")
        session = self.engine.open_session()
        add = session.add

        def recording_add(items: list) -> None:
            self.calls.append([request for _, request, _ in items])
            add(items)

        session.add = recording_add
        return session


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="default")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--matches", type=int, default=32)
    parser.add_argument("--naive-matches", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer matches and tokens")
    parser.add_argument("--skip-multilora", action="store_true")
    parser.add_argument("--skip-memory", action="store_true", help="skip the two memory subprocesses")
    parser.add_argument("--no-stream", action="store_true",
                        help="runner cuts whole batches (no continuous batching), for comparison")
    parser.add_argument("--memory-probe", choices=["bare", "adapters"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(args.memory_probe, args.model)
        return
    if args.quick:
        args.matches, args.naive_matches = 16, 2

    from sparring.agents.engines.base import GenerationRequest
    from sparring.agents.engines.hf import HFEngine
    from sparring.agents.pool import ModelPool
    from sparring.arenas import QuestionAnswerVerify, Runner
    from sparring.runs.playing.play import match_seeds

    torch.set_num_threads(2)
    pool = ModelPool()
    loaded = pool.load("default", args.model)
    engine = HFEngine(loaded, max_batch_size=args.batch)
    engine.generate(_requests(4, seed=99))  # warm-up

    out: dict = {"machine": machine(), "model": args.model, "dtype": str(loaded.dtype), "batch": args.batch,
                 "threads": torch.get_num_threads()}

    t0 = time.perf_counter()
    completions = engine.generate(_requests(args.batch))
    raw_s = time.perf_counter() - t0
    raw_tokens = sum(len(c.token_ids) for c in completions)
    out["raw"] = {"tokens": raw_tokens, "seconds": raw_s, "tokens_per_s": raw_tokens / raw_s}

    arena = QuestionAnswerVerify()
    recording = RecordingEngine(engine, stream=not args.no_stream)
    runner = Runner({"default": recording}, max_in_flight=args.matches)
    saved_before = engine.stats["prefix_saved_tokens"]
    runner.play(arena, match_seeds(1, args.matches))
    st = runner.stats
    saved = engine.stats["prefix_saved_tokens"] - saved_before
    # batches: rows in each generate call, or (streaming) live rows at each decode run
    out["runner"] = {"matches": st.matches, "tokens": st.generated_tokens, "seconds": st.wall_seconds,
                     "engine_seconds": st.engine_seconds, "tokens_per_s": st.tokens_per_second,
                     "continuous": not args.no_stream, "batches": st.batch_sizes,
                     # prompt tokens not prefilled because another row joining with them asked
                     # the same prompt under the same adapter (prefix reuse, agents/engines/continuous.py)
                     "prefix_saved_prefill_tokens": saved}

    # The same requests straight to the engine: as the runner cut them without streaming;
    # all in one generate call (continuous batching inside the engine) when streaming.
    same_calls = recording.calls if args.no_stream else [[r for call in recording.calls for r in call]]
    t0 = time.perf_counter()
    same_tokens = sum(len(c.token_ids) for call in same_calls for c in engine.generate(call))
    same_s = time.perf_counter() - t0
    out["raw_same_requests"] = {"tokens": same_tokens, "seconds": same_s, "tokens_per_s": same_tokens / same_s,
                                "calls": len(same_calls)}

    # A GRPO group: 16 samples of one solver prompt, prefilled once (prefix reuse) vs 16 times.
    group = [GenerationRequest(r.messages, None, r.sampling, 500 + i)
             for i, r in enumerate(_requests(1) * 16)]
    out["grpo_group_16"] = {}
    for reuse in (True, False):
        group_engine = HFEngine(loaded, max_batch_size=16, prefix_reuse=reuse)
        t0 = time.perf_counter()
        tokens = sum(len(c.token_ids) for c in group_engine.generate(group))
        seconds = time.perf_counter() - t0
        out["grpo_group_16"]["prefix_reuse" if reuse else "plain"] = {
            "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "prefix_saved_prefill_tokens": group_engine.stats["prefix_saved_tokens"]}
    out["grpo_group_16"]["reuse_over_plain"] = (out["grpo_group_16"]["prefix_reuse"]["tokens_per_s"]
                                               / out["grpo_group_16"]["plain"]["tokens_per_s"])

    naive_engine = HFEngine(loaded, max_batch_size=1)
    naive = Runner({"default": naive_engine}, max_in_flight=1)
    naive.play(arena, match_seeds(2, args.naive_matches))
    ns = naive.stats
    out["naive"] = {"matches": ns.matches, "tokens": ns.generated_tokens, "seconds": ns.wall_seconds,
                    "tokens_per_s": ns.tokens_per_second}
    out["runner_over_raw"] = out["runner"]["tokens_per_s"] / out["raw"]["tokens_per_s"]
    out["runner_over_raw_same_requests"] = out["runner"]["tokens_per_s"] / out["raw_same_requests"]["tokens_per_s"]
    out["runner_over_naive"] = out["runner"]["tokens_per_s"] / out["naive"]["tokens_per_s"]

    if not args.skip_multilora:
        from multilora_throughput import measure  # type: ignore[import-not-found]

        ml = measure(loaded_path=None, quick=args.quick)
        out["multilora"] = ml
        out["mixed_over_base"] = ml["mixed_over_base"]
        out["mixed_over_peft"] = ml["mixed_over_peft"]

    if not args.skip_memory:
        mem = {}
        for mode in ("bare", "adapters"):
            res = subprocess.run([sys.executable, __file__, "--memory-probe", mode, "--model", args.model],
                                 capture_output=True, text=True, check=True)
            mem[mode] = json.loads(res.stdout.strip().splitlines()[-1])
        out["memory_mib"] = mem
        out["memory_ratio"] = mem["adapters"]["peak_rss_mib"] / mem["bare"]["peak_rss_mib"]
        out["memory_ratio_after_generation"] = mem["adapters"]["rss_after_mib"] / mem["bare"]["rss_after_mib"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
