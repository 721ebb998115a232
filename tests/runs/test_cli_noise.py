"""What a train run prints besides its progress: no library deprecation warnings, and one
interruption message."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparring.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "recipes" / "tiny_smoke.toml"


def test_train_prints_no_future_warning(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "default"}  # every warning shown once
    done = subprocess.run([sys.executable, "-m", "sparring", "train", str(SMOKE), "train.iterations=1",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "trained 1 iteration(s)" in done.stdout
    assert "is_gradient_checkpointing" not in done.stderr
    assert "FutureWarning" not in done.stderr


def test_tournament_prints_no_future_warning(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, "-m", "sparring", "tournament", str(ROOT / "examples" / "debate_tournament.toml"),
                           'model.source="tiny"', "schedule.budget=2", "--out", str(tmp_path / "t"), "-q"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "2 played" in done.stdout
    assert "FutureWarning" not in done.stderr and "Warning" not in done.stderr


def test_an_interrupted_train_says_how_to_resume_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    # the module, not the ``train`` function sparring.runs re-exports under the same name
    monkeypatch.setattr(importlib.import_module("sparring.runs.training.train"), "_loop", interrupted)
    out = tmp_path / "run"
    assert main(["train", str(SMOKE), "--out", str(out)]) == 130
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert text.count("interrupted;") == 1 and text.count("--resume") == 1
    assert f"'sparring train --resume {out}'" in captured.out
