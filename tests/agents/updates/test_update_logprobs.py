"""Per-token log-probs of replies, and adapter switching for reference log-probs."""

from __future__ import annotations

import pytest
import torch

from sparring.agents.pool import ModelPool
from sparring.agents.tiny import tiny_model
from sparring.agents.updates import logprobs as logprobs_module
from sparring.agents.updates import reference_logprobs, sequence_logprobs, use_adapter
from sparring.agents.updates.logprobs import selective_logprobs
from tests.helpers import assert_close

PROMPTS = [[1, 60, 61, 62], [1, 70], [5, 6, 7, 8, 9, 10]]
REPLIES = [[80, 81, 82], [90, 91, 92, 93, 94], []]


def unpadded_logprobs(model: object, prompt: list[int], reply: list[int], temperature: float = 1.0) -> torch.Tensor:
    """The straightforward way: one row alone, full logits, log_softmax, pick the tokens."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + reply])).logits[0] / temperature
    logps = logits.log_softmax(-1)
    return torch.stack([logps[len(prompt) - 1 + t, tok] for t, tok in enumerate(reply)])


def test_sequence_logprobs_matches_one_row_at_a_time(pool: ModelPool) -> None:
    model = pool.get("default").model
    with torch.no_grad():
        logps, mask = sequence_logprobs(model, PROMPTS, REPLIES, pad_id=0)
    assert logps.shape == mask.shape == (3, 5)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]]
    for row, (prompt, reply) in enumerate(zip(PROMPTS, REPLIES, strict=True)):
        if reply:
            assert_close(logps[row, : len(reply)], unpadded_logprobs(model, prompt, reply), name=f"row {row}")
    assert (logps[mask == 0] == 0).all()
    # The pad id's value cannot matter: padding sits after every real token.
    with torch.no_grad():
        other, _ = sequence_logprobs(model, PROMPTS, REPLIES, pad_id=77)
    assert_close(other, logps, name="pad id 77")


def test_sequence_logprobs_temperature(pool: ModelPool) -> None:
    model = pool.get("default").model
    with torch.no_grad():
        logps, _ = sequence_logprobs(model, PROMPTS[:1], REPLIES[:1], pad_id=0, temperature=2.0)
    assert_close(logps[0], unpadded_logprobs(model, PROMPTS[0], REPLIES[0], 2.0))


def test_sequence_logprobs_needs_a_prompt_token(pool: ModelPool) -> None:
    with pytest.raises(ValueError, match="at least one token"):
        sequence_logprobs(pool.get("default").model, [[]], [[5]], pad_id=0)


def test_reference_is_the_base_or_a_snapshot_on_the_same_weights(pool: ModelPool) -> None:
    model = pool.get("default").model
    base, _ = tiny_model(seed=0)  # an independent copy, only to check what "base" means
    expected_base = unpadded_logprobs(base, PROMPTS[0], REPLIES[0])
    got_base, _ = reference_logprobs(model, None, PROMPTS[:1], REPLIES[:1], pad_id=0)
    assert_close(got_base[0], expected_base)
    assert not got_base.requires_grad

    with torch.no_grad():
        solver, _ = sequence_logprobs(model, PROMPTS[:1], REPLIES[:1], pad_id=0)  # active: solver
    assert not torch.allclose(solver, got_base, atol=1e-4)  # random B: the adapter matters
    snap = pool.snapshot("default", "solver")
    got_snap, _ = reference_logprobs(model, snap, PROMPTS[:1], REPLIES[:1], pad_id=0)
    assert torch.equal(got_snap, solver)
    with use_adapter(model, "questioner"):
        with torch.no_grad():
            questioner, _ = sequence_logprobs(model, PROMPTS[:1], REPLIES[:1], pad_id=0)
    assert not torch.allclose(questioner, solver, atol=1e-4)


def test_use_adapter_restores_active_adapter_and_grad_flags(pool: ModelPool) -> None:
    model = pool.get("default").model
    pool.snapshot("default", "solver")
    flags = [p.requires_grad for p in model.parameters()]
    active = model.active_adapter
    for adapter in (None, "questioner", "solver@v0"):
        with pytest.raises(RuntimeError, match="boom"), use_adapter(model, adapter):
            raise RuntimeError("boom")
        assert model.active_adapter == active
        assert [p.requires_grad for p in model.parameters()] == flags
    with pytest.raises(KeyError, match="not on this model"), use_adapter(model, "nobody"):
        pass


# -- memory: selective, chunked log-probs and reply-only LM head -------------------------


def _unchunked(logits: torch.Tensor, targets: torch.Tensor, temps: torch.Tensor) -> torch.Tensor:
    """The formula selective_logprobs must reproduce: a full log-softmax, then a gather."""
    return (logits.float() / temps[:, None]).log_softmax(-1).gather(-1, targets[:, None])[:, 0]


@pytest.mark.parametrize("chunk", [1, 3, 7, 1024])
def test_selective_logprobs_equals_full_log_softmax_in_value_and_gradient(chunk: int) -> None:
    g = torch.Generator().manual_seed(0)
    logits = (4 * torch.randn(7, 300, generator=g)).requires_grad_()
    targets = torch.randint(0, 300, (7,), generator=g)
    temps = torch.tensor([1.0, 0.7, 1.3, 1.0, 0.5, 2.0, 1.0])
    weights = torch.randn(7, generator=g)  # a non-uniform upstream gradient

    expected = _unchunked(logits, targets, temps)
    (expected_grad,) = torch.autograd.grad((weights * expected).sum(), logits)
    got = selective_logprobs(logits, targets, temps, chunk=chunk)
    (got_grad,) = torch.autograd.grad((weights * got).sum(), logits)
    assert got.dtype == torch.float32
    assert_close(got, expected, name="log-probs")
    assert_close(got_grad, expected_grad, name="gradient")


def test_selective_logprobs_on_a_subset_of_rows() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(10, 50, generator=g, requires_grad=True)
    rows = torch.tensor([8, 1, 4])
    targets = torch.tensor([3, 49, 0])
    got = selective_logprobs(logits, targets, 0.8, rows=rows, chunk=2)
    got.sum().backward()
    expected = _unchunked(logits.detach()[rows], targets, torch.full((3,), 0.8))
    assert_close(got, expected)
    untouched = torch.ones(10, dtype=torch.bool)
    untouched[rows] = False
    assert (logits.grad[untouched] == 0).all()  # rows not scored get no gradient


def test_only_reply_positions_reach_the_lm_head(pool: ModelPool) -> None:
    # Prompts of different lengths: with right padding the union of reply columns is far
    # wider than any row's reply, and every row used to pay for all of it.
    model = pool.get("default").model
    prompts = [[1] * 3, [1] * 11, [1] * 19]
    replies = [[80, 81], [90, 91, 92], [100]]
    seen: list[torch.Size] = []
    handle = model.get_output_embeddings().register_forward_hook(lambda m, args, out: seen.append(out.shape))
    try:
        with torch.no_grad():
            sequence_logprobs(model, prompts, replies, pad_id=0)
    finally:
        handle.remove()
    assert len(seen) == 1 and seen[0][:-1].numel() == sum(len(r) for r in replies)  # 6 rows of logits, not 3 x 6


def test_transformers_without_row_masks_gives_the_same_logprobs(
    pool: ModelPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = pool.get("default").model
    temps = [1.0, 0.6, 1.7]
    logps, mask = sequence_logprobs(model, PROMPTS, REPLIES, pad_id=0, temperature=temps)
    (logps * mask).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    monkeypatch.setattr(logprobs_module, "_takes_row_masks", lambda cls: False)  # 1-D logits_to_keep only
    old_logps, old_mask = sequence_logprobs(model, PROMPTS, REPLIES, pad_id=0, temperature=temps)
    (old_logps * old_mask).sum().backward()
    assert torch.equal(mask, old_mask)
    assert_close(old_logps, logps, name="log-probs")
    assert grads
    for n, p in model.named_parameters():
        if n in grads:
            assert_close(p.grad, grads[n], name=n)
    model.zero_grad(set_to_none=True)


def test_sequence_logprobs_per_row_temperatures(pool: ModelPool) -> None:
    model = pool.get("default").model
    temps = [0.5, 2.0, 1.0]
    with torch.no_grad():
        logps, _ = sequence_logprobs(model, PROMPTS, REPLIES, pad_id=0, temperature=temps)
    for row, (prompt, reply, t) in enumerate(zip(PROMPTS, REPLIES, temps, strict=True)):
        if reply:
            assert_close(logps[row, : len(reply)], unpadded_logprobs(model, prompt, reply, t), name=f"row {row}")
    with pytest.raises(ValueError, match="one per row"):
        sequence_logprobs(model, PROMPTS, REPLIES, pad_id=0, temperature=[1.0])
    with pytest.raises(ValueError, match="score it at temperature 1"):
        sequence_logprobs(model, PROMPTS, REPLIES, pad_id=0, temperature=0.0)


def test_selective_logprobs_on_bf16_logits_computes_in_fp32() -> None:
    g = torch.Generator().manual_seed(2)
    logits = (4 * torch.randn(5, 200, generator=g)).bfloat16().requires_grad_()
    targets = torch.randint(0, 200, (5,), generator=g)
    temps = torch.full((5,), 0.7)
    got = selective_logprobs(logits, targets, temps, chunk=2)
    expected = _unchunked(logits, targets, temps)  # upcasts the same bf16 values
    assert got.dtype == torch.float32
    assert_close(got, expected)
    (grad,) = torch.autograd.grad(got.sum(), logits)
    (expected_grad,) = torch.autograd.grad(expected.sum(), logits)
    assert grad.dtype == torch.bfloat16 and torch.equal(grad, expected_grad)
