"""The ``hf`` engine: batched generation with transformers, continuous batching.

Rows are left-padded and decoded step by step in one ``DynamicCache``
(:class:`~sparring.agents.engines.continuous.DecodeSession`). Rows may use different LoRA
adapters: the whole batch runs through :class:`MultiLora`, which adds each row's adapter
delta in a few batched matmuls per layer (base rows get a zero delta). Each row samples
with its own counter-based random draws, so a row's reply depends only on its prompt, seed
and weights. Rows that finish are dropped from the batch (and the cache) once enough of
them are done and pending rows are prefilled into their slots, so a few long replies
neither keep paying for the short ones nor hold the batch half empty.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections import deque
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import torch

from sparring.agents.chat_end import end_of_turn_ids
from sparring.agents.engines.base import Completion, GenerationRequest, ScoreRequest
from sparring.agents.engines.continuous import DecodeSession
from sparring.agents.pool import LoadedModel
from sparring.agents.sampling import uniform


@functools.cache
def cache_keyword(model_class: type) -> str:
    """The forward argument that takes the KV cache.

    transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name warns, then goes
    away); older releases only know ``past_key_values``.
    """
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


class HFEngine:
    """Generation for one base model of a :class:`~sparring.agents.pool.ModelPool`.

    Args:
        loaded: The pool's loaded model (its adapters are looked up by name per row).
        max_batch_size: Rows per forward batch; bounds memory (KV cache ~ rows x length).
        prune_fraction: Drop finished rows from the batch (and refill their slots with
            pending rows) once at least this fraction of the rows has finished.
        prefix_reuse: Prefill rows that join together with the same prompt and adapter
            once (the samples of a group); ``stats["prefix_saved_tokens"]`` counts the
            prompt tokens this saved. ``False`` prefills every row (the plain path).
    """

    name = "hf"

    def __init__(self, loaded: LoadedModel, max_batch_size: int = 32, prune_fraction: float = 0.25,
                 prefix_reuse: bool = True) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.loaded = loaded
        self._max_batch_size = max_batch_size
        self.prune_fraction = prune_fraction
        self._multilora: Any = None
        self._epoch = -1
        self.prefix_reuse = prefix_reuse
        self.stats = {"generated_tokens": 0, "prompt_tokens": 0, "seconds": 0.0, "calls": 0, "prefix_saved_tokens": 0}

    @property
    def max_batch_size(self) -> int:
        """Rows per forward batch."""
        return self._max_batch_size

    # -- helpers -------------------------------------------------------------------
    def _lora(self) -> Any:
        if not self.loaded.adapters:
            return None
        if self._multilora is None:
            from sparring.agents.engines.multilora import MultiLora

            self._multilora = MultiLora(self.loaded.model)
            self._epoch = self.loaded.weights_epoch
        elif self._epoch != self.loaded.weights_epoch:
            self._multilora.invalidate()
            self._epoch = self.loaded.weights_epoch
        return self._multilora

    def encode(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Token ids of a chat prompt with the generation prompt appended."""
        out = self.loaded.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True
        )
        if isinstance(out, dict) or hasattr(out, "input_ids"):
            out = out["input_ids"]
        return list(out)

    @functools.cached_property
    def _stop_id_set(self) -> frozenset[int]:
        return frozenset(self._stop_ids_uncached())

    def _stop_ids(self) -> set[int]:
        return set(self._stop_id_set)

    def _stop_ids_uncached(self) -> set[int]:
        tok = self.loaded.tokenizer
        # the chat template's end-of-turn marker too when it is one token (SPIN targets end
        # on it; a marker spelled in several ordinary tokens cannot be a stop id)
        marker = end_of_turn_ids(tok)
        ids = {tok.eos_token_id, *(marker if len(marker) == 1 else [])}
        gen = getattr(self.loaded.base, "generation_config", None)
        eos = getattr(gen, "eos_token_id", None)
        if isinstance(eos, int):
            ids.add(eos)
        elif isinstance(eos, (list, tuple)):
            ids.update(eos)
        return {i for i in ids if i is not None}

    # -- generation ----------------------------------------------------------------
    def open_session(self) -> DecodeSession:
        """A continuous-batching session on this engine (rows join as others finish).

        The runner drives one to feed asks that arrive while rows decode; see
        :class:`~sparring.agents.engines.continuous.DecodeSession`.
        """
        self.stats["calls"] += 1
        return DecodeSession(self)

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """Generate one completion per request, in order, at most ``max_batch_size`` rows at a time.

        Rows are admitted shortest prompt first; when enough rows finish (``prune_fraction``
        of the slots), they leave the batch and pending rows take their slots (continuous
        batching). A row's output does not depend on its batch, so order and refills change
        nothing but speed (and float rounding).
        """
        prompts = [self.encode(r.messages) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: (len(prompts[i]), requests[i].sampling.max_new_tokens))
        results: list[Completion | None] = [None] * len(requests)
        pending = deque(order)
        session = self.open_session()
        refill = max(1, math.ceil(self.prune_fraction * self._max_batch_size))
        while pending or len(session) or session.has_finished:
            if pending and session.free_slots:
                take = [pending.popleft() for _ in range(min(session.free_slots, len(pending)))]
                session.add([(i, requests[i], prompts[i]) for i in take])
            for i, completion, _ in session.advance(min(refill, len(pending)) if pending else None):
                results[i] = completion  # type: ignore[index]
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def score(self, requests: list[ScoreRequest]) -> list[Completion]:
        """Log-likelihood of each request's ``target`` given its messages (no sampling).

        The target is tokenized as an SFT target is (no special tokens added, the template's
        end-of-turn marker appended). Prompts are left-padded so every row's target starts at
        the same column; targets are right-padded, and only the target positions' logits are
        kept (by index, as the prefill does). Log-probs are of temperature-1 logits, so the
        sum over a row is ``log p(target | messages)`` under the row's adapter.
        """
        started = time.perf_counter()
        tok, device, model = self.loaded.tokenizer, self.loaded.device, self.loaded.base
        end = end_of_turn_ids(tok)
        out: list[Completion] = []
        for first in range(0, len(requests), self._max_batch_size):
            chunk = requests[first : first + self._max_batch_size]
            prompts = [self.encode(r.messages) for r in chunk]
            targets = [list(tok(r.target, add_special_tokens=False)["input_ids"]) + end for r in chunk]
            width_p, width_t = max(map(len, prompts)), max(map(len, targets))
            ids = torch.full((len(chunk), width_p + width_t), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, (p, t) in enumerate(zip(prompts, targets, strict=True)):
                ids[i, width_p - len(p) : width_p + len(t)] = torch.tensor(p + t, dtype=torch.long)
                mask[i, width_p - len(p) : width_p + len(t)] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            # the logits at column j predict token j + 1: keep those predicting the targets
            keep = torch.arange(width_p - 1, width_p + width_t - 1, device=device)
            lora = self._lora()
            with lora.rows([r.adapter for r in chunk]) if lora is not None else nullcontext():
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                               position_ids=positions.to(device), use_cache=False, logits_to_keep=keep).logits
            for i, (r, p, t) in enumerate(zip(chunk, prompts, targets, strict=True)):
                logp = torch.log_softmax(logits[i, : len(t)].float(), dim=-1)
                values = logp.gather(-1, torch.tensor(t, device=logp.device).unsqueeze(-1)).squeeze(-1)
                out.append(Completion(r.target, t, values.tolist(), len(p), "scored"))
            self.stats["prompt_tokens"] += sum(map(len, prompts))
        self.stats["seconds"] += time.perf_counter() - started
        self.stats["calls"] += 1
        return out

    def _hits_stop(self, ids: list[int], stops: tuple[str, ...]) -> bool:
        tail = self.loaded.tokenizer.decode(ids[-16:], skip_special_tokens=True)
        return any(s in tail for s in stops)

    @staticmethod
    def _sample(
        logits: torch.Tensor, temps: torch.Tensor, top_ps: torch.Tensor, seeds: list[int],
        step: int | Sequence[int],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample one token per row; returns ids and their log-probs.

        ``step`` is the decode step of every row, or one per row (rows that joined a running
        batch later are at earlier steps).
        """
        steps = [step] * len(seeds) if isinstance(step, int) else list(step)
        # the settings come from Python lists on the CPU; the logits may be on an accelerator
        temps, top_ps = temps.to(logits.device), top_ps.to(logits.device)
        greedy = temps <= 0
        scaled = logits / torch.where(greedy, torch.ones_like(temps), temps).unsqueeze(-1)
        logp = torch.log_softmax(scaled, dim=-1)
        ids = logp.argmax(-1)
        sampled = (~greedy).nonzero().flatten()
        if len(sampled):
            u = torch.tensor([uniform(seeds[int(j)], steps[int(j)]) for j in sampled], dtype=torch.float64,
                             device=logits.device)
            probs = logp[sampled].exp().double()
            nucleus = top_ps[sampled] < 1.0
            if bool(nucleus.any()):
                sorted_p, order = probs.sort(dim=-1, descending=True)
                cum = sorted_p.cumsum(-1)
                # Keep the smallest prefix reaching top_p (the first token is always kept).
                drop = (cum - sorted_p) >= top_ps[sampled].double().unsqueeze(-1)
                sorted_p = sorted_p.masked_fill(drop & nucleus.unsqueeze(-1), 0.0)
                probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
            cdf = probs.cumsum(-1)
            pick = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1)).squeeze(-1)
            pick = pick.clamp(max=probs.shape[-1] - 1)
            # Never pick a zero-probability token through float edge effects.
            zero = probs.gather(-1, pick.unsqueeze(-1)).squeeze(-1) <= 0
            if bool(zero.any()):
                pick[zero] = probs[zero].argmax(-1)
            ids[sampled] = pick
        return ids, logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
