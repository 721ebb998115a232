"""Stabilisers of label-free self-training through the real CLI on the tiny model: the
entropy bonus, the KL anchor to the run's start and a learning-rate schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.storage.store import Store

VOTES = Path(__file__).with_name("votes_arena.py")


def votes_recipe(tmp_path: Path, update: str = "sft", extra: str = "") -> Path:
    """Majority-vote self-training on the votes arena (``[train]`` lines in ``extra``)."""
    path = tmp_path / "votes.toml"
    path.write_text(f'[model]\nsource = "tiny"\n[arena]\nname = "{VOTES}:Votes"\n'
                    f'[roles.voter]\nadapter = "voter"\nupdate = "{update}"\n'
                    f'[train]\niterations = 3\nmatches_per_iteration = 4\nlr = 1e-2\nsteps_per_epoch = 2\n{extra}'
                    '[eval]\nsize = 2\n')
    return path


def _update_metrics(run: Path, name: str) -> list[float]:
    with Store(run / "store.sqlite") as store:
        return [value for _, _, value in store.metrics(f"update/voter/{name}")]


@pytest.mark.parametrize("update", ["sft", "grpo"])
def test_entropy_bonus_kl_anchor_and_schedule_through_the_cli(tmp_path: Path, update: str) -> None:
    recipe = votes_recipe(tmp_path, update)
    out = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(out), "train.entropy_coef=0.1", "train.kl_coef=0.5",
                 'train.kl_reference="start"', 'train.lr_schedule="linear"', "train.warmup_steps=2",
                 "train.min_lr_ratio=0.5"]) == 0
    # 6 steps: warm-up 1/3, 2/3, then linear from 1 down to 0.5 at step 6; a metric is a mean of 2 steps
    expected = [1 / 3, 2 / 3, 1.0, 1 - 0.5 / 4, 1 - 1 / 4, 1 - 1.5 / 4]
    assert _update_metrics(out, "lr") == pytest.approx([1e-2 * (a + b) / 2 for a, b in zip(expected[::2], expected[1::2], strict=True)])
    assert all(v > 0 for v in _update_metrics(out, "entropy"))
    assert len(_update_metrics(out, "kl")) == 3  # anchored to the snapshot voter@v0
    assert (out / "adapters" / "voter" / "v0" / "adapter_model.safetensors").exists()


def test_stabilisers_no_update_reads_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = votes_recipe(tmp_path, "dpo")
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "train.entropy_coef=0.1"]) != 0
    assert "'train.entropy_coef' is read by the grpo, rloo and sft updates only" in capsys.readouterr().out
