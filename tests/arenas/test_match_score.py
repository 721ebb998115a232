"""match.score: a given reply's log-likelihood, batched by the runner, recorded and replayed."""

from __future__ import annotations

from typing import Any

from sparring import Arena, Match, Outcome, Runner, ScriptedEngine
from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.agents.sampling import derive_seed
from sparring.arenas.replay import replay


class Scores(Arena):
    """Asks a, then scores two given replies for b concurrently."""

    id = "tests/scores-v1"
    roles = ("a", "b")

    async def play(self, match: Match) -> Outcome:
        said = await match.ask("a", "Tell me what you like.")
        scored = await match.gather(match.score("b", [{"role": "user", "content": said.text}], reply)
                                    for reply in ("basil and pasta", "rocks"))
        return Outcome({"logliks": [s.loglik for s in scored]})


def test_score_is_batched_recorded_and_replays() -> None:
    engine = ScriptedEngine(lambda req, i: "I like basil")
    transcripts = Runner({"default": engine}).play(Scores(), [1, 2])
    assert len(engine.scored) == 4 and engine.batches == [2]  # the two matches' asks of a in one batch
    t = transcripts[0]
    assert t.status == "finished", t.error
    assert t.outcome == {"logliks": [-2.0, -1.0]}  # "and", "pasta" unseen; "rocks" unseen
    first, second = t.turns[1:]
    assert (first.role, first.text, first.finish_reason, first.logprobs) == ("b", "basil and pasta", "scored",
                                                                             [0.0, -1.0, -1.0])
    assert first.seed == derive_seed(1, 1, 0) and second.seed == derive_seed(1, 2, 0)
    assert first.parsed is None and first.sampling == {"temperature": 1.0}
    result = replay(t)
    assert result.identical, result.differences


class NoScore:
    """An engine with generation only."""

    name = "gen-only"
    max_batch_size = 8

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        return [Completion("I like basil", [1], [0.0]) for _ in requests]


def test_an_engine_without_scoring_fails_the_match_in_one_line() -> None:
    engine: Any = NoScore()
    [t] = Runner({"default": engine}).play(Scores(), [1])
    assert t.status == "error"
    assert "engine 'gen-only' has no scoring path (Engine.score); run the seat that scores (match.score) on an hf " \
           "engine" in (t.error or "")
