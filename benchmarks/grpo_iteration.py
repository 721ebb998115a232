"""One whole GRPO iteration: our trainer vs TRL's ``GRPOTrainer``, same prompts, reward and model.

An iteration is one round of sampling ``G`` replies to each of ``P`` prompts, scoring them,
group advantages, and ``K`` optimizer steps on the ``P * G`` samples. Both sides train a
fresh rank-8 all-linear LoRA adapter (alpha 16, no dropout) on the embedded
SmolLM2-135M-Instruct on the CPU with AdamW (same learning rate, no weight decay, gradient
norm clipped to 1, constant schedule), fp32 by default (``--dtype bf16``: bf16 base
weights on both sides, TRL with ``bf16=True`` autocast as in ``dpo_throughput.py``).

The task: the ``spin`` arena (``sparring/spin-v1``) on the ``arithmetic`` family at
difficulty 1-2, one training-split prompt per match, ``samples = G``. The reward is the
arena's ``solver_truth`` (1 when the parsed ``Answer:`` checks against the family's
truth). TRL gets the same prompts (the arena's own draw, replayed from each match seed:
``Spin.play`` draws ``family.sample(rng, rng.randint(low, high), "train")`` from
``random.Random(seed)``; the JSON says whether both sides saw the same prompts) as chat
messages with the same system prompt, and a reward function that parses each completion
with the same solver role and checks it with the same family.

Ours runs the public path: ``sparring.runs.training.train.Trainer`` built from a recipe dict,
``trainer.iteration(it)`` per iteration (play through the runner and the HF engine,
which batches all ``P * G`` replies in one engine batch; score; ``grpo`` build;
``PolicyGradientUpdate`` steps; adapter save and checkpoint, which TRL does not do with
``save_strategy="no"``: they show up in ``other``). Its split comes from the trainer's
own ``time/*`` metrics: ``generate`` (engine seconds), ``score``, ``build``, ``update``;
``other`` is the rest of the wall time (monitors, adapter save, checkpoint).

TRL runs ``GRPOTrainer`` with ``num_generations=G``, ``per_device_train_batch_size`` =
the micro-batch ``M``, ``steps_per_generation = P*G/M`` (one generation round per
iteration) and ``gradient_accumulation_steps = P*G/(K*M)`` (so ``K`` optimizer steps per
round). Generation, by default, is TRL's own transformers path: one ``generate`` call on
the peft model over the whole generation batch, each prompt repeated ``G`` times (vLLM,
TRL's faster backend on GPUs, fails here in colocate mode, see NOTES.md).
``--trl-generation rollout`` instead passes a ``rollout_func`` that prefills each prompt
once and samples its group with ``num_return_sequences=G``, the only saving a rollout
function can offer over TRL's own ``generate``; with ~45-token prompts it saves little
prefill, so the default is expected to be as fast. Run both and keep the faster: the
JSON's ``trl_config.generation`` says which was used. TRL's split: ``generate``
(its ``_generate``: tokenize, ``generate``, decode), ``score`` (the rest of
``_generate_and_score_completions``: rewards, advantages, and, when ``K > 1``, an extra
no-grad forward for the old log-probs), ``update`` (the rest of the optimizer steps).

Loss, matched as closely as TRL allows: beta (KL) 0 on both sides (TRL then loads no
reference; ours skips the reference forward), clip epsilon 0.2 on both ratios, token-level
importance ratios, advantages ``(r - group mean) / (group std + 1e-4)`` (unbiased std,
TRL's ``scale_rewards="group"``), one pass over the samples (``num_iterations=1``), loss
``"dapo"`` (token sum over the accumulated batch's token count), no truncated-completion
masking, the reply's temperature applied to the logits in the update. What differs:

* old log-probs: ours are the engine's sampling log-probs (no extra forward); TRL uses the
  detached current log-probs when ``K = 1`` (ratio exactly 1) and an extra no-grad
  forward over the generation batch when ``K > 1``;
* normaliser when ``K > 1``: ours divides by each optimizer step's own token count, TRL
  by the generation batch's token count times ``K``'s share (equal on average);
* mini-batches when ``K > 1``: ours deals whole groups (shuffled) to the ``K`` steps and
  computes each group's advantages within its step, TRL computes advantages over the
  whole generation batch, then shuffles rows into steps; the advantage values are the
  same (group-relative), only which rows share a step differs;
* sampling: ours samples with the HF engine (the pool's LoRA path, stopping at the chat's
  end-of-turn token), TRL with ``model.generate`` on the peft model; same temperature,
  ``top_p = 1``, no top-k, same ``max_new_tokens``; the replies differ, so do lengths.

Each side runs ``--repeats`` times in alternation (ours, TRL, ours, TRL, ...), each in a
fresh process that loads the model, runs ``--warmup`` untimed iterations and then
``--iterations`` timed ones. The JSON reports min / median / max wall seconds per
iteration per side over all timed iterations, the median of each part of the split, and
the ratio of medians (TRL over ours: above 1 means ours is faster). Only JSON reaches
standard output.

Usage: python benchmarks/grpo_iteration.py [--prompts 8] [--generations 4] [--max-new-tokens 48]
    [--steps 1] [--micro-batch 8] [--iterations 2] [--warmup 1] [--repeats 3] [--dtype fp32] [--threads 2]
    [--trl-generation own|rollout]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

FAMILY = "arithmetic"
DIFFICULTY = (1, 2)
LR = 5e-5
CLIP_EPS = 0.2


def make_recipe(args: argparse.Namespace, model: str) -> dict[str, Any]:
    """The recipe our side trains with (also gives TRL's side the match seeds)."""
    return {
        "name": "grpo-iteration-bench",
        "model": {"source": model, "dtype": args.dtype, "batch_size": max(args.prompts * args.generations, 1)},
        "arena": {"name": "spin", "kwargs": {"family": FAMILY, "difficulty": list(DIFFICULTY),
                                             "samples": args.generations}},
        "adapters": {"solver": {"rank": 8, "alpha": 16, "target_modules": "all-linear"}},
        "roles": {"solver": {"adapter": "solver", "update": "grpo", "temperature": args.temperature,
                             "top_p": 1.0, "max_new_tokens": args.max_new_tokens}},
        # one more iteration than run: the last one of a recipe always evaluates; eval.every = 0 skips the rest
        "train": {"iterations": args.warmup + args.iterations + 1, "matches_per_iteration": args.prompts,
                  "lr": LR, "kl_coef": 0.0, "clip_eps": CLIP_EPS, "steps_per_epoch": args.steps,
                  "micro_batch_size": args.micro_batch, "epochs": 1, "seed": 0},
        "eval": {"every": 0, "size": 1},
    }


def spin_prompts(recipe: dict[str, Any], iteration: int) -> list[dict[str, Any]]:
    """The items the spin arena draws for ``iteration``'s matches (``Spin.play``'s draw, replayed)."""
    from sparring.arenas.tasks import get_family
    from sparring.runs.recipes.recipe import load_recipe
    from sparring.runs.training.train import iteration_seeds

    family = get_family(FAMILY)
    rows = []
    for seed in iteration_seeds(load_recipe(recipe), iteration):
        rng = random.Random(seed)  # Match.rng
        item = family.sample(rng, rng.randint(*DIFFICULTY), "train")
        rows.append({"prompt": item.prompt, "truth": item.answer})
    return rows


def bench_ours(args: argparse.Namespace, model: str, out: Path) -> dict[str, Any]:
    from sparring.runs.recipes.recipe import load_recipe
    from sparring.runs.training.train import Trainer

    trainer = Trainer(load_recipe(make_recipe(args, model)), out / "run", log=lambda msg: print(msg, file=sys.stderr))
    walls, splits, prompts, losses = [], [], [], []
    try:
        for it in range(args.warmup + args.iterations):
            t0 = time.perf_counter()
            report = trainer.iteration(it)
            wall = time.perf_counter() - t0
            if it < args.warmup:
                continue
            s = report.seconds
            if "eval" in s or "league" in s:
                raise RuntimeError(f"iteration {it} evaluated ({sorted(s)}); the recipe must not evaluate mid-run")
            walls.append(wall)
            splits.append({"generate": s["generate"], "score": s["score"], "build": s["build"],
                           "update": s["update"], "other": wall - s["play"] - s["build"] - s["update"]})
            prompts.append(sorted(t.outcome["prompt"] for t in trainer.play_transcripts(it)))
            losses.append({k: v for k, v in report.metrics.items() if k.startswith("update/")})
    finally:
        trainer.store.close()
    return {"iteration_seconds": walls, "split": splits, "prompts": prompts, "update_metrics": losses}


def grouped_rollout(generations: int) -> Any:
    """A TRL ``rollout_func`` that prefills each prompt once and samples its group with
    ``num_return_sequences`` (TRL's own path left-pads and prefills all ``P * G`` repeated rows)."""

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        tok = trainer.processing_class
        groups = [prompts[i:i + generations] for i in range(0, len(prompts), generations)]
        if any(g != [g[0]] * generations for g in groups):
            raise RuntimeError("rollout_func: TRL did not pass each prompt's generations consecutively")
        ids = [list(tok.apply_chat_template(g[0], add_generation_prompt=True, tokenize=True, return_dict=True)
                    ["input_ids"]) for g in groups]
        width = max(map(len, ids))
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids])
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids])
        config = copy.deepcopy(trainer.generation_config)
        config.num_return_sequences = generations
        with torch.no_grad():
            out = trainer.model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config)
        completions = []
        for row in out[:, width:].tolist():
            stop = next((i for i, t in enumerate(row) if t in trainer.eos_token_ids), None)
            completions.append(row if stop is None else row[:stop + 1])
        return {"prompt_ids": [x for x in ids for _ in range(generations)], "completion_ids": completions,
                "logprobs": None}

    return rollout


