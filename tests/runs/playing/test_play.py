"""Playing into a run directory on the tiny model: storing, skipping, config and summaries."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sparring import PlayConfig, RunDir, make, play, replay
from sparring.agents.pool import ModelPool
from sparring.runs.playing.play import match_seeds
from sparring.runs.training import monitors
from sparring.runs.training.monitors import reward_table as reward_means
from sparring.runs.training.monitors import seat_parse_stats
from tests.helpers import play_qa


def test_play_stores_matches_and_skips_them_next_time(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = PlayConfig(arena="qa-verify", model="tiny", matches=4, out=str(out))
    summary = play(config, progress=False)
    assert (summary.matches, summary.skipped, summary.errors) == (4, 0, 0)
    assert summary.out == out and summary.generated_tokens > 0 and summary.turns >= 4
    assert summary.parse_errors <= summary.turns
    with RunDir.existing(out).open_store() as store:
        ids = store.match_ids()
        assert sorted(ids) == sorted(f"i0-s{s}" for s in match_seeds(0, 4))
        transcripts = list(store.transcripts())
    for t in transcripts:
        assert t.status == "finished" and t.run_id == "run"
        assert t.arena.id == "sparring/qa-verify-v1"
        assert all(u.model == "default" and u.token_ids and len(u.logprobs) == len(u.token_ids) for u in t.turns)
        assert replay(t).identical
    again = play(config, progress=False)
    assert (again.matches, again.skipped, again.generated_tokens) == (0, 4, 0)
    with RunDir.existing(out).open_store() as store:
        assert store.count() == 4
    more = play(PlayConfig(arena="qa-verify", model="tiny", matches=6, out=str(out)), progress=False)
    assert (more.matches, more.skipped) == (2, 4)


def test_play_is_deterministic(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        play(PlayConfig(arena="qa-verify", model="tiny", matches=2, seed=3, out=str(tmp_path / name),
                        arena_kwargs={"group_size": 2}), progress=False)
        with RunDir.existing(tmp_path / name).open_store() as store:
            runs.append([t.comparable() for t in store.transcripts()])
    assert runs[0] == runs[1]


def test_config_toml(tmp_path: Path) -> None:
    out = tmp_path / "run"
    play(PlayConfig(arena="qa-verify", model="tiny", matches=1, out=str(out), arena_kwargs={"digits": 3},
                    roles={"solver": {"temperature": 1.0, "max_new_tokens": 8}}), progress=False)
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["command"] == "play"
    assert config["play"]["arena"] == "sparring/qa-verify-v1" and config["play"]["matches"] == 1
    assert config["arena"]["kwargs"] == {"digits": 3, "ops": ["+", "-"], "group_size": 4, "retries": 1}
    assert config["model"]["source"] == "tiny" and config["model"]["parameters"] > 0
    assert config["roles"]["solver"]["sampling"]["temperature"] == 1.0
    assert config["roles"]["solver"]["sampling"]["max_new_tokens"] == 8
    assert "torch" in config["environment"]["packages"]


def test_play_with_an_adapter(tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = play(PlayConfig(arena="qa-verify", model="tiny", matches=2, out=str(out),
                              roles={"questioner": {"adapter": "questioner"}}), progress=False)
    assert summary.errors == 0
    with RunDir.existing(out).open_store() as store:
        for t in store.transcripts():
            q = t.turns_of("questioner")[0]
            assert (q.adapter, q.adapter_version) == ("questioner", 0)
            assert replay(t).identical


def test_play_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="matches must be >= 1"):
        PlayConfig(arena="qa-verify", out=str(tmp_path), matches=0)
    with pytest.raises(ValueError, match="roles.solvr: 'solvr' is not a seat of sparring/qa-verify-v1"):
        play(PlayConfig(arena="qa-verify", model="tiny", matches=1, out=str(tmp_path / "r"),
                        roles={"solvr": {"temperature": 1.0}}), progress=False)
    with pytest.raises(ValueError, match=r"roles.solver.temprature: unknown field 'temprature'; a seat takes "
                                         r"adapter, max_new_tokens, temperature, top_p, stop"):
        PlayConfig(arena="qa-verify", model="tiny", out=str(tmp_path / "r"), roles={"solver": {"temprature": 1.0}})
    with pytest.raises(ValueError, match=r"adapters.a/b: adapter name 'a/b' must be letters"):
        PlayConfig(arena="qa-verify", out=str(tmp_path / "r"), adapters={"a/b": "x"})


def test_match_seeds() -> None:
    seeds = match_seeds(0, 100)
    assert len(set(seeds)) == 100 and all(0 <= s < 2**31 for s in seeds)
    assert match_seeds(0, 3) == seeds[:3]  # more matches extend, never reshuffle
    assert match_seeds(1, 3) != seeds[:3]


def test_reward_means() -> None:
    transcripts, _ = play_qa([0, 1])
    means = reward_means(transcripts)
    assert means["questioner_learnability/questioner"] == {"mean": 0.5, "std": 0.0, "count": 2.0}
    assert means["solver_truth/solver"] == {"mean": 0.5, "std": 0.5, "count": 8.0}
    assert list(means) == sorted(means)


def test_seat_parse_stats() -> None:
    transcripts, _ = play_qa([0, 1])
    stats = seat_parse_stats(transcripts)
    assert stats["solver"] == {"turns": 8.0, "parse_errors": 0.0, "parse_error_rate": 0.0}
    assert list(stats) == ["questioner", "solver", "verifier"]


def test_summary_seats_and_arena_monitors(tmp_path: Path) -> None:
    summary = play(PlayConfig(arena="qa-verify", model="tiny", matches=2, out=str(tmp_path)), progress=False)
    with RunDir.existing(tmp_path).open_store() as store:
        transcripts = list(store.transcripts())
    assert summary.seats == seat_parse_stats(transcripts)
    assert summary.monitors == monitors.arena_monitors(make("qa-verify"), transcripts)


def _config(out: Path, **changes: object) -> PlayConfig:
    settings: dict = {"arena": "qa-verify", "model": "tiny", "matches": 1, "out": str(out),
                      "arena_kwargs": {"group_size": 2}, "roles": {"solver": {"temperature": 1.0}}}
    return PlayConfig(**{**settings, **changes})


@pytest.mark.parametrize(
    ("changes", "difference"),
    [
        ({"arena_kwargs": {"group_size": 3}}, "arena.kwargs.group_size: recorded 2, now 3"),
        ({"arena_kwargs": {}}, "arena.kwargs.group_size: recorded 2, now 4"),
        ({"model": "tiny:1"}, "model.source: recorded 'tiny', now 'tiny:1'"),
        ({"dtype": "fp32"}, "model.dtype: recorded 'auto', now 'fp32'"),
        ({"seed": 1}, "seed: recorded 0, now 1"),
        ({"roles": {}}, "roles.solver.sampling.temperature: recorded 1.0, now 0.8"),
        ({"roles": {"solver": {"temperature": 1.0, "adapter": "s"}}}, "roles.solver.adapter: not set before, now 's'"),
        ({"arena": "qa-eval", "arena_kwargs": {}, "roles": {}}, "arena.id: recorded 'sparring/qa-verify-v1', now 'sparring/qa-eval-v1'"),
    ],
)
def test_a_run_directory_keeps_its_settings(changes: dict, difference: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    first = play(_config(tmp_path), progress=False)
    assert first.matches == 1

    def no_model(*args: object) -> None:
        raise AssertionError("the model must not load before the settings are checked")

    monkeypatch.setattr(ModelPool, "load", no_model)
    with pytest.raises(FileExistsError) as info:
        play(_config(tmp_path, **changes), progress=False)
    assert str(info.value).startswith(f"{tmp_path} was played with other settings (")
    assert difference in str(info.value)
    assert tomllib.loads((tmp_path / "config.toml").read_text())["arena"]["kwargs"]["group_size"] == 2


def test_same_settings_continue_a_run(tmp_path: Path) -> None:
    play(_config(tmp_path), progress=False)
    more = play(_config(tmp_path, matches=2, batch_size=4, max_in_flight=1), progress=False)
    assert (more.matches, more.skipped) == (1, 1)  # matches and batching may change
    assert tomllib.loads((tmp_path / "config.toml").read_text())["play"]["matches"] == 2


def test_a_training_run_is_not_played_into(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('command = "train"\n')
    with pytest.raises(FileExistsError, match=r"holds a train run \(see its config.toml\); play into another --out"):
        play(_config(tmp_path), progress=False)
