"""``sparring eval``: the base model or a saved adapter on distinct test items, and a
paired comparison of two on the same items, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparring.cli import main
from sparring.rewards.intervals import mcnemar, paired

RECIPE = Path(__file__).resolve().parents[3] / "recipes" / "tiny_smoke.toml"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "run"
    assert main(["train", str(RECIPE), "--out", str(out), "train.iterations=1", 'eval.select="validation"']) == 0
    return out


def test_an_adapter_against_base_on_the_same_items(run: Path, tmp_path: Path) -> None:
    target = run / "adapters" / "solver" / "best"
    out = tmp_path / "eval.json"
    assert main(["eval", str(target), "--against", "base", "--family", "arithmetic", "--difficulty", "2",
                 "--size", "12", "--json", str(out), "-q"]) == 0
    result = json.loads(out.read_text())
    assert result["model"] == "tiny"  # read from the run's recipe
    assert result["n_items"] == 12 and result["n_distinct"] == 12 and result["split"] == "test"
    assert set(result["targets"]) == {f"{target}", "base"}
    for summary in result["targets"].values():
        acc = summary["accuracy"]
        assert acc["n_items"] == 12 and acc["ci_low"] <= acc["value"] <= acc["ci_high"]
    comparison = result["comparison"]
    assert comparison["first"] == str(target) and comparison["second"] == "base"
    assert comparison["ci_low"] <= comparison["difference"] <= comparison["ci_high"]
    assert 0.0 <= comparison["mcnemar_p"] <= 1.0


def test_pass_at_k_samples_each_item_k_times(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "base", "--model", "tiny", "--family", "arithmetic", "--difficulty", "2",
                 "--size", "6", "--k", "3", "--temperature", "1.0", "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary = result["targets"]["base"]
    assert result["k"] == 3 and summary["pass_at_k"]["n_items"] == 6
    assert summary["pass_at_k"]["value"] >= summary["accuracy"]["value"]


@pytest.mark.parametrize(("argv", "message"), [
    (["base", "--model", "tiny", "--family", "arithmetic", "--difficulty", "1", "--size", "500"],
     r"--size 500: family 'arithmetic' holds \d+ distinct test items at difficulty \[1, 1\]; lower --size"),
    (["nowhere", "--family", "arithmetic"], "nowhere: no such run or adapter folder"),
    (["base", "--model", "tiny", "--family", "arithmetic", "--k", "4", "--temperature", "0"],
     "--k 4 samples per item need --temperature > 0"),
    (["base", "--model", "tiny", "--family", "arithmetic", "--split", "dev"], "split must be one of"),
    (["base", "--model", "tiny", "--family", "arithmetic", "--difficulty", "x"], "--difficulty 'x'"),
])
def test_bad_input_gets_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", *argv]) == 2
    err = capsys.readouterr().out
    assert "error:" in err and len(err.strip().splitlines()) == 1
    import re
    assert re.search(message, err), err


def test_a_run_with_several_adapters_names_the_folders(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(run), "--family", "arithmetic", "--difficulty", "2", "--size", "2"]) == 2
    assert "the run has 2 adapters; name one folder instead" in capsys.readouterr().out


def test_paired_statistics() -> None:
    assert mcnemar(0, 0) == 1.0
    assert mcnemar(0, 10) == pytest.approx(2 / 2**10)
    result = paired([0, 0, 1, 1], [1, 1, 1, 1])
    assert result["difference"] == 0.5 and result["only_first"] == 0 and result["only_second"] == 2
    with pytest.raises(ValueError, match="same items"):
        paired([1], [1, 0])
