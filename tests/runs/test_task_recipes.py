"""recipes/propose_solve.toml, spin.toml, majority_vote.toml, solve_review_refine.toml: one tiny-model iteration through the real CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2"]


def _metric_names(run: Path) -> set[str]:
    with Store(run / "store.sqlite") as store:
        return {name for _, name, _ in store.metrics()}


@pytest.mark.parametrize(("recipe", "short", "expected"), [
    ("propose_solve", ["arena.kwargs.samples=2", "roles.solver.max_new_tokens=8", "roles.proposer.max_new_tokens=8"],
     {"eval/solver_accuracy", "reward/proposer_band/proposer", "proposer/valid_rate"}),
    ("majority_vote", ["arena.kwargs.debaters=3", "roles.debater.max_new_tokens=8"],
     {"eval/solver_accuracy", "reward/debater_majority/debater", "debate/agreement"}),
    ("spin", ["roles.solver.max_new_tokens=8"],
     {"eval/solver_accuracy", "reward/solver_truth/solver", "solver/reference_match_rate", "update/solver/loss"}),
    ("spell_documents", ["arena.kwargs.samples=2", "arena.kwargs.votes=1", "roles.questioner.max_new_tokens=8",
                         "roles.responder.max_new_tokens=8", "roles.verifier.max_new_tokens=4"],
     {"eval/responder_accuracy", "reward/questioner_gaussian/questioner", "questioner/valid_rate", "curriculum/level"}),
    ("elicitation", ["roles.questioner.max_new_tokens=8", "roles.roleplayer.max_new_tokens=8",
                     "roles.oracle.max_new_tokens=8"],
     {"eval/elicitation/gold_logprob", "eval/elicitation/attribute_recall", "elicitation/questions",
      "reward/best_dialogue/questioner", "reward/gold_logprob/questioner", "update/questioner/loss"}),
    ("solve_review_refine", ["roles.solver.max_new_tokens=8", "roles.reviewer.max_new_tokens=8",
                             "roles.refiner.max_new_tokens=8"],
     {"eval/refine/accuracy_second", "eval/routing/hard_rate", "refine/accuracy_first", "refinement/n",
      "reward/reviewer_feedback/reviewer", "reward/refiner_improvement/refiner", "update/policy/loss"}),
])
def test_recipe_runs_one_tiny_iteration(tmp_path: Path, recipe: str, short: list[str], expected: set[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / f"{recipe}.toml"), *TINY, *short, "--out", str(out)]) == 0
    names = _metric_names(out)
    assert expected <= names, sorted(names)
    assert not any(n.startswith("eval/mean_reward") for n in names)  # the arena's declared evaluation ran


def test_eval_roles_map_a_held_out_seat_to_a_trained_role(tmp_path: Path) -> None:
    """graph-debate's debater evaluated on task-eval's solver seat (``eval.roles``): the held-out
    turns are played on the debater's adapter, not on the bare base model."""
    out = tmp_path / "run"
    args = ["train", str(ROOT / "recipes" / "graph_debate.toml"), *TINY, "arena.kwargs.debaters=2",
            "arena.kwargs.rounds=1", "roles.debater.max_new_tokens=8", 'eval.arena="task-eval"',
            'eval.kwargs={family="arithmetic", difficulty=1}', 'eval.roles={solver="debater"}', "--out", str(out)]
    assert main(args) == 0
    assert "eval/solver_accuracy" in _metric_names(out)
    with Store(out / "store.sqlite") as store:
        held_out = [t for t in store.transcripts() if t.match_id.startswith("eval-")]
    assert held_out
    assert {(u.role, u.adapter) for t in held_out for u in t.turns} == {("solver", "debater")}


def test_eval_temperature_samples_the_held_out_seats(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", str(ROOT / "recipes" / "spin.toml"), *TINY, "roles.solver.max_new_tokens=8",
            "eval.temperature=0.7", "--out", str(out)]
    assert main(args) == 0
    with Store(out / "store.sqlite") as store:
        held_out = [u for t in store.transcripts() if t.match_id.startswith("eval-") for u in t.turns]
        played = [u for t in store.transcripts() if not t.match_id.startswith("eval-") for u in t.turns]
    assert held_out and {u.sampling["temperature"] for u in held_out} == {0.7}
    assert {u.sampling["temperature"] for u in played} == {1.0}  # training keeps the role's own


def test_majority_vote_recipe_is_the_measured_configuration() -> None:
    """recipes/majority_vote.toml is what benchmarks/method_efficacy.py measured as majority_units."""
    import importlib.util

    from sparring.runs.recipes.recipe import load_recipe

    spec = importlib.util.spec_from_file_location("method_efficacy", ROOT / "benchmarks" / "method_efficacy.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["method_efficacy"] = bench  # its dataclasses look their module up
    try:
        spec.loader.exec_module(bench)
    finally:
        del sys.modules["method_efficacy"]
    arm = bench.ARMS["majority_units"]
    assert arm.recipe == "majority_vote.toml"
    measured = load_recipe(ROOT / "recipes" / arm.recipe, bench.overrides_of(arm, 0))
    shipped = load_recipe(ROOT / "recipes" / "majority_vote.toml", ["train.iterations=100000", "eval.every=0"])
    for section in ("model", "arena", "roles", "train", "eval", "adapters", "schedule"):
        assert getattr(shipped, section) == getattr(measured, section), section
