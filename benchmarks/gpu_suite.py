"""GPU suite: generation, the runner and update steps on one GPU, in one command, in one JSON.

Made to run on a GPU lent for about ten minutes with no network and only torch,
transformers and peft installed (TRL is used if importable, else its case says it was
skipped). Every model is randomly initialised from a shape shipped in
``benchmarks/configs/`` (SmolLM2-135M, Qwen2.5-0.5B, Qwen2.5-1.5B), so nothing is
downloaded and nothing heavy travels with the repository; see ``gpu_cases.py`` for the
tokenizer and the fixed reply lengths. Cases, bf16 on ``cuda``:

1. ``generation/<shape>``: the hf engine at batch 1, 32 and 256, base rows vs rows mixing
   5 LoRA adapters and base rows (multi-LoRA), ``--new-tokens`` per row; tokens/s, the
   mixed/base ratio, peak GPU memory.
2. ``runner/<arena>``: the runner playing qa-verify (questioner scripted) and the debate
   of ``examples/debate.py`` with 256 matches in flight, against the raw engine on the
   very requests the runner sent (one generate call) and on a uniform batch.
3. ``updates/<shape>``: DPO (32 pairs, micro-batch 8) and GRPO (8 groups of 8, micro-batch
   8) optimizer steps of ours, and TRL's ``DPOTrainer`` on the same rows if importable;
   tokens/s and peak GPU memory.

The JSON is rewritten after every case (a kill loses at most the case running); a case
that fails records its error and the others still run; cases that would start after
``--budget-s`` seconds are recorded as skipped, so the whole run stays inside the lease.

``--dry-run`` runs every case at toy size (2 layers of width 64, batches 1/4/8, 8 matches,
4 new tokens, fp32) on the CPU, in well under a minute: the CI test
(``tests/benchmarks/test_gpu_suite.py``) runs it so the script is known to work before a
GPU arrives. Its timings mean nothing.

Usage: python benchmarks/gpu_suite.py [--dry-run] [--out out/gpu_suite.json] [--only generation,runner,updates]
       [--shapes smollm2-135m,qwen2.5-0.5b,qwen2.5-1.5b] [--budget-s 450] [--new-tokens 128]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import gpu_cases as cases  # a sibling script too
import torch
from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

SHAPES = ("smollm2-135m", "qwen2.5-0.5b", "qwen2.5-1.5b")
GROUPS = ("generation", "runner", "updates")


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in ("torch", "transformers", "peft", "trl"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


class Report:
    """The suite's JSON, rewritten (atomically) after every case."""

    def __init__(self, path: Path, head: dict[str, Any], budget_s: float) -> None:
        self.path, self.data, self.budget_s = path, {**head, "cases": {}}, budget_s
        self.started = time.perf_counter()
        self.write()

    def write(self) -> None:
        self.data["elapsed_s"] = round(time.perf_counter() - self.started, 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(tmp, self.path)

    def case(self, name: str, fn: Callable[[], dict[str, Any]]) -> None:
        """Run one case into ``cases[name]``: its figures, ``error`` or ``skipped``."""
        elapsed = time.perf_counter() - self.started
        if elapsed > self.budget_s:
            self.data["cases"][name] = {"skipped": f"time budget: {elapsed:.0f} s of --budget-s {self.budget_s:.0f} "
                                                   "spent before it started"}
        else:
            print(f"gpu_suite: {name}", file=sys.stderr)
            t0 = time.perf_counter()
            try:
                result = fn()
            except Exception as exc:  # noqa: BLE001 - one failing case must not lose the others
                traceback.print_exc()
                result = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"}
            result["case_seconds"] = round(time.perf_counter() - t0, 1)
            self.data["cases"][name] = result
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        self.write()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="every case at toy size on the CPU (under a minute)")
    parser.add_argument("--out", type=Path, default=Path("out/gpu_suite.json"))
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated subset of {', '.join(GROUPS)}")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="model shapes (benchmarks/configs/*.json)")
    parser.add_argument("--budget-s", type=float, default=450.0, help="start no case after this many seconds")
    parser.add_argument("--new-tokens", type=int, default=128, help="reply length of the generation cases")
    parser.add_argument("--matches", type=int, default=256, help="matches in flight in the runner cases")
    args = parser.parse_args(argv)
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    for group in groups:
        if group not in GROUPS:
            parser.error(f"--only: unknown case group {group!r}; choose from {', '.join(GROUPS)}")
    for shape in shapes:
        if not (cases.CONFIGS / f"{shape}.json").is_file():
            known = ", ".join(sorted(p.stem for p in cases.CONFIGS.glob("*.json")))
            parser.error(f"--shapes: no config benchmarks/configs/{shape}.json (shapes: {known})")
    if args.dry_run:
        device, dtype, toy = "cpu", torch.float32, True
        batches, new_tokens, matches, runner_batch, steps = [1, 4, 8], 4, 8, 8, 1
    else:
        if not torch.cuda.is_available():
            print("gpu_suite: no CUDA device here; run it on a GPU, or use --dry-run to check it on the CPU",
                  file=sys.stderr)
            return 2
        device, dtype, toy = "cuda", torch.bfloat16, False
        batches, new_tokens, matches, runner_batch, steps = [1, 32, 256], args.new_tokens, args.matches, 256, 2
    head = {
        "benchmark": "gpu_suite", "command": shlex.join(["python", "benchmarks/gpu_suite.py", *(argv or sys.argv[1:])]),
        "dry_run": args.dry_run, "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "dtype": str(dtype).removeprefix("torch."), "machine": machine(), "versions": versions(),
        "settings": {"shapes": shapes, "toy": toy, "batches": batches, "new_tokens": new_tokens,
                     "matches_in_flight": matches, "runner_batch": runner_batch, "timed_update_steps": steps},
        "note": ("toy sizes on the CPU: checks that every case runs; its timings mean nothing" if args.dry_run else
                 "random weights of real shapes, byte-level tokenizer, fixed reply lengths (gpu_cases.py)"),
    }
    report = Report(args.out, head, args.budget_s)

    if "generation" in groups:
        for shape in shapes:
            report.case(f"generation/{shape}", lambda s=shape: cases.generation(
                cases.build_pool(s, toy, device, dtype, adapters=cases.N_ADAPTERS), device, batches, new_tokens))
    if "runner" in groups:
        for arena in ("qa-verify", "debate"):
            report.case(f"runner/{arena}", lambda a=arena: cases.runner(
                cases.build_pool(shapes[0], toy, device, dtype), device, a, matches, runner_batch))
    if "updates" in groups:
        for shape in shapes:
            rows = cases.dpo_rows(32, 128 if not toy else 16, 128 if not toy else 8)

            def updates(s: str = shape, rows: list[dict[str, str]] = rows) -> dict[str, Any]:
                pool = cases.build_pool(s, toy, device, dtype)
                tokenizer = pool.get("default").tokenizer
                prompt, reply = (128, 128) if not toy else (16, 8)
                samples = cases.grpo_samples(8, 8, prompt, reply, len(tokenizer))
                return {"dpo": cases.update_steps(pool, device, "dpo", cases.dpo_pairs(rows, tokenizer), 8, steps),
                        "grpo": cases.update_steps(pool, device, "grpo", samples, 8, steps),
                        "grpo_note": "8 groups x 8 samples, on-policy (ratio 1), no KL term (kl_coef 0)"}

            report.case(f"updates/{shape}", updates)
            report.case(f"updates_trl_dpo/{shape}", lambda s=shape, rows=rows: cases.trl_dpo_steps(
                cases.build_pool(s, toy, device, dtype), device, rows, 8, steps))
    failed = [name for name, case in report.data["cases"].items() if "error" in case]
    print(json.dumps({"out": str(args.out), "cases": len(report.data["cases"]), "failed": failed,
                      "elapsed_s": report.data["elapsed_s"]}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
