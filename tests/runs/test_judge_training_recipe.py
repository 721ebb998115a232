"""recipes/judge_training.toml (J1) and recipes/respond_judge_j1.toml (self-rewarding with the
J1-trained judge): one tiny-model iteration each through the real CLI, the second starting
its judge seat from the first run's adapter (``adapters.judge.init_from``).

The tiny model is random and never writes a verdict that parses, so the judge seats answer
from a script here (a verdict per row seed, so the judgements of one pair differ and GRPO
has something to rank); the candidates, the responder and every update are the tiny model's.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.cli import main
from sparring.rewards.judge_prompts import THINKING
from sparring.runs.storage.store import Store
from tests.helpers import script_run_engine

ROOT = Path(__file__).resolve().parents[2]
train_module = importlib.import_module("sparring.runs.training.train")
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2",
        "arena.kwargs.samples=2", "roles.responder.max_new_tokens=8", "roles.judge.max_new_tokens=8"]
JUDGE = "You are a strict, fair judge"


def judge_script(request: GenerationRequest) -> Completion:
    """A thinking judge whose verdict is the row's seed parity (A or B)."""
    text = f"<think>Comparing.</think>\nWinner: {'AB'[request.seed % 2]}"
    return Completion(text, token_ids=[7] * len(text), logprobs=[-0.5] * len(text))




@pytest.fixture(autouse=True)
def _scripted_judges(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    script_run_engine(monkeypatch, train_module, lambda r: judge_script(r) if r.messages[0]["content"].startswith(JUDGE) else None)
    loaded: list[tuple[str, str]] = []
    load = train_module.load_adapter_weights

    def record(pool: Any, model: str, adapter: str, folder: Path) -> Any:
        loaded.append((adapter, str(folder)))
        return load(pool, model, adapter, folder)

    monkeypatch.setattr(train_module, "load_adapter_weights", record)
    return loaded


def _last_version(folder: Path) -> Path:
    return max(folder.glob("v*"), key=lambda p: int(p.name[1:]))


def test_judge_training_then_self_rewarding_with_the_trained_judge(tmp_path: Path,
                                                                   _scripted_judges: list[tuple[str, str]]) -> None:
    j1 = tmp_path / "j1"
    # the recipe's 4 judgements per order: the seed-parity verdicts make some pairs right in
    # both orders and others not, so GRPO has rewards to rank
    assert main(["train", str(ROOT / "recipes" / "judge_training.toml"), *TINY,
                 "--out", str(j1)]) == 0
    with Store(j1 / "store.sqlite") as store:
        played = [t for t in store.transcripts(iteration=0) if not t.match_id.startswith("eval-")]
        metrics = {name: value for _, name, value in store.metrics()}
    assert len(played) == 2 and all(t.status == "finished" for t in played)
    judged = [t for t in played if t.turns_of("judge")]
    assert judged and all(THINKING in u.messages[-1]["content"] for t in judged for u in t.turns_of("judge"))
    assert all({u.adapter for u in t.turns_of("responder")} == {None} for t in played)  # frozen candidates
    assert any(r.reward == "judge_consistent" and r.role == "judge" for t in judged for r in t.rewards)
    assert {"eval/judge_consistent_accuracy", "eval/judge_accuracy", "judge/position_consistency",
            "reward/judge_consistent/judge"} <= set(metrics), sorted(metrics)
    assert metrics.get("update/judge/samples", 0) > 0, sorted(metrics)
    trained = _last_version(j1 / "adapters" / "judge")
    assert any(v.abs().sum() > 0 for k, v in load_file(str(trained / "adapter_model.safetensors")).items()
               if "lora_B" in k)  # GRPO moved the judge (LoRA's B starts at zero)

    # the respond-judge arm: its judge seat starts from the J1 adapter and stays frozen
    rj = tmp_path / "rj"
    assert main(["train", str(ROOT / "recipes" / "respond_judge_j1.toml"), *TINY,
                 f'adapters.judge.init_from="{trained}"', "--out", str(rj)]) == 0
    assert ("judge", str(trained)) in _scripted_judges
    with Store(rj / "store.sqlite") as store:
        played = [t for t in store.transcripts(iteration=0) if not t.match_id.startswith("eval-")]
        metrics = {name: value for _, name, value in store.metrics()}
    turns = [u for t in played for u in t.turns_of("judge")]
    assert turns and {u.adapter for u in turns} == {"judge"}
    assert all(THINKING in u.messages[-1]["content"] for u in turns)
    assert {"reward/judge_score/responder", "reward/truth_score/responder", "eval/responder_accuracy"} <= set(metrics)
    assert metrics.get("update/policy/samples", 0) > 0 and "update/judge/samples" not in metrics
