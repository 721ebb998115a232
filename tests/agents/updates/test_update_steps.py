"""Update steps on a tiny model: what they change, what they leave alone, and invariants."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import pytest
import torch
from update_helpers import make_pairs, token_ids

from sparring.agents.pool import ModelPool
from sparring.agents.updates import (
    DPOUpdate,
    GroupSample,
    IPOUpdate,
    PolicyGradientUpdate,
    PreferencePair,
    SFTSample,
    SFTUpdate,
    SPINUpdate,
    SPPOUpdate,
    Update,
    reference_logprobs,
    sequence_logprobs,
)
from tests.helpers import assert_close


def clone_params(pool: ModelPool) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in pool.get("default").model.named_parameters()}


def seq_logps(pool: ModelPool, adapter: str | None, prompts: list[list[int]], replies: list[list[int]]) -> torch.Tensor:
    logps, mask = reference_logprobs(pool.get("default").model, adapter, prompts, replies, pad_id=0)
    return (logps * mask).sum(-1)


def dpo_margin(pool: ModelPool, pairs: list[PreferencePair]) -> float:
    """Mean of (policy - base) log-ratio of chosen minus that of rejected."""
    prompts = [p.prompt_ids for p in pairs] * 2
    replies = [p.chosen_ids for p in pairs] + [p.rejected_ids for p in pairs]
    ratio = seq_logps(pool, "solver", prompts, replies) - seq_logps(pool, None, prompts, replies)
    n = len(pairs)
    return (ratio[:n] - ratio[n:]).mean().item()


def group_samples(pool: ModelPool, seed: int = 0, off_policy: bool = False) -> list[GroupSample]:
    """Two prompts x 4 replies; old log-probs measured under solver (optionally perturbed)."""
    g = torch.Generator().manual_seed(seed)
    prompts = [token_ids(g, 3), token_ids(g, 5)]
    rows = [(gid, prompts[gid], token_ids(g, 2 + (i % 3))) for gid in (0, 1) for i in range(4)]
    old, mask = reference_logprobs(
        pool.get("default").model, "solver", [r[1] for r in rows], [r[2] for r in rows], pad_id=0
    )
    if off_policy:  # as if sampled by a slightly different policy: ratios away from 1, some clipped
        old = old + 0.3 * torch.randn(old.shape, generator=g) * mask
    rewards = [1.0, 0.0, 1.0, 0.0, 0.2, 0.9, 0.5, 0.5]
    return [
        GroupSample(prompt, reply, old[i, : len(reply)].tolist(), rewards[i], f"prompt-{gid}")
        for i, (gid, prompt, reply) in enumerate(rows)
    ]


def test_dpo_step_changes_only_the_trained_adapter(pool: ModelPool) -> None:
    loaded = pool.get("default")
    model = loaded.model
    before = clone_params(pool)
    model.set_adapter("questioner")  # the trained adapter need not be the active one
    flags = [p.requires_grad for p in model.parameters()]
    active, epoch = model.active_adapter, loaded.weights_epoch

    update = DPOUpdate(pool, "default", "solver", lr=1e-2, micro_batch_size=2)
    metrics = update.step(make_pairs(4))

    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == set(update.param_names)  # every solver LoRA tensor, nothing else
    assert all(".solver." in n for n in changed) and len(changed) == 28  # 7 linears x 2 layers x A, B
    assert metrics["version"] == 1 and pool.version("default", "solver") == 1
    assert pool.version("default", "questioner") == 0
    assert loaded.weights_epoch == epoch + 1  # engines re-stack adapters
    assert model.active_adapter == active and [p.requires_grad for p in model.parameters()] == flags
    assert metrics["micro_batches"] == 2 and metrics["samples"] == 4


def test_dpo_steps_increase_the_margin(pool: ModelPool) -> None:
    pairs = make_pairs(4)
    start = dpo_margin(pool, pairs)
    update = DPOUpdate(pool, "default", "solver", beta=0.1, lr=1e-2, micro_batch_size=4)
    losses = [update.step(pairs)["loss"] for _ in range(4)]
    assert dpo_margin(pool, pairs) > start + 1.0
    assert losses[-1] < losses[0]


UPDATES: dict[str, Callable[[ModelPool, int], tuple[Update, list]]] = {
    "dpo-soft": lambda pool, mbs: (
        DPOUpdate(pool, "default", "solver", micro_batch_size=mbs), make_pairs(7, strengths=True)
    ),
    "ipo": lambda pool, mbs: (IPOUpdate(pool, "default", "solver", micro_batch_size=mbs), make_pairs(7)),
    "sppo": lambda pool, mbs: (
        SPPOUpdate(pool, "default", "solver", eta=2.0, micro_batch_size=mbs),
        [GroupSample(s.prompt_ids, s.completion_ids, None, min(s.reward, 1.0), s.group_id)
         for s in group_samples(pool)],
    ),
    "grpo-kl": lambda pool, mbs: (
        PolicyGradientUpdate(pool, "default", "solver", kl_coef=0.1, micro_batch_size=mbs),
        group_samples(pool, off_policy=True),
    ),
    "rloo": lambda pool, mbs: (
        PolicyGradientUpdate(pool, "default", "solver", advantage="rloo", micro_batch_size=mbs),
        group_samples(pool, off_policy=True),
    ),
    "sft": lambda pool, mbs: (
        SFTUpdate(pool, "default", "solver", micro_batch_size=mbs),
        [SFTSample(p.prompt_ids, p.chosen_ids) for p in make_pairs(7)],
    ),
}


@pytest.mark.parametrize("name", list(UPDATES))
def test_micro_batching_gives_the_full_batch_gradient(pool: ModelPool, name: str) -> None:
    full, batch = UPDATES[name](pool, 64)
    micro, _ = UPDATES[name](pool, 3)  # uneven split: 3 + 3 + 2 (or + 1); groups span micro-batches
    expected, expected_metrics = full.gradients(batch)
    got, metrics = micro.gradients(batch)
    assert any(g.abs().max() > 1e-4 for g in expected.values())  # a real gradient, not all zeros
    for key, grad in expected.items():
        assert_close(got[key], grad, rel=1e-4, name=key)  # summed per micro-batch: another order
    for key, value in expected_metrics.items():  # loss and metrics are full-batch means either way
        assert metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_reference_snapshot_versus_base(pool: ModelPool) -> None:
    pairs = make_pairs(4)
    snap = pool.snapshot("default", "solver")  # "solver@v0" equals the policy right now
    assert snap == "solver@v0"
    # Against its own snapshot the policy starts with zero margin: loss log 2.
    on_snapshot = DPOUpdate(pool, "default", "solver", reference=snap, lr=1e-2).step(pairs)
    assert on_snapshot["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert on_snapshot["reward_margin"] == pytest.approx(0.0, abs=1e-6)
    # Against the base the (random) adapter already has a margin, so the loss is not log 2.
    on_base = DPOUpdate(pool, "default", "questioner", reference=None).step(pairs)
    assert abs(on_base["loss"] - math.log(2)) > 1e-3
    # Training moved solver but not its snapshot.
    prompts, replies = [p.prompt_ids for p in pairs], [p.chosen_ids for p in pairs]
    snap_now = seq_logps(pool, snap, prompts, replies)
    DPOUpdate(pool, "default", "solver", reference=snap, lr=1e-2).step(pairs)
    assert torch.equal(seq_logps(pool, snap, prompts, replies), snap_now)
    assert not torch.allclose(seq_logps(pool, "solver", prompts, replies), snap_now)


def test_spin_snapshots_the_previous_iterate(pool: ModelPool) -> None:
    update = SPINUpdate(pool, "default", "solver", lr=1e-2)
    assert update.reference == "solver@v0" and pool.get("default").adapters["solver@v0"].frozen
    update.step(make_pairs(2))
    assert update.snapshot_reference() == "solver@v1"
    with pytest.raises(ValueError, match="frozen snapshot"):
        SPINUpdate(pool, "default", "solver", reference="questioner")


def test_spin_step_is_dpo_against_the_previous_iterate(pool: ModelPool) -> None:
    pairs = make_pairs(2)
    DPOUpdate(pool, "default", "solver", lr=1e-2).step(pairs)  # the iterate now differs from the base
    update = SPINUpdate(pool, "default", "solver", lr=1e-2, beta=0.5)
    prompts = [p.prompt_ids for p in pairs] * 2
    replies = [p.chosen_ids for p in pairs] + [p.rejected_ids for p in pairs]
    base = seq_logps(pool, None, prompts, replies)
    policy = seq_logps(pool, "solver", prompts, replies)
    against_base = -torch.nn.functional.logsigmoid(0.5 * ((policy - base)[:2] - (policy - base)[2:])).mean()
    metrics = update.step(pairs)
    # the policy is its own reference when the step starts: every log-ratio is 0, the loss log 2
    assert metrics["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert abs(against_base.item() - math.log(2)) > 1e-3  # DPO against the base would differ


def test_update_rejects_bad_setups(pool: ModelPool) -> None:
    snap = pool.snapshot("default", "solver")
    with pytest.raises(ValueError, match="frozen snapshot and cannot be trained"):
        DPOUpdate(pool, "default", snap)
    with pytest.raises(ValueError, match="cannot be the trained adapter"):
        DPOUpdate(pool, "default", "solver", reference="solver")
    with pytest.raises(KeyError, match="pool.snapshot"):
        DPOUpdate(pool, "default", "solver", reference="solver@v9")
    with pytest.raises(KeyError, match="does not exist"):
        DPOUpdate(pool, "default", "nobody")
    with pytest.raises(TypeError, match="trains on PreferencePair items, got SFTSample"):
        DPOUpdate(pool, "default", "solver").step([SFTSample([1], [2])])


def test_optimizer_state_round_trips(pool: ModelPool) -> None:
    pairs = make_pairs(4)
    first = DPOUpdate(pool, "default", "solver", lr=1e-2)
    first.step(pairs)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    saved = [p.detach().clone() for p in first.params]
    first.step(pairs)
    expected = [p.detach().clone() for p in first.params]

    def rewind() -> None:
        with torch.no_grad():
            for p, w in zip(first.params, saved, strict=True):
                p.copy_(w)

    rewind()
    resumed = DPOUpdate(pool, "default", "solver", lr=1e-2)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    resumed.step(pairs)
    assert resumed.steps == 2
    assert all(torch.equal(p, w) for p, w in zip(resumed.params, expected, strict=True))

    rewind()  # without the optimizer state the same step lands elsewhere
    fresh = DPOUpdate(pool, "default", "solver", lr=1e-2)
    fresh.step(pairs)
    assert not all(torch.equal(p, w) for p, w in zip(fresh.params, expected, strict=True))

    with pytest.raises(ValueError, match="checkpoint is for a 'dpo' update"):
        SFTUpdate(pool, "default", "solver").load_state_dict(first.state_dict())


@pytest.mark.parametrize("advantage", ["grpo", "rloo"])
def test_policy_gradient_raises_logprobs_of_positive_advantage_samples(pool: ModelPool, advantage: str) -> None:
    samples = group_samples(pool)[:4]  # one group, rewards 1, 0, 1, 0
    prompts, replies = [s.prompt_ids for s in samples], [s.completion_ids for s in samples]
    before = seq_logps(pool, "solver", prompts, replies)
    update = PolicyGradientUpdate(pool, "default", "solver", advantage=advantage, lr=1e-3)
    metrics = update.step(samples)
    moved = seq_logps(pool, "solver", prompts, replies) - before
    assert (moved[[0, 2]] > 0).all()
    # The replies share weights, so a negative one may rise too; the advantage-weighted sum
    # (the first-order change of the objective) must still go up.
    assert (torch.tensor([1.0, -1.0, 1.0, -1.0]) * moved).sum() > 0
    assert metrics["ratio_mean"] == pytest.approx(1.0, abs=1e-5)  # old log-probs were on-policy
    assert metrics["clip_fraction"] == 0.0 and metrics["reward_mean"] == pytest.approx(0.5)


def test_policy_gradient_with_kl_reports_kl_to_base(pool: ModelPool) -> None:
    metrics = PolicyGradientUpdate(pool, "default", "solver", kl_coef=0.1).step(group_samples(pool))
    assert metrics["kl"] > 0  # the random adapter is away from the base


def test_sft_step_raises_target_likelihood(pool: ModelPool) -> None:
    samples = [SFTSample(p.prompt_ids, p.chosen_ids) for p in make_pairs(3)]
    update = SFTUpdate(pool, "default", "solver", lr=1e-2)
    first = update.step(samples)["nll"]
    for _ in range(2):
        last = update.step(samples)["nll"]
    assert last < first


def test_sequence_logprobs_gradient_reaches_only_lora_weights(pool: ModelPool) -> None:
    # Sanity of the frozen base: a backward through the pool model touches no base weight.
    model = pool.get("default").model
    logps, mask = sequence_logprobs(model, [[1, 2, 3]], [[4, 5]], pad_id=0)
    (logps * mask).sum().backward()
    assert all(p.grad is None for n, p in model.named_parameters() if "lora_" not in n)
    model.zero_grad(set_to_none=True)


def test_policy_gradient_scores_each_sample_at_its_own_sampling_temperature(pool: ModelPool) -> None:
    # One micro-batch mixing replies sampled at 0.5, 1.5, greedy (recorded on raw logits) and
    # one without a recorded temperature (the update's default, 0.8): with old log-probs taken
    # under each reply's own distribution, the first step is exactly on-policy.
    g = torch.Generator().manual_seed(3)
    prompts = [token_ids(g, 3), token_ids(g, 4), token_ids(g, 2), token_ids(g, 5)]
    replies = [token_ids(g, 3), token_ids(g, 2), token_ids(g, 4), token_ids(g, 3)]
    recorded = [0.5, 1.5, 0.0, None]
    scored_at = [0.5, 1.5, 1.0, 0.8]
    old, _ = reference_logprobs(pool.get("default").model, "solver", prompts, replies, pad_id=0, temperature=scored_at)
    samples = [
        GroupSample(p, r, old[i, : len(r)].tolist(), float(i % 2), "g", temperature=recorded[i])
        for i, (p, r) in enumerate(zip(prompts, replies, strict=True))
    ]
    update = PolicyGradientUpdate(pool, "default", "solver", temperature=0.8, kl_coef=0.1, micro_batch_size=4)
    assert [update.scoring_temperature(s) for s in samples] == scored_at
    _, metrics = update.gradients(samples)
    assert metrics["ratio_mean"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["clip_fraction"] == 0.0
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        GroupSample([1], [2], None, 0.0, "g", temperature=-1.0)


def test_greedy_default_temperature_scores_on_raw_logits(pool: ModelPool) -> None:
    samples = group_samples(pool)  # old log-probs at temperature 1, no recorded temperature
    metrics = PolicyGradientUpdate(pool, "default", "solver", temperature=0.0).gradients(samples)[1]
    assert metrics["ratio_mean"] == pytest.approx(1.0, abs=1e-6)


def test_sppo_eta_must_be_positive(pool: ModelPool) -> None:
    assert SPPOUpdate(pool, "default", "solver", eta=4.0).eta == 4.0
    with pytest.raises(ValueError, match="eta must be > 0"):
        SPPOUpdate(pool, "default", "solver", eta=0.0)
