"""``sparring whatif`` through the real CLI: identity, swaps, effects, kill-safety, migration, show."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sparring import registered
from sparring.arenas.replay import diff
from sparring.cli import main
from sparring.runs.analysis.whatif import parse_swap, whatif, whatif_key
from sparring.runs.storage.store import STORE_SCHEMA, Store

ROOT = Path(__file__).resolve().parents[3]
DEBATE = f"{ROOT / 'examples' / 'debate.py'}:Debate"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")


def comparable(transcript: Any) -> dict[str, Any]:
    data = transcript.comparable()
    data.pop("match_id")
    return data


@pytest.mark.parametrize("arena_id", sorted(registered()))
def test_no_swap_from_turn_0_with_recorded_seeds_is_the_original(arena_id: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["play", arena_id, "--model", "tiny", "--matches", "3", "--out", str(run), "-q"]) in (0, 1)
    report = tmp_path / "whatif.json"
    assert main(["whatif", str(run), "--where", "iteration=0", "--recorded-seeds", "-q", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["matches"] == 3 and data["branches"] == 3 and data["played"] == 3
    with Store(run / "store.sqlite") as store:
        assert len(store.match_ids()) == 3  # branches stay out of the run's matches
        for parent, [branch_id] in data["branch_ids"].items():
            original, branch = store.get(parent), store.get(branch_id)
            assert diff(comparable(original), comparable(branch)) == []
            assert store.branch(branch_id)["branch_seed"] is None  # type: ignore[index]
    assert all(first == [None] for first in data["diff"]["first_difference"].values())
    assert all(e["difference"] == 0 for e in data["diff"]["effects"].values())


@pytest.fixture(scope="module")
def debate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-model debate run whose judge was trained for 2 iterations (judge v1, v2 saved)."""
    run = tmp_path_factory.mktemp("debate") / "run"
    assert main(["train", str(ROOT / "examples" / "debate.toml"), "--out", str(run), "model.source=tiny",
                 "eval.size=4", "train.matches_per_iteration=6", "roles.judge.temperature=1.0"]) == 0
    return run


def test_swapping_the_judge_adapter_branches_from_the_judge_turn(debate: Path, tmp_path: Path) -> None:
    report = tmp_path / "w.json"
    args = ["whatif", str(debate), "--where", "iteration=1", "--where", "match=i1-*", "--from-turn", "2", "--swap",
            "judge.adapter=judge@v0", "--samples", "2", "-q", "--json", str(report)]
    assert main(args) == 0
    data = json.loads(report.read_text())
    assert data["matches"] == 6 and all(m.startswith("i1-") for m in data["branch_ids"])  # no eval- matches
    assert data["swaps"] == ['judge.adapter="judge@v0"'] and data["samples"] == 2
    assert data["branches"] == 2 * data["matches"] and data["played"] == data["branches"]
    assert set(data["diff"]["effects"]) >= {"judge_correct/judge", "metric/pro_win_rate", "metric/judge_accuracy"}
    effect = data["diff"]["effects"]["judge_correct/judge"]
    assert effect["ci_low"] <= effect["difference"] <= effect["ci_high"]
    assert effect["n_items"] == data["matches"]
    decision = data["diff"]["flips"]["decision"]
    assert decision["branches"] == data["branches"]
    assert sum(decision["changes"].values()) == decision["branches_changed"]
    assert all(" -> " in change for change in decision["changes"])
    assert data["command"].startswith("sparring whatif ")
    with Store(debate / "store.sqlite") as store:
        for parent, ids in data["branch_ids"].items():
            original = store.get(parent)
            records = [store.branch(b) for b in ids]
            assert [r["sample"] for r in records] == [0, 1]  # type: ignore[index]
            assert records[0]["branch_seed"] != records[1]["branch_seed"]  # type: ignore[index]
            assert {r["parent"] for r in records} == {parent}  # type: ignore[index]
            for branch in map(store.get, ids):
                assert [u.model_dump() for u in branch.turns[:2]] == [u.model_dump() for u in original.turns[:2]]
                judge = branch.turns[2]
                assert (judge.role, judge.adapter, judge.adapter_version) == ("judge", "judge@v0", 0)
                assert original.turns[2].adapter == "judge" and original.turns[2].adapter_version == 1
                assert judge.seed != original.turns[2].seed
    assert main(args) == 0  # the same command again plays nothing
    assert json.loads(report.read_text())["played"] == 0


