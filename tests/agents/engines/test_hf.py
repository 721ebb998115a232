"""The hf engine on the tiny random model: batching, sampling, stops and log-probs."""

from __future__ import annotations

import pytest
import torch

from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.agents.engines.hf import HFEngine
from sparring.agents.engines.multilora import MultiLora
from sparring.agents.pool import LoadedModel, ModelPool
from sparring.agents.sampling import SamplingParams
from tests.helpers import assert_close

PROMPTS = [
    "What is 2 + 2?",
    "Write a question about subtraction of two 2-digit numbers.",
    "hi",
    "Question: What is 12 + 30?\nReference answer: 42\nProposed answer: 41\nIs it correct?",
    "x" * 40,
]


def _req(
    prompt: str, seed: int = 0, adapter: str | None = None, **sampling: object
) -> GenerationRequest:
    params = SamplingParams(**{"max_new_tokens": 12, "temperature": 1.0, **sampling})  # type: ignore[arg-type]
    return GenerationRequest([{"role": "system", "content": "sys"}, {"role": "user", "content": prompt}],
                             adapter, params, seed)


def _key(c: Completion) -> tuple:
    return c.text, c.token_ids, c.finish_reason


def test_one_completion_per_request_in_order(tiny_engine: HFEngine) -> None:
    requests = [_req(p, seed=i, max_new_tokens=3 + i) for i, p in enumerate(PROMPTS)]
    out = tiny_engine.generate(requests)
    assert len(out) == len(requests)
    for req, c in zip(requests, out, strict=True):
        assert c.prompt_tokens == len(tiny_engine.encode(req.messages))
        assert len(c.token_ids) == len(c.logprobs) >= 1
        assert len(c.token_ids) <= req.sampling.max_new_tokens
        assert c.finish_reason in ("stop", "length")
        if c.finish_reason == "length":
            assert len(c.token_ids) == req.sampling.max_new_tokens
    assert tiny_engine.generate([]) == []


def test_greedy_is_deterministic(tiny_engine: HFEngine) -> None:
    requests = [_req(p, seed=i, temperature=0.0) for i, p in enumerate(PROMPTS[:3])]
    first = tiny_engine.generate(requests)
    again = tiny_engine.generate([_req(p, seed=100 + i, temperature=0.0) for i, p in enumerate(PROMPTS[:3])])
    assert [_key(c) for c in first] == [_key(c) for c in again]  # greedy ignores the seed


def test_row_output_does_not_depend_on_its_batch(tiny_engine: HFEngine) -> None:
    target = _req(PROMPTS[1], seed=7, max_new_tokens=16)
    alone = tiny_engine.generate([target])[0]
    others = [_req(p, seed=50 + i, max_new_tokens=4 + 3 * i) for i, p in enumerate(PROMPTS)]
    mixed = tiny_engine.generate([*others[:2], target, *others[2:]])[2]
    reordered = tiny_engine.generate([target, *reversed(others)])[0]
    assert _key(mixed) == _key(alone)
    assert _key(reordered) == _key(alone)
    assert_close(torch.tensor(mixed.logprobs), torch.tensor(alone.logprobs), rel=2e-5)


def test_batch_splits_do_not_change_rows(tiny_loaded: LoadedModel) -> None:
    requests = [_req(p, seed=i) for i, p in enumerate(PROMPTS)]
    whole = HFEngine(tiny_loaded, max_batch_size=16).generate(requests)
    split = HFEngine(tiny_loaded, max_batch_size=2).generate(requests)
    assert [c.token_ids for c in whole] == [c.token_ids for c in split]


def test_sampling_depends_on_the_seed(tiny_engine: HFEngine) -> None:
    out = tiny_engine.generate([_req(PROMPTS[0], seed=s, max_new_tokens=16) for s in range(4)])
    assert len({tuple(c.token_ids) for c in out}) > 1
    same = tiny_engine.generate([_req(PROMPTS[0], seed=s, max_new_tokens=16) for s in range(4)])
    assert [c.token_ids for c in out] == [c.token_ids for c in same]


def test_max_new_tokens(tiny_engine: HFEngine) -> None:
    out = tiny_engine.generate([_req(PROMPTS[0], seed=s, max_new_tokens=1) for s in range(6)])
    assert all(len(c.token_ids) == 1 for c in out)


