"""Any arena trains through the real CLI: README's LetterCount and a three-seat debate.

Each reports its own held-out metrics (declared by the arena, or the labelled per-seat
reward means when it declares none), never qa-verify's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.storage.store import Store

ROOT = Path(__file__).resolve().parents[3]
TINY = ["model.source=\"tiny\"", "train.matches_per_iteration=4", "eval.size=4", "train.iterations=2"]


def _metric_names(run: Path) -> dict[int, set[str]]:
    with Store(run / "store.sqlite") as store:
        rows = store.metrics()
    out: dict[int, set[str]] = {}
    for iteration, name, _ in rows:
        out.setdefault(iteration, set()).add(name)
    return out


def _letter_recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "letters.toml"
    recipe.write_text(
        f'[arena]\nname = "{ROOT / "examples" / "letter_count.py"}:LetterCount"\n'
        '[roles.counter]\nadapter = "counter"\nupdate = "grpo"\nmax_new_tokens = 6\n'
    )
    return recipe


def test_letter_count_trains_and_resumes_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(_letter_recipe(tmp_path)), *TINY, "--out", str(out)]) == 0
    names = _metric_names(out)
    assert set(names) == {-1, 0, 1}
    for iteration in (-1, 0, 1):  # the arena declares no evaluation: labelled reward means
        assert "eval/mean_reward/count_correct/counter" in names[iteration]
    assert not any("solver" in n or "questioner" in n for ns in names.values() for n in ns)
    assert {"counter/entropy", "counter/parse_failure_rate", "reward/count_correct/counter"} <= names[0]
    assert (out / "adapters" / "counter" / "v2").is_dir()
    assert main(["train", "--resume", str(out), "train.iterations=3"]) == 0
    assert set(_metric_names(out)) == {-1, 0, 1, 2}
    assert (out / "checkpoints" / "iter-0003").is_dir()


def test_debate_judge_trains_with_its_own_metrics(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "examples" / "debate.toml"), *TINY, "--out", str(out)]) == 0
    names = _metric_names(out)
    for iteration in (-1, 0, 1):
        assert {"eval/judge_accuracy", "eval/pro_win_rate"} <= names[iteration]
    assert {"reward/judge_correct/judge", "judge/length", "pro/distinct", "update/judge/loss"} <= names[0]
    assert main(["train", "--resume", str(out), "train.iterations=3"]) == 0
    assert {"eval/judge_accuracy", "update/judge/loss"} <= _metric_names(out)[2]
    with Store(out / "store.sqlite") as store:
        assert store.count() == 3 * 4 + 4 * 4  # three iterations of play, four evaluations


@pytest.mark.parametrize(("override", "message"), [
    ("roles.judge.reward=\"nope\"", "'roles.judge.reward': 'nope' is not a reward of examples/debate-v1"),
    ("roles.juge.temperature=0.5", "'roles.juge': 'juge' is not a seat of examples/debate-v1"),
    ("roles.judge.update=\"spin\"", "needs ground-truth replies"),
    ("eval.arena=\"nope-arena\"", "recipe field 'eval.arena' = \"nope-arena\""),
])
def test_recipe_refused_against_the_arena_before_loading(tmp_path: Path, override: str, message: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(ROOT / "examples" / "debate.toml"), *TINY, override, "--out", str(tmp_path / "r")])
    assert code == 2
    assert message in capsys.readouterr().out.replace("\n", "")
    assert not (tmp_path / "r").exists()


def test_eval_can_name_another_arena(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", str(ROOT / "recipes" / "tiny_smoke.toml"), "train.iterations=1", "eval.arena=\"qa-eval\"",
            "eval.kwargs={digits=1}", "--out", str(out)]
    assert main(args) == 0
    assert "eval/solver_accuracy" in _metric_names(out)[0]


def test_held_out_matches_never_become_training_data(tmp_path: Path) -> None:
    """LetterCount declares no evaluation, so its held-out set plays the training arena
    itself, with the same iteration number; those matches must not reach the builders."""
    from sparring.runs.recipes.recipe import load_recipe
    from sparring.runs.training.train import Trainer

    recipe = load_recipe(_letter_recipe(tmp_path), TINY)
    trainer = Trainer(recipe, tmp_path / "run", log=lambda _m: None)
    try:
        trainer.store.add_metrics(-1, trainer.evaluate(0))  # stores eval-i0-* matches of the same arena
        played = trainer.play(0)
        assert len(played) == 4 and not any(t.match_id.startswith("eval-") for t in played)
    finally:
        trainer.store.close()
