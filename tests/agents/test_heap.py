"""agents/heap.py: freed heap pages go back to the OS where a phase of work ends."""

from __future__ import annotations

import pytest

from sparring.agents import heap
from sparring.agents.engines import continuous
from sparring.agents.engines.base import GenerationRequest
from sparring.agents.engines.hf import HFEngine
from sparring.agents.pool import LoadedModel
from sparring.agents.sampling import SamplingParams


def test_release_is_safe_to_call_anywhere() -> None:
    # glibc: whether pages were returned; elsewhere a no-op returning False
    assert isinstance(heap.release_free_memory(), bool)
    assert heap.release_free_memory() is False or heap._libc() is not None


def test_a_drained_decode_session_releases(tiny_loaded: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(continuous, "release_free_memory", lambda: calls.append(1) or True)
    engine = HFEngine(tiny_loaded, max_batch_size=4)
    request = GenerationRequest([{"role": "user", "content": "hi"}], None, SamplingParams(max_new_tokens=3), 0)
    engine.generate([request, request])
    assert calls == [1]  # once, when the last rows left the cache
