"""``roles.<seat>.adapter = "NAME@previous"``: a frozen copy of NAME's previous iterate
(CREAM's previous-iterate judge) moves along as NAME trains, and survives a kill and resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.recipes.recipe import RecipeError, load_recipe
from sparring.runs.storage.store import Store

from .test_kill_resume import _cli, _state

RECIPE = f"""
[model]
source = "tiny"
[arena]
name = "{Path(__file__).with_name('lengths_arena.py')}:Lengths"
[roles.writer]
adapter = "writer"
update = "grpo"
[roles.editor]
adapter = "writer@previous"
[train]
iterations = 3
matches_per_iteration = 4
max_in_flight = 4
steps_per_epoch = 2
lr = 1e-2
[eval]
size = 2
every = 0
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "previous.toml"
    path.write_text(RECIPE)
    return path


def _editor_versions(run: Path) -> dict[int, set[tuple[str, int]]]:
    with Store(run / "store.sqlite") as store:
        out: dict[int, set[tuple[str, int]]] = {}
        for t in store.transcripts():
            if not t.match_id.startswith("eval-"):
                out.setdefault(t.iteration, set()).update((u.adapter, u.adapter_version) for u in t.turns_of("editor"))
    return out


def test_the_previous_iterate_trails_the_trained_adapter_by_one_update(tmp_path: Path, recipe: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(out)]) == 0
    # 2 optimizer steps per iteration: the writer is v0, v2, v4 when iterations 0, 1, 2 play;
    # the editor plays the writer's weights from before its latest update: v0, v0, v2.
    assert _editor_versions(out) == {0: {("writer@v0", 0)}, 1: {("writer@v0", 0)}, 2: {("writer@v2", 2)}}
    with Store(out / "store.sqlite") as store:
        writers = {(t.iteration, u.adapter_version) for t in store.transcripts() for u in t.turns_of("writer")
                   if not t.match_id.startswith("eval-")}
    assert writers == {(0, 0), (1, 2), (2, 4)}
    assert (out / "adapters" / "writer" / "v0").is_dir()  # the initial iterate, saved for a resume


@pytest.mark.parametrize("fault", ["play:9", "save:2", "checkpoint:2"])
def test_a_killed_run_resumes_with_the_same_previous_iterate(tmp_path: Path, recipe: Path, fault: str) -> None:
    full = tmp_path / "full"
    assert _cli(["train", str(recipe), "--out", str(full)]).returncode == 0
    out = tmp_path / "run"
    killed = _cli(["train", str(recipe), "--out", str(out)], fault=fault)
    assert killed.returncode == -9, f"the fault {fault} did not fire: {killed.stderr[-1000:]}"
    assert _cli(["train", "--resume", str(out)]).returncode == 0
    assert _state(out) == _state(full)
    assert _editor_versions(out) == _editor_versions(full)


@pytest.mark.parametrize(("editor", "expect"), [
    ({"adapter": "writer@prev"}, "the only suffix is '@previous'"),
    ({"adapter": "nobody@previous"}, "no seat trains adapter 'nobody'"),
    ({"adapter": "writer@previous", "update": "grpo"}, "cannot train"),
])
def test_bad_previous_bindings_are_refused(editor: dict, expect: str) -> None:
    data = {"model": {"source": "tiny"}, "arena": {"name": "x"},
            "roles": {"writer": {"adapter": "writer", "update": "grpo"}, "editor": editor}}
    with pytest.raises((RecipeError, ValueError), match=expect):
        load_recipe(data)
