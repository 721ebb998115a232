"""Multi-LoRA throughput: batched per-row LoRA (MultiLora) vs bare base model vs peft.

Prints one JSON object. Batch of 32 chat prompts (~60 tokens, left-padded), greedy, a
fixed number of new tokens (no early stop, so every variant generates the same count):

(i)   ``base``: the bare base model, no peft.
(ii)  ``multilora``: peft with 5 adapters (r=8, all linear layers, non-zero B), rows mixing
      the 5 adapters and some base rows, through :class:`MultiLora`.
(ii') ``multilora_qv``: the same with the adapters on q_proj/v_proj only.
(iii) ``peft_forward``: (ii)'s model and rows through peft's ``adapter_names`` forward.
(iv)  ``peft_generate``: peft's own ``generate(..., adapter_names=...)``.

(i)-(iii) share one minimal decode loop (DynamicCache, position ids from the attention
mask, argmax, EOS masked like ``min_new_tokens``), so only the LoRA method differs.
Tokens/s count generated tokens over the whole call (prefill included); the variants run
in interleaved rounds and the best round of each is kept. ``agreement_with_peft_forward``
is the fraction of generated tokens equal to (iii)'s, a check that the fast path computes
the same thing. ``mixed_over_peft_ceiling`` = base / peft_generate is the largest
``mixed_over_peft`` possible if the LoRA deltas cost nothing. The machine is shared: the
load averages are reported because a busy second core makes 2-thread OpenMP runs erratic.

Usage: python benchmarks/multilora_throughput.py [--quick] [--model PATH] [--tokens N]
       [--repeats R] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

DEFAULT_MODEL = Path("/root/.cache/sparring/models/SmolLM2-135M-Instruct")
N_ADAPTERS = 5
QUESTIONS = [
    "I am checking my homework and want to be sure. What is {a} + {b}? Show the steps briefly.",
    "Name a country in Europe whose capital starts with the letter {c}, and tell me one fact about it.",
    "Explain in one or two sentences why the sky looks blue during the day, for a child aged {a}.",
    "Write a short haiku about the number {b}, the colour of autumn leaves and a quiet morning walk.",
    "Is {a} an even number? Answer yes or no first, then explain briefly how you can tell.",
    "Give me three practical tips for learning to play chess if I only have {a} minutes a day.",
    "Translate the phrase 'good morning, my friend, how was your trip?' into French and into Spanish.",
    "Summarise the rules of tic-tac-toe in two sentences, then say which player moves first.",
]


def prompts(tokenizer, n: int) -> list[list[int]]:
    """``n`` chat prompts (default system prompt included) as token ids."""
    out = []
    for i in range(n):
        q = QUESTIONS[i % len(QUESTIONS)].format(
            a=7 + 3 * i, b=11 + 5 * i, c="ABCDEFGHLMPRSTV"[i % 15]
        )
        q += " Please keep the answer short and friendly."
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": q}], add_generation_prompt=True, tokenize=True
        )
        out.append(list(ids["input_ids"] if hasattr(ids, "keys") else ids))
    return out


def left_pad(batch: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in batch)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, p in enumerate(batch):
        ids[i, width - len(p) :] = torch.tensor(p)
        mask[i, width - len(p) :] = 1
    return ids, mask


@torch.inference_mode()
def decode(
    model, ids: torch.Tensor, mask: torch.Tensor, new_tokens: int, eos: int | None = None, **kw
) -> torch.Tensor:
    """Minimal greedy decode loop shared by every variant; returns [rows, new_tokens] ids.

    ``eos`` is never picked, as with ``generate(min_new_tokens=new_tokens)``.
    """
    from transformers import DynamicCache

    from sparring.agents.engines.hf import cache_keyword

    cache = DynamicCache()
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    cache_kw = cache_keyword(type(inner))
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=pos,
        use_cache=True,
        # an index (not 1) so the last hidden state is gathered contiguous: see agents/engines/hf.py
        logits_to_keep=torch.tensor([ids.shape[1] - 1], device=ids.device),
        **{cache_kw: cache},
        **kw,
    )
    last, toks = pos[:, -1:], []
    for step in range(new_tokens):
        logits = out.logits[:, -1]
        if eos is not None:
            logits[:, eos] = float("-inf")
        nxt = logits.argmax(-1, keepdim=True)
        toks.append(nxt)
        if step == new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
        last = last + 1
        out = model(
            input_ids=nxt,
            attention_mask=mask,
            position_ids=last,
            use_cache=True,
            **{cache_kw: cache},
            **kw,
        )
    return torch.cat(toks, dim=1)


def timed(fn) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def with_adapters(path: Path, targets: object, names: list[str], seed: int = 0):
    """Fresh base copy wrapped by peft with ``names`` as r=8 adapters (random, non-zero B)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    torch.manual_seed(seed)
    peft_model = None
    for name in names:
        cfg = LoraConfig(
            r=8, lora_alpha=16, target_modules=targets, lora_dropout=0.0, init_lora_weights=False
        )
        if peft_model is None:
            peft_model = get_peft_model(model, cfg, adapter_name=name)
        else:
            peft_model.add_adapter(name, cfg)
    with torch.no_grad():
        # nn.Linear's default init makes B as large as A; shrink it so the adapted models
        # still write text (it does not change the cost) and greedy outputs are comparable.
        for m in peft_model.modules():
            if hasattr(m, "lora_B") and isinstance(m.lora_B, torch.nn.ModuleDict):
                for lin in m.lora_B.values():
                    lin.weight.mul_(0.05)
    return peft_model.eval()