def test_two_swaps_compared_with_the_same_seeds(debate: Path) -> None:
    with Store(debate / "store.sqlite") as store:
        ids = store.match_ids(iteration=1)[:3]
        same = whatif(store, ids, 2, ["judge.adapter=judge@v2"], 1, baseline=["judge.adapter=judge@v2"])
        assert all(e["difference"] == 0 for e in same.diff.effects.values())  # same swap, same seeds: no effect
        other = whatif(store, ids, 2, ["judge.adapter=judge@v2"], 1, baseline=["judge.adapter=judge@v1"])
        assert other.baseline is not None and set(other.baseline) == set(ids)
        assert other.diff.effects["judge_correct/judge"]["n_items"] == 3


def test_a_whatif_killed_midway_finishes_on_rerun_without_duplicates(debate: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    subprocess.run(["cp", "-r", str(debate), str(run)], check=True)
    args = [sys.executable, "-m", "sparring.cli", "whatif", str(run), "--where", "iteration=0", "--swap",
            "con.temperature=0.0", "--from-turn", "1", "--samples", "2", "-q", "--json", str(tmp_path / "w.json")]
    env = {**os.environ, "SPARRING_FAULT": "whatif:3", "OMP_NUM_THREADS": "1"}
    killed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr
    key = whatif_key(1, [parse_swap("con.temperature=0.0")], 0)
    with Store(run / "store.sqlite") as store:
        before = len(store.branches())
        assert len(store.branches(whatif=key)) == 3  # stored before the kill, one transaction each
        selected = len(store.match_ids(iteration=0))
    env.pop("SPARRING_FAULT")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "w.json").read_text())
    assert data["played"] == 2 * selected - 3 and data["branches"] == 2 * selected
    with Store(run / "store.sqlite") as store:
        ids = [b["match_id"] for b in store.branches(whatif=key)]
        assert len(ids) == len(set(ids)) == 2 * selected
        assert len(store.branches()) == before - 3 + 2 * selected
        count = sqlite3.connect(run / "store.sqlite").execute("SELECT COUNT(*) FROM matches").fetchone()[0]
        assert count == len(store.match_ids()) + len(store.branches())


def test_an_old_store_is_migrated_and_stays_readable(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["play", DEBATE, "--model", "tiny", "--matches", "2", "--out", str(run), "-q"]) == 0
    conn = sqlite3.connect(run / "store.sqlite")  # make it a schema-2 store, as written before branches
    with conn:
        conn.execute("DROP TABLE branches")
        conn.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    conn.close()
    from sparring.runs.analysis.viewer.sources import ReadOnlyStore

    with ReadOnlyStore(run / "store.sqlite") as old:  # read-only, unmigrated: no branches
        assert old.branches() == [] and len(old.match_ids()) == 2 and old.count() == 2
    [first, _] = Store(run / "store.sqlite").match_ids()
    assert main(["whatif", str(run), "--match", first, "--from-turn", "1", "--swap", "con.temperature=0", "-q"]) == 0
    with Store(run / "store.sqlite") as store:
        version = store._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        assert int(version) == STORE_SCHEMA == 3
        assert len(store.match_ids()) == 2 and len(store.match_ids(branches=True)) == 3


