"""A training forward for LoRA layers with the adapter's delta added inside the matmul.

peft's ``lora.Linear`` computes ``result + lora_B(lora_A(x)) * scaling``: beyond the two
small matmuls, three passes over an output-sized tensor (B's output, the scaled copy, the
sum), and the scaling's multiply again in the backward pass. On a CPU, where these
element-wise passes are bound by memory bandwidth, they are a visible share of a LoRA
step. :func:`fused_lora` replaces, for the duration of a block, the forward of every
plain LoRA linear layer carrying ``adapter`` with::

    result = base(x)
    result.addmm_(x @ A.T, (B * scaling).T)   # the add happens inside the GEMM

which is the same function (same value and gradient up to rounding order) with one
output-sized pass instead of three. The replacement falls back to peft's own forward
whenever it would not be the plain case: adapters disabled (the DPO reference), another
adapter active (a snapshot reference), merged weights, peft's mixed-batch
``adapter_names``, a LoRA variant (DoRA) or dropout. Layers are restored on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def _plain(layer: Any, adapter: str) -> bool:
    if adapter not in getattr(layer, "lora_A", {}) or adapter in getattr(layer, "lora_variant", {}):
        return False
    dropout = layer.lora_dropout[adapter]
    return isinstance(dropout, nn.Identity) or (isinstance(dropout, nn.Dropout) and dropout.p == 0)


def _fused_forward(layer: Any, adapter: str, original: Any) -> Any:
    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if (layer.disable_adapters or layer.merged or kwargs.get("adapter_names") is not None
                or list(layer.active_adapters) != [adapter]):
            return original(x, *args, **kwargs)
        result = layer.base_layer(x, *args, **kwargs)
        a = layer.lora_A[adapter].weight  # [r, in]
        b = layer.lora_B[adapter].weight  # [out, r]
        # Matmuls in the input's dtype with a cast of the (fp32, small) weights, as the
        # pool's bf16 adapters do (ModelPool._cast_adapter): casting x instead would keep
        # an fp32 copy of every layer's input for the backward pass.
        xa = F.linear(x, a.to(x.dtype))
        flat = result.view(-1, result.shape[-1])
        # The base output is not saved by autograd (a linear keeps its input and weight),
        # so adding into it in place is safe, and it saves one allocation.
        flat.addmm_(xa.reshape(-1, xa.shape[-1]).to(result.dtype), (b * layer.scaling[adapter]).t().to(result.dtype))
        return result

    return forward


@contextmanager
def fused_lora(model: nn.Module, adapter: str) -> Iterator[int]:
    """Within the block, plain LoRA layers of ``adapter`` add their delta inside one GEMM.

    Args:
        model: A peft model (other modules are left alone).
        adapter: The adapter being trained.

    Yields:
        The number of layers whose forward was replaced.
    """
    from peft.tuners.lora import Linear as LoraLinear

    patched = [m for m in model.modules() if isinstance(m, LoraLinear) and _plain(m, adapter)
               and "forward" not in vars(m)]
    for layer in patched:
        layer.forward = _fused_forward(layer, adapter, layer.forward)
    try:
        yield len(patched)
    finally:
        for layer in patched:
            del layer.forward
