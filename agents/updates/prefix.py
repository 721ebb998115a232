"""Log-probs of several replies to one prompt, with the prompt run once.

A preference pair is two replies to one prompt; a GRPO group is G replies to one prompt.
Scoring each ``prompt + reply`` row separately runs the prompt through the model once
per reply. :func:`shared_prompt_logprobs` runs every distinct prompt once (left-padded,
so all prompts end in the last column, with a KV cache), copies each prompt's keys and
values to the rows of its replies, and runs the replies on top of that cache:

    prompt forward  [U prompts, P]      -> cache, logits of the last prompt position
    reply forward   [R replies, C - 1]  on the cache gathered to the R rows

The first reply token is scored from the prompt's last logits, the others from the
reply forward. Gradients flow through the gathered cache into the prompt forward, so
the result equals the row-by-row forward in value and gradient (up to floating-point
rounding: the matmul shapes differ). With a system prompt of 40 tokens and replies of
40, a pair costs 120 token positions instead of 160.

Used by :func:`~sparring.agents.updates.logprobs.sequence_logprobs` whenever a batch
repeats a prompt and the model takes per-row ``logits_to_keep`` masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from transformers import DynamicCache

from sparring.agents.engines.hf import cache_keyword
from sparring.agents.errors import InternalError


def _base_class(model: Any) -> type:
    return type(model.get_base_model() if hasattr(model, "get_base_model") else model)


def prompt_groups(prompt_ids: Sequence[Sequence[int]]) -> tuple[list[tuple[int, ...]], list[int]]:
    """Distinct prompts in order of first appearance, and each row's index into them."""
    index: dict[tuple[int, ...], int] = {}
    rows = [index.setdefault(tuple(p), len(index)) for p in prompt_ids]
    return list(index), rows


def shared_prompt_logprobs(
    model: Any,
    logprobs_of: Any,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    pad_id: int,
    temps: Sequence[float],
    device: torch.device,
) -> tuple[Tensor, Tensor]:
    """As :func:`~sparring.agents.updates.logprobs.sequence_logprobs`, each distinct prompt run once.

    Args:
        model: A causal LM taking ``past_key_values``, ``position_ids`` and a boolean 2-D
            ``logits_to_keep``.
        logprobs_of: ``selective_logprobs`` (passed in to keep the import one-way).
        prompt_ids: Prompt token ids per row (each non-empty).
        completion_ids: Completion token ids per row.
        pad_id: Padding token id.
        temps: One temperature per row (> 0).
        device: The model's device.

    Returns:
        ``(token_logps, mask)``, both ``[R, T]`` with ``T`` the longest completion.
    """
    prompts, group = prompt_groups(prompt_ids)
    rows, longest = len(completion_ids), max(len(c) for c in completion_ids)
    width = max(len(p) for p in prompts)
    prompt_in = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    prompt_mask = torch.zeros(len(prompts), width, dtype=torch.long)
    for u, p in enumerate(prompts):
        prompt_in[u, width - len(p):] = torch.tensor(p, dtype=torch.long)
        prompt_mask[u, width - len(p):] = 1
    positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    cache_arg = {cache_keyword(_base_class(model)): cache}
    # The last column by index, not logits_to_keep=1: see HFEngine (a non-contiguous
    # slice sends a frozen tied lm_head down a slow bmm path).
    out = model(input_ids=prompt_in.to(device), attention_mask=prompt_mask.to(device),
                position_ids=positions.to(device), use_cache=True,
                logits_to_keep=torch.tensor([width - 1], device=device), **cache_arg)
    last = out.logits[:, -1]  # [U, V]: predicts each prompt's first reply token

    mask = torch.zeros(rows, longest, device=device)
    first_rows = [r for r, c in enumerate(completion_ids) if c]
    for r in first_rows:
        mask[r, : len(completion_ids[r])] = 1
    # Rows sharing a prompt share its last logits; selective_logprobs wants distinct rows.
    pick = torch.tensor([group[r] for r in first_rows], device=device)
    first = logprobs_of(last.index_select(0, pick), torch.tensor([completion_ids[r][0] for r in first_rows],
                        device=device), torch.tensor([temps[r] for r in first_rows], device=device))
    column0 = torch.zeros(rows, device=device, dtype=first.dtype).index_put((pick.new_tensor(first_rows),), first)
    if longest == 1:
        return column0[:, None], mask

    rest_width = longest - 1
    reply_in = torch.full((rows, rest_width), pad_id, dtype=torch.long)
    reply_mask = torch.zeros(rows, rest_width, dtype=torch.long)
    keep = torch.zeros(rows, rest_width, dtype=torch.bool)
    targets: list[int] = []
    token_temps: list[float] = []
    for r, c in enumerate(completion_ids):
        if len(c) < 2:
            continue
        reply_in[r, : len(c) - 1] = torch.tensor(c[:-1], dtype=torch.long)
        reply_mask[r, : len(c) - 1] = 1
        keep[r, : len(c) - 1] = True
        targets.extend(c[1:])
        token_temps.extend([temps[r]] * (len(c) - 1))
    # Rows without a second token still run (one padded column); their outputs are never kept.
    index = torch.tensor(group, device=device)
    cache.reorder_cache(index)  # index_select along the batch: differentiable, [U] -> [R]
    attention = torch.cat([prompt_mask[group], reply_mask], dim=1)
    lengths = prompt_mask.sum(-1)[group]
    reply_positions = lengths[:, None] + torch.arange(rest_width)[None, :]
    logits = model(input_ids=reply_in.to(device), attention_mask=attention.to(device),
                   position_ids=reply_positions.to(device), use_cache=True, **cache_arg,
                   logits_to_keep=keep.to(device)).logits
    if logits.shape[0] != len(targets):
        raise InternalError(f"reply forward returned logits {tuple(logits.shape)} for {len(targets)} kept positions")
    flat = logprobs_of(logits, torch.tensor(targets, device=device), torch.tensor(token_temps, device=device))
    rest_mask = torch.zeros(rows, rest_width, dtype=torch.bool, device=device)
    rest_mask[keep.to(device)] = True
    rest = torch.zeros(rows, rest_width, device=device, dtype=flat.dtype).masked_scatter(rest_mask, flat)
    return torch.cat([column0[:, None], rest], dim=1), mask
