"""recipes/tree_refine.toml (SPaR): one tiny-model iteration through the real CLI; both
the actor and the refiner build pairs and move their weights.

The tiny model is random: it never writes a verdict that parses, so the refiner seat
answers from a script here (the actor's replies and both updates are the tiny model's).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from safetensors.torch import load_file

from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.arenas.builtin.tree_refine import REFINER_PROMPT
from sparring.cli import main
from sparring.runs.storage.store import Store
from sparring.runs.training.checkpoint import read_checkpoint
from tests.helpers import script_run_engine

ROOT = Path(__file__).resolve().parents[2]
train_module = importlib.import_module("sparring.runs.training.train")
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2",
        "roles.actor.max_new_tokens=8", "roles.refiner.max_new_tokens=8"]


def refiner_script(request: GenerationRequest) -> Completion:
    """Verdicts: Yes for a response holding ``fixed``, else No, one of three repeats
    dissenting (judgement pairs); rewrites: every other one holds ``fixed`` (refinement pairs)."""
    prompt = request.messages[-1]["content"]
    response = prompt.split("<response>")[1].split("</response>")[0]
    if "Does the response meet this constraint?" in prompt:
        good = "fixed" in response
        text = "Yes. It does." if good != (request.seed % 3 == 0) else "No. It does not."
    else:
        text = f"{response} fixed" if request.seed % 2 == 0 else f"{response} again"
    return Completion(text, token_ids=[7] * len(text.split()), logprobs=[-0.5] * len(text.split()))




@pytest.fixture(autouse=True)
def _scripted_refiner(monkeypatch: pytest.MonkeyPatch) -> None:
    script_run_engine(monkeypatch, train_module, lambda r: refiner_script(r) if r.messages[0]["content"] == REFINER_PROMPT else None)


def _moved(out: Path, adapter: str) -> bool:
    versions = sorted((out / "adapters" / adapter).glob("v*"), key=lambda p: int(p.name[1:]))
    trained = load_file(str(versions[-1] / "adapter_model.safetensors"))
    return int(versions[-1].name[1:]) > 0 and any(v.abs().sum() > 0 for k, v in trained.items() if "lora_B" in k)


def test_tree_refine_recipe_trains_actor_and_refiner(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / "tree_refine.toml"), *TINY, "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        matches = list(store.transcripts(iteration=0))
        metrics = {name: value for _, name, value in store.metrics()}
    played = [t for t in matches if not t.match_id.startswith("eval-")]
    held_out = [t for t in matches if t.match_id.startswith("eval-")]
    assert len(played) == 2 and all(t.status == "finished" for t in played)
    trees = [tree for t in played for tree in t.outcome["trees"]]
    assert any(tree["refined"] is not None for tree in trees)  # the search found refinements
    refined = [tree for tree in trees if tree["refined"] is not None]
    assert all(tree["edit_distance"] >= 1 and tree["refined_text"].endswith("fixed") for tree in refined)
    # the declared evaluation ran: one reply judged once per constraint, nothing refined
    assert held_out and all(len(t.outcome["trees"][0]["nodes"]) == 1 for t in held_out)
    assert {"eval/actor_accuracy", "eval/actor_satisfaction", "eval/refiner/judgement_accuracy",
            "tree_refine/edit_distance", "tree_refine/success_rate"} <= set(metrics), sorted(metrics)
    assert metrics["update/actor/samples"] > 0 and metrics["update/refiner/samples"] > 0, sorted(metrics)
    assert _moved(out, "actor") and _moved(out, "refiner")
    # both DPO updates are anchored to a frozen snapshot of the iterate (M_t+1 from M_t)
    found = read_checkpoint(out)
    assert found is not None and found[1]["actor"]["reference"] and found[1]["refiner"]["reference"]
