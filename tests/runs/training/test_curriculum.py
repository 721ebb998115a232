"""A declared curriculum through the real CLI: the level grows as its metric is reached, is
recorded in every transcript's spec and the checkpoint, and a run killed anywhere resumes
at the level the uninterrupted run played (transcripts and weights bit-identical)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparring.arenas.curriculum import Curriculum
from sparring.runs.storage.store import Store
from tests.runs.levels_arena import Levels, writer_variety
from tests.runs.test_kill_resume import _cli, _full_run, _kill_resume_and_compare

RECIPE_TEXT = f"""
[model]
source = "tiny"
[arena]
name = "{Path(__file__).parents[1] / 'levels_arena.py'}:Levels"
[roles.writer]
adapter = "writer"
update = "grpo"
[train]
iterations = 4
matches_per_iteration = 3
steps_per_epoch = 1
lr = 1e-2
[eval]
size = 2
"""


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "levels.toml"
    path.write_text(RECIPE_TEXT)
    return path


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, recipe: Path) -> tuple[Path, tuple[dict, dict]]:
    out = tmp_path_factory.mktemp("full") / "run"
    return out, _full_run(out, [str(recipe)])


def test_the_level_grows_up_to_the_highest_and_is_recorded(uninterrupted: tuple[Path, tuple[dict, dict]]) -> None:
    out, _ = uninterrupted
    with Store(out / "store.sqlite") as store:
        levels = {(t.iteration, t.arena.kwargs["level"]) for t in store.transcripts() if not t.match_id.startswith("eval-")}
        logged = {(i, v) for i, name, v in store.metrics() if name == "curriculum/level"}
        decided = [name for _, name, _ in store.metrics() if name == "curriculum/writer/variety"]
    assert levels == {(0, 1), (1, 2), (2, 3), (3, 3)}  # grows each iteration, stops at the highest
    assert logged == {(0, 1.0), (1, 2.0), (2, 3.0), (3, 3.0)} and len(decided) == 4
    latest = (out / "checkpoints" / "LATEST").read_text().strip()
    assert json.loads((out / "checkpoints" / latest / "state.json").read_text())["curriculum"] == 3


@pytest.mark.parametrize("fault", [
    "play:5",     # half-way through iteration 2 (played at level 2, read from the checkpoint)
    "metrics:2",  # after iteration 2's metrics (its decision made), before its checkpoint
])
def test_kill_then_resume_plays_the_same_levels(tmp_path: Path, fault: str, recipe: Path,
                                               uninterrupted: tuple[Path, tuple[dict, dict]]) -> None:
    _kill_resume_and_compare(tmp_path / "run", [str(recipe)], fault, uninterrupted[1])


def test_a_threshold_not_reached_keeps_the_level(tmp_path: Path, recipe: Path) -> None:
    out = tmp_path / "run"
    done = _cli(["train", str(recipe), "train.iterations=2", "arena.kwargs.grow_at=2.0", "--out", str(out)])
    assert done.returncode == 0, done.stderr[-2000:]
    with Store(out / "store.sqlite") as store:
        assert {t.arena.kwargs["level"] for t in store.transcripts()} == {1}


def test_a_curriculum_naming_a_missing_argument_is_refused() -> None:
    with pytest.raises(Exception, match=r"names argument 'depth', which is not an integer constructor argument"):
        Curriculum("depth", 3, writer_variety, 0.5).level(Levels())
