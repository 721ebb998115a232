"""Updates: losses and optimizer steps that train one LoRA adapter of a pool model.

* :mod:`~sparring.agents.updates.losses`: pure loss functions on log-probs (DPO, soft
  DPO, IPO, SPIN, SPPO, GRPO/RLOO, SFT) and group advantages.
* :mod:`~sparring.agents.updates.logprobs`: per-token log-probs of replies, and switching
  adapters (a snapshot or the base) for reference log-probs on the same weights.
* :mod:`~sparring.agents.updates.batch`: the samples updates train on.
* :mod:`~sparring.agents.updates.base`: the shared step (one AdamW over one adapter,
  micro-batched gradient accumulation, clipping, version bump, optimizer state).
* :mod:`~sparring.agents.updates.step`: one update class per algorithm.
"""

from sparring.agents.updates.base import Update, adapter_parameters
from sparring.agents.updates.batch import GroupSample, PreferencePair, SFTSample, minibatches
from sparring.agents.updates.logprobs import reference_logprobs, sequence_logprobs, use_adapter
from sparring.agents.updates.losses import (
    dpo_loss,
    group_advantages,
    grpo_loss,
    ipo_loss,
    rloo_advantages,
    sft_loss,
    spin_loss,
    sppo_loss,
)
from sparring.agents.updates.step import (
    DPOUpdate,
    IPOUpdate,
    PolicyGradientUpdate,
    PreferenceUpdate,
    SFTUpdate,
    SPINUpdate,
    SPPOUpdate,
)

__all__ = [
    "DPOUpdate", "GroupSample", "IPOUpdate", "PolicyGradientUpdate", "PreferencePair",
    "PreferenceUpdate", "SFTSample", "SFTUpdate", "SPINUpdate", "SPPOUpdate", "Update",
    "adapter_parameters", "dpo_loss", "group_advantages", "grpo_loss", "ipo_loss", "minibatches",
    "reference_logprobs", "rloo_advantages", "sequence_logprobs", "sft_loss", "spin_loss",
    "sppo_loss", "use_adapter",
]
