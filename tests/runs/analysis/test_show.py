"""``sparring show RUN``: held-out figures with their intervals and counts, each split and
the validation-selected iteration under its own heading, never the companion keys as rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.storage.store import Store
from tests.helpers import play_qa


def figure(key: str, value: float, low: float, high: float, n: int, distinct: int) -> dict[str, float]:
    return {key: value, f"{key}/ci_low": low, f"{key}/ci_high": high, f"{key}/n_items": float(n),
            f"{key}/n_distinct": float(distinct)}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    played, _ = play_qa(range(2))
    with Store(tmp_path / "store.sqlite") as store:
        for t in played:
            store.add(t)
        store.add_metrics(-1, {**figure("eval/solver_accuracy", 0.2, 0.17, 0.24, 512, 512),
                               **figure("validation/solver_accuracy", 0.25, 0.2, 0.3, 256, 250),
                               "eval/overlap_with_training": 0.0, "reward/solver_truth/solver": 0.5})
        store.add_metrics(1, {**figure("eval/solver_accuracy", 0.431, 0.389, 0.474, 512, 512),
                              **figure("validation/solver_accuracy", 0.4, 0.35, 0.45, 256, 250),
                              "select/iteration": 2.0, "select/validation": 0.4, "select/evaluations_since_best": 0.0,
                              **figure("select/eval/solver_accuracy", 0.431, 0.389, 0.474, 512, 512)})
    return tmp_path


def test_show_prints_each_figure_with_its_interval_by_split(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(run)]) == 0
    text = capsys.readouterr().out
    assert "match i0-s0" in text  # the matches come first, as before
    lines = [line.strip() for line in text.split("held-out test split (eval/)")[1].splitlines()]
    validation = lines.index("held-out validation split (validation/)")
    selected = next(i for i, line in enumerate(lines) if line.startswith("validation-selected"))
    assert lines[:validation] == [
        "", "before training", "eval/overlap_with_training 0", "eval/solver_accuracy 0.200 [0.170, 0.240] n=512 (512 distinct)",
        "after iteration 2", "eval/solver_accuracy 0.431 [0.389, 0.474] n=512 (512 distinct)"]
    assert lines[validation + 1:selected] == [
        "before training", "validation/solver_accuracy 0.250 [0.200, 0.300] n=256 (250 distinct)",
        "after iteration 2", "validation/solver_accuracy 0.400 [0.350, 0.450] n=256 (250 distinct)"]
    assert lines[selected:] == [
        "validation-selected iteration 2 (select/): validation 0.400, 0 later evaluation(s) without a better one",
        "select/eval/solver_accuracy 0.431 [0.389, 0.474] n=512 (512 distinct)"]
    for companion in ("ci_low", "ci_high", "n_items", "n_distinct"):
        assert companion not in text
    assert "reward/solver_truth" not in text  # training curves are the viewer's, not this list's


def test_show_one_match_prints_no_figures(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(run), "--match", "i0-s0"]) == 0
    assert "held-out" not in capsys.readouterr().out


def test_a_run_without_held_out_figures_shows_only_its_matches(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    played, _ = play_qa(range(1))
    with Store(tmp_path / "store.sqlite") as store:
        store.add(played[0])
        store.add_metrics(0, {"reward/solver_truth/solver": 0.5})
    assert main(["show", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "match i0-s0" in text and "held-out" not in text and "validation-selected" not in text
