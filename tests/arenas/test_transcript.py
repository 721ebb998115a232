"""Transcripts: JSON-safe parse values, comparison without wall-clock fields, reward lookups."""

from __future__ import annotations

import math

from sparring.arenas.transcript import SCHEMA_VERSION, Transcript, jsonable
from tests.helpers import play_qa


def test_jsonable() -> None:
    assert jsonable({"a": [1, 2.5, None, "x"]}) == {"a": [1, 2.5, None, "x"]}
    assert jsonable(math.inf) == "inf" and jsonable(math.nan) == "nan"
    assert jsonable({1: {2}}) == {"1": "{2}"}
    assert jsonable([object, 1])[1] == 1
    assert jsonable([math.inf]) == ["inf"]


def test_comparable_ignores_wall_clock_fields() -> None:
    [t], _ = play_qa([0])
    u = t.model_copy(deep=True)
    u.started_at, u.finished_at, u.run_id = 1.0, 2.0, "another run"
    for turn in u.turns:
        turn.latency = 99.0
    assert u.comparable() == t.comparable()
    u.turns[0].text = "changed"
    assert u.comparable() != t.comparable()
    assert "latency" not in t.comparable()["turns"][0]


def test_json_round_trip() -> None:
    [t], _ = play_qa([0])
    assert t.schema_version == SCHEMA_VERSION
    again = Transcript.model_validate_json(t.model_dump_json())
    assert again.comparable() == t.comparable()


def test_reward_of_and_turns_of() -> None:
    [t], _ = play_qa([0])
    assert [u.index for u in t.turns_of("solver")] == [1, 2, 3, 4]
    assert t.reward_of("solver", "solver_truth") == 0.5
    assert t.reward_of("verifier", "verifier_majority") == 0.75
    assert t.reward_of("questioner", "nope") is None
    assert t.reward_of("nobody") is None
