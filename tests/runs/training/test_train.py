"""Training loop on the tiny model: updates, shared adapters, checkpoints and exact resume."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from sparring.runs.recipes.recipe import RecipeError, load_recipe
from sparring.runs.storage.store import Store
from sparring.runs.training.train import Trainer, train

RECIPE = Path(__file__).resolve().parents[3] / "recipes" / "tiny_smoke.toml"


def _quiet(_: str) -> None:
    pass


def _adapter_weights(run: Path, adapter: str, version: int) -> dict[str, torch.Tensor]:
    return load_file(str(run / "adapters" / adapter / f"v{version}" / "adapter_model.safetensors"))


def _transcripts(run: Path) -> list[dict]:
    with Store(run / "store.sqlite") as store:
        return [t.comparable() for t in store.transcripts()]


def test_train_runs_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "run"
    reports = train(RECIPE, out, progress=False, log=_quiet)
    assert [r.iteration for r in reports] == [0, 1]
    state = json.loads((out / "checkpoints" / "iter-0002" / "state.json").read_text())
    assert state["completed_iterations"] == 2
    assert (out / "recipe.toml").exists() and (out / "config.toml").exists()
    with Store(out / "store.sqlite") as store:
        names = {name for _, name, _ in store.metrics()}
        assert "eval/solver_accuracy" in names and "time/play" in names
        assert store.count() == 2 * 4 + 3 * 4  # training matches + eval before, after 1, after 2
    assert list((out / "metrics").glob("events.out.tfevents.*"))


def test_every_stage_changes_something(tmp_path: Path) -> None:
    """Play stores matches, build makes data, the update moves LoRA weights and bumps the
    version (GRPO and SPPO), save writes the version, evaluation logs held-out metrics."""
    recipe = tmp_path / "lengths.toml"
    recipe.write_text(
        f'[model]\nsource = "tiny"\n[arena]\nname = "{Path(__file__).parent.parent / "lengths_arena.py"}:Lengths"\n'
        '[roles.writer]\nadapter = "writer"\nupdate = "grpo"\n[roles.editor]\nadapter = "editor"\nupdate = "sppo"\n'
        '[train]\niterations = 2\nmatches_per_iteration = 4\nlr = 1e-2\n[eval]\nsize = 2\n')
    out = tmp_path / "run"
    reports = train(recipe, out, progress=False, log=_quiet)
    for report in reports:
        assert set(report.updated) == {"writer", "editor"}
        assert all(m["samples"] > 0 and m["loss"] == m["loss"] for m in report.updated.values())
    state = json.loads((out / "checkpoints" / "iter-0002" / "state.json").read_text())
    assert state["versions"] == {"writer": 2, "editor": 2}
    for adapter in ("writer", "editor"):
        first, last = _adapter_weights(out, adapter, 1), _adapter_weights(out, adapter, 2)
        assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in last.items())  # B starts at 0
        assert any(not torch.equal(first[k], last[k]) for k in last), f"{adapter}: iteration 2 moved nothing"
    with Store(out / "store.sqlite") as store:
        names = {name for _, name, _ in store.metrics()}
        assert store.count() == 2 * 4 + 3 * 2
    assert {"eval/mean_reward/variety/writer", "update/writer/loss", "update/editor/loss", "writer/entropy"} <= names


def test_existing_run_needs_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(RECIPE, out, progress=False, log=_quiet, overrides=["train.iterations=1"])
    with pytest.raises(RecipeError, match="already holds a run; resume it with 'sparring train --resume"):
        train(RECIPE, out, progress=False, log=_quiet)


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    overrides = ["train.iterations=3", "schedule=[]", "roles.solver.reward=solver_truth"]
    full = tmp_path / "full"
    train(RECIPE, full, progress=False, log=_quiet, overrides=overrides)
    part = tmp_path / "part"
    train(RECIPE, part, progress=False, log=_quiet, overrides=[*overrides[:0], "train.iterations=1", *overrides[1:]])
    train(None, part, resume=True, progress=False, log=_quiet, overrides=["train.iterations=3"])  # type: ignore[arg-type]
    assert _transcripts(full) == _transcripts(part)
    for adapter in ("solver", "questioner"):
        versions = sorted(int(p.name[1:]) for p in (full / "adapters" / adapter).iterdir())
        last = versions[-1]
        a, b = _adapter_weights(full, adapter, last), _adapter_weights(part, adapter, last)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key


PARITY_ARENA = """
from sparring import Arena, Outcome, Score, reward


@reward("parity")
def parity(t):
    return [Score(u.role, float(sum(u.token_ids) % 2), "token id sum parity", turn=u.index) for u in t.turns]