def bench_trl(args: argparse.Namespace, model_path: str, out: Path) -> dict[str, Any]:
    import datasets
    import trl
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from sparring.arenas.tasks import get_family, solver_role

    family = get_family(FAMILY)
    role = solver_role(family)
    recipe = make_recipe(args, "default")
    total = args.warmup + args.iterations
    rows = []
    for it in range(total):  # unshuffled: iteration i trains on rows i*P .. (i+1)*P - 1
        rows.extend({"prompt": role.render(r["prompt"]), "truth": r["truth"]} for r in spin_prompts(recipe, it))

    def solver_truth(completions: list[Any], truth: list[Any], **_: Any) -> list[float]:
        """1 when the completion's parsed answer checks against the truth (the spin arena's reward)."""
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [1.0 if family.check(role.parse(text)[0], t) else 0.0 for text, t in zip(texts, truth, strict=True)]

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._t0 = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.times.append(time.perf_counter() - self._t0)

    samples = args.prompts * args.generations
    bf16 = args.dtype == "bf16"
    config = trl.GRPOConfig(
        output_dir=str(out / "trl"), max_steps=total * args.steps, per_device_train_batch_size=args.micro_batch,
        gradient_accumulation_steps=samples // (args.steps * args.micro_batch),
        steps_per_generation=samples // args.micro_batch, num_generations=args.generations,
        max_completion_length=args.max_new_tokens, temperature=args.temperature, top_p=1.0, top_k=0,
        beta=0.0, epsilon=CLIP_EPS, num_iterations=1, loss_type="dapo", scale_rewards="group",
        mask_truncated_completions=False, learning_rate=LR, lr_scheduler_type="constant", warmup_steps=0,
        weight_decay=0.0, max_grad_norm=1.0, use_cpu=True, bf16=bf16, report_to=[], logging_steps=1,
        save_strategy="no", gradient_checkpointing=False, dataloader_num_workers=0, shuffle_dataset=False,
        remove_unused_columns=False, disable_tqdm=True, seed=0,
    )
    peft_config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0,
                             bias="none", task_type="CAUSAL_LM")
    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.bfloat16 if bf16 else torch.float32)
    timer = StepTimer()
    rollout = grouped_rollout(args.generations) if args.trl_generation == "rollout" else None
    trainer = trl.GRPOTrainer(model=base, reward_funcs=[solver_truth], args=config,
                              train_dataset=datasets.Dataset.from_list(rows),
                              processing_class=AutoTokenizer.from_pretrained(model_path),
                              peft_config=peft_config, callbacks=[timer], rollout_func=rollout)
    generate_s: list[float] = []
    prepare_s: list[float] = []
    seen: list[list[str]] = []
    generate, prepare = trainer._generate, trainer._generate_and_score_completions

    def timed_generate(prompts: list[Any]) -> Any:
        t0 = time.perf_counter()
        result = generate(prompts)
        generate_s.append(time.perf_counter() - t0)
        seen.append(sorted({p[-1]["content"] for p in prompts}))
        return result

    def timed_prepare(inputs: Any) -> Any:
        t0 = time.perf_counter()
        result = prepare(inputs)
        prepare_s.append(time.perf_counter() - t0)
        return result

    trainer._generate = timed_generate  # type: ignore[method-assign]
    trainer._generate_and_score_completions = timed_prepare  # type: ignore[method-assign]
    trainer.train()
    if len(generate_s) != total or len(timer.times) != total * args.steps:
        raise RuntimeError(f"TRL ran {len(generate_s)} generation rounds and {len(timer.times)} optimizer steps; "
                           f"expected {total} and {total * args.steps}")
    walls, splits = [], []
    for it in range(args.warmup, total):
        wall = sum(timer.times[it * args.steps:(it + 1) * args.steps])
        walls.append(wall)
        splits.append({"generate": generate_s[it], "score": prepare_s[it] - generate_s[it],
                       "update": wall - prepare_s[it]})
    logs = [log for log in trainer.state.log_history if "loss" in log]
    prompts = []
    for it in range(args.warmup, total):
        templated = {role.render(r["prompt"])[-1]["content"]: r["prompt"] for r in spin_prompts(recipe, it)}
        prompts.append(sorted(templated[c] for c in seen[it]))
    return {"iteration_seconds": walls, "split": splits, "prompts": prompts,
            "update_metrics": [{k: log[k] for k in ("loss", "reward", "grad_norm") if k in log}
                               for log in logs[args.warmup * args.steps:]]}


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    """One side, one repetition, in this process; library output goes to standard error."""
    torch.set_num_threads(args.threads)
    from sparring.agents.embedded import embedded_model_path

    model_path = str(embedded_model_path(quiet=True)) if args.model == "default" else args.model
    with tempfile.TemporaryDirectory(prefix="sparring-grpo-bench-") as tmp, contextlib.redirect_stdout(sys.stderr):
        if args.worker == "ours":
            return bench_ours(args, args.model, Path(tmp))
        return bench_trl(args, model_path, Path(tmp))


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _split_medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    splits = [s for r in runs for s in r["split"]]
    return {k: statistics.median(s[k] for s in splits) for k in splits[0]}


