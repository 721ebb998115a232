"""The runner: batching across matches, failures as data, determinism and limits."""

from __future__ import annotations

import pytest

from sparring import (
    Arena,
    ArenaError,
    Match,
    Outcome,
    QuestionAnswerVerify,
    Role,
    Runner,
    ScriptedEngine,
)
from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.arenas import Transcript
from tests.helpers import CrashOnSeed, Echo, SeatScript, play_qa, seat_of, well_formed_script


class Loop(Arena):
    """Keeps asking until its turn limit stops it."""

    id = "tests/loop-v1"
    roles = ("a",)
    max_turns = 5

    async def play(self, match: Match) -> Outcome:
        while True:
            await match.ask("a", "again")


def test_one_batch_per_round_across_matches() -> None:
    engine = ScriptedEngine(["hi"])
    transcripts = Runner({"default": engine}).play(Echo(), list(range(10)))
    assert engine.batches == [10]
    assert [t.seed for t in transcripts] == list(range(10))
    assert all(t.status == "finished" for t in transcripts)
    runner = Runner({"default": ScriptedEngine(["hi"])})
    runner.play(Echo(times=3), list(range(10)))
    assert runner.stats.batch_sizes == [10, 10, 10]
    assert (runner.stats.matches, runner.stats.rows, runner.stats.errors) == (10, 30, 0)


def test_qa_verify_rounds_are_batched() -> None:
    _, engine = play_qa(range(10))
    assert engine.batches == [10, 40, 40]


def test_batches_respect_max_batch_size() -> None:
    engine = ScriptedEngine(["hi"], max_batch_size=4)
    Runner({"default": engine}).play(Echo(), list(range(10)))
    assert engine.batches == [4, 4, 2]


def test_max_in_flight_bounds_live_matches() -> None:
    engine = ScriptedEngine(["hi"])
    transcripts = Runner({"default": engine}, max_in_flight=3).play(Echo(times=2), list(range(7)))
    assert max(engine.batches) <= 3
    assert sum(engine.batches) == 14
    assert all(t.status == "finished" for t in transcripts)


def test_exceeding_max_turns_fails_the_match_not_the_runner() -> None:
    runner = Runner({"default": ScriptedEngine(["again"])})
    transcripts = runner.play(Loop(), [0, 1])
    for t in transcripts:
        assert t.status == "error"
        assert "tests/loop-v1 asked for more than its max_turns=5 replies in one match" in (t.error or "")
        assert len(t.turns) == 5  # the replies before the limit are kept
    assert runner.stats.errors == 2


def test_a_crashing_arena_does_not_stop_other_matches() -> None:
    finished: list[str] = []
    transcripts = Runner({"default": ScriptedEngine(["ok"])}).play(
        CrashOnSeed(), [0, 1, 2], on_finish=lambda t: finished.append(t.match_id)
    )
    by_seed = {t.seed: t for t in transcripts}
    assert by_seed[1].status == "error"
    assert "RuntimeError: boom in the arena" in (by_seed[1].error or "")
    assert by_seed[1].outcome is None and len(by_seed[1].turns) == 1
    for seed in (0, 2):
        assert by_seed[seed].status == "finished" and by_seed[seed].outcome == {"texts": ["ok", "ok"]}
    assert sorted(finished) == ["i0-s0", "i0-s1", "i0-s2"]
    assert finished[0] == "i0-s1"  # stored as soon as it ends, before the others


def test_engine_failure_fails_only_its_matches() -> None:
    def script(req: GenerationRequest, i: int) -> str:
        if "y" in req.messages[-1]["content"]:
            raise OSError("engine fell over")
        return "ok"

    transcripts = Runner({"default": ScriptedEngine(script)}).play(CrashOnSeed(), [0, 2])
    assert all(t.status == "error" and "OSError: engine fell over" in (t.error or "") for t in transcripts)


def test_engine_returning_too_few_completions() -> None:
    class Short(ScriptedEngine):
        def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
            return super().generate(requests)[:-1]

    [t] = Runner({"default": Short(["x"])}).play(Echo(), [0])
    assert t.status == "error" and "returned 0 completions for 1 requests" in (t.error or "")


