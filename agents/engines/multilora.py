"""Batched multi-LoRA inference: every row of a batch may use its own LoRA adapter.

peft can mix adapters in one batch (``model(..., adapter_names=[...])``), but it loops over
the adapters in every wrapped layer, slicing and scattering sub-batches: a mixed batch of 32
generates at about 0.6x the base model's speed in fp32 (0.35x in bf16), nearly all of it
overhead rather than arithmetic. :class:`MultiLora` instead stacks, per
wrapped linear layer, the A matrices of all adapters in the batch into ``A_cat``
[sum of ranks, in] and the scaled B matrices into ``B_cat`` [out, sum of ranks], and adds
each row's delta with two matmuls and a 0/1 mask that keeps only that row's rank block::

    y = base(x);  y += ((x @ A_cat.T) * mask[row]) @ B_cat.T

The stacks are built once per distinct set of adapters and cached across calls, so a
decode step pays only for the two small matmuls. Usage::

    ml = MultiLora(peft_model)
    with ml.rows(["solver", None, "critic"]) as binding:
        out = peft_model(input_ids=ids, ...)   # row 1 runs on the base weights
        binding.select(torch.tensor([0, 2]))  # row 1 finished: batch now has 2 rows

Inference only: dropout is ignored and no gradient reaches the adapters inside ``rows()``.
The cache is keyed by adapter names, so after changing adapter weights (a training step,
loading, adding or deleting adapters) call :meth:`MultiLora.invalidate`; without it, the
next ``rows()`` keeps using the stale stacked copy.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from peft.tuners.lora import Linear as LoraLinear
from peft.tuners.lora import LoraLayer
from torch import nn

from sparring.agents.errors import InternalError

_MAX_CACHED_SETS = 8  # each entry holds one copy of its adapters' weights
_Forward = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class _Stack:
    """One layer's stacked weights for one set of adapters (only those present on the layer)."""

    layout: tuple[tuple[str, int], ...]  # (adapter, rank) of each block of A_cat, in order
    a: torch.Tensor  # A_cat [sum ranks, in], compute dtype
    bt: torch.Tensor  # B_cat.T with scaling folded in [sum ranks, out], compute dtype


