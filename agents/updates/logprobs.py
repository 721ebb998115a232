"""Per-token log-probabilities of replies, under any adapter of the one loaded model.

:func:`sequence_logprobs` runs one right-padded forward over ``prompt + reply`` rows and
returns the log-prob of every reply token. :func:`use_adapter` switches which LoRA adapter
(or the bare base) that forward uses, and :func:`reference_logprobs` combines the two under
``torch.no_grad()`` for reference policies. A reference is therefore another adapter on
the same weights (a frozen ``"adapter@vN"`` snapshot) or the base with adapters disabled,
never a second copy of the model.

Memory. The vocabulary makes the LM head's output the largest tensor of a training step
(SmolLM2: 49,152 floats per position, 197 KB), so two things keep it small:

* Only reply positions reach the LM head. transformers releases whose models take a
  boolean ``logits_to_keep`` mask get exactly those positions, row by row; older ones
  get the union of every row's reply columns (which, with right padding and prompts of
  different lengths, can be most of the width) and the reply positions are picked after.
* :func:`selective_logprobs` computes ``logit[target] - logsumexp(logits)`` in chunks of
  rows and recomputes the softmax chunk by chunk in the backward pass, so no
  full-vocabulary log-softmax (nor its gradient temporaries) exists for all positions
  at once: beyond the logits themselves, a step holds one ``[chunk, vocab]`` block and
  the logits' gradient.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from sparring.agents.errors import InternalError
from sparring.agents.updates.prefix import shared_prompt_logprobs

#: Rows of ``[rows, vocab]`` logits processed at once by :func:`selective_logprobs`:
#: 1024 x 49,152 fp32 values is 200 MB per temporary block.
CHUNK_ROWS = 1024


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


@functools.cache
def _takes_row_masks(model_class: type) -> bool:
    """Whether ``model_class`` accepts a 2-D boolean ``logits_to_keep`` (one mask per row).

    transformers models that slice with ``slice_logits_to_keep`` (5.x) do; that helper is
    imported by the module defining the model class, so its presence there is the test.
    Older releases and remote code index hidden states with a 1-D tensor only.
    """
    return hasattr(sys.modules.get(model_class.__module__), "slice_logits_to_keep")


def _base_class(model: Any) -> type:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return type(base)


class _SelectiveLogprobs(torch.autograd.Function):
    """``logits[rows] / T`` log-softmaxed at ``targets``, chunk by chunk, forward and backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, logits: Tensor, rows: Tensor, targets: Tensor, temperatures: Tensor, chunk: int
    ) -> Tensor:
        out = torch.empty(len(rows), dtype=torch.float32, device=logits.device)
        lse = torch.empty_like(out)
        for s in range(0, len(rows), chunk):
            # fp32 so a bf16 base does not round the logsumexp.
            x = logits[rows[s : s + chunk]].float() / temperatures[s : s + chunk, None]
            lse[s : s + chunk] = torch.logsumexp(x, dim=-1)
            out[s : s + chunk] = x.gather(1, targets[s : s + chunk, None]).squeeze(1) - lse[s : s + chunk]
        ctx.save_for_backward(logits, rows, targets, temperatures, lse)
        ctx.chunk = chunk
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        logits, rows, targets, temperatures, lse = ctx.saved_tensors
        chunk = ctx.chunk
        # d(x[t] - logsumexp(x)) / dx = onehot(t) - softmax(x), and x = logits / T.
        grad_logits = torch.zeros_like(logits)
        for s in range(0, len(rows), chunk):
            x = logits[rows[s : s + chunk]].float() / temperatures[s : s + chunk, None]
            g = -torch.exp(x - lse[s : s + chunk, None])
            g.scatter_add_(1, targets[s : s + chunk, None], torch.ones_like(g[:, :1]))
            g *= (grad[s : s + chunk] / temperatures[s : s + chunk])[:, None]
            grad_logits[rows[s : s + chunk]] = g.to(logits.dtype)
        return grad_logits, None, None, None, None


def selective_logprobs(
    logits: Tensor,
    targets: Tensor,
    temperatures: Tensor | float = 1.0,
    rows: Tensor | None = None,
    chunk: int = CHUNK_ROWS,
) -> Tensor:
    """``log_softmax(logits[rows] / T)[target]`` per row, without a full log-softmax.

    Equal (fp32 rounding aside) in value and gradient to
    ``(logits[rows].float() / T).log_softmax(-1).gather(-1, targets[:, None])[:, 0]``, but
    the ``[rows, vocab]`` temporaries exist one chunk at a time, in the forward pass and in
    the backward pass (which recomputes each chunk's softmax rather than storing it).

    Args:
        logits: ``[M, V]`` logits (any float dtype); only ``rows`` of them are scored.
        targets: ``[N]`` token id to score in each selected row.
        temperatures: Divide the logits by this first; a float or ``[N]`` values (> 0).
        rows: ``[N]`` distinct row indices into ``logits``; ``None`` means all ``M`` rows.
        chunk: Rows per block.

    Returns:
        ``[N]`` fp32 log-probs.
    """
    if rows is None:
        rows = torch.arange(logits.shape[0], device=logits.device)
    temps = torch.as_tensor(temperatures, dtype=torch.float32, device=logits.device).expand(len(rows))
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return _SelectiveLogprobs.apply(logits, rows, targets, temps.contiguous(), chunk)


