"""The ``hf`` engine: batched generation with transformers, one KV cache per batch.

A batch is left-padded and decoded step by step with a ``DynamicCache``. Rows may use
different LoRA adapters: the whole batch runs through :class:`MultiLora`, which adds each
row's adapter delta in a few batched matmuls per layer (base rows get a zero delta). Each
row samples with its own counter-based random draws, so a row's reply depends only on its
prompt, seed and weights. Rows that finish are dropped from the batch (and the cache) once
enough of them are done, so a few long replies do not keep paying for the short ones.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import torch

from sparring.agents.chat_end import end_of_turn_ids
from sparring.agents.engines.base import Completion, GenerationRequest
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
        prune_fraction: Drop finished rows from the batch once at least this fraction
            of the live rows has finished.
    """

    name = "hf"

    def __init__(self, loaded: LoadedModel, max_batch_size: int = 32, prune_fraction: float = 0.25) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.loaded = loaded
        self._max_batch_size = max_batch_size
        self.prune_fraction = prune_fraction
        self._multilora: Any = None
        self._epoch = -1
        self.stats = {"generated_tokens": 0, "prompt_tokens": 0, "seconds": 0.0, "calls": 0}

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
    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """Generate one completion per request, in order, in batches of ``max_batch_size``.

        Rows are sorted by prompt length before batching so a batch carries little padding;
        a row's output does not depend on its batch, so sorting changes nothing but speed.
        """
        prompts = [self.encode(r.messages) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: (len(prompts[i]), requests[i].sampling.max_new_tokens))
        results: list[Completion | None] = [None] * len(requests)
        for start in range(0, len(order), self._max_batch_size):
            chunk = order[start : start + self._max_batch_size]
            outs = self._generate_batch([requests[i] for i in chunk], [prompts[i] for i in chunk])
            for i, c in zip(chunk, outs, strict=True):
                results[i] = c
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _generate_batch(self, requests: list[GenerationRequest], prompts: list[list[int]]) -> list[Completion]:
        if not requests:
            return []
        started = time.perf_counter()
        device = self.loaded.device
        tok = self.loaded.tokenizer
        model = self.loaded.base
        n = len(requests)
        width = max(len(p) for p in prompts)
        pad = tok.pad_token_id
        input_ids = torch.full((n, width), pad, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for i, p in enumerate(prompts):
            input_ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p) :] = 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)

        temps = torch.tensor([r.sampling.temperature for r in requests], dtype=torch.float32)
        top_ps = torch.tensor([r.sampling.top_p for r in requests], dtype=torch.float32)
        limits = [r.sampling.max_new_tokens for r in requests]
        stop_ids = self._stop_ids()
        stop_id_tensor = torch.tensor(sorted(stop_ids), dtype=torch.long)

        tokens: list[list[int]] = [[] for _ in range(n)]
        logps: list[list[float]] = [[] for _ in range(n)]
        finish = ["length"] * n
        live = list(range(n))  # request index of each row still in the batch
        done = [False] * n

        lora = self._lora()
        adapters = [r.adapter for r in requests]
        ctx = lora.rows(adapters) if lora is not None else nullcontext()
        from transformers import DynamicCache

        cache = DynamicCache()
        with ctx as binding:
            cache_arg = {cache_keyword(type(model)): cache}
            # Keep the last position's logits by index, not with logits_to_keep=1: the slice
            # hidden[:, -1:, :] is not contiguous, and when the (tied) lm_head weight does not
            # require grad (true once peft froze the base) torch.matmul then runs a bmm over a
            # [rows, hidden, vocab] copy of the weight: 1.4 GB and 3 s per prefill here.
            # An index tensor gathers a contiguous [rows, 1, hidden] instead.
            out = model(
                input_ids=input_ids, attention_mask=mask, position_ids=positions,
                use_cache=True, logits_to_keep=torch.tensor([width - 1], device=device), **cache_arg,
            )
            last_pos = positions[:, -1]
            step = 0
            while True:
                logits = out.logits[:, -1, :].float()
                rows = torch.tensor(live)
                next_ids, next_logps = self._sample(
                    logits, temps[rows], top_ps[rows], [requests[i].seed for i in live], step
                )
                finished_rows: list[int] = []
                for j, i in enumerate(live):
                    if done[i]:
                        continue
                    t = int(next_ids[j])
                    tokens[i].append(t)
                    logps[i].append(float(next_logps[j]))
                    if t in stop_ids:
                        done[i], finish[i] = True, "stop"
                    elif requests[i].sampling.stop and self._hits_stop(tokens[i], requests[i].sampling.stop):
                        done[i], finish[i] = True, "stop"
                    elif len(tokens[i]) >= limits[i]:
                        done[i] = True
                    if done[i]:
                        finished_rows.append(j)
                if all(done[i] for i in live):
                    break
                step += 1
                # Finished rows keep decoding a pad token until they are pruned.
                feed = next_ids.clone()
                if finished_rows:
                    feed[torch.tensor(finished_rows)] = stop_id_tensor[0]
                n_done = sum(done[i] for i in live)
                if n_done and n_done >= self.prune_fraction * len(live) and hasattr(cache, "batch_select_indices"):
                    keep = torch.tensor([j for j, i in enumerate(live) if not done[i]], dtype=torch.long)
                    cache.batch_select_indices(keep.to(device))
                    if binding is not None:
                        binding.select(keep)
                    live = [live[j] for j in keep.tolist()]
                    feed, mask, last_pos = feed[keep], mask[keep], last_pos[keep]
                mask = torch.cat([mask, torch.ones((len(live), 1), dtype=mask.dtype, device=device)], dim=1)
                last_pos = last_pos + 1
                out = model(
                    input_ids=feed.view(-1, 1).to(device), attention_mask=mask,
                    position_ids=last_pos.view(-1, 1), use_cache=True, **cache_arg,
                )

        elapsed = time.perf_counter() - started
        results = []
        for i, r in enumerate(requests):
            ids = tokens[i]
            text_ids = [t for t in ids if t not in stop_ids]
            text = tok.decode(text_ids, skip_special_tokens=True)
            for s in r.sampling.stop:
                cut = text.find(s)
                if cut != -1:
                    text = text[:cut]
            results.append(Completion(text, ids, logps[i], len(prompts[i]), finish[i]))
        self.stats["generated_tokens"] += sum(len(t) for t in tokens)
        self.stats["prompt_tokens"] += sum(len(p) for p in prompts)
        self.stats["seconds"] += elapsed
        self.stats["calls"] += 1
        return results

    def _hits_stop(self, ids: list[int], stops: tuple[str, ...]) -> bool:
        tail = self.loaded.tokenizer.decode(ids[-16:], skip_special_tokens=True)
        return any(s in tail for s in stops)

    @staticmethod
    def _sample(
        logits: torch.Tensor, temps: torch.Tensor, top_ps: torch.Tensor, seeds: list[int], step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample one token per row; returns ids and their log-probs."""
        greedy = temps <= 0
        scaled = logits / torch.where(greedy, torch.ones_like(temps), temps).unsqueeze(-1)
        logp = torch.log_softmax(scaled, dim=-1)
        ids = logp.argmax(-1)
        sampled = (~greedy).nonzero().flatten()
        if len(sampled):
            u = torch.tensor([uniform(seeds[int(j)], step) for j in sampled], dtype=torch.float64)
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