def check_sizes(args: argparse.Namespace) -> None:
    """One-line errors for sizes the two sides cannot both run."""
    samples = args.prompts * args.generations
    if args.generations < 2 or args.generations > 16:
        raise SystemExit(f"--generations must be in 2..16 (GRPO needs 2 to compare; spin allows 16), got {args.generations}")
    if min(args.prompts, args.steps, args.micro_batch, args.iterations, args.repeats) < 1 or args.warmup < 0:
        raise SystemExit("--prompts, --steps, --micro-batch, --iterations and --repeats must be >= 1, --warmup >= 0")
    if not args.temperature > 0:
        raise SystemExit(f"--temperature must be > 0 (GRPO samples; TRL has no greedy mode), got {args.temperature}")
    if args.prompts % args.steps:
        raise SystemExit(f"--prompts ({args.prompts}) must be a multiple of --steps ({args.steps}): "
                         "ours deals whole groups to the optimizer steps")
    if samples % (args.steps * args.micro_batch):
        raise SystemExit(f"prompts*generations ({samples}) must be a multiple of steps*micro-batch "
                         f"({args.steps * args.micro_batch}) so both sides take the same steps on the same micro-batches")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8, help="P: prompts (matches) per iteration")
    parser.add_argument("--generations", type=int, default=4, help="G: replies sampled per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=1, help="K: optimizer steps per iteration")
    parser.add_argument("--micro-batch", type=int, default=8, help="samples per forward/backward")
    parser.add_argument("--iterations", type=int, default=2, help="timed iterations per repetition")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first in each repetition")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per side, alternating ours/TRL")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="default", help="default (embedded SmolLM2) or a local HF folder")
    parser.add_argument("--trl-generation", choices=["own", "rollout"], default="own",
                        help="TRL samples with its own generate path, or a rollout_func that prefills "
                             "each prompt once (num_return_sequences=G)")
    parser.add_argument("--worker", choices=["ours", "trl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    check_sizes(args)
    if args.worker:
        print(json.dumps(run_worker(args)))
        return

    flags = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("worker", "repeats")]
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "trl": []}
    for _ in range(args.repeats):
        for side in ("ours", "trl"):  # alternate, so drift in the machine hits both sides alike
            done = subprocess.run([sys.executable, __file__, "--worker", side, *flags],
                                  capture_output=True, text=True)
            if done.returncode:
                sys.stderr.write(done.stderr[-4000:])
                raise SystemExit(f"the {side} worker failed (exit {done.returncode}); its log tail is above")
            runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
    walls = {side: [w for r in rs for w in r["iteration_seconds"]] for side, rs in runs.items()}
    samples = args.prompts * args.generations
    report = {
        "machine": machine(),
        "command": "python benchmarks/grpo_iteration.py " + " ".join(sys.argv[1:]),
        "threads": args.threads, "dtype": args.dtype, "prompts": args.prompts, "generations": args.generations,
        "max_new_tokens": args.max_new_tokens, "temperature": args.temperature,
        "optimizer_steps_per_iteration": args.steps, "micro_batch": args.micro_batch,
        "trl_config": {"num_generations": args.generations, "per_device_train_batch_size": args.micro_batch,
                       "steps_per_generation": samples // args.micro_batch,
                       "gradient_accumulation_steps": samples // (args.steps * args.micro_batch),
                       "beta": 0.0, "loss_type": "dapo", "scale_rewards": "group", "epsilon": CLIP_EPS,
                       "generation": {"own": "TRL's own (one transformers generate over the P*G rows)",
                                      "rollout": "rollout_func: one generate over the P prompts, "
                                                 "num_return_sequences=G"}[args.trl_generation]},
        "arena": f"spin (sparring/spin-v1), family {FAMILY}, difficulty {list(DIFFICULTY)}, reward solver_truth",
        "lora": "r=8 alpha=16 all-linear, no dropout", "kl": "none (beta 0 / kl_coef 0)",
        "warmup_iterations": args.warmup, "timed_iterations_per_repeat": args.iterations, "repeats": args.repeats,
        "same_prompts": all(o["prompts"] == t["prompts"] for o, t in zip(runs["ours"], runs["trl"], strict=True)),
        "ours_iteration_seconds": _spread(walls["ours"]), "trl_iteration_seconds": _spread(walls["trl"]),
        "ours_split_median_seconds": _split_medians(runs["ours"]),
        "trl_split_median_seconds": _split_medians(runs["trl"]),
        "trl_over_ours_median": statistics.median(walls["trl"]) / statistics.median(walls["ours"]),
        "ours_update_metrics": runs["ours"][0]["update_metrics"], "trl_update_metrics": runs["trl"][0]["update_metrics"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
