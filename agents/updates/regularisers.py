"""Stabilisers added to an update's loss: an entropy bonus (or floor) and a KL anchor.

Label-free self-training (majority vote, TTRL) collapses as samples come to agree, right
or wrong: token entropy falls towards 0. Two terms push back, for the policy-gradient
updates (GRPO, RLOO) and SFT (own-sample rejection sampling, majority vote):

* :func:`entropy_bonus`: ``-coef * H``, where ``H`` is the per-token entropy estimated on
  the batch's reply tokens (the same estimate the ``<seat>/entropy`` monitor logs: the
  mean of ``-log p`` of the sampled tokens). Its gradient is the score-function
  (REINFORCE) gradient of the entropy, ``E[(log p - b) grad log p]`` with the batch's mean
  ``log p`` as baseline ``b``; the full-vocabulary entropy would need every position's
  softmax, which the memory-saving log-prob path never builds. Simplified on purpose: it
  is unbiased for replies sampled from the current policy at temperature 1; replies
  sampled at another temperature, or an earlier version's replies, give a biased but
  same-signed push. With ``floor > 0`` the bonus acts only while ``H < floor`` (an
  entropy floor, as EMPO's entropy threshold), so a healthy policy is left alone.
* :func:`kl_anchor`: ``coef * KL(pi || ref)`` per token with Schulman's non-negative k3
  estimator, as in GRPO's KL term, for SFT-type updates (the reference: the base weights
  or a frozen snapshot of the run's start).

Example:
    >>> import torch
    >>> logps = torch.log(torch.tensor([[0.5, 0.25]]))
    >>> term, metrics = entropy_bonus(logps, torch.ones(1, 2), coef=0.1)
    >>> round(metrics["entropy"], 4), round(term.item(), 6)  # the value is 0, only the gradient moves
    (1.0397, 0.0)
"""

from __future__ import annotations

import torch
from torch import Tensor

from sparring.agents.updates.losses import Metrics


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def entropy_bonus(logps: Tensor, mask: Tensor, coef: float, floor: float = 0.0) -> tuple[Tensor, Metrics]:
    """A loss term whose gradient raises the sampled-token entropy estimate (see module docs).

    Args:
        logps: ``[B, T]`` per-token log-probs of the replies under the policy (with grad).
        mask: ``[B, T]`` 1 on reply tokens.
        coef: Weight of the bonus (0: the term is 0 and has no gradient).
        floor: Act only while the estimate is below this (0: always act).

    Returns:
        The term to add to the loss (value 0: a baseline-centred surrogate) and metrics
        ``entropy`` (the estimate) and ``entropy_bonus_active`` (1 when it acted).
    """
    mask = mask.to(logps.dtype)
    entropy = -_masked_mean(logps.detach(), mask)
    active = coef > 0 and (floor <= 0 or entropy.item() < floor)
    metrics = {"entropy": entropy.item(), "entropy_bonus_active": float(active)}
    if not active:
        return logps.sum() * 0.0, metrics
    # the gradient of mean((log p - b) * log p), with log p - b and b = mean log p held
    # fixed, is the score-function estimate of -grad H; subtracting the detached log p
    # keeps the term's value at 0, so the logged loss is the update's own
    centred = logps.detach() + entropy
    return coef * _masked_mean(centred * (logps - logps.detach()), mask), metrics


def kl_anchor(logps: Tensor, ref_logps: Tensor, mask: Tensor, coef: float) -> tuple[Tensor, Metrics]:
    """``coef`` times the token-mean k3 estimate of ``KL(pi || ref)`` on the replies.

    Args:
        logps: ``[B, T]`` per-token log-probs under the policy (with grad).
        ref_logps: ``[B, T]`` the same under the reference (no grad).
        mask: ``[B, T]`` 1 on reply tokens.
        coef: Weight of the anchor.

    Returns:
        The term and metrics ``kl`` (the mean k3 estimate).
    """
    mask = mask.to(logps.dtype)
    delta = ref_logps - logps
    kl = torch.exp(delta) - delta - 1
    return coef * _masked_mean(kl, mask), {"kl": _masked_mean(kl.detach(), mask).item()}