def test_show_puts_a_branch_beside_its_original(debate: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Store(debate / "store.sqlite") as store:
        parent = next(m for m in store.match_ids(iteration=0) if m.startswith("i0-"))  # sampled, not greedy
        result = whatif(store, parent, 1, ["con.system_prompt=You always say the claim is true."], 1)
    [branch] = result.branches[parent]
    assert main(["show", str(debate), "--match", branch.match_id]) == 0
    out = capsys.readouterr().out
    assert f"branch of {parent} from turn 1" in out and "con.system_prompt=" in out
    assert f"original {parent}" in out and f"branch {branch.match_id}" in out
    assert "first differing turn: #1" in out and "◀ first" in out  # the swapped con speaks at turn 1
    assert "rewards (branch - original)" in out and "judge_correct/judge" in out
    assert main(["show", str(debate), "--match", parent]) == 0
    assert "whatif branch(es)" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--swap", "judge.colour=red"], "--swap 'judge.colour=red': unknown field 'colour'; a swap sets adapter, model"),
    (["--swap", "jduge.temperature=0"], "'jduge' is not a seat of examples/debate-v1 (seats: pro, con, judge)"),
    (["--swap", "judge.adapter=judge"], "an adapter is NAME@vK"),
    (["--swap", "judge.adapter=judge@v9"], "adapters/judge/v9 is missing: adapter 'judge' version 9 was not saved"),
    (["--samples", "2", "--recorded-seeds"], "every sample would be the same branch; use --samples 1"),
    (["--from-turn", "-1"], "--from-turn -1: must be a turn index >= 0"),
])
def test_bad_input_is_one_line(debate: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    parent = Store(debate / "store.sqlite").match_ids(iteration=1)[0]
    assert main(["whatif", str(debate), "--match", parent, "-q", *args]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("error: ") and message in out[0], out


def test_pairs_by_intervention_through_the_cli(tmp_path: Path) -> None:
    run, pairs, report = tmp_path / "run", tmp_path / "pairs.jsonl", tmp_path / "w.json"
    arena = f"{ROOT / 'tests' / 'runs' / 'lengths_arena.py'}:Lengths"
    assert main(["play", arena, "--model", "tiny", "--matches", "3", "--out", str(run), "-q"]) == 0
    assert main(["whatif", str(run), "--where", "iteration=0", "--from-turn", "4", "--swap", "editor.temperature=0.5",
                 "--samples", "2", "-q", "--pairs", str(pairs), "--pairs-reward", "variety", "--json", str(report)]) == 0
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    assert json.loads(report.read_text())["pairs"] == {"file": str(pairs), "reward": "variety", "count": len(rows)}
    assert rows  # 8-token samples of a random model: some editor replies differ in variety
    with Store(run / "store.sqlite") as store:
        for row in rows:
            original, branch = store.get(row["parent"]), store.get(row["branch"])
            assert row["role"] == "editor" and row["turn"] == 4 and row["swaps"] == ["editor.temperature=0.5"]
            assert row["prompt"] == original.turns[4].messages == branch.turns[4].messages
            better, worse = (original, branch) if row["chosen_from"] == "original" else (branch, original)
            assert row["chosen"][0]["content"] == better.turns[4].text
            assert row["rejected"][0]["content"] == worse.turns[4].text
            assert max(row["original_value"], row["branch_value"]) > min(row["original_value"], row["branch_value"])
    assert main(["whatif", str(run), "--where", "iteration=0", "--pairs", str(pairs)]) == 2  # no reward named


def test_a_seat_on_another_base_model(debate: Path) -> None:
    with Store(debate / "store.sqlite") as store:
        parent = next(m for m in store.match_ids(iteration=0) if m.startswith("i0-"))
        [branch] = whatif(store, parent, 0, ["con.model=tiny:3"], 1).branches[parent]
    con = [u for u in branch.turns if u.role == "con"]
    assert con and all((u.model, u.adapter, u.adapter_version) == ("tiny:3", None, None) for u in con)
    assert all(u.model == "default" for u in branch.turns if u.role != "con")