class MultiLora:
    """Batched per-row LoRA deltas for inference on a model whose linear layers were wrapped by peft (LoraLayer).

    Args:
        model: A peft ``PeftModel``, or any module containing peft ``lora.Linear`` layers.

    Raises:
        ValueError: If the model has no LoRA linear layers, or has LoRA on layers other
            than linear ones (embeddings, convolutions, quantized linears).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._layers: list[LoraLinear] = []
        self._known: set[str] = set()
        # key: sorted tuple of adapter names -> one _Stack (or None) per layer of self._layers
        self._cache: OrderedDict[tuple[str, ...], list[_Stack | None]] = OrderedDict()
        self._active: RowBinding | None = None
        self._stale = False
        self._discover()

    def _discover(self) -> None:
        layers: list[LoraLinear] = []
        for name, module in self.model.named_modules():
            if not isinstance(module, LoraLayer):
                continue
            if not isinstance(module, LoraLinear):
                raise ValueError(
                    f"MultiLora supports LoRA on linear layers only; {name!r} is a "
                    f"{type(module).__module__}.{type(module).__name__}"
                )
            layers.append(module)
        if not layers:
            raise ValueError("MultiLora: the model has no peft LoRA linear layers")
        self._layers = layers
        self._known = {a for layer in layers for a in layer.lora_A}
        self._cache.clear()
        self._stale = False

    def invalidate(self, adapter: str | None = None) -> None:
        """Drop cached stacked weights after adapter weights changed.

        Args:
            adapter: Drop only the stacks that include this adapter. ``None`` drops all of
                them and re-scans the model for LoRA layers (use it after adding or deleting
                adapters; inside an active ``rows()`` the re-scan waits for the next one).
        """
        if adapter is None:
            if self._active is None:
                self._discover()
            else:  # the active binding's layer list must stay; re-scan at the next rows()
                self._cache.clear()
                self._stale = True
            return
        for key in [k for k in self._cache if adapter in k]:
            del self._cache[key]

    @contextlib.contextmanager
    def rows(self, adapters: Sequence[str | None]) -> Iterator[RowBinding]:
        """Bind one adapter per batch row for every forward run inside the context.

        Args:
            adapters: The adapter of each row (``None``: base weights). Every forward inside
                the context must have ``len(adapters)`` rows (until :meth:`RowBinding.select`).

        Yields:
            A :class:`RowBinding` to follow rows being dropped from the batch.

        Raises:
            ValueError: For an unknown adapter name, or an adapter this path cannot apply
                (DoRA or another LoRA variant, a LoRA bias) or merged adapters.
            RuntimeError: If another ``rows()`` context of this object is active.
        """
        if self._active is not None:
            raise InternalError("MultiLora.rows() contexts cannot be nested")
        adapters = list(adapters)
        unknown = sorted({a for a in adapters if a is not None} - self._known)
        if unknown or self._stale:
            self._discover()  # an unknown adapter may have been added since the last scan
            unknown = sorted({a for a in adapters if a is not None} - self._known)
        if unknown:
            raise ValueError(
                f"unknown adapter {unknown[0]!r}; known adapters: {', '.join(sorted(self._known)) or 'none'}"
            )
        merged = [layer for layer in self._layers if layer.merged]
        if merged:
            raise ValueError(
                f"MultiLora cannot run with merged adapters ({merged[0].merged_adapters}); unmerge first"
            )
        # Remember instance-level forwards (accelerate hooks set some) to put them back exactly;
        # keep our own list in case invalidate() re-scans the model inside the context.
        layers = list(self._layers)
        saved = [layer.__dict__.get("forward") for layer in layers]
        binding = RowBinding(self, adapters)
        self._active = binding
        try:
            binding._install()
            yield binding
        finally:
            binding._closed = True
            self._active = None
            for layer, fwd in zip(layers, saved, strict=True):
                if fwd is None:
                    layer.__dict__.pop("forward", None)
                else:
                    layer.forward = fwd

    # -- stacking ----------------------------------------------------------------------
    def _stacks(self, key: tuple[str, ...]) -> list[_Stack | None]:
        """Per-layer stacks for the adapter set ``key`` (sorted names), cached."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        # Plain tensors even when called under inference_mode, so they stay usable anywhere.
        with torch.inference_mode(False), torch.no_grad():
            stacks = [self._stack_layer(layer, key) for layer in self._layers]
        self._cache[key] = stacks
        while len(self._cache) > _MAX_CACHED_SETS:
            self._cache.popitem(last=False)
        return stacks

    @staticmethod
    def _stack_layer(layer: LoraLinear, key: tuple[str, ...]) -> _Stack | None:
        present = [a for a in key if a in layer.lora_A]
        if not present:
            return None
        for a in present:
            if a in layer.lora_variant or layer.use_dora.get(a, False):
                raise ValueError(
                    f"adapter {a!r} uses DoRA or another LoRA variant; MultiLora supports plain LoRA only"
                )
            if layer.lora_B[a].bias is not None:
                raise ValueError(
                    f"adapter {a!r} has a LoRA bias (lora_bias=True); MultiLora does not support it"
                )
        weight = getattr(layer.get_base_layer(), "weight", None)
        ref = weight if isinstance(weight, torch.Tensor) else layer.lora_A[present[0]].weight
        # Fold scaling in fp32, then cast once to the compute dtype the base layer runs in.
        a = torch.cat([layer.lora_A[n].weight.float() for n in present])
        bt = torch.cat([layer.lora_B[n].weight.float().t() * layer.scaling[n] for n in present])
        return _Stack(
            tuple((n, layer.r[n]) for n in present),
            a.to(ref.device, ref.dtype).contiguous(),
            bt.to(ref.device, ref.dtype).contiguous(),
        )


