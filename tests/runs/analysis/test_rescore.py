"""sparring rescore through the real CLI: rewards and metrics beside the stored ones, errors, kills, migration."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sparring.arenas import SelfCorrect
from sparring.cli import main
from sparring.runs.storage.store import STORE_SCHEMA, Store
from tests.arenas.builtin.test_self_correct import golden_script
from tests.arenas.task_scripts import play

ROOT = Path(__file__).resolve().parents[3]

HALF = '''
import os, signal
from sparring.rewards import Score
calls = 0

def half(t):
    """0.5 per solver turn; SIGKILLs its process on call KILL_AT (env), as kill -9 would."""
    global calls
    calls += 1
    if os.environ.get("KILL_AT") and calls == int(os.environ["KILL_AT"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return [Score("solver", 0.5, "half", turn=u.index) for u in t.turns if u.role == "solver"]
'''


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")


def _run(tmp_path: Path, matches: int = 6) -> Path:
    """A run directory holding scripted self-correct matches: training ones and held-out ones."""
    run = tmp_path / "run"
    train, _ = play(SelfCorrect(samples=2, revisions=1), golden_script, seeds=range(matches))
    held_out, _ = play(SelfCorrect(samples=1, revisions=1, split="held_out"), golden_script, seeds=range(3))
    with Store(run / "store.sqlite") as store:
        for i, t in enumerate(train):
            store.add(t.model_copy(update={"match_id": f"i0-s{i}", "iteration": i % 2}))
        for i, t in enumerate(held_out):
            store.add(t.model_copy(update={"match_id": f"eval-i1-s{i}", "iteration": 1}))
        store.add_metrics(1, {"eval/self_correction/accuracy_second": 0.25})
    return run


def _snapshot(run: Path) -> list[dict]:
    with Store(run / "store.sqlite") as store:
        return [t.comparable() for t in store.transcripts()]


def test_rescore_an_arena_reward_writes_beside_the_stored_rewards(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = _run(tmp_path)
    before = _snapshot(run)
    assert main(["rescore", str(run), "--reward", "stage_two"]) == 0
    out = capsys.readouterr().out
    assert "rescore 1: reward stage_two (arena)" in out and "9 matches rescored" in out
    assert _snapshot(run) == before  # transcripts and their rewards untouched
    with Store(run / "store.sqlite") as store:
        assert store.rescores()[0] | {"created": 0, "finished": 0} == {
            "rescore_id": 1, "created": 0, "kind": "reward", "name": "stage_two", "source": "arena",
            "status": "done", "matches": 9, "finished": 0}
        t = store.get("i0-s0")
        rows = [r for _, r in store.rescored_rewards(1, "i0-s0")]
        assert rows == [r for r in t.rewards if r.reward == "stage_two"]  # same reward, same records
    assert "changed" in out


def test_rescore_a_user_reward_and_a_metric(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = _run(tmp_path)
    (tmp_path / "mine.py").write_text(HALF)
    before = _snapshot(run)
    assert main(["rescore", str(run), "--reward", f"{tmp_path / 'mine.py'}:half", "--metric", "consistency/half"]) == 0
    out = capsys.readouterr().out
    assert "reward half" in out and "metric consistency/half" in out
    assert _snapshot(run) == before
    with Store(run / "store.sqlite") as store:
        values = {r.value for _, r in store.rescored_rewards(1)}
        assert values == {0.5} and len(store.rescored_rewards(1)) == 6 * 4 + 3 * 2
        # every item scores 0.5 in both iterations: tau undefined, items counted
        assert ("consistency/half/items" in {k for _, k, _ in store.rescored_metrics(2)})
    assert main(["rescore", str(run), "--metric", "self_correction"]) == 0
    out = capsys.readouterr().out
    with Store(run / "store.sqlite") as store:
        rows = {(i, k): v for i, k, v in store.rescored_metrics(3)}
    assert ("self_correction/accuracy_first" in {k for _, k in rows}
            and (1, "eval/self_correction/accuracy_second") in rows)
    assert "0.2500" in out  # the value the run stored, shown beside the rescored one
    assert main(["rescore", str(run), "--metric", "diversity"]) == 0


def test_rescored_metrics_keep_validation_apart_from_test(tmp_path: Path) -> None:
    run = _run(tmp_path)
    validation, _ = play(SelfCorrect(samples=1, revisions=1, split="held_out"), golden_script, seeds=range(3, 5))
    with Store(run / "store.sqlite") as store:
        for i, t in enumerate(validation):
            store.add(t.model_copy(update={"match_id": f"eval-val-i1-s{i}", "iteration": 1}))
    assert main(["rescore", str(run), "--metric", "self_correction"]) == 0
    with Store(run / "store.sqlite") as store:
        keys = {(i, k) for i, k, _ in store.rescored_metrics(1)}
    assert {(1, "eval/self_correction/accuracy_second"), (1, "validation/self_correction/accuracy_second"),
            (1, "self_correction/accuracy_second")} <= keys


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sparring", *argv], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "400", **(env or {})}, check=False)


def test_bad_names_are_one_line_errors(tmp_path: Path) -> None:
    run = _run(tmp_path, matches=2)
    done = _cli("rescore", str(run), "--reward", "stage_three")
    assert done.returncode == 2 and done.stderr.startswith("note: rescore imports and runs the arena code")
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("error: --reward 'stage_three' is not a reward")
    assert "stage_two" in done.stdout and "file.py:function" in done.stdout
    done = _cli("rescore", str(run), "--metric", "nope")
    assert done.returncode == 2 and done.stdout.startswith("error: --metric 'nope' is not a metric")
    done = _cli("rescore", str(run), "--reward", "missing.py:f")
    assert done.returncode == 2 and done.stdout == "error: reward file missing.py does not exist\n"
    done = _cli("rescore", str(run))
    assert done.returncode == 2 and "needs --reward NAME or --metric NAME" in done.stdout
    with Store(run / "store.sqlite") as store:
        assert store.rescores() == []  # nothing started


def test_a_kill_mid_rescore_keeps_the_store_and_the_rerun_completes(tmp_path: Path) -> None:
    run = _run(tmp_path)
    (tmp_path / "mine.py").write_text(HALF)
    before = _snapshot(run)
    reward = f"{tmp_path / 'mine.py'}:half"
    killed = _cli("rescore", str(run), "--reward", reward, env={"KILL_AT": "4"})
    assert killed.returncode == -9
    assert _snapshot(run) == before  # readable, transcripts and stored rewards intact
    with Store(run / "store.sqlite") as store:
        [r] = store.rescores()
        assert (r["status"], r["matches"]) == ("running", 3)
    again = _cli("rescore", str(run), "--reward", reward)
    assert again.returncode == 0, again.stdout
    assert "6 matches rescored, 3 already rescored" in again.stdout
    with Store(run / "store.sqlite") as store:
        [r] = store.rescores()
        assert (r["status"], r["matches"]) == ("done", 9) and len(store.rescored_rewards(1)) == 30
    assert _snapshot(run) == before


def test_a_schema_1_store_is_migrated(tmp_path: Path) -> None:
    run = _run(tmp_path, matches=2)
    path = run / "store.sqlite"
    before = _snapshot(run)
    with sqlite3.connect(path) as conn:  # make it a store as schema 1 wrote it
        for table in ("rescores", "rescored_rewards", "rescored_metrics"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    assert main(["rescore", str(run), "--reward", "first_truth"]) == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(STORE_SCHEMA),)
    assert STORE_SCHEMA == 3 and _snapshot(run) == before
