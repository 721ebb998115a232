"""Sampling settings and the counter-based random draws."""

from __future__ import annotations

import pytest

from sparring.agents.sampling import SamplingParams, derive_seed, splitmix64, uniform


def test_defaults_and_to_dict() -> None:
    params = SamplingParams(stop=("\n", "END"))
    assert params.to_dict() == {"max_new_tokens": 128, "temperature": 0.7, "top_p": 1.0, "stop": ["\n", "END"]}
    assert SamplingParams(**{**params.to_dict(), "stop": tuple(params.to_dict()["stop"])}) == params


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
        ({"temperature": -0.1}, "temperature must be >= 0"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ],
)
def test_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SamplingParams(**kwargs)


def test_greedy_is_allowed() -> None:
    assert SamplingParams(temperature=0.0).temperature == 0.0


def test_updated() -> None:
    params = SamplingParams()
    new = params.updated(temperature=1.0, stop=["x"], top_p=None)
    assert new == SamplingParams(temperature=1.0, stop=("x",))
    assert params == SamplingParams()  # frozen, unchanged
    with pytest.raises(ValueError, match="max_new_tokens"):
        params.updated(max_new_tokens=0)


def test_updated_unknown_key() -> None:
    with pytest.raises(TypeError) as info:
        SamplingParams().updated(temprature=1.0, beam=2)
    message = str(info.value)
    assert "unknown sampling option(s) ['beam', 'temprature']" in message
    assert "known: ['max_new_tokens', 'stop', 'temperature', 'top_p']" in message


def test_uniform_range_and_determinism() -> None:
    draws = [uniform(seed, step) for seed in range(50) for step in range(40)]
    assert all(0.0 <= u < 1.0 for u in draws)
    assert draws == [uniform(seed, step) for seed in range(50) for step in range(40)]
    assert len(set(draws)) == len(draws)
    assert 0.45 < sum(draws) / len(draws) < 0.55
    assert uniform(-1, 0) == uniform((1 << 64) - 1, 0)  # seeds are taken mod 2^64


def test_derive_seed_is_stable() -> None:
    # Fixed values: a change would silently change every recorded seed and break replay.
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    assert derive_seed(0, 0, 0) == derive_seed(0, 0, 0)
    assert derive_seed(1, "match", 2) == derive_seed(1, "match", 2)
    seeds = {derive_seed(s, a, k) for s in range(5) for a in range(5) for k in range(5)}
    assert len(seeds) == 125
    assert all(0 <= s < 1 << 63 for s in seeds)
    assert derive_seed("ab") != derive_seed("ba")
    assert derive_seed(1, 2) != derive_seed(2, 1)


def test_derive_seed_golden() -> None:
    # Recorded match and row seeds depend on these exact values (stored runs replay by seed).
    assert derive_seed(0, 0, 0) == 3458162621981714465
    assert derive_seed(7, "match", 3) == 7276954744926336818


def test_a_single_stop_string_is_one_stop_sequence() -> None:
    from sparring.agents.sampling import SamplingParams

    assert SamplingParams().updated(stop="Answer").stop == ("Answer",)
    assert SamplingParams().updated(stop=["a", "bc"]).stop == ("a", "bc")
