"""DPO update throughput: our ``DPOUpdate`` step vs TRL's ``DPOTrainer``, same pairs and model.

Both train a fresh rank-8 all-linear LoRA adapter (alpha 16, no dropout) on the embedded
SmolLM2-135M-Instruct on the CPU, in fp32 and in bf16 (``precision`` in the JSON says
what each means on each side), with the base weights (adapter disabled) as the
DPO reference, sigmoid loss, beta 0.1, AdamW at the same learning rate, 32 pairs per
optimizer step in micro-batches of 8, no gradient checkpointing. The pairs are the same
conversational prompt/chosen/rejected triples for both (TRL applies the chat template
itself; we tokenize the same messages with the same template). One warm-up step is run
and not timed, then ``--steps`` timed steps.

tokens/s counts every prompt + completion token of the chosen and rejected sequences that
a step trains on (our tokenization; TRL's differs by at most the template's trailing
newline), so the ratio of tokens/s equals the ratio of pairs/s. "tokens" are what a row
holds, not what a forward computes: ours runs the shared prompt of a pair once
(``agents/updates/prefix.py``), TRL runs it twice.

Each side runs ``--repeats`` times in alternation (ours, TRL, ours, TRL, ...), each
repetition in a fresh process (load, one warm-up step, ``--steps`` timed steps); the JSON
reports min / median / max tokens/s per side and the ratio of medians. Only JSON reaches
standard output (the workers' library logs are dropped).

The JSON records the machine (``machine``: CPU model, native bf16). By default bf16 runs
only where the CPU computes it natively; elsewhere it is listed under ``skipped`` with the
reason (``--dtypes fp32,bf16`` runs it anyway).

Usage: python benchmarks/dpo_throughput.py [--steps 2] [--repeats 3] [--dtypes fp32,bf16] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from machine_info import machine, precision_plan  # sibling script (benchmarks/ is sys.path[0])

PAIRS_PER_STEP = 32
MICRO = 8
LR = 1e-4
BETA = 0.1


def make_pairs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Arithmetic questions with a right and a wrong worked answer, as chat messages."""
    from sparring.agents.builtin_roles import solver

    role = solver()
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        wrong = a + b + rng.choice([-10, -1, 1, 10])

        def reply(total: int, a: int = a, b: int = b) -> list[dict[str, str]]:
            text = (f"{a} + {b}: the ones give {a % 10 + b % 10}, the tens give {a // 10 * 10 + b // 10 * 10}, "
                    f"so the total is {total}.\nANSWER: {total}")
            return [{"role": "assistant", "content": text}]

        rows.append({"prompt": role.render(f"What is {a} + {b}?"), "chosen": reply(a + b), "rejected": reply(wrong)})
    return rows


def to_preference_pairs(rows: list[dict[str, Any]], tokenizer: Any) -> list[Any]:
    """Our ``PreferencePair``s: prompt ids with the generation prompt, completions end with EOS."""
    from sparring.agents.updates.batch import PreferencePair

    def ids(messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
        out = tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=True)
        return list(out["input_ids"] if isinstance(out, dict) or hasattr(out, "input_ids") else out)

    pairs = []
    for row in rows:
        prompt = ids(row["prompt"], True)
        chosen = ids(row["prompt"] + row["chosen"], False)[len(prompt):]
        rejected = ids(row["prompt"] + row["rejected"], False)[len(prompt):]
        pairs.append(PreferencePair(prompt, chosen, rejected))
    return pairs


def step_tokens(pairs: list[Any]) -> int:
    return sum(2 * len(p.prompt_ids) + len(p.chosen_ids) + len(p.rejected_ids) for p in pairs)


def bench_ours(model_path: str, rows: list[dict[str, Any]], steps: int, dtype: str) -> dict[str, Any]:
    from sparring.agents.pool import ModelPool
    from sparring.agents.updates.step import DPOUpdate

    pool = ModelPool(dtype=dtype)
    loaded = pool.load("default", model_path)
    pool.add_adapter("default", "solver", rank=8, alpha=16, target_modules="all-linear")
    pairs = to_preference_pairs(rows, loaded.tokenizer)
    update = DPOUpdate(pool, "default", "solver", beta=BETA, lr=LR, micro_batch_size=MICRO)
    batches = [pairs[i:i + PAIRS_PER_STEP] for i in range(0, len(pairs), PAIRS_PER_STEP)]
    update.step(batches[0])  # warm-up
    times, losses = [], []
    for batch in batches[1:steps + 1]:
        t0 = time.perf_counter()
        metrics = update.step(batch)
        times.append(time.perf_counter() - t0)
        losses.append(metrics["loss"])
    tokens = sum(step_tokens(b) for b in batches[1:steps + 1])
    return {"step_seconds": times, "losses": losses, "tokens": tokens,
            "tokens_per_s": tokens / sum(times), "pairs_per_s": PAIRS_PER_STEP * steps / sum(times)}


