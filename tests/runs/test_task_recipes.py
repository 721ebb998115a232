"""recipes/propose_solve.toml and recipes/spin.toml: one tiny-model iteration through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.store import Store

ROOT = Path(__file__).resolve().parents[2]
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2"]


def _metric_names(run: Path) -> set[str]:
    with Store(run / "store.sqlite") as store:
        return {name for _, name, _ in store.metrics()}


@pytest.mark.parametrize(("recipe", "short", "expected"), [
    ("propose_solve", ["arena.kwargs.samples=2", "roles.solver.max_new_tokens=8", "roles.proposer.max_new_tokens=8"],
     {"eval/solver_accuracy", "reward/proposer_band/proposer", "proposer/valid_rate"}),
    ("spin", ["roles.solver.max_new_tokens=8"],
     {"eval/solver_accuracy", "reward/solver_truth/solver", "solver/reference_match_rate", "update/solver/loss"}),
])
def test_recipe_runs_one_tiny_iteration(tmp_path: Path, recipe: str, short: list[str], expected: set[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / f"{recipe}.toml"), *TINY, *short, "--out", str(out)]) == 0
    names = _metric_names(out)
    assert expected <= names, sorted(names)
    assert not any(n.startswith("eval/mean_reward") for n in names)  # the arena's declared evaluation ran
