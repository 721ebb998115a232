"""Losses of the updates: pure functions of log-probabilities, no model inside.

Every function takes log-probs that were already computed (per sequence, or per token
with a mask) and returns ``(loss, metrics)``: a scalar tensor to backpropagate and a dict
of plain floats to log. Keeping the model out makes each loss checkable by hand on a few
numbers (see ``tests/agents/updates/test_update_losses.py``).

Preference losses (``h`` is the implicit reward margin
``(log pi(y+) - log ref(y+)) - (log pi(y-) - log ref(y-))``):

* :func:`dpo_loss`: sigmoid DPO (Rafailov et al. 2023), ``-log sigmoid(beta * h)``; a soft
  ``label`` in [0, 1] mixes in the flipped pair (soft-label / conservative DPO, CREAM's
  consistency-weighted DPO).
* :func:`ipo_loss`: IPO (Azar et al. 2023), ``(h - 1 / (2 * beta))**2``.
* :data:`spin_loss`: SPIN (Chen et al. 2024) is DPO whose reference is a frozen snapshot
  of the previous iterate and whose rejected replies are that iterate's own generations.
  The loss is exactly :func:`dpo_loss`; what makes it SPIN is the data and the reference.

Other losses:

* :func:`sppo_loss`: SPPO's square loss (Wu et al. 2024) that regresses the log-ratio
  ``log pi(y) - log ref(y)`` on ``eta * (win_rate - 1/2)``.
* :func:`grpo_loss`: PPO-style clipped importance ratio per token with an optional k3
  KL penalty to a reference (GRPO, Shao et al. 2024), averaged over all unmasked tokens.
* :func:`group_advantages` (GRPO) and :func:`rloo_advantages` (RLOO, Ahmadian et al.
  2024): advantages from rewards of samples that share a prompt.
* :func:`sft_loss`: negative log-likelihood per token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

Metrics = dict[str, float]


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    # clamp: an all-padding batch gives 0 instead of nan.
    return (values * mask).sum() / mask.sum().clamp(min=1)


def _as_tensor(value: float | Sequence[float] | Tensor, like: Tensor) -> Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


# -- preference losses -------------------------------------------------------------------


def _preference_metrics(
    policy_chosen: Tensor, policy_rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor, beta: float
) -> Metrics:
    # The names and definitions follow TRL's DPOTrainer logs (rewards/chosen, ...), so
    # curves can be compared with runs of TRL.
    chosen = beta * (policy_chosen - ref_chosen).detach()
    rejected = beta * (policy_rejected - ref_rejected).detach()
    return {
        "reward_chosen": chosen.mean().item(),
        "reward_rejected": rejected.mean().item(),
        "reward_margin": (chosen - rejected).mean().item(),
        "accuracy": (chosen > rejected).float().mean().item(),
        "logps_chosen": policy_chosen.detach().mean().item(),
        "logps_rejected": policy_rejected.detach().mean().item(),
    }


def dpo_loss(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    beta: float = 0.1,
    label: float | Sequence[float] | Tensor = 1.0,
) -> tuple[Tensor, Metrics]:
    """Sigmoid DPO loss, optionally with soft labels.

    With ``h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)`` the loss
    per pair is ``-(label * logsigmoid(beta * h) + (1 - label) * logsigmoid(-beta * h))``,
    averaged over pairs. ``label = 1`` is standard DPO. A label below 1 says how sure we
    are that "chosen" is better: a preference strength, a judge's probability, or CREAM's
    consistency rate (which weights DPO on the pair against DPO on the flipped pair). At
    ``label = 0.5`` the pair pulls the margin towards 0.

    Args:
        policy_chosen: ``[B]`` summed log-probs of the chosen replies under the policy.
        policy_rejected: ``[B]`` the same for the rejected replies.
        ref_chosen: ``[B]`` chosen log-probs under the reference (no gradient needed).
        ref_rejected: ``[B]`` rejected log-probs under the reference.
        beta: Inverse temperature of the implicit reward (strength of the KL anchor).
        label: Probability that chosen beats rejected, a float or ``[B]`` values in [0, 1].

    Returns:
        The mean loss and metrics: ``reward_chosen``/``reward_rejected`` (``beta`` times
        the log-ratio to the reference), ``reward_margin``, ``accuracy`` (fraction of pairs
        whose chosen reward is higher), ``logps_chosen``/``logps_rejected``.

    Example:
        >>> z = torch.zeros(2)
        >>> loss, metrics = dpo_loss(z, z, z, z)
        >>> round(loss.item(), 4)  # log 2: no margin yet
        0.6931
    """
    labels = _as_tensor(label, policy_chosen)
    if ((labels < 0) | (labels > 1)).any():
        raise ValueError(f"dpo_loss: label must lie in [0, 1] (a probability that chosen wins), got {label}")
    h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    losses = -(labels * F.logsigmoid(beta * h) + (1 - labels) * F.logsigmoid(-beta * h))
    return losses.mean(), _preference_metrics(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)


#: SPIN's loss: :func:`dpo_loss` with a frozen snapshot of the previous iterate
#: (``"adapter@vN"``) as the reference and that iterate's generations as rejected replies.
#: Nothing in the arithmetic differs, so it is the same function under a second name.
spin_loss = dpo_loss


def ipo_loss(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    beta: float = 0.1,
) -> tuple[Tensor, Metrics]:
    """IPO loss ``(h - 1 / (2 * beta))**2``, averaged over pairs.

    IPO regresses the margin ``h`` on a fixed target instead of pushing it to infinity,
    so it does not overfit deterministic preferences. TRL (and the IPO authors, per TRL's
    comment) feed it log-probs averaged per token rather than summed; pass whichever you
    mean, :class:`~sparring.agents.updates.step.IPOUpdate` passes averages by default.

    Args:
        policy_chosen: ``[B]`` log-probs of the chosen replies under the policy.
        policy_rejected: ``[B]`` log-probs of the rejected replies under the policy.
        ref_chosen: ``[B]`` chosen log-probs under the reference.
        ref_rejected: ``[B]`` rejected log-probs under the reference.
        beta: Regularisation (``tau`` in the paper); the target margin is ``1 / (2 beta)``.

    Returns:
        The mean loss and the same metrics as :func:`dpo_loss`.
    """
    h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    losses = (h - 1 / (2 * beta)) ** 2
    return losses.mean(), _preference_metrics(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)


def sppo_loss(
    policy_logps: Tensor, ref_logps: Tensor, win_rate: float | Sequence[float] | Tensor, eta: float
) -> tuple[Tensor, Metrics]:
    """SPPO square loss ``(log(pi(y)/ref(y)) - eta * (win_rate - 1/2))**2``, mean over samples.

    SPPO approximates the multiplicative-weights update ``pi_{t+1} ~ pi_t * exp(eta * P(y
    beats pi_t))``: each reply's log-ratio to the previous iterate ``pi_t`` (the reference)
    is regressed on its centred win rate. With ``win_rate`` 1 for the chosen and 0 for the
    rejected reply of a pair and ``eta = 1 / beta`` this is TRL's ``sppo_hard``.

    Args:
        policy_logps: ``[B]`` summed log-probs of the replies under the policy.
        ref_logps: ``[B]`` the same under the reference (the previous iterate).
        win_rate: Estimated probability, per reply, that it beats the previous iterate.
        eta: Step size of the multiplicative-weights update (target log-ratio scale).

    Returns:
        The mean loss and metrics ``logratio`` (mean policy/reference log-ratio) and
        ``target`` (mean regression target).
    """
    rates = _as_tensor(win_rate, policy_logps)
    logratio = policy_logps - ref_logps
    target = eta * (rates - 0.5)
    losses = (logratio - target) ** 2
    return losses.mean(), {"logratio": logratio.detach().mean().item(), "target": target.mean().item()}


# -- policy gradient ---------------------------------------------------------------------


def grpo_loss(
    logps: Tensor,
    old_logps: Tensor,
    ref_logps: Tensor | None,
    advantages: Tensor,
    mask: Tensor,
    clip_eps: float = 0.2,
    kl_coef: float = 0.0,
) -> tuple[Tensor, Metrics]:
    """GRPO's clipped surrogate per token, with an optional k3 KL penalty, token-mean.

    Per token, with ``r = exp(logps - old_logps)`` and the sequence's advantage ``A``:
    ``-min(r * A, clip(r, 1 - eps, 1 + eps) * A) + kl_coef * k3``, where
    ``k3 = exp(ref - logps) - (ref - logps) - 1`` is the non-negative, unbiased KL
    estimator (Schulman's "k3") of ``KL(pi || ref)``. The mean runs over all unmasked
    tokens of the batch (the DAPO / Dr. GRPO choice: long replies are not down-weighted).

    Args:
        logps: ``[B, T]`` per-token log-probs under the policy being trained.
        old_logps: ``[B, T]`` log-probs under the policy that sampled the tokens.
        ref_logps: ``[B, T]`` log-probs under the KL reference, or ``None`` for no KL.
        advantages: ``[B]`` one advantage per sequence (broadcast over its tokens).
        mask: ``[B, T]`` 1 on completion tokens, 0 on padding.
        clip_eps: Clip range of the importance ratio.
        kl_coef: Weight of the KL penalty (ignored when ``ref_logps`` is ``None``).

    Returns:
        The loss and metrics: ``policy_loss`` (the surrogate alone), ``clip_fraction``
        (share of tokens whose gradient the clip removed), ``ratio_mean`` and, when a
        reference is given, ``kl`` (mean k3).
    """
    mask = mask.to(logps.dtype)
    adv = advantages.to(logps.dtype).unsqueeze(-1)
    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps)
    surrogate = -torch.min(ratio * adv, clipped * adv)
    per_token = surrogate
    metrics: Metrics = {}
    if ref_logps is not None:
        delta = ref_logps - logps
        kl = torch.exp(delta) - delta - 1
        if kl_coef:
            per_token = per_token + kl_coef * kl
        metrics["kl"] = _masked_mean(kl.detach(), mask).item()
    # The clip is active (zero gradient) where the ratio left the trust region in the
    # direction the advantage pushes it.
    is_clipped = ((ratio < 1 - clip_eps) & (adv < 0)) | ((ratio > 1 + clip_eps) & (adv > 0))
    metrics["policy_loss"] = _masked_mean(surrogate.detach(), mask).item()
    metrics["clip_fraction"] = _masked_mean(is_clipped.to(mask.dtype), mask).item()
    metrics["ratio_mean"] = _masked_mean(ratio.detach(), mask).item()
    return _masked_mean(per_token, mask), metrics


def _group_stats(rewards: Tensor, group_ids: Tensor | Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
    """Each sample's group index, and the size and mean reward of every group."""
    ids = torch.as_tensor(group_ids, device=rewards.device)
    if ids.shape != rewards.shape:
        raise ValueError(f"group_ids must have one id per reward: {tuple(ids.shape)} vs {tuple(rewards.shape)}")
    _, index = torch.unique(ids, return_inverse=True)
    groups = int(index.max()) + 1 if index.numel() else 0
    count = torch.zeros(groups, dtype=rewards.dtype, device=rewards.device).index_add_(
        0, index, torch.ones_like(rewards)
    )
    total = torch.zeros_like(count).index_add_(0, index, rewards)
    return index, count, total / count


def group_advantages(
    rewards: Tensor, group_ids: Tensor | Sequence[int], normalize_std: bool = True, eps: float = 1e-4
) -> Tensor:
    """GRPO advantages: reward minus its group's mean, optionally over the group's std.

    The std is the unbiased one with ``eps`` added, as in TRL's GRPOTrainer. A group of
    one sample gets advantage 0: there is nothing to compare it with. Dr. GRPO argues for
    ``normalize_std=False`` (the std rescales easy and hard prompts unequally).

    Args:
        rewards: ``[N]`` rewards.
        group_ids: ``[N]`` integer id of each sample's group (samples of one prompt).
        normalize_std: Divide by the group's standard deviation plus ``eps``.
        eps: Added to the std so a group of equal rewards gives 0, not nan.

    Returns:
        ``[N]`` advantages.

    Example:
        >>> group_advantages(torch.tensor([1.0, 0.0, 5.0]), [0, 0, 1], normalize_std=False)
        tensor([ 0.5000, -0.5000,  0.0000])
    """
    rewards = rewards.float()
    index, count, mean = _group_stats(rewards, group_ids)
    centered = rewards - mean[index]
    if not normalize_std:
        return centered
    squares = torch.zeros_like(count).index_add_(0, index, centered**2)
    std = (squares / (count - 1).clamp(min=1)).sqrt()
    # A centred reward of 0 stays 0 even where std + eps is 0 (equal rewards with eps=0).
    return torch.where(centered == 0, centered, centered / (std[index] + eps))


def rloo_advantages(rewards: Tensor, group_ids: Tensor | Sequence[int]) -> Tensor:
    """RLOO advantages: each reward minus the mean of the *other* rewards of its group.

    ``r_i - (sum_j r_j - r_i) / (n - 1)`` equals ``n / (n - 1) * (r_i - mean)``: an
    unbiased baseline, since it does not depend on sample ``i`` itself. A group of one
    sample has no baseline and gets advantage 0.

    Args:
        rewards: ``[N]`` rewards.
        group_ids: ``[N]`` integer id of each sample's group.

    Returns:
        ``[N]`` advantages.
    """
    rewards = rewards.float()
    index, count, mean = _group_stats(rewards, group_ids)
    scale = torch.where(count > 1, count / (count - 1).clamp(min=1), torch.zeros_like(count))
    return scale[index] * (rewards - mean[index])


# -- supervised --------------------------------------------------------------------------


def sft_loss(token_logps: Tensor, mask: Tensor) -> tuple[Tensor, Metrics]:
    """Negative log-likelihood per completion token, averaged over all unmasked tokens.

    Args:
        token_logps: ``[B, T]`` per-token log-probs of the target replies.
        mask: ``[B, T]`` 1 on reply tokens, 0 on padding.

    Returns:
        The loss and metrics ``nll`` (the same number) and ``tokens`` (unmasked tokens).
    """
    mask = mask.to(token_logps.dtype)
    loss = -_masked_mean(token_logps, mask)
    return loss, {"nll": loss.item(), "tokens": mask.sum().item()}
