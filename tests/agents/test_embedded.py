"""The embedded default model: cache location, GGUF lookup and (smoke) real generation."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.agents import embedded
from sparring.agents.engines.base import GenerationRequest
from sparring.agents.sampling import SamplingParams


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPARRING_CACHE", str(tmp_path / "own"))
    assert embedded.cache_dir() == tmp_path / "own"
    monkeypatch.delenv("SPARRING_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedded.cache_dir() == tmp_path / "xdg" / "sparring"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert embedded.cache_dir() == Path.home() / ".cache" / "sparring"


def test_gguf_is_shipped() -> None:
    path = embedded.gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 10_000_000


def test_cached_model_is_used_as_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "models" / embedded.EMBEDDED_NAME
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    monkeypatch.setenv("SPARRING_CACHE", str(tmp_path))
    assert embedded.embedded_model_path(quiet=True) == target  # no conversion when cached


def test_failed_conversion_writes_nothing(tmp_path: Path) -> None:
    # The conversion runs in a child process (its ~1.2 GB peak stays out of the caller);
    # a failure there surfaces as an error here and leaves no folder behind.
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a GGUF file")
    target = tmp_path / "models" / embedded.EMBEDDED_NAME
    with pytest.raises(RuntimeError, match=r"failed in a child process \(exit code 1; .*running again retries"):
        embedded.convert_in_child(broken, target)
    assert not target.exists()
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


@pytest.mark.smoke
def test_embedded_model_generates() -> None:
    from sparring.agents.engines.hf import HFEngine
    from sparring.agents.pool import ModelPool

    loaded = ModelPool(dtype="fp32").load("default", "default")
    assert loaded.describe()["parameters"] > 100_000_000
    engine = HFEngine(loaded, max_batch_size=4)
    messages = [{"role": "system", "content": "You are a careful solver. End with 'Answer: <answer>'."},
                {"role": "user", "content": "What is 2 + 3?"}]
    requests = [GenerationRequest(messages, None, SamplingParams(max_new_tokens=24, temperature=0.0), s)
                for s in (1, 2)]
    a, b = engine.generate(requests)
    assert a.text.strip() and a.token_ids == b.token_ids  # greedy: the seed does not matter
    assert len(a.token_ids) == len(a.logprobs) <= 24 and all(lp <= 0 for lp in a.logprobs)
    assert a.prompt_tokens == len(engine.encode(messages))
