"""Matches on Ray worker actors (runs/playing/distributed.py), on one local Ray instance with two workers.

What is promised and checked here: the same match ids, seeds and store schema as the
single-process runner; identical transcripts (every field but wall-clock times) and
identical trained weights when batch composition cannot differ (``batch_size = 1``, one
worker, scripted players; with several workers and larger batches only rounding may differ,
which is not asserted); adapter versions, snapshots included, reach the workers and follow
the driver's updates; a worker killed mid-iteration is restarted and its matches are
replayed, none lost or duplicated.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[test]' (or 'sparring[ray]')")

from sparring.agents.pool import ModelPool  # noqa: E402
from sparring.arenas.registry import make  # noqa: E402
from sparring.arenas.runner import Runner  # noqa: E402
from sparring.cli import main  # noqa: E402
from sparring.runs.playing.distributed import (  # noqa: E402
    FAULT_ENV,
    RayOptions,
    RayWorkers,
    WorkerSpec,
    workers_for,
)
from sparring.runs.playing.play import PlayConfig, match_seeds, play  # noqa: E402
from sparring.runs.recipes.recipe import ModelSection, load_recipe  # noqa: E402
from sparring.runs.storage.store import Store  # noqa: E402
from sparring.runs.tournaments.tournament import run_tournament  # noqa: E402
from sparring.runs.training.train import Trainer, _loop, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "tiny_smoke.toml"
ROLES = {"solver": {"max_new_tokens": 8}, "questioner": {"max_new_tokens": 8}, "verifier": {"max_new_tokens": 4}}
DUEL = Path(__file__).with_name("duel_arena.py")
# half a logical CPU each: the shared workers and one test's own fit in the 2 CPUs at once
TWO = RayOptions(workers=2, cpus_per_worker=0.5)
ONE_ROW = ModelSection(source="tiny", dtype="fp32", batch_size=1)


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """One local Ray instance for the module (each start costs seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def workers(ray_instance):
    """Two workers on the tiny model, one row per batch, shared by the tests that can."""
    started = RayWorkers.start(TWO, WorkerSpec(ONE_ROW), None)
    yield started
    started.close()


def _stored(run: Path) -> dict[str, dict]:
    with Store(run / "store.sqlite") as store:
        return {t.match_id: t.comparable() for t in store.transcripts()}


def _schema(run: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(run / "store.sqlite") as db:
        return sorted(db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def _play(out: Path, batch_size: int, ray_workers: RayWorkers | None) -> None:
    config = PlayConfig(arena="qa-verify", out=str(out), matches=6, model="tiny", dtype="fp32",
                        batch_size=batch_size, arena_kwargs={"digits": 1, "group_size": 2}, roles=ROLES)
    summary = play(config, progress=False, ray=ray_workers)
    assert summary.matches == 6 and summary.generated_tokens > 0


def test_play_on_two_workers_equals_single_process(workers: RayWorkers, tmp_path: Path) -> None:
    _play(tmp_path / "single", 1, None)
    _play(tmp_path / "ray", 1, workers)
    assert _stored(tmp_path / "ray") == _stored(tmp_path / "single")
    assert len(_stored(tmp_path / "ray")) == 6
    assert _schema(tmp_path / "ray") == _schema(tmp_path / "single")


def test_adapter_weights_and_snapshots_follow_the_driver(workers: RayWorkers) -> None:
    """Random LoRA weights (not the base) reach the workers, then their update does too."""
    import torch

    from sparring.agents.engines.hf import HFEngine

    pool = ModelPool(dtype="fp32")
    loaded = pool.load("default", "tiny")
    pool.add_adapter("default", "solver", rank=4, init="random", seed=3)
    for _ in range(3):
        pool.bump_version("default", "solver")
    snap = pool.snapshot("default", "solver")  # solver@v3, frozen
    arena = make(f"{DUEL}:Duel")  # both seats always play
    defaults = arena.default_roles()
    roles = {"first": defaults["first"].bind(model="default", adapter="solver"),
             "second": defaults["second"].bind(model="default", adapter=snap)}
    local = Runner({"default": HFEngine(loaded, max_batch_size=1)}, roles,
                   version_of=lambda r: pool.version(r.model, r.adapter))
    shared, owned = workers_for(workers, WorkerSpec(ONE_ROW), pool)
    assert not owned
    seeds = [11, 12, 13]
    expected = [t.comparable() for t in local.play(arena, seeds)]
    got = [t.comparable() for t in shared.runner(roles).play(arena, seeds)]
    assert got == expected
    assert {(u["adapter"], u["adapter_version"]) for t in got for u in t["turns"]} == {("solver", 3), (snap, 3)}
    with torch.no_grad():  # the learner moves the live adapter; the snapshot stays
        for name, p in loaded.model.named_parameters():
            if "lora_B" in name and ".solver." in name:
                p.add_(0.5)
    pool.bump_version("default", "solver")
    moved = [t.comparable() for t in local.play(arena, seeds, iteration=1)]
    first = [[u["text"] for u in t["turns"] if u["role"] == "first"] for t in moved]
    assert first != [[u["text"] for u in t["turns"] if u["role"] == "first"] for t in expected]  # it moved
    got = [t.comparable() for t in shared.runner(roles).play(arena, seeds, iteration=1)]
    assert got == moved
    assert {(u["adapter"], u["adapter_version"]) for t in got for u in t["turns"]} == {("solver", 4), (snap, 3)}


def test_tournament_on_two_workers_equals_single_process(workers: RayWorkers, tmp_path: Path) -> None:
    """Adapter, base and scripted players; a file arena shipped to the workers by value."""
    pool = ModelPool(dtype="fp32")
    pool.load("default", "tiny")
    pool.add_adapter("default", "s1", rank=4, init="random", seed=1)
    folder = pool.save_adapter("default", "s1", tmp_path / "v1")
    config = tmp_path / "tournament.toml"
    config.write_text(f'[model]\nsource = "tiny"\ndtype = "fp32"\nbatch_size = 1\n'
                      f'[arena]\nname = "{DUEL}:Duel"\n'
                      f'[players.v1]\nadapter = "{folder}"\n[players.base]\n[players.anchor]\nreply = "aaaa"\n'
                      '[schedule]\ngames = 1\n')
    local = run_tournament(config, tmp_path / "local", progress=False)
    distributed = run_tournament(config, tmp_path / "ray", progress=False, ray=workers)
    assert local.played == distributed.played == 6 and distributed.errors == 0
    assert _stored(tmp_path / "ray") == _stored(tmp_path / "local")


def test_train_with_a_worker_killed_equals_single_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tiny_smoke, one row per batch: worker 0 is killed in iteration 0, restarted, its chunk
    replayed; transcripts (each stored once) and trained weights equal a single-process run's."""
    from safetensors.torch import load_file

    overrides = ["model.batch_size=1", 'model.dtype="fp32"']
    train(RECIPE, tmp_path / "local", overrides=overrides, progress=False, log=lambda _: None)
    # worker 0 streams 2 held-out matches before training, then dies after its first of iteration 0
    monkeypatch.setenv(FAULT_ENV, "3")
    recipe = load_recipe(RECIPE, overrides)
    trainer = Trainer(recipe, tmp_path / "ray", log=lambda _: None, ray=TWO)
    added: list[str] = []
    add = trainer.store.add
    trainer.store.add = lambda t: (added.append(t.match_id), add(t))[1]  # type: ignore[method-assign]
    try:
        _loop(trainer, recipe, [], lambda _: None, False)
    finally:
        trainer.store.close()
        trainer.workers.close()
    assert trainer.workers.replayed == 1
    assert len(added) == len(set(added)) == 2 * 4 + 3 * 4  # nothing written twice
    assert _stored(tmp_path / "ray") == _stored(tmp_path / "local")
    saved = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").glob("adapters/*/v*/*.safetensors"))
    assert saved == sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").glob("adapters/*/v*/*.safetensors"))
    assert {p.parts[1] for p in saved} == {"solver", "questioner"} and len(saved) > 2  # trained versions
    for path in saved:
        a, b = (load_file(str(tmp_path / run / path)) for run in ("local", "ray"))
        assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


def test_cli_flags_one_worker_equals_single_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--ray`` through the CLI, batches of 32: one worker plays the seeds as one chunk, in
    the batches the single process uses, so the transcripts are identical."""
    args = ["play", "qa-verify", "--model", "tiny", "--dtype", "fp32", "-n", "6", "--arena-arg", "digits=1",
            "--arena-arg", "group_size=2", "--role", "solver.max_new_tokens=8", "--role",
            "questioner.max_new_tokens=8", "--role", "verifier.max_new_tokens=4", "-q"]
    assert main([*args, "--out", str(tmp_path / "ray"), "--ray", "--ray-workers", "1"]) == 0
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    assert _stored(tmp_path / "ray") == _stored(tmp_path / "local")
    assert sorted(_stored(tmp_path / "local")) == sorted(f"i0-s{s}" for s in match_seeds(0, 6))
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "b"), "--ray-workers", "2"]) == 2
    assert "--ray-workers needs --ray" in capsys.readouterr().out
    assert main(["train", "--ray", str(RECIPE), "--out", str(tmp_path / "c")]) == 2
    assert "not a Ray address" in capsys.readouterr().out
