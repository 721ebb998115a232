"""Grouped-query attention that never copies keys and values once per query head.

transformers' ``sdpa`` attention passes ``enable_gqa=True`` to PyTorch only when there is
no attention mask; with one (padding, or a KV cache gathered to reply rows) it first
expands keys and values to every query head (``repeat_kv``), and autograd keeps those
copies for the backward pass. SmolLM2 has 9 query heads on 3 key/value heads, so a
training forward over long prompts held three copies of every key and value: in
``agents/updates/prefix.py``'s reply forward (each reply row attends to its prompt's
whole KV) that grew with prompt length x samples (issue 24; ``docs/memory.json``).

:func:`gqa_sdpa` is the same attention with ``enable_gqa=True`` whatever the mask
(PyTorch >= 2.5 supports it with masks on CPU and CUDA), registered with transformers as
``"sparring_sdpa_gqa"`` (its masks are ``sdpa``'s). :func:`gqa_attention` switches a model
to it for a block, so updates use it without changing the model anything else sees.
Values equal ``sdpa``'s up to float rounding (tests compare log-probs and gradients).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

NAME = "sparring_sdpa_gqa"


def gqa_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' ``sdpa_attention_forward`` with grouped keys and values kept grouped."""
    q_length, kv_length = query.shape[2], key.shape[2]
    causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
    causal = q_length > 1 and attention_mask is None and causal
    if causal and kv_length > q_length:  # as transformers: sdpa's causal mask is upper-left aligned
        key, value = key[:, :, :q_length], value[:, :, :q_length]
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling, is_causal=causal,
        enable_gqa=query.shape[1] != key.shape[1],
    )
    return out.transpose(1, 2).contiguous(), None


@functools.cache
def register() -> str:
    """Register :func:`gqa_sdpa` (and ``sdpa``'s masks) with transformers under :data:`NAME`."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, gqa_sdpa)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME


@contextmanager
def gqa_attention(model: Any) -> Iterator[Any]:
    """Run a block with ``model`` on :func:`gqa_sdpa` where it uses ``sdpa``; restored on exit.

    Models on another attention (eager, flash) are left as they are.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    if previous != "sdpa":
        yield model
        return
    config._attn_implementation = register()
    try:
        yield model
    finally:
        config._attn_implementation = previous
