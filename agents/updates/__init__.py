"""Updates: losses and optimizer steps that train one LoRA adapter of a pool model.

* :mod:`~sparring.agents.updates.losses`: pure loss functions on log-probs (DPO, soft
  DPO, IPO, SPIN, SPPO, GRPO/RLOO, SFT) and group advantages.
* :mod:`~sparring.agents.updates.logprobs`: per-token log-probs of replies (chunked, so no
  full-vocabulary log-softmax exists for every position at once), and switching adapters
  (a snapshot or the base) for reference log-probs on the same weights.
* :mod:`~sparring.agents.updates.batch`: the samples updates train on.
* :mod:`~sparring.agents.updates.base`: the shared step (one AdamW over one adapter,
  micro-batched gradient accumulation, clipping, version bump, optimizer state).
* :mod:`~sparring.agents.updates.step`: one update class per algorithm.
* :mod:`~sparring.agents.updates.schedules`: learning-rate warm-up and decay by step.
* :mod:`~sparring.agents.updates.regularisers`: the entropy bonus / floor and the KL
  anchor added to the GRPO/RLOO/SFT losses.

Names are loaded on first use (PEP 562): the sample types in ``batch`` are plain Python
and are imported by the light layers (rewards' builders), which must not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Update": "base", "adapter_parameters": "base",
    "GroupSample": "batch", "PreferencePair": "batch", "SFTSample": "batch", "minibatches": "batch",
    "reference_logprobs": "logprobs", "selective_logprobs": "logprobs", "sequence_logprobs": "logprobs",
    "use_adapter": "logprobs",
    "dpo_loss": "losses", "group_advantages": "losses", "grpo_loss": "losses", "ipo_loss": "losses",
    "rloo_advantages": "losses", "sft_loss": "losses", "spin_loss": "losses", "sppo_loss": "losses",
    "LRSchedule": "schedules", "entropy_bonus": "regularisers", "kl_anchor": "regularisers",
    "DPOUpdate": "step", "IPOUpdate": "step", "PolicyGradientUpdate": "step",
    "PreferenceUpdate": "step", "SFTUpdate": "step", "SPINUpdate": "step", "SPPOUpdate": "step",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
