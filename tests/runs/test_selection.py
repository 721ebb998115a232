"""Validation apart from test: the best adapter, early stopping and the reported selection
follow validation only; test figures are logged beside it and never decide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sparring.cli import main
from sparring.runs.recipes.recipe import RecipeError, load_recipe
from sparring.runs.storage.store import Store
from sparring.runs.training.train import Trainer, train

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "tiny_smoke.toml"
SELECT = ['eval.select="validation"']


def _quiet(_: str) -> None:
    pass


def _metrics(run: Path) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    with Store(run / "store.sqlite") as store:
        for iteration, key, value in store.metrics():
            out.setdefault(iteration, {})[key] = value
    return out


def test_validation_and_test_are_logged_apart_with_intervals(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(RECIPE), "--out", str(out), *SELECT]) == 0
    metrics = _metrics(out)
    last = metrics[1]
    for split in ("eval", "validation"):
        key = f"{split}/solver_accuracy"
        assert key in last
        assert last[f"{key}/ci_low"] <= last[key] <= last[f"{key}/ci_high"]
        assert last[f"{key}/n_items"] == 4 and 1 <= last[f"{key}/n_distinct"] <= 4
    assert last["select/iteration"] in (0, 1, 2)
    best = json.loads((out / "adapters" / "solver" / "best" / "best.json").read_text())
    assert best["metric"] == "validation/solver_accuracy"
    assert best["iteration"] == last["select/iteration"]
    version = out / "adapters" / "solver" / f"v{best['version']}" / "adapter_model.safetensors"
    copied = load_file(str(out / "adapters" / "solver" / "best" / "adapter_model.safetensors"))
    assert all(torch.equal(copied[k], v) for k, v in load_file(str(version)).items())
    with Store(out / "store.sqlite") as store:
        ids = list(store.match_ids())
    assert sum(i.startswith("eval-val-") for i in ids) == 3 * 4  # before, after 1, after 2
    assert sum(i.startswith("eval-i") for i in ids) == 3 * 4
    # validation seeds are not test seeds
    assert {i.rsplit("-s", 1)[1] for i in ids if i.startswith("eval-val-")}.isdisjoint(
        {i.rsplit("-s", 1)[1] for i in ids if i.startswith("eval-i")})


# validation peaks at iteration 1 while test keeps rising: every decision must follow validation
FED = {0: (0.2, 0.9), 1: (0.6, 0.1), 2: (0.3, 0.95), 3: (0.1, 0.99), 4: (0.05, 1.0)}


def _fed_evaluate(self: Trainer, label: int, splits: tuple[str, ...] | None = None) -> dict[str, float]:
    validation, test = FED[label]
    out = {"validation/solver_accuracy": validation, "eval/solver_accuracy": test}
    return {k: v for k, v in out.items() if splits is None or k.split("/")[0] in
            {"validation" if s == "validation" else "eval" for s in splits}}


def test_every_decision_follows_validation_not_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Trainer, "evaluate", _fed_evaluate)
    recipe = load_recipe(RECIPE, ["train.iterations=4", *SELECT, "eval.patience=1"])
    out = tmp_path / "run"
    reports = train(recipe, out, progress=False, log=_quiet)
    assert [r.iteration for r in reports] == [0, 1]  # stopped early: no new best after iteration 1
    metrics = _metrics(out)
    assert metrics[1]["select/iteration"] == 1
    assert metrics[1]["select/eval/solver_accuracy"] == pytest.approx(0.1)  # test at the chosen iteration
    assert metrics[1]["select/validation"] == pytest.approx(0.6)
    best = json.loads((out / "adapters" / "solver" / "best" / "best.json").read_text())
    assert best["iteration"] == 1 and best["value"] == pytest.approx(0.6)
    # a resume keeps the decision and stops at once
    more = train(None, out, resume=True, progress=False, log=_quiet)  # type: ignore[arg-type]
    assert more == []


def test_min_mode_picks_the_lowest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Trainer, "evaluate", _fed_evaluate)
    recipe = load_recipe(RECIPE, ["train.iterations=2", *SELECT, 'eval.mode="min"'])
    train(recipe, tmp_path / "run", progress=False, log=_quiet)
    assert _metrics(tmp_path / "run")[1]["select/iteration"] == 0


@pytest.mark.parametrize(("overrides", "message"), [
    (["eval.patience=2"], 'eval.patience = 2 stops on validation figures; set eval.select = "validation"'),
    (['eval.select="best"'], "eval.select"),
])
def test_selection_fields_are_checked(overrides: list[str], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(RECIPE, overrides)


def test_an_evaluation_larger_than_its_split_is_refused(tmp_path: Path) -> None:
    recipe = load_recipe(RECIPE, ['eval.arena="task-eval"', 'eval.kwargs={family="arithmetic", difficulty=1}',
                                  "eval.size=100"])
    with pytest.raises(RecipeError, match=r"recipe field 'eval.size': 100 test items asked, but "
                                          r"sparring/task-eval-v1 \(family=arithmetic, difficulty=1\) holds \d+ "
                                          r"distinct test items; lower eval.size"):
        Trainer(recipe, tmp_path / "run", log=_quiet)
    assert not (tmp_path / "run").exists()


def test_eval_sampling_comes_from_the_eval_section_not_the_training_role(tmp_path: Path) -> None:
    out = tmp_path / "run"
    recipe = load_recipe(RECIPE, ["train.iterations=1", "eval.max_new_tokens=5", 'eval.system_prompt="Be brief."'])
    train(recipe, out, progress=False, log=_quiet)
    with Store(out / "store.sqlite") as store:
        held = [t for t in store.transcripts() if t.match_id.startswith("eval-")]
        training = [t for t in store.transcripts() if not t.match_id.startswith("eval-")]
    assert held and training
    for t in held:
        assert t.roles["solver"]["sampling"]["max_new_tokens"] == 5
        assert t.roles["solver"]["sampling"]["temperature"] == 0.0
        assert t.roles["solver"]["system_prompt"] == "Be brief."
        assert t.roles["solver"]["adapter"] == "solver"
    assert all(t.roles["solver"]["sampling"]["max_new_tokens"] == 8 for t in training)


def test_with_test_at_the_end_the_selected_adapters_are_tested_from_best(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(RECIPE), "--out", str(out), "train.iterations=3", *SELECT, 'eval.test="end"']) == 0
    metrics = _metrics(out)
    assert "eval/solver_accuracy" in metrics[-1] and "eval/solver_accuracy" in metrics[2]
    assert "eval/solver_accuracy" not in metrics[0] and "eval/solver_accuracy" not in metrics[1]
    assert all("validation/solver_accuracy" in metrics[i] for i in (-1, 0, 1, 2))
    chosen = int(metrics[2]["select/iteration"])
    assert "select/eval/solver_accuracy" in metrics[2]
    with Store(out / "store.sqlite") as store:
        tested = {t.iteration for t in store.transcripts() if t.match_id.startswith("eval-i")}
        if chosen not in (0, 3):  # played on the best adapters, recorded at the chosen iteration
            best = json.loads((out / "adapters" / "solver" / "best" / "best.json").read_text())
            played = [t for t in store.transcripts(iteration=chosen) if t.match_id.startswith("eval-i")]
            assert played and all(t.roles["solver"]["adapter"] == "solver" for t in played)
            assert {u.adapter_version for t in played for u in t.turns_of("solver")} == {best["version"]}
    assert {0, 3} <= tested
