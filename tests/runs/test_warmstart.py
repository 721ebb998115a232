"""Warm start on a few labels through the real CLI on the tiny model: recipes/warmstart_sft.toml
trains an SFT adapter on reference replies, and the majority-vote recipe starts from it
(``adapters.debater.init_from``), its KL anchor on the warm start (``kl_reference = "start"``)."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from sparring.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ['model.source="tiny"', "train.iterations=1", "train.matches_per_iteration=2", "eval.size=2"]


def test_majority_vote_starts_from_the_warm_start_adapter(tmp_path: Path) -> None:
    warm = tmp_path / "warm"
    assert main(["train", str(ROOT / "recipes" / "warmstart_sft.toml"), *TINY, "roles.solver.max_new_tokens=8",
                 "--out", str(warm)]) == 0
    start = warm / "adapters" / "debater" / "v2"  # 1 iteration x 2 epochs x 1 step
    mv = tmp_path / "mv"
    assert main(["train", str(ROOT / "recipes" / "majority_vote.toml"), *TINY, "arena.kwargs.debaters=3",
                 "roles.debater.max_new_tokens=8", f'adapters.debater.init_from="{start}"', "train.kl_coef=0.1",
                 'train.kl_reference="start"', "--out", str(mv)]) == 0
    warm_weights = load_file(str(start / "adapter_model.safetensors"))
    anchored = load_file(str(mv / "adapters" / "debater" / "v0" / "adapter_model.safetensors"))  # the KL snapshot
    assert warm_weights.keys() == anchored.keys()
    assert all((warm_weights[k] == anchored[k]).all() for k in warm_weights)
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in warm_weights.items())  # it trained
