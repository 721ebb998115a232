"""Helpers shared by the tests: scripted replies that drive qa-verify and small arenas."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import Arena, Match, Outcome, QuestionAnswerVerify, Runner, Transcript

# The first words of each qa-verify seat's system prompt, to tell requests apart.
_SEAT_OF_SYSTEM = {
    "You write exam questions": "questioner",
    "You are a careful solver": "solver",
    "You check answers": "verifier",
}


def seat_by_system_prompt(request: GenerationRequest, table: dict[str, str]) -> str:
    """The seat whose system prompt starts with one of ``table``'s prefixes."""
    system = request.messages[0]["content"] if request.messages[0]["role"] == "system" else ""
    for prefix, seat in table.items():
        if system.startswith(prefix):
            return seat
    raise AssertionError(f"request of an unknown seat: {request.messages}")


def seat_of(request: GenerationRequest) -> str:
    """The qa-verify seat a request was made for (from its system prompt)."""
    return seat_by_system_prompt(request, _SEAT_OF_SYSTEM)


class SeatScript:
    """Scripted replies per qa-verify seat, each seat cycling through its own list."""

    def __init__(self, **replies: Sequence[str]) -> None:
        self.replies = {seat: list(r) for seat, r in replies.items()}
        self.counts = dict.fromkeys(self.replies, 0)

    def __call__(self, request: GenerationRequest, index: int) -> str:
        seat = seat_of(request)
        k = self.counts[seat]
        self.counts[seat] += 1
        replies = self.replies[seat]
        return replies[k % len(replies)]


def well_formed_script() -> SeatScript:
    """Replies that take qa-verify through its whole protocol."""
    return SeatScript(
        questioner=["Question: What is 12 + 30?\nAnswer: 42"],
        solver=["12 + 30 = 42. Answer: 42", "Answer: 41", "I think 42.", "Answer: 40"],
        verifier=["Verdict: correct", "Verdict: correct", "Verdict: correct", "Verdict: incorrect"],
    )


def play_qa(
    seeds: Sequence[int] = (0,), script: object = None, **arena_kwargs: object
) -> tuple[list[Transcript], ScriptedEngine]:
    """Play qa-verify matches on a scripted engine; returns transcripts and the engine."""
    engine = ScriptedEngine(script or well_formed_script())
    arena = QuestionAnswerVerify(**arena_kwargs)
    return Runner({"default": engine}).play(arena, list(seeds)), engine


class Echo(Arena):
    """A one-seat arena used by registry and runner tests (importable as a module class)."""

    id = "tests/echo-v1"
    roles = ("speaker",)
    reward_bounds = (0.0, 1.0)

    def __init__(self, prompt: str = "Say something.", times: int = 1) -> None:
        super().__init__()
        self.prompt = prompt
        self.times = times

    async def play(self, match: Match) -> Outcome:
        texts = [(await match.ask("speaker", f"{self.prompt} ({i})")).text for i in range(self.times)]
        return Outcome({"said": texts}, f"said {len(texts)} things")


class CrashOnSeed(Arena):
    """Crashes after its first reply when the match seed is 1."""

    id = "tests/crash-v1"
    roles = ("a",)

    async def play(self, match: Match) -> Outcome:
        reply = await match.ask("a", "x")
        if match.seed == 1:
            raise RuntimeError("boom in the arena")
        second = await match.ask("a", "y")
        return Outcome({"texts": [reply.text, second.text]})


def assert_close(actual: Any, expected: Any, rel: float = 1e-5, name: str = "") -> None:
    """``actual`` equals ``expected`` up to float rounding, with a tolerance scaled to the tensor.

    Two computations of one float result (a shared prompt or a row per reply, micro-batches
    or one batch, 1 or 2 threads, another CPU's kernels) sum in different orders, and the
    rounding that leaves is relative to the *large* terms of the sums, not to each element:
    an elementwise ``atol + rtol * |x|`` fails on one small element of a large tensor on
    some machines. So the largest elementwise difference must stay within ``rel`` times the
    largest magnitude in ``expected`` (and shapes, dtypes must agree).
    """
    import torch

    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    assert actual.shape == expected.shape, f"{name}: shape {tuple(actual.shape)} vs {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"{name}: dtype {actual.dtype} vs {expected.dtype}"
    if expected.numel() == 0:
        return
    a, e = actual.double(), expected.double()
    scale = e.abs().max().item()
    worst = (a - e).abs().max().item()
    assert worst <= rel * scale, (f"{name}: largest difference {worst:.3g} exceeds {rel:g} x the largest "
                                  f"magnitude {scale:.3g} (= {rel * scale:.3g})")


class PartlyScripted:
    """A run's engine whose asks ``script`` answers (it returns a :class:`Completion`) are
    served by it, the rest by the real engine: recipe tests whose tiny model never writes a
    parsable verdict, checker or refinement script those seats and train the others."""

    def __init__(self, engine: Any, script: Callable[[GenerationRequest], Completion | None]) -> None:
        self.engine, self.name, self.script = engine, engine.name, script

    @property
    def max_batch_size(self) -> int:
        return self.engine.max_batch_size

    def encode(self, messages: list[dict[str, str]]) -> list[int]:
        return self.engine.encode(messages)

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        scripted = [self.script(r) for r in requests]
        answered = iter(self.engine.generate([r for r, s in zip(requests, scripted, strict=True) if s is None]))
        return [s if s is not None else next(answered) for s in scripted]


def script_run_engine(monkeypatch: Any, train_module: Any, script: Callable[[GenerationRequest], Completion | None]) -> None:
    """Wrap every engine ``train`` makes in :class:`PartlyScripted` with ``script``."""
    make = train_module.make_run_engine
    monkeypatch.setattr(train_module, "make_run_engine", lambda model, loaded: PartlyScripted(make(model, loaded), script))


def scripted_completion(text: str) -> Completion:
    """A scripted reply with one made-up token per word (what the updates read)."""
    return Completion(text, token_ids=[7] * len(text.split()), logprobs=[-0.5] * len(text.split()))