def bench_trl(model_path: str, rows: list[dict[str, Any]], steps: int, out: Path, dtype: str) -> dict[str, Any]:
    import datasets
    import trl
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._t0 = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.times.append(time.perf_counter() - self._t0)

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.bfloat16 if dtype == "bf16" else torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    config = trl.DPOConfig(
        output_dir=str(out), max_steps=steps + 1, per_device_train_batch_size=MICRO,
        gradient_accumulation_steps=PAIRS_PER_STEP // MICRO, learning_rate=LR, beta=BETA,
        loss_type=["sigmoid"], use_cpu=True, report_to=[], logging_steps=1, save_strategy="no",
        gradient_checkpointing=False, dataloader_num_workers=0, max_length=1024,
        lr_scheduler_type="constant", warmup_steps=0, seed=0, bf16=dtype == "bf16", disable_tqdm=True,
    )
    peft_config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0,
                             bias="none", task_type="CAUSAL_LM")
    timer = StepTimer()
    trainer = trl.DPOTrainer(model=model, args=config, train_dataset=datasets.Dataset.from_list(rows),
                             processing_class=tokenizer, peft_config=peft_config, callbacks=[timer])
    trainer.train()
    times = timer.times[1:steps + 1]
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log][1:steps + 1]
    return {"step_seconds": times, "losses": losses, "pairs_per_s": PAIRS_PER_STEP * len(times) / sum(times)}


def run_worker(side: str, dtype: str, steps: int, threads: int, model: str, out: str) -> dict[str, Any]:
    """One side, one repetition, in this process; library logs go to standard error."""
    torch.set_num_threads(threads)
    from sparring.agents.embedded import embedded_model_path

    model_path = str(embedded_model_path()) if model == "default" else model
    rows = make_pairs(PAIRS_PER_STEP * (steps + 1))
    with contextlib.redirect_stdout(sys.stderr):  # TRL prints its training logs
        if side == "ours":
            result = bench_ours(model_path, rows, steps, dtype)
        else:
            result = bench_trl(model_path, rows, steps, Path(out), dtype)
            from transformers import AutoTokenizer

            pairs = to_preference_pairs(rows, AutoTokenizer.from_pretrained(model_path))
            batches = [pairs[i:i + PAIRS_PER_STEP] for i in range(0, len(pairs), PAIRS_PER_STEP)]
            result["tokens"] = sum(step_tokens(b) for b in batches[1:steps + 1])
            result["tokens_per_s"] = result["tokens"] / sum(result["step_seconds"])
    return result


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2, help="timed optimizer steps per repetition (after a warm-up)")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per side, alternating ours/TRL")
    parser.add_argument("--dtypes", default=None,
                        help="comma-separated: fp32, bf16 (default fp32,bf16, bf16 skipped where the CPU only "
                             "emulates it; naming it here runs it anyway)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="default", help="default (embedded SmolLM2) or a local HF folder")
    parser.add_argument("--out", default="/tmp/sparring-dpo-bench")
    parser.add_argument("--worker", choices=["ours", "trl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = run_worker(args.worker, args.dtypes, args.steps, args.threads, args.model, args.out)
        print(json.dumps(result))
        return

    report: dict[str, Any] = {
        "command": "python benchmarks/dpo_throughput.py " + " ".join(sys.argv[1:]),
        "threads": args.threads, "pairs_per_step": PAIRS_PER_STEP, "micro_batch": MICRO, "steps": args.steps,
        "repeats": args.repeats, "lora": "r=8 alpha=16 all-linear, no dropout", "reference": "base (adapter disabled)",
        "precision": {"fp32": "fp32 weights and compute on both sides",
                      "bf16": "bf16 base weights, fp32 LoRA weights, bf16 matmuls on both sides "
                              "(TRL: model loaded in bf16 with bf16=True autocast; ours: the pool's bf16 base)"},
        "machine": machine(), "results": {},
    }
    dtypes, skipped = precision_plan((args.dtypes or "fp32,bf16").split(","), explicit=args.dtypes is not None)
    if skipped:
        report["skipped"] = skipped
    for dtype in dtypes:
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "trl": []}
        for _ in range(args.repeats):
            for side in ("ours", "trl"):  # alternate, so drift in the machine hits both sides alike
                cmd = [sys.executable, __file__, "--worker", side, "--dtypes", dtype, "--steps", str(args.steps),
                       "--threads", str(args.threads), "--model", args.model, "--out", args.out]
                done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
                runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
        speeds = {side: [r["tokens_per_s"] for r in rs] for side, rs in runs.items()}
        report["results"][dtype] = {
            "tokens_per_pair": runs["ours"][0]["tokens"] / (PAIRS_PER_STEP * args.steps),
            "ours_tokens_per_s": _spread(speeds["ours"]), "trl_tokens_per_s": _spread(speeds["trl"]),
            "ours_over_trl_median": statistics.median(speeds["ours"]) / statistics.median(speeds["trl"]),
            "ours_losses": runs["ours"][0]["losses"], "trl_losses": runs["trl"][0]["losses"],
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
