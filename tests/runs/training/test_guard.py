"""The collapse guard through the real CLI on the tiny model: it rolls the adapter back to
its last good version with a lower learning rate, stops, logs every action (metrics, a
store record, ``sparring show``, the viewer's charts), and a kill anywhere around a
roll-back resumes to the same adapters as an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from sparring.cli import main
from sparring.runs.analysis.viewer.charts import chart_specs
from sparring.runs.recipes.sections import GuardSection
from sparring.runs.storage.store import Store
from sparring.runs.training.guard import alarms
from tests.runs.test_kill_resume import _full_run, _kill_resume_and_compare
from tests.runs.test_stabilisers import votes_recipe

# A deterministic alarm: the adapter's version passes 4.5 in iteration 3 (2 steps each).
# Iterations 1 and 2 pass (the last good version: v2, which played iteration 2); iteration
# 3 alarms (version 6 after its update): roll back to v2 as v7 (the alarm condemns v4, which
# played iteration 3), learning rate x0.5; iteration 4 alarms again with no roll-back
# left: stop (no iteration 5).
GUARD = ['guard.above={"update/voter/version" = 4.5}', "guard.max_rollbacks=1", "train.iterations=5"]


def _weights(run: Path, version: int) -> dict:
    return load_file(str(run / "adapters" / "voter" / f"v{version}" / "adapter_model.safetensors"))


def test_guard_rolls_back_then_stops_and_logs_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", str(votes_recipe(tmp_path)), "--out", str(out), *GUARD]) == 0
    with Store(out / "store.sqlite") as store:
        metrics = {(i, name): value for i, name, value in store.metrics()}
        events = store.events()
    assert (1, "guard/rollback") not in metrics and metrics[(1, "guard/lr_scale")] == 1.0
    assert metrics[(2, "guard/rollback")] == 1.0 and metrics[(2, "guard/crossed/update/voter/version")] == 6.0
    assert metrics[(2, "guard/lr_scale")] == 0.5
    assert metrics[(3, "update/voter/lr")] == pytest.approx(0.5 * 1e-2)  # the lowered rate trains iteration 4
    assert metrics[(3, "guard/stop")] == 1.0 and not any(i == 4 for i, _ in metrics)  # stopped: no iteration 5
    assert [(e["iteration"], e["action"], e.get("to")) for e in events] == [(2, "rollback", {"voter": 7}), (3, "stop", None)]
    assert events[0]["reasons"] == ["update/voter/version 6 above 4.5"]
    rolled, good, bad = _weights(out, 7), _weights(out, 2), _weights(out, 4)
    assert all((rolled[k] == good[k]).all() for k in good) and any((bad[k] != good[k]).any() for k in good)
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "collapse guard after iteration 3: rolled back (update/voter/version=6); learning rate x0.5" in shown
    assert "collapse guard after iteration 4: stopped training" in shown
    sections = {s["section"]: s for s in chart_specs(sorted((i, n, v) for (i, n), v in metrics.items()))}
    assert {c["title"] for c in sections["Guard"]["charts"]} >= {"rollback", "lr_scale", "crossed", "stop"}
    assert "collapse guard rolled back after iteration 3" in sections["Monitors"]["charts"][0]["warnings"]


def test_guard_refuses_timings_and_validation_without_selection(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    recipe = str(votes_recipe(tmp_path))
    assert main(["train", recipe, "--out", str(tmp_path / "a"), 'guard.above={"time/play" = 1}']) != 0
    assert "timings differ from run to run" in capsys.readouterr().out
    assert main(["train", recipe, "--out", str(tmp_path / "b"), "guard.validation=true"]) != 0
    assert "recipe field 'guard.validation' = true reads validation figures" in capsys.readouterr().out


# Every stabiliser on at once, so resume is checked for all of them: the schedule and the
# guard's lowered rate (update state), the replay draw, the band, the KL anchor's snapshot.
ALL = [*GUARD, 'roles.voter.band=[0.3, 1.0]', "replay.window=2", 'train.lr_schedule="cosine"', "train.warmup_steps=1",
       "train.entropy_coef=0.05", "train.kl_coef=0.1", 'train.kl_reference="start"']


@pytest.fixture(scope="module")
def uninterrupted_guarded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[dict, dict]]:
    folder = tmp_path_factory.mktemp("guarded")
    recipe = votes_recipe(folder)
    return recipe, _full_run(folder / "run", [str(recipe), *ALL])


@pytest.mark.parametrize("fault", [
    "metrics:3",   # iteration 3 rolled back and stored its metrics; its checkpoint not yet written
    "update:7",    # the first step after the roll-back (lowered rate, fresh moments)
    "play:14",     # iteration 4's matches, after the roll-back's checkpoint
    "checkpoint:4",  # the stop's checkpoint folder in place, LATEST not yet moved
])
def test_kill_while_the_guard_has_rolled_back_resumes_bit_identical(
        tmp_path: Path, fault: str, uninterrupted_guarded: tuple[Path, tuple[dict, dict]]) -> None:
    recipe, expected = uninterrupted_guarded
    weights = _kill_resume_and_compare(tmp_path / "run", [str(recipe), *ALL], fault, expected)
    assert "voter/v7" in weights  # the roll-back's version


def test_validation_alarm_needs_a_drop_beyond_the_interval() -> None:
    section = GuardSection(validation=True)
    best = {"value": 0.5, "iteration": 2}
    key = "validation/solver_accuracy"
    within = {key: 0.45, f"{key}/ci_low": 0.38, f"{key}/ci_high": 0.52}  # the best lies inside its interval
    beyond = {key: 0.35, f"{key}/ci_low": 0.28, f"{key}/ci_high": 0.43}
    assert alarms(section, within, (key, best, "max")) == {}
    assert alarms(section, beyond, (key, best, "max")) == {
        key: (0.35, "fell from the best 0.5 (iteration 2) by more than its interval")}
    assert alarms(section, {key: 0.9, f"{key}/ci_low": 0.85}, (key, best, "min"))  # lower is better: a rise alarms
    assert alarms(GuardSection(), beyond, (key, best, "max")) == {}  # not watched