class Parity(Arena):
    id = "tests/parity-v1"
    roles = ("solver", "questioner")
    reward_bounds = (0.0, 1.0)
    max_turns = 4

    def rewards(self):
        return [parity]

    async def play(self, match):
        await match.gather(match.ask("solver", "Say something.", n=2), match.ask("questioner", "Ask something.", n=2))
        return Outcome({})
"""


def test_only_lora_changes_and_shared_adapter_updates_once(tmp_path: Path) -> None:
    arena_file = tmp_path / "parity.py"
    arena_file.write_text(PARITY_ARENA)
    data = tomllib.loads(RECIPE.read_text())
    del data["roles"]["verifier"]
    recipe = load_recipe(data, [f"arena.name='{arena_file}:Parity'", "arena.kwargs={}",
                                "roles.solver.adapter=shared", "roles.questioner.adapter=shared",
                                "roles.solver.reward=parity", "roles.questioner.reward=parity",
                                "schedule=[]", "train.iterations=1", "eval.every=0"])
    trainer = Trainer(recipe, tmp_path / "run", log=_quiet)
    assert list(trainer.updates) == ["shared"]
    base = {k: v.clone() for k, v in trainer.loaded.base.named_parameters() if "lora_" not in k}
    before = {k: v.clone() for k, v in trainer.loaded.base.named_parameters() if "lora_" in k}
    built = {seat: trainer.build(seat, "grpo", trainer.play(0)) for seat in ("solver", "questioner")}
    assert built["solver"] and built["questioner"]
    report = trainer.iteration(0)
    trainer.store.close()
    assert list(report.updated) == ["shared"]
    assert report.updated["shared"]["samples"] == len(built["solver"]) + len(built["questioner"])
    assert trainer.pool.version("default", "shared") == 1  # one step for both seats' data
    for k, v in trainer.loaded.base.named_parameters():
        if "lora_" not in k:
            assert torch.equal(v, base[k]), f"base weight {k} changed"
    changed = [k for k, v in trainer.loaded.base.named_parameters() if "lora_" in k and not torch.equal(v, before[k])]
    assert changed and all(".shared." in k for k in changed), report.updated


def test_steps_per_epoch_takes_that_many_optimizer_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sparring.agents.updates import SFTSample

    # The tiny model's questions rarely parse, so give the solver fixed data to train on.
    monkeypatch.setattr(Trainer, "build", lambda self, seat, algo, transcripts: [SFTSample([1, 2], [3, 4])] * 6)
    reports = train(RECIPE, tmp_path / "run", progress=False, log=_quiet,
                    overrides=["train.iterations=1", "train.steps_per_epoch=4", "train.epochs=2", "schedule=[]",
                               "roles.solver.update=sft", "roles.questioner.update=sft"])
    for metrics in reports[0].updated.values():
        assert metrics["steps"] == 8.0 and metrics["version"] == 8.0 and metrics["samples"] == 12.0


def test_adapter_starts_from_a_saved_folder(tmp_path: Path) -> None:
    first = tmp_path / "first"
    train(RECIPE, first, progress=False, log=_quiet, overrides=["train.iterations=1", "schedule=[]"])
    latest = max((first / "adapters" / "solver").glob("v*"), key=lambda p: int(p.name[1:]))
    saved = tmp_path / "edited"  # distinct from any fresh init, so loading is visible
    shutil.copytree(latest, saved)
    weights = {k: v + 0.25 for k, v in load_file(str(saved / "adapter_model.safetensors")).items()}
    save_file(weights, str(saved / "adapter_model.safetensors"))
    second = tmp_path / "second"
    trainer = Trainer(load_recipe(RECIPE, [f"adapters.solver.init_from={json.dumps(str(saved))}"]), second, log=_quiet)
    from sparring.agents.updates import adapter_parameters

    params = adapter_parameters(trainer.loaded.model, "solver")
    expected = load_file(str(saved / "adapter_model.safetensors"))
    assert len(expected) == len(params)
    for name, tensor in expected.items():
        match = [p for n, p in params.items() if n.replace(".solver", "") == name]
        assert len(match) == 1 and torch.equal(match[0].detach(), tensor.to(match[0].dtype)), name
    trainer.store.close()


def test_init_from_a_folder_without_an_adapter_is_a_recipe_error(tmp_path: Path) -> None:
    from sparring.runs.recipes.recipe import RecipeError

    with pytest.raises(RecipeError, match=r"adapters.solver.init_from.*not a saved adapter folder"):
        Trainer(load_recipe(RECIPE, [f"adapters.solver.init_from={json.dumps(str(tmp_path))}"]), tmp_path / "run", log=_quiet)


def _spin_pairs(self: Trainer, seat: str, algo: str, transcripts: list) -> list:
    from sparring.agents.updates import PreferencePair

    return [PreferencePair([1, 2, 3], [4, 5], [6, 7]), PreferencePair([1, 2], [8], [9, 10])]


SPIN = ["schedule=[]", "roles.solver.update=spin", "roles.questioner.update=none", "train.steps_per_epoch=2"]


def test_spin_reference_follows_the_previous_iterate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Trainer, "build", _spin_pairs)
    trainer = Trainer(load_recipe(RECIPE, [*SPIN, "train.iterations=2"]), tmp_path / "run", log=_quiet)
    assert trainer.updates["solver"].reference == "solver@v0"
    trainer.iteration(0)
    assert trainer.updates["solver"].reference == "solver@v2"
    trainer.iteration(1)
    assert trainer.updates["solver"].reference == "solver@v4"
    snapshots = [a for a, info in trainer.pool.get("default").adapters.items() if info.frozen]
    assert snapshots == ["solver@v4"]  # the ones moved past are dropped
    trainer.store.close()


def test_spin_resume_equals_uninterrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Trainer, "build", _spin_pairs)
    full, part = tmp_path / "full", tmp_path / "part"
    train(RECIPE, full, progress=False, log=_quiet, overrides=[*SPIN, "train.iterations=3"])
    train(RECIPE, part, progress=False, log=_quiet, overrides=[*SPIN, "train.iterations=1"])
    train(None, part, resume=True, progress=False, log=_quiet, overrides=["train.iterations=3"])  # type: ignore[arg-type]
    for version in (2, 4, 6):
        a, b = _adapter_weights(full, "solver", version), _adapter_weights(part, "solver", version)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), version
    state = json.loads((part / "checkpoints" / "iter-0003" / "state.json").read_text())
    assert state["snapshots"] == ["solver@v6"]


def test_sppo_reference_is_the_iterate_that_made_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sparring.agents.updates import GroupSample

    monkeypatch.setattr(Trainer, "build", lambda self, seat, algo, transcripts: [
        GroupSample([1, 2], [3, 4], None, 0.75, group_id=0), GroupSample([1, 2], [5], None, 0.25, group_id=0)])
    trainer = Trainer(load_recipe(RECIPE, ["schedule=[]", "roles.solver.update=sppo", "roles.questioner.update=none"]),
                      tmp_path / "run", log=_quiet)
    assert trainer.updates["solver"].reference == "solver@v0"
    trainer.iteration(0)
    assert trainer.updates["solver"].reference == "solver@v1"
    assert [a for a, i in trainer.pool.get("default").adapters.items() if i.frozen] == ["solver@v1"]
    trainer.store.close()


def test_progress_bars_and_summary_lines(tmp_path: Path) -> None:
    lines: list[str] = []
    reports = train(RECIPE, tmp_path / "run", progress=True, log=lines.append, overrides=["train.iterations=1"])
    assert len(reports) == 1
    assert lines[0].startswith("held-out evaluation on sparring/qa-eval-v1 (greedy): solver_accuracy")
    assert lines[1].startswith("[bold]before training")
    assert "iteration 1/1" in lines[2] and "ETA" in lines[2] and "tokens/s=" in lines[2]


def test_seats_sharing_an_adapter_keep_their_own_baselines(tmp_path: Path) -> None:
    """Both seats of a duel train one adapter: each seat's replies are centred on its own
    mean (group ids carry the seat), so a first-mover advantage does not leak into them."""
    from sparring.agents.updates.losses import group_advantages

    duel = Path(__file__).parent.parent / "duel_arena.py"
    recipe = load_recipe({
        "model": {"source": "tiny"}, "arena": {"name": f"{duel}:Duel"},
        "roles": {"first": {"adapter": "shared", "update": "grpo"}, "second": {"adapter": "shared", "update": "grpo"}},
        "train": {"iterations": 1, "matches_per_iteration": 8, "normalize_std": False}, "eval": {"every": 0}})
    trainer = Trainer(recipe, tmp_path / "run", log=_quiet)
    transcripts = trainer.play(0)
    trainer.store.close()
    built = {seat: trainer.build(seat, "grpo", transcripts) for seat in ("first", "second")}
    assert {s.group_id for s in built["first"]} == {"first/batch"}
    assert {s.group_id for s in built["second"]} == {"second/batch"}
    data = built["first"] + built["second"]  # as the trainer concatenates them for the shared adapter
    ids: dict[str, int] = {}
    adv = group_advantages(torch.tensor([s.reward for s in data]), [ids.setdefault(s.group_id, len(ids)) for s in data],
                           normalize_std=False)
    n = len(built["first"])
    first_mean = sum(s.reward for s in built["first"]) / n
    assert adv[:n].tolist() == pytest.approx([s.reward - first_mean for s in built["first"]])
    assert abs(adv[:n].sum().item()) < 1e-5 and abs(adv[n:].sum().item()) < 1e-5
