"""Per-token log-probs of replies, and adapter switching for reference log-probs."""

from __future__ import annotations

import pytest
import torch

from sparring.agents.pool import ModelPool
from sparring.agents.tiny import tiny_model
from sparring.agents.updates import reference_logprobs, sequence_logprobs, use_adapter

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
            assert torch.allclose(logps[row, : len(reply)], unpadded_logprobs(model, prompt, reply), atol=1e-5)
    assert (logps[mask == 0] == 0).all()
    # The pad id's value cannot matter: padding sits after every real token.
    with torch.no_grad():
        other, _ = sequence_logprobs(model, PROMPTS, REPLIES, pad_id=77)
    assert torch.allclose(logps, other, atol=1e-6)


def test_sequence_logprobs_temperature(pool: ModelPool) -> None:
    model = pool.get("default").model
    with torch.no_grad():
        logps, _ = sequence_logprobs(model, PROMPTS[:1], REPLIES[:1], pad_id=0, temperature=2.0)
    assert torch.allclose(logps[0], unpadded_logprobs(model, PROMPTS[0], REPLIES[0], 2.0), atol=1e-5)


def test_sequence_logprobs_needs_a_prompt_token(pool: ModelPool) -> None:
    with pytest.raises(ValueError, match="at least one token"):
        sequence_logprobs(pool.get("default").model, [[]], [[5]], pad_id=0)


def test_reference_is_the_base_or_a_snapshot_on_the_same_weights(pool: ModelPool) -> None:
    model = pool.get("default").model
    base, _ = tiny_model(seed=0)  # an independent copy, only to check what "base" means
    expected_base = unpadded_logprobs(base, PROMPTS[0], REPLIES[0])
    got_base, _ = reference_logprobs(model, None, PROMPTS[:1], REPLIES[:1], pad_id=0)
    assert torch.allclose(got_base[0], expected_base, atol=1e-5)
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
