"""The cases of ``benchmarks/gpu_suite.py``: generation, the runner, update steps.

Every case runs on a randomly initialised model of a real shape (a config of
``benchmarks/configs/``; ``toy`` keeps the architecture and shrinks it to 2 layers of
width 64 and a 512-token vocabulary) with the byte-level tokenizer of
``sparring.agents.tiny``: no weights, no tokenizer files, no network. The byte-level
tokenizer makes prompts about 3-4x longer in tokens than the models' own tokenizers would;
each case reports its prompt tokens.

Fixed reply lengths: the generation and runner cases mask every special token (the stop
ids among them) out of the LM head's output with a forward hook, so each row generates
exactly ``max_new_tokens`` and tokens/s compare like with like across batches and modes.
The update cases use a model without the hook.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

CONFIGS = Path(__file__).resolve().parent / "configs"
ROOT = Path(__file__).resolve().parent.parent
TOY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
       "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 512}
N_ADAPTERS = 5


def model_config(name: str, toy: bool) -> Any:
    """The transformers config of ``configs/<name>.json`` (shrunk when ``toy``)."""
    from transformers import AutoConfig

    fields = {k: v for k, v in json.loads((CONFIGS / f"{name}.json").read_text()).items() if not k.startswith("_")}
    fields.pop("architectures", None)
    if toy:
        fields.update(TOY)
    # The byte-level tokenizer's special ids (pad 0, end of turn 2), not the hub model's.
    fields.update(pad_token_id=0, eos_token_id=2, bos_token_id=None)
    return AutoConfig.for_model(**fields)


def build_pool(name: str, toy: bool, device: str, dtype: torch.dtype, adapters: int = 0, seed: int = 0) -> Any:
    """A pool holding a random model of shape ``name`` (as ``"default"``) and ``adapters`` random LoRAs."""
    from transformers import AutoModelForCausalLM

    from sparring.agents.pool import ModelPool
    from sparring.agents.tiny import tiny_tokenizer

    config = model_config(name, toy)
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = 0, 2
    pool = ModelPool(device=device, dtype=dtype)
    pool.adopt("default", model, tiny_tokenizer(), source=f"random:{name}{' (toy)' if toy else ''}")
    for i in range(adapters):
        pool.add_adapter("default", f"role{i}", rank=8, alpha=16, init="random", seed=i)
    return pool


def fixed_lengths(loaded: Any) -> None:
    """Mask the tokenizer's special tokens (stop ids included) out of every LM-head output."""
    ids = torch.tensor(sorted(set(loaded.tokenizer.all_special_ids)), device=loaded.device)

    def no_specials(module: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return output.index_fill_(-1, ids, float("-inf"))

    loaded.base.get_output_embeddings().register_forward_hook(no_specials)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory(device: str) -> float | None:
    """Peak GPU memory allocated (MiB) since the last reset; ``None`` on the CPU."""
    if not device.startswith("cuda"):
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def timed(device: str, fn: Callable[[], Any]) -> tuple[Any, float]:
    synchronize(device)
    t0 = time.perf_counter()
    out = fn()
    synchronize(device)
    return out, time.perf_counter() - t0


# -- generation --------------------------------------------------------------------------
def solver_requests(n: int, adapters: list[str | None], new_tokens: int, seed: int = 0) -> list[Any]:
    """``n`` solver asks, rows cycling through ``adapters``, sampled at the role's temperature."""
    from sparring.agents.builtin_roles import solver
    from sparring.agents.engines.base import GenerationRequest

    role = solver()
    sampling = role.sampling.updated(max_new_tokens=new_tokens)
    return [GenerationRequest(role.render(f"What is {10 + 3 * i} + {20 + 7 * i}?"), adapters[i % len(adapters)],
                              sampling, seed * 100_000 + i) for i in range(n)]


def generation(pool: Any, device: str, batches: list[int], new_tokens: int) -> dict[str, Any]:
    """Base rows vs rows mixing 5 adapters and base rows, at each batch size."""
    from sparring.agents.engines.hf import HFEngine

    loaded = pool.get("default")
    fixed_lengths(loaded)
    names: list[str | None] = [f"role{i}" for i in range(N_ADAPTERS)]
    modes = {"base": [None], "mixed_5_adapters": [*names, None]}  # mixed: 5 adapters and 1 base row in 6
    out: dict[str, Any] = {}
    for batch in batches:
        for mode, adapters in modes.items():
            engine = HFEngine(loaded, max_batch_size=batch)
            engine.generate(solver_requests(min(batch, 4), adapters, 2, seed=99))  # warm-up
            requests = solver_requests(batch, adapters, new_tokens)
            reset_peak(device)
            completions, seconds = timed(device, lambda e=engine, r=requests: e.generate(r))
            tokens = sum(len(c.token_ids) for c in completions)
            out[f"{mode}@{batch}"] = {
                "batch": batch, "mode": mode, "tokens": tokens, "seconds": round(seconds, 3),
                "tokens_per_s": round(tokens / seconds, 1), "peak_gpu_memory_mib": peak_memory(device),
                "prompt_tokens_mean": round(sum(len(engine.encode(r.messages)) for r in requests) / batch, 1),
                "fixed_length": all(len(c.token_ids) == new_tokens for c in completions),
            }
        base, mixed = out[f"base@{batch}"], out[f"mixed_5_adapters@{batch}"]
        out[f"mixed_over_base@{batch}"] = round(mixed["tokens_per_s"] / base["tokens_per_s"], 3)
    return out


# -- the runner --------------------------------------------------------------------------
def _question(request: Any, index: int) -> str:
    a, b = 10 + index % 80, 20 + (7 * index) % 70
    return f"Question: What is {a} + {b}?\nAnswer: {a + b}"


def runner(pool: Any, device: str, arena_name: str, matches: int, batch: int) -> dict[str, Any]:
    """The runner with ``matches`` in flight vs the raw engine on the same requests and on a uniform batch.

    qa-verify's questioner is scripted (a random model never writes a parseable question,
    and the match would end there); its solver and verifier asks, and every seat of the
    debate, run on the model.
    """
    from runner_throughput import RecordingEngine  # type: ignore[import-not-found]

    from sparring.agents.engines.hf import HFEngine
    from sparring.agents.engines.scripted import ScriptedEngine
    from sparring.arenas import Runner
    from sparring.arenas.registry import make
    from sparring.runs.playing.play import match_seeds

    loaded = pool.get("default")
    fixed_lengths(loaded)
    engine = HFEngine(loaded, max_batch_size=batch)
    engine.generate(solver_requests(4, [None], 2, seed=99))  # warm-up
    engines: dict[str, Any] = {"default": RecordingEngine(engine)}
    roles = {}
    if arena_name == "qa-verify":
        arena = make("qa-verify")
        scripted = ScriptedEngine(_question)
        engines["scripted"] = scripted
        roles["questioner"] = arena.default_roles()["questioner"].bind(model="scripted")
    else:
        arena = make(f"{ROOT / 'examples' / 'debate.py'}:Debate")
    play = Runner(engines, roles, max_in_flight=matches)
    reset_peak(device)
    before = engine.stats["generated_tokens"]
    _, seconds = timed(device, lambda: play.play(arena, match_seeds(1, matches)))
    tokens = engine.stats["generated_tokens"] - before
    sent = [r for call in engines["default"].calls for r in call]
    out: dict[str, Any] = {
        "arena": arena.id, "matches_in_flight": matches, "batch": batch, "model_requests": len(sent),
        "runner": {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
                   "peak_gpu_memory_mib": peak_memory(device), "errors": play.stats.errors},
    }
    if arena_name == "qa-verify":
        out["scripted_questioner_asks"] = len(scripted.requests)
    reset_peak(device)
    completions, same_s = timed(device, lambda: engine.generate(sent))
    same = sum(len(c.token_ids) for c in completions)
    out["raw_same_requests"] = {"tokens": same, "seconds": round(same_s, 3), "tokens_per_s": round(same / same_s, 1),
                                "peak_gpu_memory_mib": peak_memory(device)}
    uniform = solver_requests(batch, [None], 48)
    completions, raw_s = timed(device, lambda: engine.generate(uniform))
    raw = sum(len(c.token_ids) for c in completions)
    out["raw_uniform_batch"] = {"tokens": raw, "seconds": round(raw_s, 3), "tokens_per_s": round(raw / raw_s, 1)}
    out["runner_over_raw_same_requests"] = round(out["runner"]["tokens_per_s"] / out["raw_same_requests"]["tokens_per_s"], 3)
    out["runner_over_raw_uniform"] = round(out["runner"]["tokens_per_s"] / out["raw_uniform_batch"]["tokens_per_s"], 3)
    return out


# -- update steps ------------------------------------------------------------------------
def _ids(rng: random.Random, n: int, vocab: int) -> list[int]:
    return [rng.randrange(3, vocab) for _ in range(n)]  # no special ids (0-2)


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 +=.") for _ in range(n))


def dpo_rows(n: int, prompt: int, reply: int, seed: int = 0) -> list[dict[str, str]]:
    """``n`` (prompt, chosen, rejected) texts of ``prompt`` and ``reply - 1`` characters (+ the end token).

    Text, so TRL's ``DPOTrainer`` reads the same rows; with the byte-level tokenizer one
    character is one token, so both sides train on identical token ids.
    """
    rng = random.Random(seed)
    return [{"prompt": _text(rng, prompt), "chosen": _text(rng, reply - 1), "rejected": _text(rng, reply - 1)}
            for _ in range(n)]


def dpo_pairs(rows: list[dict[str, str]], tokenizer: Any) -> list[Any]:
    """Our ``PreferencePair``s of ``rows``: completions end with the end token, as TRL appends it."""
    from sparring.agents.updates.batch import PreferencePair

    def ids(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    eos = tokenizer.eos_token_id
    return [PreferencePair(ids(r["prompt"]), ids(r["chosen"]) + [eos], ids(r["rejected"]) + [eos]) for r in rows]


def grpo_samples(groups: int, size: int, prompt: int, reply: int, vocab: int, seed: int = 0) -> list[Any]:
    from sparring.agents.updates.batch import GroupSample

    rng = random.Random(seed)
    out = []
    for g in range(groups):
        head = _ids(rng, prompt, vocab)
        out += [GroupSample(head, _ids(rng, reply, vocab), None, float(rng.random()), g, 1.0) for _ in range(size)]
    return out


def update_steps(pool: Any, device: str, algorithm: str, batch: list[Any], micro: int, steps: int) -> dict[str, Any]:
    """One warm-up step, then ``steps`` timed steps of our update on a fresh adapter."""
    from sparring.agents.updates.step import DPOUpdate, PolicyGradientUpdate

    pool.add_adapter("default", algorithm, rank=8, alpha=16)
    if algorithm == "dpo":
        update: Any = DPOUpdate(pool, "default", "dpo", beta=0.1, lr=1e-5, micro_batch_size=micro)
        tokens = sum(2 * len(p.prompt_ids) + len(p.chosen_ids) + len(p.rejected_ids) for p in batch)
    else:
        update = PolicyGradientUpdate(pool, "default", "grpo", lr=1e-5, micro_batch_size=micro)
        tokens = sum(len(s.prompt_ids) + len(s.completion_ids) for s in batch)
    update.step(batch)  # warm-up
    reset_peak(device)
    times, losses = [], []
    for _ in range(steps):
        metrics, seconds = timed(device, lambda: update.step(batch))
        times.append(round(seconds, 3))
        losses.append(metrics["loss"])
    return {"samples": len(batch), "micro_batch": micro, "tokens_per_step": tokens, "step_seconds": times,
            "tokens_per_s": round(tokens * steps / sum(times), 1), "losses": losses,
            "peak_gpu_memory_mib": peak_memory(device)}


def trl_dpo_steps(pool: Any, device: str, rows: list[dict[str, str]], micro: int, steps: int) -> dict[str, Any]:
    """TRL's ``DPOTrainer`` on the same rows, model and LoRA shape (one warm-up step); or why it was skipped."""
    import importlib.util

    if importlib.util.find_spec("trl") is None:
        return {"skipped": "trl is not importable here"}
    import contextlib
    import sys
    import tempfile

    import datasets
    import trl
    from peft import LoraConfig
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.t0 = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            synchronize(device)
            self.t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            synchronize(device)
            self.times.append(round(time.perf_counter() - self.t0, 3))

    loaded = pool.get("default")
    pairs = dpo_pairs(rows, loaded.tokenizer)
    rows = rows * (steps + 1)
    timer = StepTimer()
    with tempfile.TemporaryDirectory(prefix="sparring-gpu-suite-trl-") as tmp, contextlib.redirect_stdout(sys.stderr):
        config = trl.DPOConfig(
            output_dir=tmp, max_steps=steps + 1, per_device_train_batch_size=micro,
            gradient_accumulation_steps=max(1, len(pairs) // micro), learning_rate=1e-5, beta=0.1,
            loss_type=["sigmoid"], use_cpu=not device.startswith("cuda"), report_to=[], save_strategy="no",
            gradient_checkpointing=False, dataloader_num_workers=0, max_length=4096, lr_scheduler_type="constant",
            seed=0, bf16=loaded.dtype == torch.bfloat16 and device.startswith("cuda"), disable_tqdm=True,
        )
        peft_config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0,
                                 bias="none", task_type="CAUSAL_LM")
        reset_peak(device)
        trainer = trl.DPOTrainer(model=loaded.model, args=config, train_dataset=datasets.Dataset.from_list(rows),
                                 processing_class=loaded.tokenizer, peft_config=peft_config, callbacks=[timer])
        trainer.train()
    times = timer.times[1:]
    tokens = sum(2 * len(p.prompt_ids) + len(p.chosen_ids) + len(p.rejected_ids) for p in pairs)
    return {"trl": trl.__version__, "step_seconds": times, "tokens_per_s": round(tokens * len(times) / sum(times), 1),
            "peak_gpu_memory_mib": peak_memory(device)}
