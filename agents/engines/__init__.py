"""Engines: the only code that runs a model forward for inference."""

from typing import Any

from sparring.agents.engines.base import (
    Completion,
    Engine,
    GenerationRequest,
    ScoreRequest,
    ScoringUnsupported,
)
from sparring.agents.engines.scripted import ScriptedEngine

__all__ = ["Completion", "Engine", "GenerationRequest", "HFEngine", "OpenAIEngine", "ScoreRequest", "ScoringUnsupported",
           "ScriptedEngine", "VLLMEngine", "make_engine"]

ENGINES = ("hf", "vllm", "openai")
"""Engine kinds a run can name (``model.engine``)."""


def __getattr__(name: str) -> object:
    # The hf and vllm engines import torch/transformers; load them only when asked for.
    if name == "HFEngine":
        from sparring.agents.engines.hf import HFEngine

        return HFEngine
    if name == "VLLMEngine":
        from sparring.agents.engines.vllm import VLLMEngine

        return VLLMEngine
    if name == "OpenAIEngine":
        from sparring.agents.engines.openai import OpenAIEngine

        return OpenAIEngine
    raise AttributeError(name)


def make_engine(kind: str, loaded: Any, *, max_batch_size: int = 32, **options: Any) -> Engine:
    """The engine ``kind`` (one of :data:`ENGINES`) for a pool's loaded model.

    ``hf`` and ``vllm`` generate for ``loaded`` (its tokenizer and adapters); ``openai``
    ignores it (``loaded`` may be ``None``) and takes ``base_url`` and ``model`` in
    ``options``. Other ``options`` go to the engine's constructor.
    """
    if kind == "hf":
        from sparring.agents.engines.hf import HFEngine

        return HFEngine(loaded, max_batch_size=max_batch_size, **options)
    if kind == "vllm":
        from sparring.agents.engines.vllm import VLLMEngine

        return VLLMEngine(loaded, max_batch_size=max_batch_size, **options)
    if kind == "openai":
        from sparring.agents.engines.openai import OpenAIEngine

        return OpenAIEngine(max_batch_size=max_batch_size, **options)
    raise ValueError(f"unknown engine {kind!r}; use one of {', '.join(ENGINES)}")