class RowBinding:
    """The row -> adapter binding of one :meth:`MultiLora.rows` context."""

    def __init__(self, owner: MultiLora, adapters: list[str | None]) -> None:
        self._owner = owner
        self._adapters = adapters
        self._key: tuple[str, ...] = ()
        self._closed = False

    @property
    def adapters(self) -> list[str | None]:
        """The adapter of each current row."""
        return list(self._adapters)

    def select(self, keep: torch.Tensor) -> None:
        """Follow rows being dropped from the batch.

        Args:
            keep: 1-D integer tensor of the kept row indices, in their new order; later
                forwards have ``len(keep)`` rows.
        """
        if self._closed:
            raise InternalError("RowBinding.select() called after its rows() context ended")
        if keep.dim() != 1 or keep.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"keep must be a 1-D integer tensor, got shape {tuple(keep.shape)} {keep.dtype}"
            )
        idx = keep.tolist()
        n = len(self._adapters)
        if any(i < 0 or i >= n for i in idx):
            raise ValueError(f"keep indices must lie in [0, {n}), got {idx}")
        self._adapters = [self._adapters[i] for i in idx]
        self._install()

    def _install(self) -> None:
        """Put a forward on every LoRA layer for the current rows."""
        owner, adapters = self._owner, self._adapters
        n = len(adapters)
        distinct = sorted({a for a in adapters if a is not None})
        layers = owner._layers
        if not distinct:  # all rows on the base weights: plain base layers
            fwds = [_forward(layer, n) for layer in layers]
        elif len(distinct) == 1 and None not in adapters:  # one adapter everywhere: no mask
            self._key = (distinct[0],)
            fwds = [
                _forward(layer, n, s)
                for layer, s in zip(layers, owner._stacks(self._key), strict=True)
            ]
        else:
            # After select() the remaining adapters are a subset of the stacked ones: keep
            # those stacks (the mask zeroes the unused blocks) instead of restacking.
            if not (len(self._key) > 1 and set(distinct) <= set(self._key)):
                self._key = tuple(distinct)
            masks: dict[tuple[tuple[str, int], ...], torch.Tensor] = {}  # shared by equal layouts
            fwds = []
            for layer, s in zip(layers, owner._stacks(self._key), strict=True):
                if s is not None and s.layout not in masks:
                    masks[s.layout] = _mask(adapters, s)
                fwds.append(_forward(layer, n, s, masks[s.layout] if s is not None else None))
        for layer, fwd in zip(layers, fwds, strict=True):
            layer.forward = fwd


def _mask(adapters: list[str | None], stack: _Stack) -> torch.Tensor:
    """0/1 mask [rows, 1, sum ranks]: ones on each row's own adapter block."""
    block_of = {name: j for j, (name, _) in enumerate(stack.layout)}
    col_block = torch.cat([torch.full((r,), j) for j, (_, r) in enumerate(stack.layout)])
    row_block = torch.tensor([block_of.get(a, -1) if a is not None else -1 for a in adapters])
    mask = (row_block[:, None] == col_block[None, :]).unsqueeze(1)
    return mask.to(stack.a.device, stack.a.dtype)


def _forward(
    layer: LoraLinear, n: int, s: _Stack | None = None, mask: torch.Tensor | None = None
) -> _Forward:
    """The forward that replaces peft's ``lora.Linear.forward`` for the duration of rows().

    ``s is None``: base layer only. ``mask is None``: every row uses the one adapter of
    ``s``. Otherwise each row keeps its own block of the stacked ranks.
    """
    base = layer.get_base_layer()
    # A plain nn.Linear without hooks is called as F.linear: skipping Module.__call__
    # saves a few microseconds on each of the ~200 wrapped layers per decode step.
    direct = type(base) is nn.Linear and not (
        base._forward_hooks
        or base._forward_pre_hooks
        or nn.modules.module._global_forward_hooks
        or nn.modules.module._global_forward_pre_hooks
    )
    a, bt = (s.a, s.bt) if s is not None else (None, None)
    rank, out = bt.shape if bt is not None else (0, 0)

    def forward(x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        if x.shape[0] != n:
            raise ValueError(
                f"MultiLora.rows() is bound to {n} rows but a forward got a batch of {x.shape[0]}"
            )
        if kwargs and kwargs.pop("adapter_names", None) is not None:
            raise ValueError(
                "adapter_names cannot be passed inside MultiLora.rows(); the rows choose the adapters"
            )
        if direct and not (args or kwargs):
            result = F.linear(x, base.weight, base.bias)
        else:
            result = base(x, *args, **kwargs).contiguous()
        if a is None:
            return result
        if x.dtype != a.dtype:
            x = x.to(a.dtype)
        h = F.linear(x, a)  # [..., sum ranks]
        if mask is not None:
            h.mul_(mask if h.dim() == 3 else mask.view((n,) + (1,) * (h.dim() - 2) + (rank,)))
        # In place: one small GEMM accumulating into the base output, no extra tensor.
        # Measured alternatives were slower on CPU: one fused GEMM over [W; A_cat] (also
        # costs a copy of every base weight) and A_cat stored pre-transposed.
        result.view(-1, out).addmm_(h.view(-1, rank), bt)
        return result

    return forward
