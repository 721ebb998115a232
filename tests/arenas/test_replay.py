"""Replay: re-running stored matches on their recorded replies reproduces them exactly."""

from __future__ import annotations

from sparring import Arena, Match, Outcome, Role, Runner, ScriptedEngine, replay
from sparring.arenas.replay import diff
from sparring.runs.storage.store import Store
from tests.helpers import Echo, SeatScript, play_qa


def test_replay_is_exact_for_qa_verify(store: Store) -> None:
    transcripts, _ = play_qa([0, 1, 2])
    bad, _ = play_qa([3], script=SeatScript(questioner=["junk"]))
    for t in [*transcripts, *bad]:
        result = replay(t)
        assert result.identical, result.differences
        assert result.replayed is not None and result.replayed.comparable() == t.comparable()
        store.add(t)
        assert replay(store.get(t.match_id)).identical  # and from the store


def test_tampered_prompt_is_detected() -> None:
    [t], _ = play_qa([0])
    t.turns[1].messages[-1]["content"] = "What is 1 + 1?"
    result = replay(t)
    assert not result.identical
    assert result.differences == [
        "replay raised: sparring.arenas.errors.ArenaError: replay diverged at turn 1 (solver): "
        "the prompt differs from the recorded one"
    ]


def test_dropped_turn_is_detected() -> None:
    [t], _ = play_qa([0])
    del t.turns[-1]
    result = replay(t)
    assert not result.identical
    assert "the arena asked for a reply the transcript does not have" in result.differences[0]


def test_tampered_reply_or_outcome_is_detected() -> None:
    [t], _ = play_qa([0])
    t.turns[2].text = "Answer: 42"  # was 41: the verifier would have seen another answer
    assert replay(t).differences == [
        "replay raised: sparring.arenas.errors.ArenaError: replay diverged at turn 6 (verifier): "
        "the prompt differs from the recorded one"
    ]
    [t], _ = play_qa([0])
    t.outcome["truth"] = 41
    assert replay(t).differences == [".outcome.truth: '41' != '42'"]
    [u], _ = play_qa([0])
    u.rewards[0].value = 0.25
    assert replay(u).differences == [".rewards[0].value: '0.25' != '1.0'"]


def test_error_transcripts_replay_too() -> None:
    class Fragile(Arena):
        id = "tests/fragile-v1"
        roles = ("a",)

        async def play(self, match: Match) -> Outcome:
            reply = await match.ask("a", "x")
            return Outcome({"n": int(reply.text)})

    arena = Fragile()
    [t] = Runner({"default": ScriptedEngine(["not a number"])}).play(arena, [0])
    assert t.status == "error"
    assert replay(t, arena).identical


def test_replay_uses_recorded_roles_and_versions() -> None:
    """Recorded prompts, sampling, adapters and versions are reused, even renamed roles."""
    role = Role(name="speaker_v2", system_prompt="custom", adapter="spk").bind(temperature=0.1)
    runner = Runner({"default": ScriptedEngine(["hi"])}, {"speaker": role}, version_of=lambda r: 3)
    [t] = runner.play(Echo(), [0])
    assert (t.turns[0].adapter, t.turns[0].adapter_version) == ("spk", 3)
    result = replay(t)
    assert result.identical, result.differences


def test_diff() -> None:
    assert diff({"a": [1, 2], "b": 1}, {"a": [1, 3], "c": 1}) == [
        ".a[1]: '2' != '3'", ".b: '1' != '<missing>'", ".c: '<missing>' != '1'"
    ]
    assert diff([1], [1, 2]) == ["<root>: '[1]' != '[1, 2]'"]
    assert len(diff(list(range(50)), list(range(1, 51)))) == 20
