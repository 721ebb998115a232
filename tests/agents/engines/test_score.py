"""Engine scoring (``Engine.score``): hf against a manual forward, scripted, and the refusals."""

from __future__ import annotations

import pytest
import torch

from sparring.agents.chat_end import end_of_turn_ids
from sparring.agents.engines.base import ScoreRequest, ScoringUnsupported
from sparring.agents.engines.hf import HFEngine
from sparring.agents.engines.openai import OpenAIEngine
from sparring.agents.engines.scripted import ScriptedEngine
from sparring.agents.pool import ModelPool
from tests.helpers import assert_close

TARGETS = ["A vegetarian pasta with basil.", "ok", "Take the train to Lyon on Saturday morning, it is cheap."]
PROMPTS = ["Suggest a dinner for me.", "What is 2 + 2? Please explain at some length.", "hi"]


def _req(prompt: str, target: str, adapter: str | None = None, seed: int = 0) -> ScoreRequest:
    return ScoreRequest([{"role": "system", "content": "sys"}, {"role": "user", "content": prompt}], adapter, target, seed)


def _manual(engine: HFEngine, req: ScoreRequest, model: object) -> tuple[list[int], torch.Tensor]:
    """Per-token log-probs of the target from one unpadded forward of prompt + target."""
    tok = engine.loaded.tokenizer
    prompt = engine.encode(req.messages)
    target = tok(req.target, add_special_tokens=False)["input_ids"] + end_of_turn_ids(tok)
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([prompt + target])).logits[0].float()  # type: ignore[operator]
    logp = torch.log_softmax(logits[len(prompt) - 1 : -1], dim=-1)
    return target, logp.gather(-1, torch.tensor(target).unsqueeze(-1)).squeeze(-1)


def test_hf_score_equals_a_manual_forward(tiny_engine: HFEngine) -> None:
    """Each row (batched, left-padded prompts, right-padded targets) equals its own forward."""
    reqs = [_req(p, t, seed=i) for i, (p, t) in enumerate(zip(PROMPTS, TARGETS, strict=True))]
    out = tiny_engine.score(reqs)
    assert len(out) == len(reqs)
    for req, c in zip(reqs, out, strict=True):
        ids, expected = _manual(tiny_engine, req, tiny_engine.loaded.base)
        assert c.text == req.target and c.finish_reason == "scored"
        assert c.token_ids == ids and c.prompt_tokens == len(tiny_engine.encode(req.messages))
        assert_close(torch.tensor(c.logprobs), expected, rel=2e-5)
        assert all(lp <= 0.0 for lp in c.logprobs)
    # a row's score does not depend on its batch
    assert_close(torch.tensor(tiny_engine.score([reqs[2]])[0].logprobs), torch.tensor(out[2].logprobs), rel=2e-5)


def test_hf_score_with_mixed_adapters_equals_each_adapter_alone() -> None:
    pool = ModelPool(dtype="fp32")
    loaded = pool.load("default", "tiny")
    pool.add_adapter("default", "left", rank=4, init="random", seed=1)
    pool.add_adapter("default", "right", rank=4, init="random", seed=2)
    engine = HFEngine(loaded, max_batch_size=2)  # 4 rows: two batches
    reqs = [_req(PROMPTS[i % 3], TARGETS[i % 3], adapter=a) for i, a in enumerate([None, "left", "right", "left"])]
    out = engine.score(reqs)
    for req, c in zip(reqs, out, strict=True):
        if req.adapter is None:
            with loaded.model.disable_adapter():
                _, expected = _manual(engine, req, loaded.model)
        else:
            loaded.model.set_adapter(req.adapter)
            _, expected = _manual(engine, req, loaded.model)
        assert_close(torch.tensor(c.logprobs), expected, rel=1e-4)
    same = engine.score([_req(PROMPTS[0], TARGETS[0], adapter=a) for a in (None, "left", "right")])
    assert len({round(sum(c.logprobs), 4) for c in same}) == 3  # the adapters really change the score


def test_scripted_score_counts_the_words_the_dialogue_brought_out() -> None:
    engine = ScriptedEngine(["unused"])
    told = ScoreRequest([{"role": "user", "content": "I am vegetarian and love basil"}], None, "Vegetarian pasta, basil.", 3)
    blind = ScoreRequest([{"role": "user", "content": "hello"}], None, "Vegetarian pasta, basil.", 4)
    a, b = engine.score([told, blind])
    assert a.logprobs == [0.0, -1.0, 0.0] and b.logprobs == [-1.0, -1.0, -1.0]
    assert a.finish_reason == "scored" and len(a.token_ids) == 3 and engine.scored == [told, blind]


def test_engines_without_a_scoring_path_refuse_in_one_line() -> None:
    from sparring.agents.engines.vllm import VLLMEngine

    bare = object.__new__(VLLMEngine)  # no server: score refuses before touching one
    with pytest.raises(ScoringUnsupported, match="engine 'vllm' cannot score a given reply"):
        bare.score([_req("x", "y")])
    engine = OpenAIEngine("http://127.0.0.1:9/v1", "m")
    try:
        with pytest.raises(ScoringUnsupported, match=r"engine 'openai' cannot score a given reply .*model.engine = \"hf\""):
            engine.score([_req("x", "y")])
    finally:
        engine.close()
