"""Every loss against values worked out by hand on a few fixed numbers."""

from __future__ import annotations

import math

import pytest
import torch

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


def logsigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


# Two pairs shared by the preference-loss tests.
POLICY_CHOSEN = torch.tensor([-1.0, -2.0])
POLICY_REJECTED = torch.tensor([-3.0, -1.0])
REF_CHOSEN = torch.tensor([-1.5, -2.0])
REF_REJECTED = torch.tensor([-2.0, -2.0])
# pair 0: chosen log-ratio -1 - (-1.5) = 0.5, rejected log-ratio -3 - (-2) = -1, h = 1.5
# pair 1: chosen log-ratio -2 - (-2)   = 0,   rejected log-ratio -1 - (-2) =  1, h = -1
H = [1.5, -1.0]


def test_dpo_loss_by_hand() -> None:
    beta = 0.5
    loss, metrics = dpo_loss(POLICY_CHOSEN, POLICY_REJECTED, REF_CHOSEN, REF_REJECTED, beta=beta)
    # -log sigmoid(0.5 * 1.5) = log(1 + e^-0.75); -log sigmoid(0.5 * -1) = log(1 + e^0.5)
    expected = (math.log(1 + math.exp(-0.75)) + math.log(1 + math.exp(0.5))) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    # rewards are beta * log-ratios: chosen (0.25, 0), rejected (-0.5, 0.5)
    assert metrics["reward_chosen"] == pytest.approx((0.25 + 0.0) / 2)
    assert metrics["reward_rejected"] == pytest.approx((-0.5 + 0.5) / 2)
    assert metrics["reward_margin"] == pytest.approx((0.75 + -0.5) / 2)
    assert metrics["accuracy"] == pytest.approx(0.5)  # pair 0 right, pair 1 wrong
    assert metrics["logps_chosen"] == pytest.approx(-1.5)


def test_soft_label_dpo_by_hand() -> None:
    beta, labels = 0.5, torch.tensor([0.8, 0.5])
    loss, _ = dpo_loss(POLICY_CHOSEN, POLICY_REJECTED, REF_CHOSEN, REF_REJECTED, beta=beta, label=labels)
    pair0 = -(0.8 * logsigmoid(0.75) + 0.2 * logsigmoid(-0.75))
    pair1 = -(0.5 * logsigmoid(-0.5) + 0.5 * logsigmoid(0.5))
    assert loss.item() == pytest.approx((pair0 + pair1) / 2, abs=1e-6)


def test_dpo_label_zero_is_dpo_on_the_flipped_pair() -> None:
    flipped, _ = dpo_loss(POLICY_REJECTED, POLICY_CHOSEN, REF_REJECTED, REF_CHOSEN, beta=0.3)
    zero, _ = dpo_loss(POLICY_CHOSEN, POLICY_REJECTED, REF_CHOSEN, REF_REJECTED, beta=0.3, label=0.0)
    assert zero.item() == pytest.approx(flipped.item(), abs=1e-6)


def test_dpo_rejects_labels_outside_unit_interval() -> None:
    z = torch.zeros(1)
    with pytest.raises(ValueError, match=r"label must lie in \[0, 1\]"):
        dpo_loss(z, z, z, z, label=1.5)


def test_spin_loss_on_its_pairs_by_hand() -> None:
    # SPIN's pair: the target reply y (chosen) over the previous iterate's own sample y'
    # (rejected), both log-ratios against that iterate p_t (the reference):
    # L = -log sigmoid(beta * ((log p(y) - log p_t(y)) - (log p(y') - log p_t(y'))))
    beta = 0.5
    loss, metrics = spin_loss(POLICY_CHOSEN, POLICY_REJECTED, REF_CHOSEN, REF_REJECTED, beta=beta)
    expected = -(logsigmoid(beta * H[0]) + logsigmoid(beta * H[1])) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert metrics["reward_margin"] == pytest.approx(beta * sum(H) / 2)
    # when an iteration starts, the policy is the iterate it is anchored to: log 2 per pair
    start, _ = spin_loss(REF_CHOSEN, REF_REJECTED, REF_CHOSEN, REF_REJECTED, beta=beta)
    assert start.item() == pytest.approx(math.log(2), abs=1e-6)


def test_ipo_loss_by_hand() -> None:
    beta = 0.5  # target margin 1 / (2 * 0.5) = 1
    loss, metrics = ipo_loss(POLICY_CHOSEN, POLICY_REJECTED, REF_CHOSEN, REF_REJECTED, beta=beta)
    # (1.5 - 1)^2 = 0.25 and (-1 - 1)^2 = 4
    assert loss.item() == pytest.approx((0.25 + 4.0) / 2)
    assert metrics["accuracy"] == pytest.approx(0.5)


def test_sppo_loss_by_hand() -> None:
    policy = torch.tensor([-1.0, -2.0, -3.0])
    ref = torch.tensor([-1.5, -2.0, -2.0])
    win_rate = torch.tensor([1.0, 0.5, 0.0])
    loss, metrics = sppo_loss(policy, ref, win_rate, eta=2.0)
    # log-ratios (0.5, 0, -1); targets 2 * (1 - .5, .5 - .5, 0 - .5) = (1, 0, -1)
    # squared errors (0.25, 0, 0)
    assert loss.item() == pytest.approx(0.25 / 3)
    assert metrics["logratio"] == pytest.approx((0.5 + 0.0 - 1.0) / 3)
    assert metrics["target"] == pytest.approx(0.0)