def test_play_must_return_an_outcome() -> None:
    class NoOutcome(Echo):
        id = "tests/no-outcome-v1"

        async def play(self, match: Match) -> Outcome:
            await match.ask("speaker", "x")
            return {"not": "an outcome"}  # type: ignore[return-value]

    [t] = Runner({"default": ScriptedEngine(["x"])}).play(NoOutcome(), [0])
    assert t.status == "error"
    assert "tests/no-outcome-v1.play returned dict; it must return an Outcome" in (t.error or "")


def test_a_failing_reward_keeps_the_match() -> None:
    class Broken:
        name = "broken"

        def __call__(self, t: Transcript) -> None:
            raise ZeroDivisionError("bad reward")

    [t] = Runner({"default": ScriptedEngine(["x"])}, rewards=[Broken()]).play(Echo(), [0])
    assert t.status == "error" and t.error is not None and t.error.startswith("reward failed:")
    assert t.outcome == {"said": ["x"]} and len(t.turns) == 1


def test_awaiting_something_else_than_asks_is_an_error() -> None:
    class Sleeper(Echo):
        id = "tests/sleeper-v1"

        async def play(self, match: Match) -> Outcome:
            import asyncio

            await asyncio.sleep(3600)
            return Outcome()

    with pytest.raises(ArenaError, match="every live match is waiting but none asked a role"):
        Runner({"default": ScriptedEngine(["x"])}).play(Sleeper(), [0])


def test_same_seeds_same_transcripts() -> None:
    first, _ = play_qa([3, 1, 4])
    again, _ = play_qa([3, 1, 4])
    assert [t.comparable() for t in first] == [t.comparable() for t in again]
    other, _ = play_qa([5])
    assert other[0].comparable() != first[0].comparable()


def test_transcripts_do_not_depend_on_batching() -> None:
    replies = well_formed_script().replies

    def script(req: GenerationRequest, i: int) -> str:  # a reply chosen by the row's seed
        return replies[seat_of(req)][req.seed % 4]

    arena = QuestionAnswerVerify()
    big = Runner({"default": ScriptedEngine(script, max_batch_size=64)}).play(arena, [1, 2, 3])
    small = Runner({"default": ScriptedEngine(script, max_batch_size=1)}, max_in_flight=1).play(arena, [1, 2, 3])
    assert [t.comparable() for t in big] == [t.comparable() for t in small]


def test_runner_argument_errors() -> None:
    with pytest.raises(ValueError, match="at least one engine"):
        Runner({})
    with pytest.raises(ValueError, match="max_in_flight must be >= 1"):
        Runner({"default": ScriptedEngine(["x"])}, max_in_flight=0)
    runner = Runner({"default": ScriptedEngine(["x"])})
    with pytest.raises(ValueError, match="seeds must be distinct"):
        runner.play(Echo(), [1, 1])
    with pytest.raises(ArenaError, match=r"seat 'speaker' runs on model 'big', which has no engine \(engines: default\)"):
        Runner({"default": ScriptedEngine(["x"])}, {"speaker": Role(name="speaker", model="big")}).play(Echo(), [0])
    with pytest.raises(ArenaError, match=r"role 'listener' is not a seat of tests/echo-v1 \(seats: speaker\)"):
        Runner({"default": ScriptedEngine(["x"])}, {"listener": Role(name="listener")}).play(Echo(), [0])


def test_roles_on_two_models_use_their_engines() -> None:
    script = SeatScript(questioner=["Question: What is 1 + 1?\nAnswer: 2"], verifier=["Verdict: correct"])
    small, big = ScriptedEngine(script), ScriptedEngine(["big"])
    roles = {"solver": Role(name="solver", model="big")}
    [t] = Runner({"default": small, "big": big}, roles).play(QuestionAnswerVerify(group_size=2), [0])
    assert t.status == "finished", t.error
    assert [u.text for u in t.turns_of("solver")] == ["big", "big"]
    assert [u.model for u in t.turns_of("solver")] == ["big", "big"]
    assert len(big.requests) == 2 and len(small.requests) == 3


def test_version_of_is_recorded_per_turn() -> None:
    roles = {"speaker": Role(name="speaker", adapter="spk")}
    runner = Runner({"default": ScriptedEngine(["x"])}, roles, version_of=lambda role: 7 if role.adapter else None)
    [t] = runner.play(Echo(), [0], run_id="r", iteration=3)
    assert (t.turns[0].adapter, t.turns[0].adapter_version) == ("spk", 7)
    assert (t.match_id, t.run_id, t.iteration) == ("i3-s0", "r", 3)
