"""Stabilisers of the updates: learning-rate schedules, the entropy bonus / floor, the KL anchor."""

from __future__ import annotations

import pytest
import torch
from update_helpers import make_pairs

from sparring.agents.pool import ModelPool
from sparring.agents.updates import (
    LRSchedule,
    SFTSample,
    SFTUpdate,
    entropy_bonus,
    kl_anchor,
    sequence_logprobs,
)


def test_schedules_by_hand() -> None:
    linear = LRSchedule("linear", warmup=1, total=5, min_ratio=0.2)
    assert [round(linear.factor(s), 3) for s in range(7)] == [0.5, 1.0, 0.8, 0.6, 0.4, 0.2, 0.2]
    assert [LRSchedule().factor(s) for s in (0, 10)] == [1.0, 1.0]
    assert [round(LRSchedule(warmup=3).factor(s), 3) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    with pytest.raises(ValueError, match="a cosine decay needs total steps > warmup steps"):
        LRSchedule("cosine", warmup=4, total=4)


def test_entropy_bonus_gradient_is_minus_the_entropy_gradient() -> None:
    """Weighting every token of a small vocabulary by its probability makes the sampled
    estimate exact: the term's gradient must then be exactly ``-coef * grad H``."""
    logits = torch.tensor([[0.3, -1.2, 2.0, 0.1]], requires_grad=True)
    logp = logits.log_softmax(-1)
    probs = logp.exp().detach()
    term, metrics = entropy_bonus(logp, probs, coef=0.5)
    (grad,) = torch.autograd.grad(term, logits, retain_graph=True)
    entropy = -(logp.exp() * logp).sum()
    (expected,) = torch.autograd.grad(-0.5 * entropy, logits)
    assert torch.allclose(grad, expected, atol=1e-6)
    assert metrics["entropy"] == pytest.approx(entropy.item(), abs=1e-6) and term.item() == 0.0


def test_entropy_floor_leaves_a_healthy_policy_alone() -> None:
    logps = torch.log(torch.tensor([[0.5, 0.5]])).requires_grad_()
    term, metrics = entropy_bonus(logps, torch.ones(1, 2), coef=1.0, floor=0.5)  # entropy log 2 > 0.5
    assert metrics["entropy_bonus_active"] == 0.0
    term.backward()
    assert logps.grad is not None and logps.grad.abs().sum() == 0


def test_kl_anchor_is_k3() -> None:
    logps, ref = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.5, -2.0]])
    term, metrics = kl_anchor(logps, ref, torch.ones(1, 2), coef=2.0)
    k3 = (torch.exp(torch.tensor(-0.5)) + 0.5 - 1).item() / 2
    assert metrics["kl"] == pytest.approx(k3) and term.item() == pytest.approx(2 * k3)


def _kl_to_base(pool: ModelPool, samples: list[SFTSample]) -> float:
    model = pool.get("default").model
    args = ([s.prompt_ids for s in samples], [s.completion_ids for s in samples], 0)
    with torch.no_grad():
        logps, mask = sequence_logprobs(model, *args)
        with model.disable_adapter():
            ref, _ = sequence_logprobs(model, *args)
    return kl_anchor(logps, ref, mask, 1.0)[1]["kl"]


def test_sft_kl_anchor_keeps_the_adapter_near_the_base() -> None:
    samples = [SFTSample(p.prompt_ids, p.chosen_ids) for p in make_pairs(4)]
    kls = []
    for kl_coef in (0.0, 5.0):
        pool = ModelPool(dtype="fp32")
        pool.load("default", "tiny")
        pool.add_adapter("default", "solver", rank=4, seed=1)
        update = SFTUpdate(pool, "default", "solver", lr=3e-2, kl_coef=kl_coef)
        for _ in range(6):
            metrics = update.step(samples)
        assert ("kl" in metrics) == bool(kl_coef)  # no reference forward without the anchor
        kls.append(_kl_to_base(pool, samples))
    assert kls[1] < 0.75 * kls[0]  # measured: about half


def test_lr_follows_the_schedule_and_scale_round_trips(pool: ModelPool) -> None:
    samples = [SFTSample(p.prompt_ids, p.chosen_ids) for p in make_pairs(2)]
    update = SFTUpdate(pool, "default", "solver", lr=1e-2, lr_schedule=LRSchedule("linear", 1, 3))
    lrs = [update.step(samples)["lr"] for _ in range(4)]
    assert lrs == pytest.approx([5e-3, 1e-2, 5e-3, 0.0])
    update.lr_scale = 0.5
    state = update.state_dict()
    other = SFTUpdate(pool, "default", "solver", lr=1e-2, lr_schedule=LRSchedule("linear", 1, 3))
    other.load_state_dict(state)
    assert other.lr_scale == 0.5 and other.steps == 4 and other.current_lr() == 0.0