def _row_temperatures(temperature: float | Sequence[float], rows: int) -> list[float]:
    temps = [float(temperature)] * rows if isinstance(temperature, (int, float)) else [float(t) for t in temperature]
    if len(temps) != rows:
        raise ValueError(f"{len(temps)} temperatures for {rows} rows; give one float or one per row")
    if any(t <= 0 for t in temps):
        raise ValueError(
            f"temperatures must be > 0, got {temps}; a greedy (temperature 0) reply's log-probs are of "
            "the raw logits, so score it at temperature 1"
        )
    return temps


def sequence_logprobs(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    pad_id: int,
    temperature: float | Sequence[float] = 1.0,
    share_prompts: bool = True,
) -> tuple[Tensor, Tensor]:
    """Log-prob of each completion token given its prompt, for a batch, in one forward.

    Rows are ``prompt + completion`` padded on the right, so real tokens never sit after
    padding and need no position fix-up. Only the positions that predict a completion
    token reach the LM head (via ``logits_to_keep``), and their log-probs are computed by
    :func:`selective_logprobs` (see the module docs for the memory this saves).

    Args:
        model: A causal LM (a peft model or a plain transformers model) whose forward
            accepts ``input_ids``, ``attention_mask`` and ``logits_to_keep``.
        prompt_ids: Prompt token ids per row; each needs at least one token.
        completion_ids: Completion token ids per row (may be empty).
        pad_id: Token id used for padding (masked out; its value does not matter).
        temperature: Divide logits by this first, to score tokens under the distribution
            they were sampled from (``Completion.logprobs`` are temperature-scaled); one
            float for every row or one per row. Must be > 0: greedy replies were scored
            on raw logits, which is temperature 1.
        share_prompts: When rows repeat a prompt (the two replies of a pair, a GRPO
            group), run each distinct prompt once and the replies on its KV cache
            (:mod:`~sparring.agents.updates.prefix`); same values and gradients, fewer
            token positions. ``False`` always runs one row per reply.

    Returns:
        ``(token_logps, mask)``, both ``[B, T]`` with ``T`` the longest completion:
        fp32 log-probs (0 on padding) and a float mask that is 1 on completion tokens.
    """
    if len(prompt_ids) != len(completion_ids):
        raise ValueError(f"{len(prompt_ids)} prompts but {len(completion_ids)} completions; give one each per row")
    if any(len(p) == 0 for p in prompt_ids):
        raise ValueError("every prompt needs at least one token: the first completion token is predicted from it")
    rows = len(prompt_ids)
    temps = _row_temperatures(temperature, rows)
    device = _device(model)
    width = max((len(p) + len(c) for p, c in zip(prompt_ids, completion_ids, strict=True)), default=0)
    longest = max((len(c) for c in completion_ids), default=0)
    mask = torch.zeros(rows, longest, device=device)
    if rows == 0 or longest == 0:
        return torch.zeros(rows, longest, device=device), mask
    if (share_prompts and _takes_row_masks(_base_class(model))
            and len({tuple(p) for p in prompt_ids}) < rows):
        return shared_prompt_logprobs(model, selective_logprobs, prompt_ids, completion_ids, pad_id, temps, device)

    input_ids = torch.full((rows, width), pad_id, dtype=torch.long)
    attention = torch.zeros(rows, width, dtype=torch.long)
    # keep[b, j]: column j of row b predicts a completion token (prompt end - 1 + t).
    keep = torch.zeros(rows, width, dtype=torch.bool)
    targets: list[int] = []
    token_temps: list[float] = []
    for b, (p, c) in enumerate(zip(prompt_ids, completion_ids, strict=True)):
        ids = list(p) + list(c)
        input_ids[b, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention[b, : len(ids)] = 1
        keep[b, len(p) - 1 : len(p) - 1 + len(c)] = True
        mask[b, : len(c)] = 1
        targets.extend(c)  # row-major, the order in which keep[b, j] is True
        token_temps.extend([temps[b]] * len(c))
    kwargs = {"input_ids": input_ids.to(device), "attention_mask": attention.to(device), "use_cache": False}

    if _takes_row_masks(_base_class(model)):
        logits = model(**kwargs, logits_to_keep=keep.to(device)).logits  # [N, V]: reply positions only
        picked = None
    else:
        # Keep the columns some row needs; the reply positions are picked from [B, K, V].
        columns = keep.any(0).nonzero().flatten()
        lookup = torch.zeros(width, dtype=torch.long)
        lookup[columns] = torch.arange(len(columns))
        b_idx, j_idx = keep.nonzero(as_tuple=True)
        picked = (b_idx * len(columns) + lookup[j_idx]).to(device)
        logits = model(**kwargs, logits_to_keep=columns.to(device)).logits
        logits = logits.reshape(-1, logits.shape[-1])  # [B * K, V], a view
    if picked is None and logits.shape[0] != len(targets):
        raise InternalError(
            f"{_base_class(model).__name__} returned logits of shape {tuple(logits.shape)} for a boolean "
            f"logits_to_keep selecting {len(targets)} positions; expected ({len(targets)}, vocab)"
        )
    flat = selective_logprobs(
        logits, torch.tensor(targets, device=device), torch.tensor(token_temps, device=device), rows=picked
    )
    token_logps = torch.zeros(rows, longest, device=device, dtype=flat.dtype)
    token_logps = token_logps.masked_scatter(mask.bool(), flat)
    return token_logps, mask


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
    temperature: float | Sequence[float] = 1.0,
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
