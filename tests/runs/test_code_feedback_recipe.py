"""recipes/code_feedback.toml (CodeDPO): one tiny-model iteration through the real CLI; the
solutions run their hidden tests in the sandbox and DPO moves the coder's weights.

The tiny model is random and writes no Python: every other coder reply is replaced by a
solution right on the hidden tests (a lookup table of them), so the ranking has a
passing and a failing solution to pair; the rest, and the update, are the tiny model's.
Training plays the validation split here (an override) so that the script can look each
problem up in its pool.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.arenas.builtin.code_feedback import CODER_SYSTEM
from sparring.arenas.builtin.code_problems import CODE_PROBLEMS
from sparring.cli import main
from sparring.runs.storage.store import Store
from tests.arenas.builtin.test_code_feedback import table_solution

ROOT = Path(__file__).resolve().parents[2]
train_module = importlib.import_module("sparring.runs.training.train")
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2",
        "roles.coder.max_new_tokens=8", 'arena.kwargs.split="validation"', "arena.kwargs.samples=4"]
ITEMS = {i.prompt: i for split in ("validation", "test") for i in CODE_PROBLEMS.pool(split, (1, 1))}


class HalfRight:
    """The run's engine; every other coder row gets a right solution instead."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.name, self.rows = engine, engine.name, 0

    @property
    def max_batch_size(self) -> int:
        return self.engine.max_batch_size

    def encode(self, messages: list[dict[str, str]]) -> list[int]:
        return self.engine.encode(messages)

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        out = self.engine.generate(requests)
        for k, request in enumerate(requests):
            if request.messages[0]["content"] == CODER_SYSTEM:
                self.rows += 1
                if self.rows % 2 == 0:
                    text = table_solution(ITEMS[request.messages[-1]["content"]])
                    out[k] = Completion(text, token_ids=[7] * len(text.split()), logprobs=[-0.5] * len(text.split()))
        return out


@pytest.fixture(autouse=True)
def _half_right(monkeypatch: pytest.MonkeyPatch) -> None:
    make = train_module.make_run_engine
    monkeypatch.setattr(train_module, "make_run_engine", lambda model, loaded: HalfRight(make(model, loaded)))


def test_code_feedback_recipe_trains_the_coder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "recipes" / "code_feedback.toml"), *TINY, "--out", str(out)]) == 0
    with Store(out / "store.sqlite") as store:
        matches = list(store.transcripts(iteration=0))
        metrics = {name: value for _, name, value in store.metrics()}
    played = [t for t in matches if not t.match_id.startswith("eval-")]
    assert len(played) == 2 and all(t.status == "finished" for t in played)
    shares = [s for t in played for s in t.outcome["hidden_pass"]]
    assert 1.0 in shares and 0.0 in shares, shares  # ran in the sandbox: the right ones pass, garbage fails
    assert {"eval/code/pass_rate", "eval/code/solved_rate", "code/pass_rate",
            "reward/solution_score/coder"} <= set(metrics), sorted(metrics)
    assert metrics["update/coder/samples"] > 0, sorted(metrics)
    versions = sorted((out / "adapters" / "coder").glob("v*"), key=lambda p: int(p.name[1:]))
    trained = load_file(str(versions[-1] / "adapter_model.safetensors"))
    assert int(versions[-1].name[1:]) > 0 and any(v.abs().sum() > 0 for k, v in trained.items() if "lora_B" in k)
