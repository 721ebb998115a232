"""recipes/respond_judge.toml and recipes/preference_game.toml: one tiny-model iteration
through the real CLI, with their variants' updates; requirements refused before loading.

The tiny model is random: it never writes a judgement that parses, so its judge seats
answer from a script here (the responder's replies and every update are the tiny
model's). Each variant must build pairs and move the policy's weights.
"""

from __future__ import annotations

import importlib
import zlib
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.cli import main
from sparring.runs.storage.store import Store
from tests.helpers import script_run_engine

ROOT = Path(__file__).resolve().parents[2]
train_module = importlib.import_module("sparring.runs.training.train")  # the module, not the function sparring.runs exports
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2",
        "arena.kwargs.samples=3", "roles.responder.max_new_tokens=8", "roles.judge.max_new_tokens=8"]
JUDGE = "You are a strict, fair judge"


def _points(response: str) -> int:
    return zlib.crc32(response.encode()) % 6


def judge_script(request: GenerationRequest) -> Completion:
    """A consistent judge: a reply's points are a hash of its text (0..5), the higher wins."""
    prompt = request.messages[-1]["content"]
    if "<response A>" in prompt:
        a = _points(prompt.split("<response A>")[1].split("</response A>")[0])
        b = _points(prompt.split("<response B>")[1].split("</response B>")[0])
        text, points = f"Winner: {'A' if a > b else 'B' if b > a else 'tie'}", a
    else:
        points = _points(prompt.split("<response>")[1].split("</response>")[0])
        text = ("Yes" if points >= 3 else "No") if "Begin your reply with Yes or No" in prompt else f"Score: {points}"
    return Completion(text, token_ids=[7] * len(text), logprobs=[-0.1 * (1 + points % 3)] * len(text))




@pytest.fixture(autouse=True)
def _scripted_judges(monkeypatch: pytest.MonkeyPatch) -> None:
    script_run_engine(monkeypatch, train_module, lambda r: judge_script(r) if r.messages[0]["content"].startswith(JUDGE) else None)


def _run(tmp_path: Path, recipe: str, *overrides: str) -> set[str]:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / f"{recipe}.toml"), *TINY, *overrides, "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        matches = list(store.transcripts(iteration=0))
        metrics = {name: value for _, name, value in store.metrics()}
    played = [t for t in matches if not t.match_id.startswith(("eval-", "future-"))]  # future: Temporal SR's look-ahead
    assert len(played) == 2 and all(t.status == "finished" for t in played)
    assert any(u.role == "judge" for t in played for u in t.turns)  # the judge seat was asked
    assert {"eval/responder_accuracy", "eval/responder_satisfaction", "reward/truth_score/responder"} <= set(metrics)
    assert not any(n.startswith("eval/mean_reward") for n in metrics)  # the arena's declared evaluation ran
    # the update built data and moved the policy's weights (LoRA's B starts at zero)
    assert metrics.get("update/policy/samples", 0) > 0, sorted(metrics)
    versions = sorted((out / "adapters" / "policy").glob("v*"), key=lambda p: int(p.name[1:]))
    trained = load_file(str(versions[-1] / "adapter_model.safetensors"))
    assert int(versions[-1].name[1:]) > 0
    assert any(v.abs().sum() > 0 for k, v in trained.items() if "lora_B" in k)
    return set(metrics)


@pytest.mark.parametrize("variant", [
    [],
    ['arena.kwargs.judges=["pointwise", "pairwise"]', 'roles.responder.update="dpo_scir"'],
    ["arena.kwargs.anchor_samples=1", "arena.kwargs.anchor_judge=true", "arena.kwargs.repeats=1",
     'roles.responder.update="dpo_cream"', 'roles.anchor_judge.adapter="policy@previous"'],
    ["arena.kwargs.anchor_samples=2", 'roles.responder.update="dpo_temporal"', 'arena.kwargs.judges=["pairwise"]',
     "arena.kwargs.self_reference=true"],
    ["arena.kwargs.anchor_samples=2", 'roles.responder.update="dpo_temporal_anchored"'],
    ['arena.kwargs.judges=["pointwise"]', 'arena.kwargs.self_reference="pointwise"', 'roles.responder.reference="base"'],
])
def test_respond_judge_recipe(tmp_path: Path, variant: list[str]) -> None:
    names = _run(tmp_path, "respond_judge", *variant)
    assert "truth_score_mean" in names


TEMPORAL = ["arena.kwargs.anchor_samples=2", 'roles.responder.update="dpo_temporal"', "arena.kwargs.repeats=1",
            "train.iterations=2"]


