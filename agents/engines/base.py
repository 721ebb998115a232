"""The engine interface: batches of generation requests in, completions out.

An engine is the only code that runs a model forward for inference. Arenas never call
engines; the runner collects every pending ask of every live match and hands them to
the engine of their base model in batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sparring.agents.sampling import SamplingParams

Message = dict[str, str]


@dataclass
class GenerationRequest:
    """One row to generate.

    Attributes:
        messages: Chat messages (``{"role": ..., "content": ...}``), system prompt included.
        adapter: Name of the LoRA adapter (or frozen snapshot) to use; ``None`` is the base.
        sampling: Sampling settings of this row.
        seed: Per-row seed; a row's sample depends only on its seed, prompt and weights.
    """

    messages: list[Message]
    adapter: str | None
    sampling: SamplingParams
    seed: int


@dataclass
class Completion:
    """What an engine returns for one row.

    Attributes:
        text: Decoded reply (special tokens and any stop string removed).
        token_ids: Generated token ids, EOS included when the reply ended on it.
        logprobs: Log-probability of each generated token under the sampling distribution
            (temperature-scaled logits before top-p; raw logits when greedy).
        prompt_tokens: Number of prompt tokens the row was conditioned on.
        finish_reason: ``"stop"`` (EOS or stop string) or ``"length"``.
    """

    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    finish_reason: str = "stop"


@dataclass
class ScoreRequest:
    """One row to score: the log-likelihood of a given reply, no sampling.

    Attributes:
        messages: Chat messages the reply answers (rendered with the generation prompt).
        adapter: Name of the LoRA adapter (or frozen snapshot) to use; ``None`` is the base.
        target: The assistant reply whose tokens are scored; the chat template's end-of-turn
            marker is appended (a reply ends on it, as in SFT targets).
        seed: The row's seed; nothing is drawn with it (replay looks recorded rows up by it).
    """

    messages: list[Message]
    adapter: str | None
    target: str
    seed: int


class ScoringUnsupported(RuntimeError):
    """An engine that cannot score given replies was asked to; the message names the fix."""


def refuse_scoring(engine: str) -> ScoringUnsupported:
    """The one refusal of engines without a scoring path (openai, vllm)."""
    return ScoringUnsupported(
        f"engine {engine!r} cannot score a given reply (log-likelihood without sampling); "
        "run the seat that scores (match.score) on an hf engine: model.engine = \"hf\""
    )


@runtime_checkable
class Engine(Protocol):
    """Turns a batch of requests into completions, one per request, in order."""

    name: str

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """Generate one completion per request (same order)."""
        ...

    def score(self, requests: list[ScoreRequest]) -> list[Completion]:
        """Score each request's ``target`` (same order): a completion whose ``text`` is the
        target, ``token_ids`` its tokens (end-of-turn marker included), ``logprobs`` each
        token's log-probability under the model at temperature 1, and ``finish_reason``
        ``"scored"``. Engines without a scoring path raise :class:`ScoringUnsupported`."""
        ...

    @property
    def max_batch_size(self) -> int:
        """Rows the runner may put in one ``generate`` or ``score`` call."""
        ...
