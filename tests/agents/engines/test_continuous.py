"""Continuous batching on the hf engine: rows joining a running batch equal rows run alone."""

from __future__ import annotations

import pytest
import torch

from sparring import Runner
from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.agents.engines.continuous import DecodeSession
from sparring.agents.engines.hf import HFEngine
from sparring.agents.pool import LoadedModel, ModelPool
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.match import Match
from tests.helpers import assert_close

SHORT = "hi"
LONG = "Question: What is 12 + 30?\nReference answer: 42\nProposed answer: 41\nIs it correct? " * 2


def _req(prompt: str, seed: int, adapter: str | None = None, **sampling: object) -> GenerationRequest:
    params = SamplingParams(**{"max_new_tokens": 12, "temperature": 1.0, **sampling})  # type: ignore[arg-type]
    return GenerationRequest([{"role": "user", "content": prompt}], adapter, params, seed)


def _alone(engine: HFEngine, request: GenerationRequest) -> Completion:
    return engine.generate([request])[0]


def _same(a: Completion, b: Completion) -> None:
    assert (a.text, a.token_ids, a.finish_reason, a.prompt_tokens) == (
        b.text, b.token_ids, b.finish_reason, b.prompt_tokens)
    assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), rel=2e-5)


def _drain(session: DecodeSession) -> dict[object, Completion]:
    out = {}
    while len(session) or session.has_finished:
        out.update({k: c for k, c, _ in session.advance(1)})
    return out


@pytest.mark.parametrize("joining", [SHORT, LONG], ids=["narrower", "wider"])
def test_a_row_joining_a_running_batch_equals_the_row_alone(tiny_loaded: LoadedModel, joining: str) -> None:
    engine = HFEngine(tiny_loaded, max_batch_size=3)
    first = [_req("Write a question about subtraction.", 1, max_new_tokens=2, stop=()),
             _req("What is 2 + 2?", 2, max_new_tokens=20)]
    late = _req(joining, 3, max_new_tokens=15)
    session = engine.open_session()
    session.add([(i, r, engine.encode(r.messages)) for i, r in enumerate(first)])
    done = {k: c for k, c, _ in session.advance(1)}  # row 0 ends after 2 tokens, row 1 runs on
    assert 0 in done and len(session) == 1
    session.add([("late", late, engine.encode(late.messages))])  # joins row 1's cache mid-reply
    assert len(session) == 2
    done.update(_drain(session))
    _same(done["late"], _alone(engine, late))
    _same(done[1], _alone(engine, first[1]))
    _same(done[0], _alone(engine, first[0]))


def test_adding_more_rows_than_free_slots_is_refused(tiny_loaded: LoadedModel) -> None:
    engine = HFEngine(tiny_loaded, max_batch_size=1)
    session = engine.open_session()
    r = _req(SHORT, 0)
    with pytest.raises(ValueError, match="free slots"):
        session.add([(0, r, engine.encode(r.messages)), (1, r, engine.encode(r.messages))])


def test_refills_with_mixed_adapters_equal_single_runs() -> None:
    pool = ModelPool(dtype="fp32")
    loaded = pool.load("default", "tiny")
    pool.add_adapter("default", "left", rank=4, init="random", seed=1)
    pool.add_adapter("default", "right", rank=4, init="random", seed=2)
    engine = HFEngine(loaded, max_batch_size=3)
    adapters = [None, "left", "right", "left", None, "right", "right", None]
    prompts = [SHORT, LONG, "What is 2 + 2?", "x" * 30]
    requests = [_req(prompts[i % 4], 40 + i, a, max_new_tokens=3 + 4 * (i % 3)) for i, a in enumerate(adapters)]
    together = engine.generate(requests)  # 8 rows through 3 slots: every later row is a refill
    for r, c in zip(requests, together, strict=True):
        _same(c, _alone(engine, r))


class LongShort(Arena):
    """A long reply, then two short checks of it: the mix that leaves batches half idle."""

    id = "tests/long-short-v1"
    roles = ("writer", "checker")

    async def play(self, match: Match) -> Outcome:
        story = await match.ask("writer", f"Tell story {match.seed}.", max_new_tokens=3 + 6 * (match.seed % 4))
        checks = await match.ask("checker", f"Check: {story.text[:30]}", n=2, max_new_tokens=3)
        return Outcome({"story": story.text, "checks": [c.text for c in checks]})


class BatchOnly:
    """Hides the session API, so the runner cuts whole batches (the pre-streaming path)."""

    name = "batch-only"

    def __init__(self, engine: HFEngine) -> None:
        self.engine = engine
        self.max_batch_size = engine.max_batch_size

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        return self.engine.generate(requests)


class Spy:
    """An hf engine whose sessions count the rows that joined a batch already decoding."""

    name = "hf"

    def __init__(self, engine: HFEngine) -> None:
        self.engine = engine
        self.max_batch_size = engine.max_batch_size
        self.joined_running = 0

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        return self.engine.generate(requests)

    def open_session(self) -> DecodeSession:
        session = self.engine.open_session()
        add = session.add

        def counting_add(items: list) -> None:
            if len(session):
                self.joined_running += len(items)
            add(items)

        session.add = counting_add  # type: ignore[method-assign]
        return session


def _turns(transcripts: list) -> list[tuple]:
    return [(t.match_id, u.role, u.ask, u.sample, u.text, tuple(u.token_ids), tuple(u.logprobs), u.finish_reason)
            for t in transcripts for u in t.turns]


def test_runner_streams_asks_into_running_batches_deterministically(tiny_loaded: LoadedModel) -> None:
    seeds = list(range(10))
    spies = []
    runs = []
    for _ in range(2):
        spy = Spy(HFEngine(tiny_loaded, max_batch_size=4))
        runner = Runner({"default": spy}, max_in_flight=6)
        runs.append(runner.play(LongShort(), seeds))
        spies.append(spy)
        assert runner.stats.errors == 0 and runner.stats.rows == 3 * len(seeds)
    assert spies[0].joined_running > 0  # checker asks joined while other writers decoded
    assert _turns(runs[0]) == _turns(runs[1])  # same seeds: same transcripts, bit for bit

    # Each row equals the row generated alone (one row per batch, no streaming).
    alone = Runner({"default": BatchOnly(HFEngine(tiny_loaded, max_batch_size=1))}, max_in_flight=1)
    reference = alone.play(LongShort(), seeds)
    for got, want in zip(_turns(runs[0]), _turns(reference), strict=True):
        assert got[:6] == want[:6] and got[7] == want[7]  # ids, role, ask, text, token ids, finish
        assert_close(torch.tensor(got[6]), torch.tensor(want[6]), rel=2e-5)


class FailingSessions(Spy):
    """Sessions that fail at their first decode run, as a crashing engine would."""

    def open_session(self) -> DecodeSession:
        session = self.engine.open_session()

        def fail(min_finished: int | None = None) -> list:
            raise RuntimeError("engine blew up")

        session.advance = fail  # type: ignore[method-assign]
        return session


def test_a_failing_session_fails_its_matches_not_the_run(tiny_loaded: LoadedModel) -> None:
    runner = Runner({"default": FailingSessions(HFEngine(tiny_loaded, max_batch_size=4))}, max_in_flight=3)
    out = runner.play(LongShort(), [0, 1, 2, 3])
    assert [t.status for t in out] == ["error"] * 4
    assert all("engine blew up" in (t.error or "") for t in out)
