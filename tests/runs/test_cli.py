"""The ``sparring`` command line, end to end through ``sparring.cli.main``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.rundir import RunDir
from sparring.runs.store import Store
from tests.helpers import SeatScript, play_qa


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns when not on a terminal; widen it so messages stay on one line."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture
def scripted_run(tmp_path: Path) -> Path:
    """A run directory holding scripted qa-verify matches (one has no valid question)."""
    run = tmp_path / "scripted"
    played, _ = play_qa([0, 1])
    invalid, _ = play_qa([2], script=SeatScript(questioner=["junk"]))
    with Store(run / "store.sqlite") as store:
        for t in [*played, *invalid]:
            store.add(t)
    return run


def test_play_show_replay_on_the_tiny_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["play", "qa-verify", "--model", "tiny", "-n", "3", "--out", str(out), "-q",
            "--arena-arg", "group_size=2", "--role", "solver.temperature=1.0", "--batch-size", "8"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "3 matches played →" in text  # the table title (the path may wrap)
    assert "matches: 3 played, 0 already stored, 0 errors" in text
    with RunDir.existing(out).open_store() as store:
        ids = store.match_ids()
        assert len(ids) == 3
        assert store.get(ids[0]).arena.kwargs["group_size"] == 2
        assert store.get(ids[0]).roles["solver"]["sampling"]["temperature"] == 1.0
    assert main(argv) == 0
    assert "matches: 0 played, 3 already stored" in capsys.readouterr().out

    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"match {ids[0]}" in text and "sparring/qa-verify-v1" in text

    assert main(["show", str(out), "--match", ids[1], "--role", "questioner"]) == 0
    text = capsys.readouterr().out
    assert f"match {ids[1]}" in text and "questioner" in text and f"match {ids[0]}" not in text

    assert main(["replay", str(out), "--all"]) == 0
    text = capsys.readouterr().out
    assert all(f"✓ {i}: transcript reproduced exactly" in text for i in ids)


def test_show(scripted_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(scripted_run), "--match", "i0-s0", "--role", "solver"]) == 0
    text = capsys.readouterr().out
    assert "match i0-s0" in text
    assert "#1 solver" in text and "#4 solver" in text
    assert "questioner" not in text.split("outcome:")[1].split("match rewards")[0]  # only solver turns
    assert "solver_truth=1 (answer 42 vs truth 42)" in text
    assert "12 + 30 = 42: 3/4 judged right, 2 truly right" in text

    assert main(["show", str(scripted_run), "--match", "i0-s2"]) == 0
    text = capsys.readouterr().out
    assert "no valid question" in text and "questioner_learnability" in text

    assert main(["show", str(scripted_run), "--role", "solver"]) == 0  # matches with solver turns
    text = capsys.readouterr().out
    assert "match i0-s0" in text and "match i0-s1" in text and "match i0-s2" not in text


def test_show_many_matches_as_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    played, _ = play_qa(range(5))
    with Store(tmp_path / "store.sqlite") as store:
        for t in played:
            store.add(t)
    assert main(["show", str(tmp_path), "--limit", "4"]) == 0
    text = capsys.readouterr().out
    assert "matches" in text and "i0-s3" in text and "i0-s4" not in text
    assert "show one match with --match ID" in text
    assert main(["show", str(tmp_path), "--status", "error"]) == 1
    assert "no matches stored" in capsys.readouterr().out


def test_replay_detects_a_tampered_store(scripted_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(scripted_run)]) == 0  # the first match by default
    assert capsys.readouterr().out.count("reproduced exactly") == 1
    with Store(scripted_run / "store.sqlite") as store:
        t = store.get("i0-s1")
        t.turns[3].messages[-1]["content"] = "What is 2 + 2?"
        store.add(t)
    assert main(["replay", str(scripted_run), "--all"]) == 1
    text = capsys.readouterr().out
    assert "✓ i0-s0" in text and "✓ i0-s2" in text
    assert "✗ i0-s1: replay differs" in text
    assert "replay diverged at turn 3 (solver): the prompt differs from the recorded one" in text
    assert main(["replay", str(scripted_run), "--match", "i0-s0"]) == 0


def test_arenas(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["arenas"]) == 0
    text = capsys.readouterr().out
    assert "sparring/qa-verify-v1" in text and "qa-verify" in text and "questioner, solver, verifier" in text


def test_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert "✓ sparring/qa-verify-v1: 21 matches" in capsys.readouterr().out
    assert main(["check", "qa-verify", "--arena-arg", "group_size=2", "--arena-arg", 'ops=["*"]']) == 0
    capsys.readouterr()


def test_check_reports_a_broken_arena(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "tests.arenas.test_conformance:CrashOnEmpty"]) == 1
    text = capsys.readouterr().out
    assert "✗ tests/crash-on-empty-v1 failed" in text
    assert "the match crashed on scripted replies: IndexError" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["play", "nope", "--out", "{tmp}/r", "--model", "tiny"],
         "error: unknown arena 'nope'; use a registered name ("),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--role", "temperature=1"],
         "error: --role temperature=... must look like SEAT.FIELD=VALUE (e.g. solver.temperature=1.0)"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--role", "solver.temperature"],
         "error: --role option 'solver.temperature' must look like key=value"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--arena-arg", "digits"],
         "error: --arena-arg 'digits' must look like key=value"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--arena-arg", "digits=9"],
         "error: digits must be in 1..6, got 9"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--arena-arg", "colour=red"],
         "error: bad arguments for arena sparring/qa-verify-v1"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model"],
         "error: model 'no-such-model' is neither a local folder nor an embedded alias"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--role", "solvr.temperature=1"],
         "error: roles.solvr: 'solvr' is not a seat of sparring/qa-verify-v1 (seats: questioner, solver, verifier)"),
        (["show", "{tmp}/empty"],
         "error: {tmp}/empty is not a run directory (no store.sqlite); create one with 'sparring play ARENA --out {tmp}/empty'"),
        (["replay", "{tmp}/empty"], "is not a run directory (no store.sqlite)"),
        (["check", "nope"], "error: unknown arena 'nope'"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    assert message.replace("{tmp}", str(tmp_path)) in capsys.readouterr().out


def test_unknown_match_id(scripted_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(scripted_run), "--match", "i0-s99"]) == 2
    assert "no match 'i0-s99'" in capsys.readouterr().out


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["play", "qa-verify"])  # --out is required
    assert info.value.code == 2
    assert "the following arguments are required: --out/-o" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


@pytest.mark.smoke
def test_smoke_play_and_replay_on_the_embedded_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "smoke"
    assert main(["play", "qa-verify", "-n", "2", "--out", str(out), "-q", "--arena-arg", "group_size=2"]) == 0
    assert "matches: 2 played, 0 already stored, 0 errors" in capsys.readouterr().out
    with RunDir.existing(out).open_store() as store:
        transcripts = list(store.transcripts())
    assert len(transcripts) == 2
    for t in transcripts:
        assert t.status == "finished" and t.turns and t.rewards
        assert t.turns[0].role == "questioner" and t.turns[0].text.strip()
        assert all(len(u.token_ids) == len(u.logprobs) > 0 for u in t.turns)
    assert main(["replay", str(out), "--all"]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 2
