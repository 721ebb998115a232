"""DPO update throughput: our ``DPOUpdate`` step vs TRL's ``DPOTrainer``, same pairs and model.

Both train a fresh rank-8 all-linear LoRA adapter (alpha 16, no dropout) on the embedded
SmolLM2-135M-Instruct in fp32 on the CPU, with the base weights (adapter disabled) as the
DPO reference, sigmoid loss, beta 0.1, AdamW at the same learning rate, 32 pairs per
optimizer step in micro-batches of 8, no gradient checkpointing. The pairs are the same
conversational prompt/chosen/rejected triples for both (TRL applies the chat template
itself; we tokenize the same messages with the same template). One warm-up step is run
and not timed, then ``--steps`` timed steps.

tokens/s counts every prompt + completion token of the chosen and rejected sequences that
a step trains on (our tokenization; TRL's differs by at most the template's trailing
newline), so the ratio of tokens/s equals the ratio of pairs/s.

Usage: python benchmarks/dpo_throughput.py [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import torch

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


def bench_ours(model_path: str, rows: list[dict[str, Any]], steps: int) -> dict[str, Any]:
    from sparring.agents.pool import ModelPool
    from sparring.agents.updates.step import DPOUpdate

    pool = ModelPool(dtype="fp32")
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


def bench_trl(model_path: str, rows: list[dict[str, Any]], steps: int, out: Path) -> dict[str, Any]:
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

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    config = trl.DPOConfig(
        output_dir=str(out), max_steps=steps + 1, per_device_train_batch_size=MICRO,
        gradient_accumulation_steps=PAIRS_PER_STEP // MICRO, learning_rate=LR, beta=BETA,
        loss_type=["sigmoid"], use_cpu=True, report_to=[], logging_steps=1, save_strategy="no",
        gradient_checkpointing=False, dataloader_num_workers=0, max_length=1024,
        lr_scheduler_type="constant", warmup_steps=0, seed=0,
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps (after one warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="default", help="default (embedded SmolLM2) or a local HF folder")
    parser.add_argument("--out", default="/tmp/sparring-dpo-bench")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from sparring.agents.embedded import embedded_model_path

    model_path = str(embedded_model_path()) if args.model == "default" else args.model
    rows = make_pairs(PAIRS_PER_STEP * (args.steps + 1))
    ours = bench_ours(model_path, rows, args.steps)
    trl_result = bench_trl(model_path, rows, args.steps, Path(args.out))
    tokens_per_pair = ours["tokens"] / (PAIRS_PER_STEP * args.steps)
    trl_result["tokens_per_s"] = trl_result["pairs_per_s"] * tokens_per_pair
    print(json.dumps({
        "model": model_path, "threads": args.threads, "pairs_per_step": PAIRS_PER_STEP, "micro_batch": MICRO,
        "tokens_per_pair": tokens_per_pair, "ours": ours, "trl": trl_result,
        "ours_over_trl": ours["tokens_per_s"] / trl_result["tokens_per_s"],
    }, indent=2))


if __name__ == "__main__":
    main()