def test_stop_strings_cut_the_text(tiny_engine: HFEngine) -> None:
    tok = tiny_engine.loaded.tokenizer
    free = tiny_engine.generate([_req(PROMPTS[3], seed=s, max_new_tokens=16) for s in range(8)])
    # Stop on a printable ASCII character the reply produces (not earlier in the reply).
    # An ASCII byte never joins a multi-byte character, so the text before it is exact.
    found = None
    for seed, c in enumerate(free):
        for k in range(2, len(c.token_ids)):
            stop = tok.decode([c.token_ids[k]])
            if len(stop) == 1 and stop.isascii() and stop.isalnum() and stop not in tok.decode(c.token_ids[:k]):
                found = seed, c.token_ids[: k + 1], stop
                break
        if found:
            break
    assert found, "no sampled reply has an ASCII character to stop on"
    seed, ids, stop = found
    cut = tiny_engine.generate([_req(PROMPTS[3], seed=seed, max_new_tokens=16, stop=("@@", stop))])[0]
    assert cut.finish_reason == "stop"
    assert cut.text == tok.decode(ids[:-1])  # the stop string is kept out of the text
    assert cut.token_ids == ids  # generation ends as soon as the stop string is produced


def test_logprobs_match_the_model(tiny_engine: HFEngine) -> None:
    """Log-probs equal log_softmax of the model's logits (temperature 1, and greedy)."""
    model = tiny_engine.loaded.base
    for temperature in (1.0, 0.0):
        req = _req(PROMPTS[1], seed=11, temperature=temperature, max_new_tokens=10)
        c = tiny_engine.generate([req])[0]
        assert all(lp <= 0.0 for lp in c.logprobs)
        prompt = tiny_engine.encode(req.messages)
        ids = torch.tensor([prompt + c.token_ids])
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[0].float()
        logp = torch.log_softmax(logits[len(prompt) - 1 : -1], dim=-1)
        expected = logp.gather(-1, torch.tensor(c.token_ids).unsqueeze(-1)).squeeze(-1)
        assert_close(torch.tensor(c.logprobs), expected, rel=2e-5)
        if temperature == 0.0:
            assert torch.equal(logp.argmax(-1), torch.tensor(c.token_ids))


def test_temperature_scales_the_logprobs(tiny_engine: HFEngine) -> None:
    hot = tiny_engine.generate([_req(PROMPTS[2], seed=1, temperature=2.0, max_new_tokens=1)])[0]
    model = tiny_engine.loaded.base
    prompt = tiny_engine.encode(_req(PROMPTS[2]).messages)
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([prompt])).logits[0, -1].float()
    expected = torch.log_softmax(logits / 2.0, dim=-1)[hot.token_ids[0]]
    assert hot.logprobs[0] == pytest.approx(float(expected), abs=1e-4)


def test_top_p_keeps_to_the_nucleus(tiny_engine: HFEngine) -> None:
    prompt = tiny_engine.encode(_req(PROMPTS[0]).messages)
    with torch.inference_mode():
        logits = tiny_engine.loaded.base(input_ids=torch.tensor([prompt])).logits[0, -1].float()
    probs = torch.softmax(logits, dim=-1)
    sorted_p, order = probs.sort(descending=True)
    keep = int(((sorted_p.cumsum(-1) - sorted_p) < 0.3).sum())
    nucleus = set(order[:keep].tolist())
    out = tiny_engine.generate([_req(PROMPTS[0], seed=s, top_p=0.3, max_new_tokens=1) for s in range(24)])
    assert {c.token_ids[0] for c in out} <= nucleus


def test_adapters_mixed_in_one_batch_equal_single_adapter_runs() -> None:
    pool = ModelPool(dtype="fp32")
    loaded = pool.load("default", "tiny")
    pool.add_adapter("default", "left", rank=4, init="random", seed=1)
    pool.add_adapter("default", "right", rank=4, init="random", seed=2)
    engine = HFEngine(loaded, max_batch_size=16)
    rows = [(PROMPTS[i % len(PROMPTS)], 30 + i, adapter) for i, adapter in enumerate([None, "left", "right", "left", None, "right"])]
    mixed = engine.generate([_req(p, seed=s, adapter=a, max_new_tokens=10) for p, s, a in rows])
    for (p, s, a), c in zip(rows, mixed, strict=True):
        single = engine.generate([_req(p, seed=s, adapter=a, max_new_tokens=10)])[0]
        assert _key(c) == _key(single), f"adapter {a}"
    assert isinstance(engine._multilora, MultiLora)  # the batched multi-LoRA path really ran
    # The adapters really change the outputs (their B matrices are random, not zero).
    by_adapter = engine.generate([_req(PROMPTS[0], seed=1, adapter=a, temperature=0.0) for a in (None, "left", "right")])
    assert len({tuple(c.logprobs) for c in by_adapter}) == 3
