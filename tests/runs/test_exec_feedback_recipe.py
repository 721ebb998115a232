"""recipes/exec_feedback.toml (AutoIF): one tiny-model iteration through the real CLI; the
checkers run in the sandbox, responses are scored, and DPO moves the responder's weights.

The tiny model is random and writes no Python: the writer and checker seats answer from
a script here (a parity checker whose verdicts split the tiny model's responses); the
responder's replies and the update are the tiny model's.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from safetensors.torch import load_file

from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.arenas.builtin.exec_feedback import CHECKER_SYSTEM, WRITER_SYSTEM
from sparring.cli import main
from sparring.runs.storage.store import Store
from tests.helpers import script_run_engine, scripted_completion

ROOT = Path(__file__).resolve().parents[2]
train_module = importlib.import_module("sparring.runs.training.train")
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2",
        "roles.responder.max_new_tokens=8", "arena.kwargs.samples=4"]
SCRIPTED = {WRITER_SYSTEM: "Instruction: Write an even number of characters.",
            CHECKER_SYSTEM: ("```python\ndef evaluate(response):\n    return len(response) % 2 == 0\n```\n"
                             "PASS: ab\nFAIL: abc")}




@pytest.fixture(autouse=True)
def _scripted_writers(monkeypatch: pytest.MonkeyPatch) -> None:
    def writers(request: GenerationRequest) -> Completion | None:  # the writer and checker seats
        text = SCRIPTED.get(request.messages[0]["content"])
        return scripted_completion(text) if text is not None else None

    script_run_engine(monkeypatch, train_module, writers)


def test_exec_feedback_recipe_trains_the_responder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / "exec_feedback.toml"), *TINY, "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        matches = list(store.transcripts(iteration=0))
        metrics = {name: value for _, name, value in store.metrics()}
    played = [t for t in matches if not t.match_id.startswith("eval-")]
    assert len(played) == 2 and all(t.status == "finished" for t in played)
    assert all(c["kept"] for t in played for c in t.outcome["checkers"])  # cross-validated in the sandbox
    scores = [s for t in played for s in t.outcome["response_scores"]]
    assert set(scores) == {0.0, 1.0}, scores  # the parity checker splits the tiny model's responses
    assert {"eval/responder_accuracy", "eval/responder_satisfaction", "exec_feedback/checker_kept_rate",
            "exec_feedback/response_pass_rate", "reward/response_pass/responder"} <= set(metrics), sorted(metrics)
    assert metrics["update/policy/samples"] > 0, sorted(metrics)
    versions = sorted((out / "adapters" / "policy").glob("v*"), key=lambda p: int(p.name[1:]))
    trained = load_file(str(versions[-1] / "adapter_model.safetensors"))
    assert int(versions[-1].name[1:]) > 0 and any(v.abs().sum() > 0 for k, v in trained.items() if "lora_B" in k)
