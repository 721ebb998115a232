"""Grouped-query attention without per-head copies: same log-probs and gradients as sdpa."""

from __future__ import annotations

import pytest
import torch

from sparring.agents.gqa_attention import NAME, gqa_attention
from sparring.agents.pool import ModelPool
from sparring.agents.updates.base import adapter_parameters
from sparring.agents.updates.logprobs import sequence_logprobs, use_adapter
from tests.helpers import assert_close

PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [12, 13, 14], [5, 6, 7, 8, 9, 10, 11], [12, 13, 14], [20, 21, 22, 23]]
REPLIES = [[30, 31, 32, 33], [34, 35], [36, 37, 38], [39, 40, 41, 42, 43], [44]]


def _logprobs_and_grads(pool: ModelPool, share_prompts: bool, grouped: bool) -> tuple[torch.Tensor, dict]:
    loaded = pool.get("default")
    params = adapter_parameters(loaded.model, "solver")
    for p in params.values():
        p.grad = None
    with use_adapter(loaded.model, "solver") as model:
        for p in model.parameters():
            p.requires_grad_(any(p is q for q in params.values()))
        with gqa_attention(model) if grouped else torch.enable_grad():
            logps, mask = sequence_logprobs(model, PROMPTS, REPLIES, loaded.tokenizer.pad_token_id,
                                            share_prompts=share_prompts)
        (logps * mask).sum().backward()
    return logps.detach(), {k: p.grad.clone() for k, p in params.items() if p.grad is not None}


@pytest.mark.parametrize("share_prompts", [True, False], ids=["shared-prompt-cache", "row-per-reply"])
def test_grouped_attention_equals_sdpa_in_value_and_gradient(share_prompts: bool,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int, bool]] = []  # (query heads, key heads, enable_gqa) of every attention
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(query: torch.Tensor, key: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append((query.shape[1], key.shape[1], bool(kwargs.get("enable_gqa"))))
        return sdpa(query, key, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    pool = ModelPool(dtype="fp32")
    loaded = pool.load("default", "tiny")  # 4 query heads on 2 key/value heads
    pool.add_adapter("default", "solver", rank=4, init="random", seed=3)
    assert loaded.base.config._attn_implementation == "sdpa"
    plain, plain_grads = _logprobs_and_grads(pool, share_prompts, grouped=False)
    assert calls and all(q == k and not gqa for q, k, gqa in calls)  # sdpa: keys copied per query head
    calls.clear()
    grouped, grouped_grads = _logprobs_and_grads(pool, share_prompts, grouped=True)
    assert calls and all((q, k, gqa) == (4, 2, True) for q, k, gqa in calls)  # grouped: never copied
    assert_close(grouped, plain, name="logprobs")
    assert plain_grads.keys() == grouped_grads.keys() and plain_grads
    for name, grad in plain_grads.items():
        assert_close(grouped_grads[name], grad, rel=1e-5, name=name)
    assert loaded.base.config._attn_implementation == "sdpa"  # restored after the block


def test_the_block_switches_only_sdpa_models() -> None:
    pool = ModelPool(dtype="fp32")
    loaded = pool.load("default", "tiny")
    with gqa_attention(loaded.model):
        assert loaded.base.config._attn_implementation == NAME
    loaded.base.config._attn_implementation = "eager"
    with gqa_attention(loaded.model):
        assert loaded.base.config._attn_implementation == "eager"
