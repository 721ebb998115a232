"""Engines: the only code that runs a model forward for inference."""

from sparring.agents.engines.base import Completion, Engine, GenerationRequest
from sparring.agents.engines.scripted import ScriptedEngine

__all__ = ["Completion", "Engine", "GenerationRequest", "HFEngine", "ScriptedEngine"]


def __getattr__(name: str) -> object:
    # The hf engine imports torch/transformers; load it only when asked for.
    if name == "HFEngine":
        from sparring.agents.engines.hf import HFEngine

        return HFEngine
    raise AttributeError(name)
