"""A held-out figure's companions (interval and counts) through the training loop's outputs:
the progress line and warnings leave them out, TensorBoard gets them all plus a band chart,
``sparring show`` folds them into their value's line. One tiny run through the CLI."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from sparring.cli import main
from sparring.runs.training.monitors import warnings_for

RECIPE = Path(__file__).resolve().parents[3] / "recipes" / "tiny_smoke.toml"
COMPANIONS = ("ci_low", "ci_high", "n_items", "n_distinct")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("monitors") / "run"
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        assert main(["train", str(RECIPE), "--out", str(out), 'eval.select="validation"']) == 0
    return {"out": out, "log": log.getvalue()}


def test_the_progress_line_names_values_not_their_companions(trained: dict[str, Any]) -> None:
    log = trained["log"]
    assert "eval/solver_accuracy=" in log and "validation/solver_accuracy=" in log
    assert not any(c in log for c in COMPANIONS), log


def test_tensorboard_gets_every_companion_and_a_band_per_figure(trained: dict[str, Any]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    [events] = (trained["out"] / "metrics").glob("events.out.tfevents.*")
    acc = EventAccumulator(str(events))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for key in ("eval/solver_accuracy", "validation/solver_accuracy", "select/eval/solver_accuracy"):
        assert {key, *(f"{key}/{c}" for c in COMPANIONS)} <= tags
    assert [e.step for e in acc.Scalars("eval/solver_accuracy/ci_high")] == [0, 1, 2]  # before training, 1, 2
    from tensorboard.plugins.custom_scalar import layout_pb2

    [layout_event] = [e for e in _events(events) if e.summary.value and e.summary.value[0].tag == "custom_scalars__config__"]
    layout = layout_pb2.Layout.FromString(layout_event.summary.value[0].tensor.string_val[0])
    charts = {(c.title, ch.title): [m.value, m.lower, m.upper]
              for c in layout.category for ch in c.chart for m in ch.margin.series}
    assert charts[("eval", "solver_accuracy")] == ["eval/solver_accuracy", "eval/solver_accuracy/ci_low",
                                                   "eval/solver_accuracy/ci_high"]
    assert ("validation", "solver_accuracy") in charts and ("select", "eval/solver_accuracy") in charts
    assert not any(title.endswith(COMPANIONS) for _, title in charts)


def _events(path: Path) -> list[Any]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return list(EventFileLoader(str(path)).Load())


def test_show_folds_the_companions_into_each_figure(trained: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(trained["out"])]) == 0
    text = capsys.readouterr().out
    assert "held-out test split (eval/)" in text and "held-out validation split (validation/)" in text
    assert "validation-selected iteration" in text
    assert any(line.strip().startswith("eval/solver_accuracy ") and "] n=4 (4 distinct)" in line
               for line in text.splitlines())
    assert not any(c in text for c in COMPANIONS)


def test_warnings_never_fire_on_a_companion() -> None:
    assert warnings_for({"eval/entropy": 0.5, "eval/entropy/ci_low": 0.0, "eval/distinct/n_items": 0.0}) == []
    assert warnings_for({"solver/entropy": 0.01}) == ["solver: entropy 0.010 is below 0.05 (possible collapse)"]


def test_distinct_bigrams_fall_when_samples_repeat_each_other() -> None:
    from sparring.arenas.arena import ArenaSpec
    from sparring.arenas.transcript import Transcript, Turn
    from sparring.runs.training.monitors import collapse_monitors

    def transcript(texts: list[str]) -> Transcript:
        turns = [Turn(index=i, ask=0, sample=i, role="solver", model="m", adapter=None, adapter_version=None,
                      messages=[], sampling={}, seed=0, text=text, token_ids=[1, 2], logprobs=[-1.0, -1.0])
                 for i, text in enumerate(texts)]
        return Transcript(match_id="m", arena=ArenaSpec(id="t/a-v1", roles=("solver",)), seed=0, roles={},
                          turns=turns)

    varied = collapse_monitors([transcript(["the answer is 4", "I think it is 5", "so 6 then"])])
    repeated = collapse_monitors([transcript(["the answer is 4", "the answer is 4 !", "the answer is 4 ."])])
    assert varied["solver/distinct_2"] == 1.0
    assert repeated["solver/distinct_2"] == 5 / 11  # 11 bigrams, 5 distinct
