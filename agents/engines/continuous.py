"""Continuous batching for the hf engine: rows join and leave one running KV cache.

A :class:`DecodeSession` holds the rows decoding together: one left-padded ``DynamicCache``,
its attention mask, each row's position and next input token. Between decode runs the
caller may add rows (up to the engine's ``max_batch_size`` live rows): the new rows are
prefilled on their own, sampled once, and merged into the running cache by left-padding
whichever side is shorter (padding columns are masked out, so they change nothing but
float rounding). Finished rows are dropped at the end of each run, and leading columns
that every remaining row masks are trimmed, so the cache stays as wide as its longest
live row.

Each row samples with its own counter: the draw of its ``t``-th token is
``uniform(seed, t)`` whenever it joined, so a row's reply depends only on its prompt, seed
and weights (up to float rounding from the other rows sharing its forwards). Every
decision (when to stop a run, which rows join) is a function of the rows' outputs and of
the caller's deterministic order, so the same inputs give the same batches, bit for bit.

LoRA rows go through :class:`~sparring.agents.engines.multilora.MultiLora`; its
``rows()`` context is entered for each prefill and each decode run and left before
control returns to the caller, so arena or reward code running between runs sees the
model unbound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.agents.heap import release_free_memory

if TYPE_CHECKING:
    from sparring.agents.engines.hf import HFEngine


@dataclass
class _Row:
    key: Hashable
    request: GenerationRequest
    prompt_len: int
    tokens: list[int] = field(default_factory=list)
    logps: list[float] = field(default_factory=list)
    finish: str = "length"
    done: bool = False
    seconds: float = 0.0  # this row's share of the forwards it took part in


class DecodeSession:
    """Rows of one base model decoding together; rows may join between decode runs.

    Args:
        engine: The hf engine whose model, tokenizer, sampler and stop ids the rows use.

    Usage::

        session = engine.open_session()
        session.add([(key, request, engine.encode(request.messages)), ...])
        while len(session) or session.has_finished:
            for key, completion, seconds in session.advance():
                ...  # add more rows here while session.free_slots > 0
    """

    def __init__(self, engine: HFEngine) -> None:
        self.engine = engine
        self.slots = engine.max_batch_size
        self._rows: list[_Row] = []  # live rows, in cache order
        self._finished: list[_Row] = []  # finished, not yet returned by advance()
        self._cache: Any = None
        self._mask: torch.Tensor | None = None  # [rows, width]
        self._last_pos: torch.Tensor | None = None  # [rows] position of the last fed token
        self._feed: torch.Tensor | None = None  # [rows] next input token of each row
        self._mergeable = True
        self._stop_ids = engine._stop_ids()
        self._stop_fill = min(self._stop_ids)

    def __len__(self) -> int:
        """Live rows (joined, not finished)."""
        return len(self._rows)

    @property
    def has_finished(self) -> bool:
        """Whether finished rows wait to be returned by :meth:`advance`."""
        return bool(self._finished)

    @property
    def free_slots(self) -> int:
        """Rows that may join now (0 while rows run on a cache that cannot be merged)."""
        if self._rows and not self._mergeable:
            return 0
        return max(0, self.slots - len(self._rows))

    # -- joining -------------------------------------------------------------------
    @torch.inference_mode()
    def add(self, items: Sequence[tuple[Hashable, GenerationRequest, list[int]]]) -> None:
        """Prefill rows, sample their first token and merge them into the running batch.

        Args:
            items: ``(key, request, prompt token ids)`` per row; keys come back with the
                row's completion from :meth:`advance`.

        Raises:
            ValueError: If more rows are added than :attr:`free_slots` allows.
        """
        if not items:
            return
        if len(items) > self.free_slots:
            raise ValueError(
                f"{len(items)} rows cannot join a session with {self.free_slots} free slots; "
                "add at most free_slots rows"
            )
        started = time.perf_counter()
        engine = self.engine
        device = engine.loaded.device
        model = engine.loaded.base
        prompts = [p for _, _, p in items]
        n, width = len(items), max(len(p) for p in prompts)
        rows = [_Row(key, req, len(p)) for key, req, p in items]
        # Rows asking one prompt under one adapter (the n samples of a group, greedy repeats)
        # are prefilled once: the forward runs the distinct (adapter, prompt) rows and their
        # KV and last logits are copied to every row that asked them. A row's prefill does
        # not depend on the other rows of its batch, so this changes nothing but work.
        distinct: dict[tuple[Any, ...], int] = {}
        source = [distinct.setdefault((r.request.adapter, *p), len(distinct)) if engine.prefix_reuse else i
                  for i, (r, p) in enumerate(zip(rows, prompts, strict=True))]
        firsts = [source.index(u) for u in range(len(distinct))] if engine.prefix_reuse else list(range(n))
        engine.stats["prefix_saved_tokens"] += sum(len(p) for p in prompts) - sum(len(prompts[i]) for i in firsts)
        input_ids = torch.full((len(firsts), width), engine.loaded.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(firsts), width), dtype=torch.long)
        for u, i in enumerate(firsts):
            input_ids[u, width - len(prompts[i]) :] = torch.tensor(prompts[i], dtype=torch.long)
            mask[u, width - len(prompts[i]) :] = 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)

        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        from sparring.agents.engines.hf import cache_keyword

        cache = DynamicCache()
        lora = engine._lora()
        with lora.rows([rows[i].request.adapter for i in firsts]) if lora is not None else nullcontext():
            # The last position's logits by index, not logits_to_keep=1 (docs/architecture.md,
            # "Prefill keeps the last position by index": the slice form copies the lm_head).
            out = model(
                input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True,
                logits_to_keep=torch.tensor([width - 1], device=device),
                **{cache_keyword(type(model)): cache},
            )
        logits = out.logits[:, -1, :].float()
        if len(firsts) < n:  # copy each distinct row's KV, mask and logits to the rows that asked it
            expand = torch.tensor(source, dtype=torch.long, device=device)
            cache.batch_select_indices(expand)
            logits, mask, positions = logits[expand], mask[expand], positions[expand]
        ids = self._take(rows, logits)
        share = (time.perf_counter() - started) / n
        for r in rows:
            r.seconds += share
        engine.stats["prompt_tokens"] += sum(len(p) for p in prompts)
        engine.stats["seconds"] += time.perf_counter() - started

        keep = [j for j, r in enumerate(rows) if not r.done]
        self._finished.extend(r for r in rows if r.done)
        if not keep:
            return
        last_pos = positions[:, -1]
        if len(keep) < n:
            sel = torch.tensor(keep, dtype=torch.long, device=device)
            cache.batch_select_indices(sel)
            ids, mask, last_pos = ids[sel.cpu()], mask[sel], last_pos[sel]
        kept = [rows[j] for j in keep]
        mergeable = all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", [None]))
        if not self._rows:
            self._rows, self._cache, self._mask = kept, cache, mask
            self._last_pos, self._feed = last_pos, ids.to(device)
            self._mergeable = mergeable
            return
        self._merge(kept, cache, mask, last_pos, ids.to(device))

    def _merge(
        self, rows: list[_Row], cache: Any, mask: torch.Tensor, last_pos: torch.Tensor, feed: torch.Tensor
    ) -> None:
        """Append prefilled rows to the running batch, left-padding the narrower cache."""
        assert self._mask is not None and self._last_pos is not None and self._feed is not None
        old_w, new_w = self._mask.shape[1], mask.shape[1]
        width = max(old_w, new_w)
        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([_left_pad(old.keys, width), _left_pad(new.keys, width)])
            old.values = torch.cat([_left_pad(old.values, width), _left_pad(new.values, width)])
        self._mask = torch.cat([F.pad(self._mask, (width - old_w, 0)), F.pad(mask, (width - new_w, 0))])
        self._last_pos = torch.cat([self._last_pos, last_pos])
        self._feed = torch.cat([self._feed, feed])
        self._rows.extend(rows)

    # -- decoding ------------------------------------------------------------------
    @torch.inference_mode()
    def advance(self, min_finished: int | None = None) -> list[tuple[Hashable, Completion, float]]:
        """Decode until enough rows finished; drop them and return their completions.

        Args:
            min_finished: Stop the run once this many rows finished (rows finished at
                prefill count). ``None``: the engine's ``prune_fraction`` of the rows. Capped
                at the rows there are.

        Returns:
            ``(key, completion, seconds)`` of every row finished since the last call, in
            the order they finished (ties in cache order); ``seconds`` is the row's share of
            the forwards it took part in.
        """
        total = len(self._rows) + len(self._finished)
        if min_finished is None:
            min_finished = math.ceil(self.engine.prune_fraction * total)
        target = min(max(1, min_finished), total)
        finished = self._finished
        self._finished = []
        if self._rows and len(finished) < target:
            started = time.perf_counter()
            lora = self.engine._lora()
            with lora.rows([r.request.adapter for r in self._rows]) if lora is not None else nullcontext():
                while len(finished) < target and not all(r.done for r in self._rows):
                    finished.extend(self._step())
            self.engine.stats["seconds"] += time.perf_counter() - started
            self._prune()
        out = [(r.key, self._completion(r), r.seconds) for r in finished]
        self.engine.stats["generated_tokens"] += sum(len(r.tokens) for r in finished)
        return out

    def _step(self) -> list[_Row]:
        """One decode forward for every row in the cache; returns the rows it finished."""
        assert self._mask is not None and self._last_pos is not None and self._feed is not None
        from sparring.agents.engines.hf import cache_keyword

        started = time.perf_counter()
        device = self.engine.loaded.device
        model = self.engine.loaded.base
        n = len(self._rows)
        self._mask = torch.cat([self._mask, torch.ones((n, 1), dtype=self._mask.dtype, device=device)], dim=1)
        self._last_pos = self._last_pos + 1
        out = model(
            input_ids=self._feed.view(-1, 1), attention_mask=self._mask,
            position_ids=self._last_pos.view(-1, 1), use_cache=True,
            **{cache_keyword(type(model)): self._cache},
        )
        was_done = [r.done for r in self._rows]
        ids = self._take(self._rows, out.logits[:, -1, :].float())
        # Finished rows keep decoding a stop token until they are dropped.
        ids[torch.tensor(was_done, dtype=torch.bool) | torch.tensor([r.done for r in self._rows])] = self._stop_fill
        self._feed = ids.to(device)
        share = (time.perf_counter() - started) / n
        newly = []
        for r, before in zip(self._rows, was_done, strict=True):
            if not before:
                r.seconds += share
                if r.done:
                    newly.append(r)
        return newly

    def _take(self, rows: list[_Row], logits: torch.Tensor) -> torch.Tensor:
        """Sample each live row's next token (its own step counter) and record it."""
        reqs = [r.request for r in rows]
        temps = torch.tensor([q.sampling.temperature for q in reqs], dtype=torch.float32)
        top_ps = torch.tensor([q.sampling.top_p for q in reqs], dtype=torch.float32)
        ids, logps = self.engine._sample(
            logits, temps, top_ps, [q.seed for q in reqs], [len(r.tokens) for r in rows]
        )
        ids = ids.cpu()
        for j, r in enumerate(rows):
            if r.done:
                continue
            t = int(ids[j])
            r.tokens.append(t)
            r.logps.append(float(logps[j]))
            stops = r.request.sampling.stop
            if t in self._stop_ids or (stops and self.engine._hits_stop(r.tokens, stops)):
                r.done, r.finish = True, "stop"
            elif len(r.tokens) >= r.request.sampling.max_new_tokens:
                r.done = True
        return ids

    def _prune(self) -> None:
        """Drop finished rows from the cache and trim columns no remaining row attends to."""
        keep = [j for j, r in enumerate(self._rows) if not r.done]
        if not keep:
            self._rows, self._cache, self._mask, self._last_pos, self._feed = [], None, None, None, None
            release_free_memory()  # the drained cache's heap pages (agents/heap.py)
            return
        assert self._mask is not None and self._last_pos is not None and self._feed is not None
        if len(keep) < len(self._rows):
            sel = torch.tensor(keep, dtype=torch.long, device=self._mask.device)
            self._cache.batch_select_indices(sel)
            self._rows = [self._rows[j] for j in keep]
            self._mask, self._last_pos, self._feed = self._mask[sel], self._last_pos[sel], self._feed[sel]
        first = int(self._mask.any(0).int().argmax())
        if first and self._mergeable:
            for layer in self._cache.layers:
                layer.keys = layer.keys[..., first:, :]
                layer.values = layer.values[..., first:, :]
            self._mask = self._mask[:, first:]

    def _completion(self, r: _Row) -> Completion:
        tok = self.engine.loaded.tokenizer
        text = tok.decode([t for t in r.tokens if t not in self._stop_ids], skip_special_tokens=True)
        for s in r.request.sampling.stop:
            cut = text.find(s)
            if cut != -1:
                text = text[:cut]
        return Completion(text, r.tokens, r.logps, r.prompt_len, r.finish)


def _left_pad(t: torch.Tensor, width: int) -> torch.Tensor:
    """Pad a ``[rows, heads, length, dim]`` cache tensor with zeros on the left to ``width``."""
    extra = width - t.shape[-2]
    return t if extra == 0 else F.pad(t, (0, 0, extra, 0))
