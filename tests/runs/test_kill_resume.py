"""A run killed anywhere (SIGKILL, as ``kill -9``) and resumed ends bit-identical to an
uninterrupted run: same stored transcripts, same adapter versions, same weights.

Kills are injected with ``SPARRING_FAULT=<point>:<n>`` (see ``sparring.runs.faults``) in
every phase: while a training iteration plays, between optimizer steps, after an adapter
version is saved, while the held-out set plays (before training and after an iteration),
after metrics are stored, and between a checkpoint folder and its ``LATEST`` pointer. Runs
go through the real CLI in subprocesses; the tiny model runs in bf16 where the CPU has
it, where batch composition changes samples (the bug this test was written for).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from sparring.runs.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
RECIPE_TEXT = f"""
[model]
source = "tiny"
[arena]
name = "{Path(__file__).with_name('lengths_arena.py')}:Lengths"
[roles.writer]
adapter = "writer"
update = "grpo"
[roles.editor]
adapter = "editor"
update = "sppo"
[train]
iterations = 3
matches_per_iteration = 6
max_in_flight = 6
steps_per_epoch = 2
lr = 1e-2
[eval]
size = 4
"""
OVERRIDES: list[str] = []


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "lengths.toml"
    path.write_text(RECIPE_TEXT)
    return path


def _cli(args: list[str], fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SPARRING_FAULT"}
    # One thread: a parallel reduction may split differently when the machine is busy, which
    # would make two *fresh* processes differ; what this test checks is resume, not that.
    env["OMP_NUM_THREADS"] = "1"
    if fault:
        env["SPARRING_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "sparring.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


def _state(run: Path) -> tuple[dict, dict]:
    with Store(run / "store.sqlite") as store:
        transcripts = {t.match_id: _without_times(t.comparable()) for t in store.transcripts()}
    weights = {}
    for folder in sorted([*(run / "adapters").glob("*/v*"), *(run / "adapters").glob("*/best")]):
        tensors = load_file(str(folder / "adapter_model.safetensors"))
        weights[f"{folder.parent.name}/{folder.name}"] = {k: v.float().numpy().tobytes() for k, v in tensors.items()}
    return transcripts, weights


def _without_times(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in ("started_at", "finished_at", "run_id")}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, recipe: Path) -> tuple[dict, dict]:
    return _full_run(tmp_path_factory.mktemp("full") / "run", [str(recipe), *OVERRIDES])


def _full_run(out: Path, args: list[str]) -> tuple[dict, dict]:
    """Train without a fault; the stored transcripts and weights to compare against."""
    done = _cli(["train", *args, "--out", str(out)])
    assert done.returncode == 0, done.stderr[-2000:]
    return _state(out)


@pytest.mark.parametrize("fault", [
    "eval:2",        # during the held-out evaluation before training
    "play:3",        # half-way through iteration 1's matches
    "play:9",        # half-way through iteration 2's matches
    "update:3",      # between the two optimizer steps of an adapter in iteration 1
    "save:3",        # after iteration 2's first adapter version was written
    "eval:7",        # during the held-out evaluation after iteration 1
    "metrics:2",     # after iteration 2's metrics, before its checkpoint
    "checkpoint:1",  # checkpoint folder in place, LATEST not yet moved
])
def test_kill_anywhere_then_resume_is_bit_identical(tmp_path: Path, fault: str, recipe: Path,
                                                    uninterrupted: tuple[dict, dict]) -> None:
    _kill_resume_and_compare(tmp_path / "run", [str(recipe), *OVERRIDES], fault, uninterrupted)


def _kill_resume_and_compare(out: Path, args: list[str], fault: str, expected: tuple[dict, dict]) -> dict:
    """Train with ``fault`` armed, resume, and compare transcripts and weights with ``expected``."""
    killed = _cli(["train", *args, "--out", str(out)], fault=fault)
    assert killed.returncode == -9, f"the fault {fault} did not fire: {killed.stderr[-1000:]}"
    resumed = _cli(["train", "--resume", str(out)])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    transcripts, weights = _state(out)
    expected_transcripts, expected_weights = expected
    assert sorted(transcripts) == sorted(expected_transcripts)
    for match_id, t in transcripts.items():
        assert t == expected_transcripts[match_id], f"{match_id} differs after a kill at {fault}"
    assert sorted(weights) == sorted(expected_weights)
    for version, tensors in weights.items():
        assert tensors == expected_weights[version], f"{version} weights differ after a kill at {fault}"
    return weights


SELECT = ['eval.select="validation"', 'eval.test="end"', 'eval.metric="mean_reward/variety/writer"']


@pytest.fixture(scope="module")
def uninterrupted_selecting(tmp_path_factory: pytest.TempPathFactory, recipe: Path) -> tuple[dict, dict]:
    return _full_run(tmp_path_factory.mktemp("full-select") / "run", [str(recipe), *SELECT])


@pytest.mark.parametrize("fault", [
    "eval:6",     # during the validation split before training (validation plays first, then test)
    "select:1",   # the base adapters copied to best, the metrics not yet stored
    "eval:10",    # during iteration 1's validation (no test until the end)
    "eval:22",    # during the final test evaluation
])
def test_kill_while_selecting_then_resume_is_bit_identical(tmp_path: Path, fault: str, recipe: Path,
                                                           uninterrupted_selecting: tuple[dict, dict]) -> None:
    weights = _kill_resume_and_compare(tmp_path / "run", [str(recipe), *SELECT], fault, uninterrupted_selecting)
    assert any(k.endswith("/best") for k in weights)


TEMPORAL_TEXT = f"""
[model]
source = "tiny"
[arena]
name = "{Path(__file__).with_name('anchored_arena.py')}:Anchored"
[roles.responder]
adapter = "policy"
update = "dpo_temporal"
reference = "iterate"
[roles.judge]
adapter = "policy"
[train]
iterations = 2
matches_per_iteration = 4
max_in_flight = 4
steps_per_epoch = 2
lr = 1e-2
[eval]
size = 2
"""


@pytest.fixture(scope="module")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[dict, dict]]:
    """Temporal SR (a look-ahead update and a future play inside each iteration), uninterrupted."""
    path = tmp_path_factory.mktemp("temporal") / "temporal.toml"
    path.write_text(TEMPORAL_TEXT)
    out = path.parent / "run"
    done = _cli(["train", str(path), "--out", str(out)])
    assert done.returncode == 0, done.stderr[-2000:]
    state = _state(out)
    assert sum(i.startswith("future-i") for i in state[0]) == 2 * 4  # every iteration's seeds, again
    return path, state


@pytest.mark.parametrize("fault", [
    "future:2",  # half-way through iteration 1's future play (after the look-ahead update)
    "future:7",  # half-way through iteration 2's future play
])
def test_kill_during_the_future_play_then_resume_is_bit_identical(tmp_path: Path, fault: str,
                                                                  temporal: tuple[Path, tuple[dict, dict]]) -> None:
    recipe, (expected_transcripts, expected_weights) = temporal
    out = tmp_path / "run"
    killed = _cli(["train", str(recipe), "--out", str(out)], fault=fault)
    assert killed.returncode == -9, f"the fault {fault} did not fire: {killed.stderr[-1000:]}"
    resumed = _cli(["train", "--resume", str(out)])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    transcripts, weights = _state(out)
    assert sorted(transcripts) == sorted(expected_transcripts)
    for match_id, t in transcripts.items():
        assert t == expected_transcripts[match_id], f"{match_id} differs after a kill at {fault}"
    assert sorted(weights) == sorted(expected_weights)
    for version, tensors in weights.items():
        assert tensors == expected_weights[version], f"{version} weights differ after a kill at {fault}"