# GRPO: two sequences, the second one token shorter (masked).
LOGPS = torch.tensor([[-1.0, -2.0], [-0.5, 0.0]])
OLD = torch.tensor([[-1.2, -1.5], [-0.5, 0.0]])
REF = torch.tensor([[-1.1, -2.0], [-0.7, 0.0]])
MASK = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
ADV = torch.tensor([1.0, -2.0])


def test_grpo_loss_by_hand() -> None:
    logps = LOGPS.clone().requires_grad_(True)
    loss, metrics = grpo_loss(logps, OLD, None, ADV, MASK, clip_eps=0.2)
    r00 = math.exp(-1.0 - -1.2)  # 1.2214 > 1.2 with A = 1 > 0: clipped, term -min(1.2214, 1.2) = -1.2
    r01 = math.exp(-2.0 - -1.5)  # 0.6065 with A = 1: min(0.6065, 0.8) = 0.6065, not clipped
    r10 = 1.0  # ratio 1, A = -2: term -(-2) = 2
    expected = (-1.2 - r01 + 2.0) / 3  # token mean over the 3 unmasked tokens
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert metrics["clip_fraction"] == pytest.approx(1 / 3)
    assert metrics["ratio_mean"] == pytest.approx((r00 + r01 + r10) / 3, abs=1e-6)
    assert "kl" not in metrics
    loss.backward()
    # d/dlogp of -ratio * A / 3 is -ratio * A / 3; the clipped token and padding get none.
    expected_grad = torch.tensor([[0.0, -r01 / 3], [2.0 / 3, 0.0]])
    assert torch.allclose(logps.grad, expected_grad, atol=1e-6)


def test_grpo_loss_k3_kl_by_hand() -> None:
    base, _ = grpo_loss(LOGPS, OLD, None, ADV, MASK, clip_eps=0.2)
    loss, metrics = grpo_loss(LOGPS, OLD, REF, ADV, MASK, clip_eps=0.2, kl_coef=0.1)
    # k3 = e^d - d - 1 with d = ref - logp: d = -0.1, 0, -0.2 on the unmasked tokens
    k3 = [math.exp(-0.1) + 0.1 - 1, 0.0, math.exp(-0.2) + 0.2 - 1]
    assert metrics["kl"] == pytest.approx(sum(k3) / 3, abs=1e-6)
    assert loss.item() == pytest.approx(base.item() + 0.1 * sum(k3) / 3, abs=1e-6)
    # With kl_coef = 0 the KL is still reported but does not enter the loss.
    loss0, metrics0 = grpo_loss(LOGPS, OLD, REF, ADV, MASK, clip_eps=0.2, kl_coef=0.0)
    assert loss0.item() == pytest.approx(base.item()) and metrics0["kl"] == pytest.approx(metrics["kl"])


REWARDS = torch.tensor([1.0, 0.0, 0.5, 2.0, 2.0, 7.0])
GROUPS = [4, 4, 4, 9, 9, 1]  # any integers; group 1 has a single sample


def test_group_advantages_by_hand() -> None:
    # group 4: mean 0.5, centred (0.5, -0.5, 0), unbiased var (0.25 + 0.25 + 0) / 2 = 0.25, std 0.5
    # group 9: equal rewards, centred 0; group 1: a single sample, 0
    centred = group_advantages(REWARDS, GROUPS, normalize_std=False)
    assert centred.tolist() == pytest.approx([0.5, -0.5, 0.0, 0.0, 0.0, 0.0])
    scaled = group_advantages(REWARDS, GROUPS, eps=0.0)
    assert scaled.tolist() == pytest.approx([1.0, -1.0, 0.0, 0.0, 0.0, 0.0])
    default = group_advantages(REWARDS, GROUPS)  # eps = 1e-4 as in TRL
    assert default.tolist() == pytest.approx([0.5 / 0.5001, -0.5 / 0.5001, 0.0, 0.0, 0.0, 0.0])
    assert torch.isfinite(default).all()


def test_rloo_advantages_by_hand() -> None:
    # group 4: 1 - (0 + 0.5) / 2 = 0.75; 0 - (1 + 0.5) / 2 = -0.75; 0.5 - (1 + 0) / 2 = 0
    # group 9: 2 - 2 = 0 twice; group 1: no other sample, 0
    adv = rloo_advantages(REWARDS, GROUPS)
    assert adv.tolist() == pytest.approx([0.75, -0.75, 0.0, 0.0, 0.0, 0.0])


def test_advantages_check_shapes() -> None:
    with pytest.raises(ValueError, match="one id per reward"):
        group_advantages(REWARDS, [0, 1])


def test_sft_loss_by_hand() -> None:
    logps = torch.tensor([[-1.0, -2.0, 0.0], [-0.5, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    loss, metrics = sft_loss(logps, mask)
    assert loss.item() == pytest.approx((1.0 + 2.0 + 0.5) / 3)
    assert metrics["tokens"] == 3