def test_temporal_sr_chosen_comes_from_the_future_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dpo_temporal: a look-ahead update on the anchored pairs, the future model answers the
    same prompts again (judged by the current judge), its best is the chosen, the anchor's
    worst the rejected; the look-ahead is thrown away (one update per iteration)."""
    import torch

    built: list[tuple[int, list[Any]]] = []
    ahead: list[dict[str, torch.Tensor]] = []
    trainer_class = train_module.Trainer
    build, play_all = trainer_class.build, trainer_class._play_all

    def record_build(self: Any, seat: str, algo: str, transcripts: list[Any], future: Any = None,
                     lookahead: bool = False) -> list[Any]:
        data = build(self, seat, algo, transcripts, future, lookahead)
        if not lookahead:
            built.append((transcripts[0].iteration, data))
        return data

    def record_play(self: Any, arena: Any, roles: Any, seeds: Any, iteration: int, prefix: str, *args: Any) -> Any:
        if prefix == "future-":
            ahead.append({n.replace(".policy@future", ""): p.detach().clone()
                          for n, p in self.pool.get("default").model.named_parameters() if ".policy@future." in n})
        return play_all(self, arena, roles, seeds, iteration, prefix, *args)

    monkeypatch.setattr(trainer_class, "build", record_build)
    monkeypatch.setattr(trainer_class, "_play_all", record_play)
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / "respond_judge.toml"), *TINY, *TEMPORAL, "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        matches = {t.match_id: t for t in store.transcripts()}
        metrics = {(i, name): value for i, name, value in store.metrics()}
    for it in (0, 1):
        future = {i: t for i, t in matches.items() if i.startswith(f"future-i{it}-")}
        training = {i: t for i, t in matches.items() if i.startswith(f"i{it}-")}
        assert len(future) == len(training) == 2 and {t.seed for t in future.values()} == {t.seed for t in training.values()}
        for t in future.values():  # played by the look-ahead, judged by the current iterate
            responder = {(u.adapter, u.adapter_version) for u in t.turns_of("responder")}
            judge = {(u.adapter, u.adapter_version) for u in t.turns_of("judge")}
            # two steps per update (the recipe's steps_per_epoch): the look-ahead is 2 versions on
            assert responder == {("policy@future", 2 * it + 2)} and judge == {("policy", 2 * it)}, (responder, judge)
            assert any(r.reward == "judge_score" and r.role == "responder" for r in t.rewards)
        assert metrics[(it, "future/policy/matches")] == 2 and metrics[(it, "future/policy/samples")] > 0
    # the real update's pairs: chosen from a future match, rejected from the training match's anchor
    assert [it for it, _ in built] == [0, 1] and all(data for _, data in built)
    for it, data in built:
        for pair in data:
            assert pair.meta["match_id"].startswith(f"future-i{it}-") and pair.meta["role"] == "responder"
            training = matches[pair.meta["rejected_match_id"]]
            assert training.match_id.startswith(f"i{it}-") and training.seed == matches[pair.meta["match_id"]].seed
            assert pair.meta["rejected"] in [u.text for u in training.turns_of("anchor")]
            assert pair.meta["chosen"] in [u.text for u in matches[pair.meta["match_id"]].turns_of("responder")]
    # one update per iteration (steps_per_epoch = 2 in the recipe): versions 0, 2, 4, and the
    # weights kept differ from the look-ahead's
    assert metrics[(0, "update/policy/version")] == 2 and metrics[(1, "update/policy/version")] == 4
    assert sorted(p.name for p in (out / "adapters" / "policy").glob("v*")) == ["v2", "v4"]
    kept = load_file(str(out / "adapters" / "policy" / "v2" / "adapter_model.safetensors"))
    assert len(ahead) == 2 and ahead[0] and set(ahead[0]) == set(kept)
    assert any(not torch.equal(ahead[0][k].to(v.dtype), v) for k, v in kept.items())


@pytest.mark.parametrize("update", ["sppo_judged", "grpo", "dno"])
def test_preference_game_recipe(tmp_path: Path, update: str) -> None:
    names = _run(tmp_path, "preference_game", f'roles.responder.update="{update}"')
    assert "truth_score_mean" in names


def test_an_update_the_arena_cannot_feed_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["train", str(ROOT / "recipes" / "respond_judge.toml"), *TINY, 'roles.responder.update="dpo_cream"',
                 "--out", str(out)])
    assert code == 2 and not out.exists()
    printed = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "roles.responder.update" in printed and "frozen judge" in printed
