"""Prefix reuse in the hf engine: rows asking one prompt under one adapter are prefilled
once, and every output equals the plain path's (each row prefilled on its own)."""

from __future__ import annotations

import pytest
import torch

from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.agents.engines.hf import HFEngine
from sparring.agents.pool import ModelPool
from sparring.agents.sampling import SamplingParams
from tests.helpers import assert_close

QUESTION = "Question: What is 12 + 30?\nReference answer: 42\nProposed answer: 41\nIs it correct?"
OTHER = "Write a question about subtraction."
OTHER_MESSAGES = [{"role": "system", "content": "You check answers."}, {"role": "user", "content": OTHER}]


def _req(prompt: str, seed: int, adapter: str | None, temperature: float) -> GenerationRequest:
    params = SamplingParams(max_new_tokens=10, temperature=temperature)
    return GenerationRequest([{"role": "system", "content": "You check answers."},
                              {"role": "user", "content": prompt}], adapter, params, seed)


def _same(a: Completion, b: Completion) -> None:
    assert (a.text, a.token_ids, a.finish_reason, a.prompt_tokens) == (
        b.text, b.token_ids, b.finish_reason, b.prompt_tokens)
    assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), rel=2e-5)


@pytest.mark.parametrize("temperature", [0.0, 1.0], ids=["greedy", "seeded-sampling"])
@pytest.mark.parametrize("adapters", [False, True], ids=["base", "lora"])
def test_shared_prompts_prefilled_once_give_the_plain_outputs(temperature: float, adapters: bool) -> None:
    pool = ModelPool(dtype="fp32")
    loaded = pool.load("default", "tiny")
    names: list[str | None] = [None]
    if adapters:
        pool.add_adapter("default", "left", rank=4, init="random", seed=1)
        pool.add_adapter("default", "right", rank=4, init="random", seed=2)
        names = [None, "left", "right"]
    # A group of 4 samples of one question per adapter, and one row of another prompt.
    requests = [_req(QUESTION, 10 * k + i, adapter, temperature) for k, adapter in enumerate(names) for i in range(4)]
    requests.append(_req(OTHER, 99, names[-1], temperature))
    reuse = HFEngine(loaded, max_batch_size=len(requests))
    plain = HFEngine(loaded, max_batch_size=len(requests), prefix_reuse=False)
    shared = reuse.generate(requests)
    alone = plain.generate(requests)
    for a, b in zip(shared, alone, strict=True):
        _same(a, b)
    question_tokens = len(reuse.encode(requests[0].messages))
    # 3 of each group's 4 rows were not prefilled; rows of other adapters or prompts were
    assert reuse.stats["prefix_saved_tokens"] == 3 * question_tokens * len(names)
    assert plain.stats["prefix_saved_tokens"] == 0
    assert reuse.stats["prompt_tokens"] == plain.stats["prompt_tokens"]
    if temperature > 0:  # seeded samples of one prompt still differ from each other
        assert len({tuple(c.token_ids) for c in shared[:4]}) > 1


def test_rows_joining_a_running_batch_reuse_only_among_themselves() -> None:
    pool = ModelPool(dtype="fp32")
    loaded = pool.load("default", "tiny")
    engine = HFEngine(loaded, max_batch_size=8)
    plain = HFEngine(loaded, max_batch_size=8, prefix_reuse=False)
    short = GenerationRequest(_req(OTHER, 1, None, 1.0).messages, None,
                              SamplingParams(max_new_tokens=2, temperature=1.0, stop=()), 1)
    first = [short, _req(OTHER, 2, None, 1.0)]
    group = [_req(QUESTION, 20 + i, None, 1.0) for i in range(3)]
    session = engine.open_session()
    session.add([(i, r, engine.encode(r.messages)) for i, r in enumerate(first)])
    done: dict[object, Completion] = {k: c for k, c, _ in session.advance(1)}  # row 0 ends, row 1 runs on
    assert 0 in done and len(session) == 1
    session.add([(2 + i, r, engine.encode(r.messages)) for i, r in enumerate(group)])
    while len(session) or session.has_finished:
        done.update({k: c for k, c, _ in session.advance(1)})
    for i, r in enumerate([*first, *group]):
        _same(done[i], plain.generate([r])[0])
    # the first two rows share a prompt too (one of them saved), then 2 of the group's 3
    assert engine.stats["prefix_saved_tokens"] == len(engine.encode(OTHER_MESSAGES)) + 2 * len(
        engine.encode(group[0].messages))
