"""recipes/respond_judge.toml and recipes/preference_game.toml: one tiny-model iteration
through the real CLI, with their variants' updates; requirements refused before loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.store import Store

ROOT = Path(__file__).resolve().parents[2]
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2",
        "arena.kwargs.samples=2", "roles.responder.max_new_tokens=8", "roles.judge.max_new_tokens=8"]


def _run(tmp_path: Path, recipe: str, *overrides: str) -> set[str]:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / f"{recipe}.toml"), *TINY, *overrides, "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        matches = list(store.transcripts(iteration=0))
        names = {name for _, name, _ in store.metrics()}
    played = [t for t in matches if not t.match_id.startswith("eval-")]
    assert len(played) == 2 and all(t.status == "finished" for t in played)
    assert any(u.role == "judge" for t in played for u in t.turns)  # the judge seat was asked
    assert {"eval/responder_accuracy", "eval/responder_satisfaction", "reward/truth_score/responder"} <= names
    assert not any(n.startswith("eval/mean_reward") for n in names)  # the arena's declared evaluation ran
    return names


@pytest.mark.parametrize("variant", [
    [],
    ['arena.kwargs.judges=["pointwise", "pairwise"]', 'roles.responder.update="dpo_scir"'],
    ["arena.kwargs.anchor_samples=1", "arena.kwargs.anchor_judge=true", "arena.kwargs.repeats=1",
     'roles.responder.update="dpo_cream"', 'roles.anchor_judge.adapter="policy@previous"'],
    ["arena.kwargs.anchor_samples=1", 'roles.responder.update="dpo_temporal"', 'arena.kwargs.judges=["pointwise"]',
     "arena.kwargs.self_reference=true"],
])
def test_respond_judge_recipe(tmp_path: Path, variant: list[str]) -> None:
    names = _run(tmp_path, "respond_judge", *variant)
    assert "judge/self_preference_bias" in names or "truth_score_mean" in names


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
