"""The SQLite transcript store: round trips, re-scoring, filters and schema versions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sparring.arenas import RewardRecord
from sparring.runs.storage.store import STORE_SCHEMA, Store
from tests.helpers import CrashOnSeed, SeatScript, play_qa


def test_round_trip(store: Store) -> None:
    transcripts, _ = play_qa([0, 1])
    invalid, _ = play_qa([2], script=SeatScript(questioner=["junk"]))
    for t in [*transcripts, *invalid]:
        t.run_id = "run"
        store.add(t)
    for t in [*transcripts, *invalid]:
        got = store.get(t.match_id)
        assert got.comparable() == t.comparable()
        assert got.run_id == "run" and got.started_at == t.started_at
        assert [u.latency for u in got.turns] == [u.latency for u in t.turns]
    assert store.count() == 3 and store.count("finished") == 3 and store.count("error") == 0
    assert store.match_ids() == ["i0-s0", "i0-s1", "i0-s2"]


def test_round_trip_of_odd_values(store: Store) -> None:
    [t], _ = play_qa([0])
    t.turns[0].text = "日本語 🎲 \x00 \u202e" + "x" * 50_000
    t.turns[0].parsed = {"nested": [1, None, "ü"]}
    t.turns[1].logprobs = [-1e-30, -123.456]
    t.error, t.status = "partial\ntraceback", "error"
    store.add(t)
    assert store.get(t.match_id).comparable() == t.comparable()


def test_add_replaces_a_stored_match(store: Store) -> None:
    [t], _ = play_qa([0])
    store.add(t)
    t.summary = "second version"
    t.turns = t.turns[:2]
    store.add(t)
    assert store.count() == 1
    got = store.get(t.match_id)
    assert got.summary == "second version" and len(got.turns) == 2


def test_set_rewards(store: Store) -> None:
    [t], _ = play_qa([0])
    store.add(t)
    new = [RewardRecord(reward="manual", role="solver", value=0.5, turn=1, explanation="rescored")]
    store.set_rewards(t.match_id, new)
    got = store.get(t.match_id)
    assert got.rewards == new
    assert got.turns == store.get(t.match_id).turns  # nothing else changed
    store.set_rewards(t.match_id, [])
    assert store.get(t.match_id).rewards == []


def test_filters(store: Store) -> None:
    from sparring import Runner, ScriptedEngine

    first, _ = play_qa([0, 1])
    invalid, _ = play_qa([2], script=SeatScript(questioner=["junk"]))
    for t in [*first, *invalid]:
        store.add(t)
    later = [t.model_copy(update={"iteration": 1, "match_id": f"i1-s{t.seed}"}) for t in first]
    for t in later:
        store.add(t)
    crashed = Runner({"default": ScriptedEngine(["x"])}).play(CrashOnSeed(), [1], iteration=2)
    store.add(crashed[0])
    assert store.match_ids(iteration=0) == ["i0-s0", "i0-s1", "i0-s2"]
    assert store.match_ids(iteration=1) == ["i1-s0", "i1-s1"]
    assert store.match_ids(status="error") == ["i2-s1"]
    assert store.match_ids(role="solver") == ["i0-s0", "i0-s1", "i1-s0", "i1-s1"]  # i0-s2 had no solver
    assert store.match_ids(role="questioner", iteration=0, status="finished") == ["i0-s0", "i0-s1", "i0-s2"]
    assert store.match_ids(arena="sparring/qa-verify-v1", iteration=1) == ["i1-s0", "i1-s1"]
    assert store.match_ids(arena="tests/crash-v1") == ["i2-s1"]
    assert [t.match_id for t in store.transcripts(iteration=1)] == ["i1-s0", "i1-s1"]
    assert store.count("error") == 1


def test_unknown_match_id_lists_examples(store: Store) -> None:
    with pytest.raises(KeyError, match="no match 'nope' in .*store.sqlite \\(e.g. none stored\\)"):
        store.get("nope")
    transcripts, _ = play_qa(range(7))
    for t in transcripts:
        store.add(t)
    with pytest.raises(KeyError) as info:
        store.get("i0-s99")
    assert "(e.g. i0-s0, i0-s1, i0-s2, i0-s3, i0-s4)" in str(info.value)


def test_reopening_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "store.sqlite"
    [t], _ = play_qa([0])
    with Store(path) as store:
        store.add(t)
        store.add_run("run-1", {"arena": "qa-verify", "matches": 1})
        store.add_run("run-1", {"ignored": True})  # kept as first recorded
    with Store(path) as store:
        assert store.get(t.match_id).comparable() == t.comparable()
        config = store._conn.execute("SELECT config FROM runs WHERE run_id='run-1'").fetchone()[0]
        assert config == '{"arena":"qa-verify","matches":1}'


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(STORE_SCHEMA + 1),))
    with pytest.raises(RuntimeError, match=f"has store schema {STORE_SCHEMA + 1}, newer than this sparring "
                                           f"\\({STORE_SCHEMA}\\); upgrade sparring to read it"):
        Store(path)


def test_wal_mode(store: Store) -> None:
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
