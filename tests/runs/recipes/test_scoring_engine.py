"""A recipe whose arena scores given replies (match.score) is refused up front on an engine without scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.recipes.recipe import RecipeError, load_recipe
from sparring.runs.recipes.validate import validate

ROOT = Path(__file__).resolve().parents[3]
VLLM = ['model.engine="vllm"']
MESSAGE = ("recipe field 'model.engine' = \"vllm\": sparring/elicitation-v1 scores given replies for responder "
           "(match.score: a log-likelihood, no sampling), which only the hf engine can; set model.engine = \"hf\"")


def test_elicitation_on_vllm_is_refused_before_any_model_loads() -> None:
    with pytest.raises(RecipeError) as raised:
        validate(load_recipe(ROOT / "recipes" / "elicitation.toml", VLLM))
    assert str(raised.value) == MESSAGE


def test_the_cli_prints_one_line(tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    code = main(["train", str(ROOT / "recipes" / "elicitation.toml"), *VLLM, "--out", str(tmp_path / "run")])
    captured = capfd.readouterr()
    err = captured.err + captured.out
    assert code == 2 and MESSAGE in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing was started


def test_hf_and_arenas_that_never_score_pass() -> None:
    validate(load_recipe(ROOT / "recipes" / "elicitation.toml", ['model.source="tiny"']))
    try:  # spin never scores: whatever vllm's own checks say here, it is not this rule
        validate(load_recipe(ROOT / "recipes" / "spin.toml", [*VLLM, 'model.source="tiny"']))
    except RecipeError as exc:
        assert "match.score" not in str(exc)
