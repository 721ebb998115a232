"""One update step per algorithm, on one LoRA adapter of a pool model.

Each class below only says how a micro-batch of samples becomes a loss; the optimizer,
micro-batching, clipping, checkpoint state and version bump live in
:class:`~sparring.agents.updates.base.Update`.

* :class:`DPOUpdate` on ``PreferencePair``: reference the base weights by default; soft
  DPO where a pair's ``strength`` is below 1.
* :class:`IPOUpdate` on ``PreferencePair``: reference the base weights by default.
* :class:`SPINUpdate` on ``PreferencePair``: reference a frozen snapshot of the previous
  iterate.
* :class:`SPPOUpdate` on ``GroupSample`` (reward = win rate): reference a snapshot of the
  iterate that generated the data.
* :class:`PolicyGradientUpdate` (GRPO, RLOO) on ``GroupSample``: reference (base by
  default) only for the KL penalty when ``kl_coef > 0``; optional entropy bonus.
* :class:`SFTUpdate` on ``SFTSample``: a reference only for the optional KL anchor
  (``kl_coef > 0``); optional entropy bonus
  (:mod:`~sparring.agents.updates.regularisers`).

Example:
    >>> from sparring.agents.pool import ModelPool
    >>> pool = ModelPool(dtype="fp32")
    >>> _ = pool.load("default", "tiny")
    >>> _ = pool.add_adapter("default", "solver", rank=4)
    >>> update = DPOUpdate(pool, "default", "solver", beta=0.1, lr=1e-3, micro_batch_size=2)
    >>> metrics = update.step([PreferencePair([1, 60], [70, 71, 2], [80, 2])])
    >>> metrics["version"], pool.version("default", "solver")
    (1.0, 1)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from sparring.agents.pool import ModelPool
from sparring.agents.updates.base import Update
from sparring.agents.updates.batch import GroupSample, PreferencePair, SFTSample
from sparring.agents.updates.logprobs import reference_logprobs, sequence_logprobs
from sparring.agents.updates.losses import (
    Metrics,
    dpo_loss,
    group_advantages,
    grpo_loss,
    ipo_loss,
    rloo_advantages,
    sft_loss,
    sppo_loss,
)
from sparring.agents.updates.regularisers import entropy_bonus, kl_anchor

__all__ = [
    "DPOUpdate", "IPOUpdate", "PolicyGradientUpdate", "PreferenceUpdate", "SFTUpdate",
    "SPINUpdate", "SPPOUpdate",
]


def _sequence_logps(token_logps: Tensor, mask: Tensor, average: bool) -> Tensor:
    total = (token_logps * mask).sum(-1)
    return total / mask.sum(-1).clamp(min=1) if average else total


# -- preference pairs --------------------------------------------------------------------


class PreferenceUpdate(Update):
    """Shared part of the pairwise updates: chosen and rejected rows in one forward.

    Args:
        pool: The model pool.
        model_name: Model in the pool.
        adapter: Adapter to train.
        beta: Strength of the anchor to the reference.
        length_normalize: Use per-token average log-probs instead of sums.
        **kwargs: Optimizer and batching settings of :class:`~sparring.agents.updates.base.Update`
            (``lr``, ``weight_decay``, ``max_grad_norm``, ``micro_batch_size``, ``reference``).
    """

    sample_type = PreferencePair

    def __init__(
        self, pool: ModelPool, model_name: str, adapter: str, *, beta: float = 0.1,
        length_normalize: bool = False, **kwargs: Any,
    ) -> None:
        super().__init__(pool, model_name, adapter, **kwargs)
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        self.beta = beta
        self.length_normalize = length_normalize

    def _pair_loss(
        self, pairs: Sequence[PreferencePair], chosen: Tensor, rejected: Tensor, ref_chosen: Tensor,
        ref_rejected: Tensor,
    ) -> tuple[Tensor, Metrics]:
        raise NotImplementedError

    def _prepare(self, batch: Sequence[Any]) -> tuple[Any, Metrics]:
        return len(batch), {}

    def _micro_loss(self, items: Sequence[Any], offset: int, plan: Any) -> tuple[Tensor, Metrics, float]:
        n = len(items)
        prompts = [p.prompt_ids for p in items] * 2
        replies = [p.chosen_ids for p in items] + [p.rejected_ids for p in items]
        ref = _sequence_logps(
            *reference_logprobs(self.model, self.reference, prompts, replies, self.pad_id), self.length_normalize
        )
        policy = _sequence_logps(
            *sequence_logprobs(self.model, prompts, replies, self.pad_id), self.length_normalize
        )
        loss, metrics = self._pair_loss(items, policy[:n], policy[n:], ref[:n], ref[n:])
        return loss, metrics, n / plan


class DPOUpdate(PreferenceUpdate):
    """DPO on preference pairs; soft-label DPO where a pair's ``strength`` is below 1.

    Each pair's ``strength`` is its label in :func:`~sparring.agents.updates.losses.dpo_loss`,
    so hard pairs (``strength=1``) give standard sigmoid DPO and CREAM-style
    consistency-weighted or judge-probability pairs give soft DPO, in the same batch.
    The reference defaults to the base weights (``reference=None``), as in TRL with a
    LoRA adapter; pass ``reference="adapter@vN"`` to anchor to a snapshot instead.
    """

    algorithm = "dpo"

    def _pair_loss(
        self, pairs: Sequence[PreferencePair], chosen: Tensor, rejected: Tensor, ref_chosen: Tensor,
        ref_rejected: Tensor,
    ) -> tuple[Tensor, Metrics]:
        labels = torch.tensor([p.strength for p in pairs], dtype=chosen.dtype, device=chosen.device)
        return dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=self.beta, label=labels)


class SPINUpdate(DPOUpdate):
    """SPIN: DPO against a frozen snapshot of the previous iterate.

    Chosen replies are the target data (e.g. SFT answers), rejected ones the previous
    iterate's own generations. Without ``reference`` the adapter's current version is
    snapshotted at construction; call :meth:`snapshot_reference` when an iteration ends
    (after generating the next iteration's rejected replies) to move the reference on.

    Args:
        pool: The model pool.
        model_name: Model in the pool.
        adapter: Adapter to train.
        reference: A frozen snapshot name, or ``None`` to snapshot the adapter now.
        **kwargs: ``beta`` and the settings of :class:`PreferenceUpdate`.
    """

    algorithm = "spin"

    def __init__(
        self, pool: ModelPool, model_name: str, adapter: str, *, reference: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(pool, model_name, adapter, reference=reference, **kwargs)
        if reference is None:
            self.snapshot_reference()
        elif not pool.get(model_name).adapters[reference].frozen:
            raise ValueError(
                f"SPIN's reference must be a frozen snapshot of the previous iterate, and {reference!r} is "
                f"a live adapter; pass reference=None or pool.snapshot({model_name!r}, {adapter!r})"
            )


class IPOUpdate(PreferenceUpdate):
    """IPO on preference pairs (``strength`` is ignored: IPO has no soft-label form here).

    ``length_normalize`` defaults to True: per-token average log-probs, as TRL does
    (so ``beta`` means the same as in TRL's ``loss_type="ipo"``).
    """

    algorithm = "ipo"

    def __init__(
        self, pool: ModelPool, model_name: str, adapter: str, *, length_normalize: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(pool, model_name, adapter, length_normalize=length_normalize, **kwargs)

    def _pair_loss(
        self, pairs: Sequence[PreferencePair], chosen: Tensor, rejected: Tensor, ref_chosen: Tensor,
        ref_rejected: Tensor,
    ) -> tuple[Tensor, Metrics]:
        return ipo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=self.beta)


# -- scored samples ----------------------------------------------------------------------


class SPPOUpdate(Update):
    """SPPO: regress each reply's log-ratio to the reference on its centred win rate.

    Items are :class:`GroupSample` whose ``reward`` is the reply's estimated probability
    of beating the current policy given its prompt (its mean preference over the other
    replies to the same prompt, :func:`sparring.rewards.builders.win_rates`);
    ``old_logprobs``, ``group_id`` and ``temperature`` are not used. The reference should be
    the iterate the replies came from: call :meth:`snapshot_reference` before generating
    each iteration's data (``reference=None`` anchors to the base instead).

    Args:
        pool: The model pool.
        model_name: Model in the pool.
        adapter: Adapter to train.
        eta: Target log-ratio scale (> 0); ``eta = 1 / beta`` matches TRL's ``sppo_hard``
            (the default 10 is TRL's default ``beta = 0.1``).
        **kwargs: Settings of :class:`~sparring.agents.updates.base.Update`.
    """

    algorithm = "sppo"
    sample_type = GroupSample

    def __init__(self, pool: ModelPool, model_name: str, adapter: str, *, eta: float = 10.0, **kwargs: Any) -> None:
        super().__init__(pool, model_name, adapter, **kwargs)
        if not eta > 0:
            raise ValueError(f"SPPO's eta must be > 0 (it scales the target log-ratio), got {eta}")
        self.eta = eta

    def _prepare(self, batch: Sequence[Any]) -> tuple[Any, Metrics]:
        bad = [s.reward for s in batch if not 0.0 <= s.reward <= 1.0]
        if bad:
            raise ValueError(f"SPPO needs win rates in [0, 1] as rewards, got {bad[:3]}")
        return len(batch), {"win_rate_mean": sum(s.reward for s in batch) / len(batch)}

    def _micro_loss(self, items: Sequence[Any], offset: int, plan: Any) -> tuple[Tensor, Metrics, float]:
        prompts = [s.prompt_ids for s in items]
        replies = [s.completion_ids for s in items]
        ref = _sequence_logps(*reference_logprobs(self.model, self.reference, prompts, replies, self.pad_id), False)
        policy = _sequence_logps(*sequence_logprobs(self.model, prompts, replies, self.pad_id), False)
        rates = torch.tensor([s.reward for s in items], dtype=policy.dtype, device=policy.device)
        loss, metrics = sppo_loss(policy, ref, rates, self.eta)
        return loss, metrics, len(items) / plan


@dataclass
class _PolicyGradientPlan:
    advantages: Tensor
    tokens: int


class PolicyGradientUpdate(Update):
    """GRPO or RLOO: clipped importance-weighted policy gradient on groups of samples.

    Advantages are computed over the whole batch before micro-batching (a group may
    span micro-batches). ``old_logprobs`` of each sample (the sampling engine's
    log-probs) give the importance ratio, so the policy's log-probs (and the reference's,
    for the KL penalty) are computed under the distribution each reply was sampled from:
    its own ``GroupSample.temperature``, else the update's ``temperature``. A greedy
    reply (temperature 0) had its log-probs recorded on the raw logits, so it is scored
    at temperature 1. Top-p truncation is not modelled. The loss is a token mean over
    the whole batch.

    Args:
        pool: The model pool.
        model_name: Model in the pool.
        adapter: Adapter to train.
        advantage: ``"grpo"`` (group mean baseline, optional std scaling) or ``"rloo"``
            (leave-one-out baseline).
        normalize_std: For ``"grpo"``: divide by the group's std.
        clip_eps: Clip range of the importance ratio.
        kl_coef: Weight of the k3 KL penalty to ``reference`` (base by default); 0 skips
            the reference forward entirely.
        temperature: Sampling temperature of samples that do not record their own
            (``GroupSample.temperature is None``); ``0`` means greedy, as above.
        entropy_coef: Weight of the entropy bonus
            (:func:`~sparring.agents.updates.regularisers.entropy_bonus`); 0: none.
        entropy_floor: The bonus acts only while the batch's entropy estimate is below
            this (0: always).
        **kwargs: Settings of :class:`~sparring.agents.updates.base.Update`.
    """

    algorithm = "policy_gradient"
    sample_type = GroupSample

    def __init__(
        self, pool: ModelPool, model_name: str, adapter: str, *, advantage: Literal["grpo", "rloo"] = "grpo",
        normalize_std: bool = True, clip_eps: float = 0.2, kl_coef: float = 0.0, temperature: float = 1.0,
        entropy_coef: float = 0.0, entropy_floor: float = 0.0, **kwargs: Any,
    ) -> None:
        super().__init__(pool, model_name, adapter, **kwargs)
        if advantage not in ("grpo", "rloo"):
            raise ValueError(f"advantage must be 'grpo' or 'rloo', got {advantage!r}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
        self.advantage = advantage
        self.normalize_std = normalize_std
        self.clip_eps = clip_eps
        self.kl_coef = kl_coef
        self.temperature = temperature
        self.entropy_coef = entropy_coef
        self.entropy_floor = entropy_floor

    def _prepare(self, batch: Sequence[Any]) -> tuple[Any, Metrics]:
        groups: dict[Hashable, int] = {}
        ids = torch.tensor([groups.setdefault(s.group_id, len(groups)) for s in batch])
        rewards = torch.tensor([float(s.reward) for s in batch])
        if self.advantage == "grpo":
            adv = group_advantages(rewards, ids, normalize_std=self.normalize_std)
        else:
            adv = rloo_advantages(rewards, ids)
        tokens = sum(len(s.completion_ids) for s in batch)
        if tokens == 0:
            raise ValueError("PolicyGradientUpdate: every completion in the batch is empty; nothing to train on")
        metrics = {
            "reward_mean": rewards.mean().item(),
            "reward_std": rewards.std().item() if len(batch) > 1 else 0.0,
            "advantage_abs_mean": adv.abs().mean().item(),
            "groups": float(len(groups)),
            "tokens": float(tokens),
        }
        return _PolicyGradientPlan(adv, tokens), metrics

    def scoring_temperature(self, sample: GroupSample) -> float:
        """Temperature whose distribution ``sample``'s ``old_logprobs`` are under.

        The sample's own recorded temperature, else the update's; greedy (0) maps to 1
        because engines record greedy log-probs on the raw logits.
        """
        t = sample.temperature if sample.temperature is not None else self.temperature
        return t if t > 0 else 1.0

    def _micro_loss(self, items: Sequence[Any], offset: int, plan: Any) -> tuple[Tensor, Metrics, float]:
        prompts = [s.prompt_ids for s in items]
        replies = [s.completion_ids for s in items]
        temps = [self.scoring_temperature(s) for s in items]
        logps, mask = sequence_logprobs(self.model, prompts, replies, self.pad_id, temps)
        old = logps.detach().clone()  # on-policy rows: ratio exactly 1
        for row, s in enumerate(items):
            if s.old_logprobs is not None:
                old[row, : len(s.old_logprobs)] = torch.tensor(s.old_logprobs, dtype=old.dtype)
        ref = None
        if self.kl_coef:
            ref, _ = reference_logprobs(self.model, self.reference, prompts, replies, self.pad_id, temps)
        adv = plan.advantages[offset : offset + len(items)].to(logps.device)
        loss, metrics = grpo_loss(logps, old, ref, adv, mask, clip_eps=self.clip_eps, kl_coef=self.kl_coef)
        if self.entropy_coef:
            bonus, entropy = entropy_bonus(logps, mask, self.entropy_coef, self.entropy_floor)
            loss, metrics = loss + bonus, {**metrics, **entropy}
        return loss, metrics, mask.sum().item() / plan.tokens


# -- supervised --------------------------------------------------------------------------


class SFTUpdate(Update):
    """Supervised fine-tuning: maximise the log-likelihood of target replies.

    The loss is the mean negative log-likelihood over all reply tokens of the batch
    (prompt tokens are not trained on), plus two optional stabilisers: a KL anchor to
    ``reference`` (the base by default, or a frozen snapshot such as the run's start) and
    an entropy bonus (:mod:`~sparring.agents.updates.regularisers`). Without them there
    is no reference forward.

    Args:
        pool: The model pool.
        model_name: Model in the pool.
        adapter: Adapter to train.
        kl_coef: Weight of the k3 KL anchor to ``reference`` (0: none).
        entropy_coef: Weight of the entropy bonus (0: none).
        entropy_floor: The bonus acts only while the batch's entropy estimate is below
            this (0: always).
        **kwargs: Settings of :class:`~sparring.agents.updates.base.Update`.
    """

    algorithm = "sft"
    sample_type = SFTSample

    def __init__(self, pool: ModelPool, model_name: str, adapter: str, *, kl_coef: float = 0.0,
                 entropy_coef: float = 0.0, entropy_floor: float = 0.0, **kwargs: Any) -> None:
        super().__init__(pool, model_name, adapter, **kwargs)
        self.kl_coef = kl_coef
        self.entropy_coef = entropy_coef
        self.entropy_floor = entropy_floor

    def _prepare(self, batch: Sequence[Any]) -> tuple[Any, Metrics]:
        tokens = sum(len(s.completion_ids) for s in batch)
        if tokens == 0:
            raise ValueError("SFTUpdate: every completion in the batch is empty; nothing to train on")
        return tokens, {"tokens": float(tokens)}

    def _micro_loss(self, items: Sequence[Any], offset: int, plan: Any) -> tuple[Tensor, Metrics, float]:
        logps, mask = sequence_logprobs(
            self.model, [s.prompt_ids for s in items], [s.completion_ids for s in items], self.pad_id
        )
        loss, metrics = sft_loss(logps, mask)
        del metrics["tokens"]  # a count, not a mean: reported once from _prepare
        if self.kl_coef:
            ref, _ = reference_logprobs(self.model, self.reference, [s.prompt_ids for s in items],
                                        [s.completion_ids for s in items], self.pad_id)
            anchor, kl = kl_anchor(logps, ref, mask, self.kl_coef)
            loss, metrics = loss + anchor, {**metrics, **kl}
        if self.entropy_coef:
            bonus, entropy = entropy_bonus(logps, mask, self.entropy_coef, self.entropy_floor)
            loss, metrics = loss + bonus, {**metrics, **entropy}
        return loss, metrics, mask.sum().item() / plan
