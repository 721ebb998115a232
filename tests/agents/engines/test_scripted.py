"""The scripted engine used by tests, replay and the conformance checks."""

from __future__ import annotations

import pytest

from sparring.agents.engines.base import Completion, Engine, GenerationRequest
from sparring.agents.engines.scripted import ScriptedEngine, as_completion
from sparring.agents.sampling import SamplingParams


def _req(content: str = "hi", seed: int = 0) -> GenerationRequest:
    return GenerationRequest([{"role": "user", "content": content}], None, SamplingParams(), seed)


def test_list_script_cycles_and_records() -> None:
    engine = ScriptedEngine(["a", "b"], max_batch_size=3)
    assert isinstance(engine, Engine)
    assert engine.max_batch_size == 3
    out = engine.generate([_req(), _req(), _req()])
    assert [c.text for c in out] == ["a", "b", "a"]
    assert [c.text for c in engine.generate([_req()])] == ["b"]
    assert engine.batches == [3, 1]
    assert len(engine.requests) == 4
    assert engine.stats["calls"] == 2 and engine.stats["generated_tokens"] == 4


def test_callable_script_sees_request_and_index() -> None:
    engine = ScriptedEngine(lambda req, i: f"{req.messages[-1]['content']}#{i}")
    assert [c.text for c in engine.generate([_req("x"), _req("y")])] == ["x#0", "y#1"]


def test_fake_tokens() -> None:
    completion = as_completion("héllo")
    assert completion.token_ids == [ord(c) for c in "héllo"]
    assert completion.logprobs == [0.0] * 5
    assert completion.finish_reason == "stop"
    assert len(as_completion("x" * 10_000).token_ids) == 4096
    given = Completion("t", [1], [-0.5], 3, "length")
    assert as_completion(given) is given
    assert ScriptedEngine([given]).generate([_req()]) == [given]


def test_empty_script_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one reply"):
        ScriptedEngine([])
