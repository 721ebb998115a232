"""Per-token log-probabilities of replies, under any adapter of the one loaded model.

:func:`sequence_logprobs` runs one right-padded forward over ``prompt + reply`` rows and
returns the log-prob of every reply token. :func:`use_adapter` switches which LoRA adapter
(or the bare base) that forward uses, and :func:`reference_logprobs` combines the two under
``torch.no_grad()`` for reference policies. A reference is therefore another adapter on
the same weights (a frozen ``"adapter@vN"`` snapshot) or the base with adapters disabled,
never a second copy of the model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def sequence_logprobs(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    pad_id: int,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Log-prob of each completion token given its prompt, for a batch, in one forward.

    Rows are ``prompt + completion`` padded on the right, so real tokens never sit after
    padding and need no position fix-up. Only the positions that predict a completion
    token reach the LM head (via ``logits_to_keep``), which matters when the vocabulary
    is large and the prompts are long.

    Args:
        model: A causal LM (a peft model or a plain transformers model) whose forward
            accepts ``input_ids``, ``attention_mask`` and ``logits_to_keep``.
        prompt_ids: Prompt token ids per row; each needs at least one token.
        completion_ids: Completion token ids per row (may be empty).
        pad_id: Token id used for padding (masked out; its value does not matter).
        temperature: Divide logits by this first, to score tokens under the distribution
            they were sampled from (``Completion.logprobs`` are temperature-scaled).

    Returns:
        ``(token_logps, mask)``, both ``[B, T]`` with ``T`` the longest completion:
        fp32 log-probs (0 on padding) and a float mask that is 1 on completion tokens.
    """
    if len(prompt_ids) != len(completion_ids):
        raise ValueError(f"{len(prompt_ids)} prompts but {len(completion_ids)} completions; give one each per row")
    if any(len(p) == 0 for p in prompt_ids):
        raise ValueError("every prompt needs at least one token: the first completion token is predicted from it")
    device = _device(model)
    rows = len(prompt_ids)
    width = max((len(p) + len(c) for p, c in zip(prompt_ids, completion_ids, strict=True)), default=0)
    longest = max((len(c) for c in completion_ids), default=0)
    mask = torch.zeros(rows, longest, device=device)
    if rows == 0 or longest == 0:
        return torch.zeros(rows, longest, device=device), mask

    input_ids = torch.full((rows, width), pad_id, dtype=torch.long)
    attention = torch.zeros(rows, width, dtype=torch.long)
    # source[b, t]: column whose logits predict completion token t of row b (prompt end - 1 + t).
    source = torch.zeros(rows, longest, dtype=torch.long)
    targets = torch.zeros(rows, longest, dtype=torch.long)
    for b, (p, c) in enumerate(zip(prompt_ids, completion_ids, strict=True)):
        ids = list(p) + list(c)
        input_ids[b, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention[b, : len(ids)] = 1
        source[b, : len(c)] = torch.arange(len(p) - 1, len(p) - 1 + len(c))
        targets[b, : len(c)] = torch.tensor(list(c), dtype=torch.long)
        mask[b, : len(c)] = 1
    # Keep only columns some row needs; remap each row's columns into that kept set.
    keep = torch.unique(source[mask.cpu().bool()])
    lookup = torch.zeros(width, dtype=torch.long)
    lookup[keep] = torch.arange(len(keep))
    source = lookup[source].to(device)
    targets = targets.to(device)

    out = model(
        input_ids=input_ids.to(device),
        attention_mask=attention.to(device),
        logits_to_keep=keep.to(device),
        use_cache=False,
    )
    logits = out.logits.float()  # [B, K, V]; fp32 so a bf16 base does not round the logsumexp
    if temperature != 1.0:
        logits = logits / temperature
    token_logits = logits[torch.arange(rows, device=device).unsqueeze(-1), source, targets]
    token_logps = token_logits - torch.logsumexp(logits, dim=-1).gather(1, source)
    return token_logps * mask, mask


@contextmanager
def use_adapter(model: Any, adapter: str | None) -> Iterator[Any]:
    """Run a block with ``adapter`` active on ``model``; ``None`` means the bare base.

    The base is reached with peft's ``disable_adapter()``; another adapter (a snapshot
    such as ``"solver@v3"``) with ``set_adapter``. Both touch ``requires_grad`` flags of
    LoRA weights as a side effect, so every flag and the active adapter are restored on
    exit: the block leaves the model as it found it. Switching is global state of the
    shared model, so do not generate with it from another thread meanwhile.

    Args:
        model: The pool's model (a ``PeftModel``; a plain model works for ``None``).
        adapter: Adapter name to activate, or ``None`` for the base weights.

    Yields:
        The model.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        if adapter is None:
            if hasattr(model, "disable_adapter"):
                with model.disable_adapter():
                    yield model
            else:
                yield model
        else:
            if not hasattr(model, "set_adapter") or adapter not in getattr(model, "peft_config", {}):
                known = ", ".join(getattr(model, "peft_config", {})) or "none"
                raise KeyError(f"adapter {adapter!r} is not on this model (adapters: {known})")
            previous = model.active_adapter
            if previous == adapter:
                yield model
            else:
                model.set_adapter(adapter)
                try:
                    yield model
                finally:
                    model.set_adapter(previous)
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def reference_logprobs(
    model: Any,
    adapter: str | None,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    pad_id: int,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """:func:`sequence_logprobs` under ``adapter`` (``None``: the base), without gradients.

    Args:
        model: The pool's model.
        adapter: The reference: a frozen snapshot name, another adapter, or ``None``.
        prompt_ids: Prompt token ids per row.
        completion_ids: Completion token ids per row.
        pad_id: Padding token id.
        temperature: As in :func:`sequence_logprobs`.

    Returns:
        ``(token_logps, mask)`` as :func:`sequence_logprobs`, detached.
    """
    with torch.no_grad(), use_adapter(model, adapter):
        return sequence_logprobs(model, prompt_ids, completion_ids, pad_id, temperature)
