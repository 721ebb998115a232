"""Replies that share a prompt are scored on one run of the prompt, with equal results."""

from __future__ import annotations

import pytest
import torch

from sparring.agents.pool import ModelPool
from sparring.agents.updates import DPOUpdate, PolicyGradientUpdate, sequence_logprobs
from sparring.agents.updates.batch import GroupSample
from sparring.agents.updates.logprobs import use_adapter
from sparring.agents.updates.prefix import prompt_groups
from tests.agents.updates.update_helpers import make_pairs
from tests.helpers import assert_close

# Two prompts of different lengths, each with replies of lengths 0..5 (an empty one, a
# one-token one: the first token comes from the prompt's logits alone).
PROMPTS = [[1, 60, 61, 62]] * 4 + [[5, 6]] * 3 + [[7, 8, 9]]
REPLIES = [[80, 81, 82], [90], [], [91, 92, 93, 94, 95], [40, 41], [42, 43, 44, 45], [46], [50, 51]]


def _logps_and_grads(model: object, share: bool, temps: list[float]) -> tuple[torch.Tensor, torch.Tensor, dict]:
    logps, mask = sequence_logprobs(model, PROMPTS, REPLIES, pad_id=0, temperature=temps, share_prompts=share)
    (logps * mask * torch.arange(1, mask.shape[1] + 1)).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return logps.detach(), mask, grads


def test_prompt_groups_in_order_of_first_appearance() -> None:
    assert prompt_groups([[1, 2], [3], [1, 2], [3], [4]]) == ([(1, 2), (3,), (4,)], [0, 1, 0, 1, 2])


def test_shared_prompts_give_the_same_logprobs_and_gradients(pool: ModelPool) -> None:
    model = pool.get("default").model
    temps = [1.0, 0.7, 1.0, 1.3, 1.0, 0.5, 2.0, 1.0]
    with use_adapter(model, "solver"):
        for p in model.parameters():
            p.requires_grad_(True)  # the base too: the gradient must reach every weight the same way
        shared, mask, shared_grads = _logps_and_grads(model, True, temps)
        plain, plain_mask, plain_grads = _logps_and_grads(model, False, temps)
    assert torch.equal(mask, plain_mask)
    assert mask.sum(1).tolist() == [len(r) for r in REPLIES]
    assert_close(shared, plain, rel=1e-5, name="log-probs")
    assert (shared[mask == 0] == 0).all()
    assert shared_grads.keys() == plain_grads.keys() and len(shared_grads) > 10
    for name, grad in plain_grads.items():
        assert_close(shared_grads[name], grad, rel=1e-5, name=name)


def test_each_distinct_prompt_runs_once(pool: ModelPool) -> None:
    model = pool.get("default").model
    widths: list[tuple[int, int]] = []
    handle = model.get_base_model().model.embed_tokens.register_forward_hook(
        lambda m, args, out: widths.append(tuple(args[0].shape)))
    try:
        with torch.no_grad():
            sequence_logprobs(model, PROMPTS, REPLIES, pad_id=0)
    finally:
        handle.remove()
    # 3 distinct prompts padded to 4 columns, then 8 replies of up to 4 (= 5 - 1) tokens.
    assert widths == [(3, 4), (8, 4)]


def test_dpo_and_grpo_gradients_do_not_depend_on_sharing(pool: ModelPool, monkeypatch) -> None:
    from sparring.agents.updates import logprobs as logprobs_module

    pairs = make_pairs(5, seed=3, strengths=True)
    g = torch.Generator().manual_seed(1)
    samples = [GroupSample(pairs[i // 3].prompt_ids, torch.randint(3, 259, (2 + i,), generator=g).tolist(),
                           None, reward=float(i % 3), group_id=i // 3) for i in range(6)]
    results = []
    for share in (True, False):
        original = logprobs_module.sequence_logprobs

        def forced(*args, share=share, original=original, **kwargs):
            return original(*args, **{**kwargs, "share_prompts": share})

        monkeypatch.setattr("sparring.agents.updates.step.sequence_logprobs", forced)
        monkeypatch.setattr(logprobs_module, "sequence_logprobs", forced)
        dpo = DPOUpdate(pool, "default", "solver", beta=0.1, lr=1e-3, micro_batch_size=2)
        grpo = PolicyGradientUpdate(pool, "default", "questioner", lr=1e-3, micro_batch_size=4, kl_coef=0.1)
        results.append((dpo.gradients(pairs), grpo.gradients(samples)))
        monkeypatch.undo()
    for (g_shared, m_shared), (g_plain, m_plain) in zip(results[0], results[1], strict=True):
        assert m_shared.keys() == m_plain.keys()
        for key in m_plain:
            assert abs(m_shared[key] - m_plain[key]) <= 1e-5 * max(1.0, abs(m_plain[key])), key
        for name, grad in g_plain.items():
            assert_close(g_shared[name], grad, rel=5e-5, name=name)  # summed over micro-batches


def test_fused_lora_forward_equals_peft_in_value_and_gradient(pool: ModelPool) -> None:
    from sparring.agents.updates.fused_lora import fused_lora

    model = pool.get("default").model
    ids = torch.tensor([[1, 60, 61, 62, 63], [5, 6, 7, 8, 9]])
    results = []
    for fused in (False, True):
        with use_adapter(model, "solver"):
            ctx = fused_lora(model, "solver") if fused else None
            if ctx is not None:
                assert ctx.__enter__() > 10
            logits = model(input_ids=ids).logits
            logits.square().mean().backward()
            if ctx is not None:
                ctx.__exit__(None, None, None)
        results.append((logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
        model.zero_grad(set_to_none=True)
    (plain, plain_grads), (fused, fused_grads) = results
    assert_close(fused, plain, rel=1e-5, name="logits")
    assert plain_grads.keys() == fused_grads.keys() and any("lora_B.solver" in n for n in plain_grads)
    for name, grad in plain_grads.items():
        assert_close(fused_grads[name], grad, rel=1e-5, name=name)
    assert not any("forward" in vars(m) for m in model.modules())  # restored
    # The reference path (adapters disabled) is untouched by the patch.
    with fused_lora(model, "solver"), torch.no_grad(), use_adapter(model, None):
        base = model(input_ids=ids).logits
    with torch.no_grad(), use_adapter(model, None):
        assert torch.equal(base, model(input_ids=ids).logits)


def test_comparisons_scale_their_tolerance_to_the_tensor() -> None:
    """On an AMD EPYC one gradient element of the shared-prompt test differed by 1.8e-5
    where the elementwise ``atol + rtol * |g|`` allowed 1.7e-5: rounding from another
    summation order is relative to the tensor's large values, so the tolerance is too."""
    g = torch.Generator().manual_seed(0)
    expected = 50 * torch.randn(32, 32, generator=g)
    expected[0, 0] = 1e-3
    actual = expected.clone()
    actual[0, 0] += 1.8e-5
    assert not torch.allclose(actual, expected, atol=1e-5, rtol=1e-4)  # the old, elementwise check
    assert_close(actual, expected, rel=1e-5)
    actual[0, 0] += 1e-2  # a real difference still fails
    with pytest.raises(AssertionError, match="largest difference"):
        assert_close(actual, expected, rel=1e-5)