def measure(
    loaded_path: str | Path | None = None,
    quick: bool = False,
    tokens: int | None = None,
    batch: int = 32,
    repeats: int | None = None,
) -> dict:
    """Run all variants and return the JSON-able results (see the module docstring)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sparring.agents.engines.multilora import MultiLora

    path = Path(loaded_path) if loaded_path else DEFAULT_MODEL
    new = tokens or (16 if quick else 64)
    repeats = repeats or (1 if quick else 2)
    tok = AutoTokenizer.from_pretrained(path)
    ids, mask = left_pad(prompts(tok, batch), tok.pad_token_id)
    eos = tok.eos_token_id
    names = [f"role{i}" for i in range(N_ADAPTERS)]
    # Rows cycle through the 5 adapters and one base row: 32 rows -> 5 base rows.
    rows = [names[i % 6] if i % 6 < N_ADAPTERS else None for i in range(batch)]
    res: dict = {
        "machine": machine(),
        "model": str(path),
        "dtype": "float32",
        "threads": torch.get_num_threads(),
        "batch": batch,
        "prompt_tokens_mean": float(mask.sum(1).float().mean()),
        "prompt_width": ids.shape[1],
        "new_tokens": new,
        "adapters": N_ADAPTERS,
        "rank": 8,
        "base_rows": rows.count(None),
    }
    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    model = with_adapters(path, "all-linear", names)
    qv = with_adapters(path, ["q_proj", "v_proj"], names)
    ml, ml_qv = MultiLora(model), MultiLora(qv)
    t0 = time.perf_counter()
    ml._stacks(tuple(sorted(names)))  # what the first rows() call pays once (then cached)
    res["stack_build_s"] = time.perf_counter() - t0
    peft_rows = [r or "__base__" for r in rows]

    def mixed(n: int) -> torch.Tensor:
        with ml.rows(rows):
            return decode(model, ids, mask, n, eos)

    def mixed_qv(n: int) -> torch.Tensor:
        with ml_qv.rows(rows):
            return decode(qv, ids, mask, n, eos)

    def peft_generate(n: int) -> torch.Tensor:
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                adapter_names=peft_rows,
                pad_token_id=tok.pad_token_id,
            )
        return out[:, ids.shape[1] :]

    variants = {
        "base": lambda n: decode(base, ids, mask, n, eos),
        "multilora": mixed,
        "peft_forward": lambda n: decode(model, ids, mask, n, eos, adapter_names=peft_rows),
        "peft_generate": peft_generate,
        "multilora_qv": mixed_qv,
    }
    for fn in variants.values():
        fn(2)  # warm-up: first-call allocations
    # Interleaved rounds, best of each: other processes on a shared 2-core machine slow
    # whole stretches of time, and interleaving spreads that over all variants alike.
    tps: dict[str, float] = {}
    outs: dict[str, torch.Tensor] = {}
    res["loadavg_before"] = os.getloadavg()[0]
    for _ in range(repeats):
        for label, fn in variants.items():
            outs[label], secs = timed(lambda fn=fn: fn(new))
            tps[label] = max(tps.get(label, 0.0), batch * new / secs)
    res["loadavg_after"] = os.getloadavg()[0]
    res["repeats"] = repeats

    res["tokens_per_s"] = tps
    ref = outs["peft_forward"]
    res["agreement_with_peft_forward"] = {
        k: float((outs[k] == ref).float().mean()) for k in ("multilora", "peft_generate")
    }
    res["mixed_over_base"] = tps["multilora"] / tps["base"]
    res["mixed_over_peft"] = tps["multilora"] / tps["peft_generate"]
    res["mixed_over_peft_forward"] = tps["multilora"] / tps["peft_forward"]
    res["qv_over_base"] = tps["multilora_qv"] / tps["base"]
    res["peft_generate_over_base"] = tps["peft_generate"] / tps["base"]
    res["mixed_over_peft_ceiling"] = tps["base"] / tps["peft_generate"]
    res["targets"] = {"mixed_over_base": 0.7, "mixed_over_peft": 2.0}
    return res


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--quick", action="store_true", help="16 new tokens instead of 64")
    parser.add_argument(
        "--tokens", type=int, default=None, help="new tokens per row (overrides --quick)"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--repeats", type=int, default=None, help="interleaved rounds (best kept); 2, quick 1"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        json.dumps(measure(args.model, args.quick, args.tokens, args.batch, args.repeats), indent=2)
    )


if __name__ == "__main__":
    main()
